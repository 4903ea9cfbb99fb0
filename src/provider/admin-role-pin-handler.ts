// What the AdminRolePin resource (admin-role-pin.ts) does: it gives the admin
// role itself the settings pgshift's own admin sessions send in their startup
// packet (admin-session.ts), so that @pulumi/postgresql's sessions — which send
// none, and whose catalog queries name pg_class, aclexplode(), `=` unqualified —
// get them too:
//   search_path = pg_catalog, pg_temp: nothing the database's owner defines
//     (ALTER DATABASE … SET search_path, a public.pg_class view, an `=`
//     operator, a "$user" schema) is looked up. A role setting outranks the
//     database's; only a superuser can set one for the admin role.
//   statement and error logging off: a role's SCRAM verifier travels in the
//     statement text (CREATE/ALTER ROLE … PASSWORD), and a fully logging
//     server would keep it, whether the statement succeeds or fails.
// Loaded at run time by the dynamic provider (handler.ts).
import type * as pulumi from "@pulumi/pulumi";
import { ADMIN_SESSION_SETTINGS, connectAdmin } from "./admin-session";
import type { TunnelTarget } from "./tunnel";

export interface PinInputs {
  /** superuser connection string; a secret */
  adminUrl: string;
  /** the stack's port-forward to the database pod, or null for a direct connection; a secret */
  tunnel?: TunnelTarget | null;
}

/** The admin role's settings, as ALTER ROLE statements (the values are constants, not input). */
export function pinStatements(): string[] {
  return Object.entries(ADMIN_SESSION_SETTINGS).map(
    ([k, v]) => `ALTER ROLE CURRENT_USER SET ${k} = ${k === "search_path" ? v.split(",").join(", ") : `'${v}'`}`,
  );
}

/** What the admin role's pg_db_role_setting holds, as `key=value` strings (database-independent settings only). */
async function currentSettings(inputs: PinInputs): Promise<{ role: string; settings: string[] }> {
  const client = await connectAdmin(inputs.adminUrl, undefined, inputs.tunnel);
  try {
    const { rows } = await client.query<{ role: string; settings: string[] | null }>(
      `SELECT pg_catalog.current_user() AS role,
              (SELECT s.setconfig FROM pg_catalog.pg_db_role_setting s
                WHERE s.setrole OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) pg_catalog.current_user())
                  AND s.setdatabase OPERATOR(pg_catalog.=) 0) AS settings`,
    );
    return { role: rows[0]!.role, settings: rows[0]!.settings ?? [] };
  } finally {
    await client.end();
  }
}

async function pin(inputs: PinInputs): Promise<string> {
  // The admin session is itself pinned (startup packet) while it sets this.
  const client = await connectAdmin(inputs.adminUrl, undefined, inputs.tunnel);
  try {
    await client.query("BEGIN");
    // (Only a per-database setting for the admin role would outrank these, and
    // only a superuser can make one.)
    for (const sql of pinStatements()) await client.query(sql);
    await client.query("COMMIT");
    const { rows: who } = await client.query<{ role: string }>("SELECT pg_catalog.current_user() AS role");
    return who[0]!.role;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new Error(`Could not pin the admin role's session settings (search_path, logging): ${(err as Error).message}\nNothing was changed.`);
  } finally {
    await client.end();
  }
}

/** `key=value` as pg_db_role_setting stores each pinned setting. */
export function expectedSettings(): string[] {
  return Object.entries(ADMIN_SESSION_SETTINGS).map(([k, v]) => `${k}=${k === "search_path" ? v.split(",").join(", ") : v}`);
}

export async function create(inputs: PinInputs): Promise<pulumi.dynamic.CreateResult> {
  return { id: await pin(inputs), outs: { ...inputs, settings: expectedSettings() } };
}

// Every run checks the settings are still there (a restored dump or a hand
// edit could have reset them) and puts them back: cheap, and the postgresql
// provider relies on them.
export async function diff(_id: string, _olds: PinInputs, news: PinInputs): Promise<pulumi.dynamic.DiffResult> {
  const { settings } = await currentSettings(news);
  const missing = expectedSettings().filter((s) => !settings.includes(s));
  return { changes: missing.length > 0 };
}

export async function update(_id: string, _olds: PinInputs, news: PinInputs): Promise<pulumi.dynamic.UpdateResult> {
  await pin(news);
  return { outs: { ...news, settings: expectedSettings() } };
}

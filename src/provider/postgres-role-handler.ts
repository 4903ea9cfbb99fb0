// What the PostgresRole resource does at each step (postgres-role.ts is the
// thin resource). Loaded at run time by the dynamic provider (handler.ts).
import type * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { connectAdmin, scramVerifier } from "./admin-session";
import type { TunnelTarget } from "./tunnel";

export interface RoleInputs {
  /** superuser (or CREATEROLE) connection string; a secret */
  adminUrl: string;
  /** the stack's port-forward to the database pod, or null for a direct connection; a secret */
  tunnel?: TunnelTarget | null;
  name: string;
  /** a secret; null for a NOLOGIN group role */
  password: string | null;
  /** built-in or other roles this one is a member of, e.g. pg_monitor */
  memberOf: string[];
  /** passed to CONNECTION LIMIT */
  connectionLimit: number;
}

export interface RoleState {
  name: string;
  login: boolean;
  memberOf: string[];
  connectionLimit: number;
  /** sha256 of the password, so a changed password is noticed without keeping it */
  passwordDigest: string;
}

/** What the state keeps: the role, and how to reach the server to take its LOGIN away on delete. */
export type RoleOutputs = RoleState & { adminUrl: string; tunnel: TunnelTarget | null };

const digestOf = (password: string | null) => (password === null ? "" : createHash("sha256").update(password).digest("hex"));
const ident = (s: string) => '"' + s.replace(/"/g, '""') + '"';

export async function check(_olds: RoleInputs, news: RoleInputs): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(news.name ?? "")) {
    failures.push({ property: "name", reason: `role name "${news.name}" must be lowercase letters, digits and _ (max 63)` });
  }
  if (news.password !== null && (typeof news.password !== "string" || news.password.length < 16)) {
    failures.push({ property: "password", reason: "a login role needs a generated password of at least 16 characters" });
  } else if (news.password !== null && !/^[\x21-\x7e]+$/.test(news.password)) {
    failures.push({ property: "password", reason: "a role password must be printable ASCII without spaces (its SCRAM verifier is computed by pgshift)" });
  }
  return { inputs: news, failures };
}

export async function diff(_id: string, olds: RoleState, news: RoleInputs): Promise<pulumi.dynamic.DiffResult> {
  const replaces = olds.name !== news.name ? ["name"] : [];
  const changed =
    replaces.length > 0 ||
    olds.passwordDigest !== digestOf(news.password) ||
    olds.login !== (news.password !== null) ||
    olds.connectionLimit !== news.connectionLimit ||
    JSON.stringify([...olds.memberOf].sort()) !== JSON.stringify([...news.memberOf].sort());
  return { changes: changed, replaces, deleteBeforeReplace: true };
}

export async function create(inputs: RoleInputs): Promise<pulumi.dynamic.CreateResult> {
  return { id: inputs.name, outs: await applyRole(inputs) };
}

export async function update(_id: string, _olds: RoleState, news: RoleInputs): Promise<pulumi.dynamic.UpdateResult> {
  return { outs: await applyRole(news) };
}

// A role that owns the migrated tables cannot be dropped without dropping
// the data; it only loses LOGIN, so nothing can connect with it any more.
export async function remove(_id: string, olds: RoleState & { adminUrl?: string; tunnel?: TunnelTarget | null }): Promise<void> {
  if (!olds.adminUrl) return;
  const client = await connectAdmin(olds.adminUrl, undefined, olds.tunnel);
  try {
    await client.query(`ALTER ROLE ${ident(olds.name)} NOLOGIN`).catch(() => undefined);
  } finally {
    await client.end();
  }
}

async function applyRole(inputs: RoleInputs): Promise<RoleOutputs> {
  // The maintenance database and a pinned search_path: nothing the owner of the
  // application database can define is looked up here (see admin-session.ts).
  const client = await connectAdmin(inputs.adminUrl, undefined, inputs.tunnel);
  try {
    await client.query("BEGIN");
    const exists =
      (await client.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1", [inputs.name])).rowCount === 1;
    const login = inputs.password !== null;
    // NOSUPERUSER etc. are spelled out so that a pre-existing role with more
    // rights is brought down to exactly these.
    const attrs = `${login ? "LOGIN" : "NOLOGIN"} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT ${Number(inputs.connectionLimit)}`;
    await client.query(`${exists ? "ALTER" : "CREATE"} ROLE ${ident(inputs.name)} ${attrs}`);
    if (login) {
      // Only a SCRAM verifier travels (CREATE ROLE takes no parameters), and the
      // session does not log statements (admin-session.ts), success or error.
      await client.query(`ALTER ROLE ${ident(inputs.name)} PASSWORD ${client.escapeLiteral(scramVerifier(inputs.password as string))}`);
    } else {
      await client.query(`ALTER ROLE ${ident(inputs.name)} PASSWORD NULL`);
    }
    const current = await client.query<{ rolname: string }>(
      `SELECT r.rolname FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) m.roleid
        WHERE m.member OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) $1)`,
      [inputs.name],
    );
    const have = new Set(current.rows.map((r) => r.rolname));
    for (const group of inputs.memberOf) {
      if (!have.has(group)) await client.query(`GRANT ${ident(group)} TO ${ident(inputs.name)}`);
    }
    for (const group of have) {
      if (!inputs.memberOf.includes(group)) await client.query(`REVOKE ${ident(group)} FROM ${ident(inputs.name)}`);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new Error(`Could not create or update PostgreSQL role "${inputs.name}": ${(err as Error).message}\nNothing was changed for this role.`);
  } finally {
    await client.end();
  }
  return {
    adminUrl: inputs.adminUrl,
    tunnel: inputs.tunnel ?? null,
    name: inputs.name,
    login: inputs.password !== null,
    memberOf: inputs.memberOf,
    connectionLimit: inputs.connectionLimit,
    passwordDigest: digestOf(inputs.password),
  };
}

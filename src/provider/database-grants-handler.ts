// The privilege model from the seed guide, made strict: one owner role runs DDL
// and owns everything; the app role can only read and write rows; PUBLIC gets
// nothing. Applied as one transaction, so a failure leaves the old grants.
// What the DatabaseGrants resource (database-grants.ts) does at each step;
// loaded at run time by the dynamic provider (handler.ts).
import type * as pulumi from "@pulumi/pulumi";
import { connectAdmin } from "./admin-session";
import type { TunnelTarget } from "./tunnel";

export interface GrantsInputs {
  adminUrl: string;
  /** the stack's port-forward to the database pod, or null for a direct connection; a secret */
  tunnel?: TunnelTarget | null;
  database: string;
  schema: string;
  owner: string;
  app: string;
  /** roles that only need to connect (monitoring, backup) */
  connectOnly: string[];
}

const MAINTENANCE_DATABASES = ["postgres", "template1"];

/** The statements, in order; exported so tests and `preview` can show them. */
export function grantStatements(g: Omit<GrantsInputs, "adminUrl" | "tunnel">): string[] {
  const q = (s: string) => '"' + s.replace(/"/g, '""') + '"';
  const db = q(g.database);
  const schema = q(g.schema);
  const readers = [g.app, ...g.connectOnly].map(q).join(", ");
  return [
    // The maintenance databases: pg_hba already keeps pgshift's roles out; any
    // other role (made by hand later) gets no foothold there either.
    ...MAINTENANCE_DATABASES.map((m) => `REVOKE CONNECT, TEMPORARY ON DATABASE ${q(m)} FROM PUBLIC`),
    `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`,
    `ALTER DATABASE ${db} OWNER TO ${q(g.owner)}`,
    `GRANT CONNECT ON DATABASE ${db} TO ${readers}`,
    `CREATE SCHEMA IF NOT EXISTS ${schema} AUTHORIZATION ${q(g.owner)}`,
    `ALTER SCHEMA ${schema} OWNER TO ${q(g.owner)}`,
    `REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC`,
    `GRANT USAGE ON SCHEMA ${schema} TO ${readers}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${q(g.app)}`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${q(g.app)}`,
    // Tables and sequences the owner creates later (the app's own migrations,
    // pgshift's copy) are usable by the app without another grant.
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(g.owner)} IN SCHEMA ${schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${q(g.app)}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(g.owner)} IN SCHEMA ${schema} GRANT USAGE, SELECT ON SEQUENCES TO ${q(g.app)}`,
  ];
}

/** The inputs that decide the statements; the admin URL and the tunnel only say how to get there. */
const DECIDING = ["database", "schema", "owner", "app", "connectOnly"] as const;

export async function diff(_id: string, olds: GrantsInputs, news: GrantsInputs): Promise<pulumi.dynamic.DiffResult> {
  return { changes: DECIDING.some((k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k])) };
}

export async function create(inputs: GrantsInputs): Promise<pulumi.dynamic.CreateResult> {
  await applyGrants(inputs);
  return { id: `${inputs.database}/${inputs.schema}`, outs: inputs };
}

export async function update(_id: string, _olds: GrantsInputs, news: GrantsInputs): Promise<pulumi.dynamic.UpdateResult> {
  await applyGrants(news);
  return { outs: news };
}

async function applyGrants(inputs: GrantsInputs): Promise<void> {
  // Schema grants and default privileges only exist inside the application
  // database, which the owner role owns: the session's search_path is pinned
  // (admin-session.ts), so nothing the owner defines is looked up.
  const client = await connectAdmin(inputs.adminUrl, inputs.database, inputs.tunnel);
  let current = "";
  try {
    await client.query("BEGIN");
    for (const sql of grantStatements(inputs)) {
      current = sql;
      await client.query(sql);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new Error(
      `Granting privileges in database "${inputs.database}" failed at: ${current}\n${(err as Error).message}\n` +
        "Nothing was changed. Check that the roles exist and that the admin connection is a superuser.",
    );
  } finally {
    await client.end();
  }
}

// pgshift's roles and privilege model as plain SQL, for tests that need them in
// place without the Pulumi engine (pg_hba, the engine's bookkeeping). The
// product declares the same model as @pulumi/postgresql resources
// (components/database-roles.ts), tested under the real engine in
// test/components/database-roles.test.ts.
import pg from "pg";
import { adminSessionUrl, scramVerifier } from "../../src/provider/admin-session";

export interface PrivilegeModel {
  database: string;
  schema: string;
  owner: string;
  app: string;
  /** roles that only need to connect (monitoring, backup) */
  connectOnly: string[];
}

const q = (s: string) => '"' + s.replace(/"/g, '""') + '"';

/** The statements that give the roles exactly what DatabaseRoles gives them, in order. */
export function grantStatements(g: PrivilegeModel): string[] {
  const db = q(g.database);
  const schema = q(g.schema);
  const readers = [g.app, ...g.connectOnly].map(q).join(", ");
  return [
    ...["postgres", "template1"].map((m) => `REVOKE CONNECT, TEMPORARY ON DATABASE ${q(m)} FROM PUBLIC`),
    `REVOKE ALL ON DATABASE ${db} FROM PUBLIC`,
    `ALTER DATABASE ${db} OWNER TO ${q(g.owner)}`,
    `GRANT CONNECT ON DATABASE ${db} TO ${readers}`,
    `CREATE SCHEMA IF NOT EXISTS ${schema} AUTHORIZATION ${q(g.owner)}`,
    `ALTER SCHEMA ${schema} OWNER TO ${q(g.owner)}`,
    `REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC`,
    `GRANT USAGE ON SCHEMA ${schema} TO ${readers}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${q(g.app)}`,
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${q(g.app)}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(g.owner)} IN SCHEMA ${schema} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${q(g.app)}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${q(g.owner)} IN SCHEMA ${schema} GRANT USAGE, SELECT ON SEQUENCES TO ${q(g.app)}`,
  ];
}

/** Creates the roles (LOGIN, `password`) and applies the privilege model, as the superuser at `adminUrl`. */
export async function applyPrivilegeModel(adminUrl: string, model: PrivilegeModel, password: string, extraRoles: string[] = []): Promise<void> {
  // Pinned and unlogged like every admin session of pgshift's; in the application database.
  const c = new pg.Client({ connectionString: adminSessionUrl(adminUrl, model.database) });
  await c.connect();
  try {
    for (const r of [model.owner, model.app, ...model.connectOnly, ...extraRoles]) {
      await c.query(`CREATE ROLE ${q(r)} LOGIN PASSWORD ${c.escapeLiteral(scramVerifier(password))}`);
    }
    for (const sql of grantStatements(model)) await c.query(sql);
  } finally {
    await c.end();
  }
}

/**
 * The app at work: INSERT, UPDATE, SELECT, DELETE on `table` in a loop on
 * `client` (and, every tenth round, `reconnect()`: a fresh login) until
 * stopped; every failure is kept with its message.
 */
export function appLoop(client: pg.Client, table: string, reconnect?: () => Promise<void>): { stop(): Promise<{ rounds: number; failures: string[] }> } {
  const failures: string[] = [];
  let rounds = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        await client.query(`INSERT INTO ${table} (body) VALUES ('loop')`);
        await client.query(`UPDATE ${table} SET body = 'loop2' WHERE body = 'loop'`);
        await client.query(`SELECT count(*) FROM ${table}`);
        await client.query(`DELETE FROM ${table} WHERE body = 'loop2'`);
        if (reconnect && rounds % 10 === 0) await reconnect();
        rounds++;
      } catch (e) {
        failures.push((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { rounds, failures };
    },
  };
}

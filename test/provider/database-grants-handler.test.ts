// The grants handler's decisions: diff asks for an update only when the
// privilege model changes (not when only the way to the server does); create
// and update leave exactly the seed's privileges in a real PostgreSQL 16.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { create, diff, update, type GrantsInputs } from "../../src/provider/database-grants-handler";

let pgs: TestPostgres;
const db = "piyasa_db";
before(async () => {
  pgs = await startPostgres();
  await pgs.query(`CREATE DATABASE ${db}`);
  for (const r of ["piyasa_user", "piyasa_app", "piyasa_app2", "piyasa_monitor", "piyasa_backup"]) await pgs.query(`CREATE ROLE ${r} LOGIN PASSWORD 'x-0123456789abcdef'`);
});
after(async () => pgs?.stop());

const grants = (o: Partial<GrantsInputs> = {}): GrantsInputs => ({
  adminUrl: pgs.url(db),
  tunnel: null,
  database: db,
  schema: "public",
  owner: "piyasa_user",
  app: "piyasa_app",
  connectOnly: ["piyasa_monitor", "piyasa_backup"],
  ...o,
});

test("diff: the privilege model decides, the way to the server does not", async () => {
  const cases: [string, Partial<GrantsInputs>, boolean][] = [
    ["nothing changed", {}, false],
    ["another admin URL (a new port-forward port)", { adminUrl: "postgres://postgres:x@127.0.0.1:1/piyasa_db" }, false],
    ["a tunnel now", { tunnel: { kubeconfig: "k", context: "", namespace: "ns", pod: "p", port: 5432 } }, false],
    ["another database", { database: "other_db" }, true],
    ["another schema", { schema: "app" }, true],
    ["another owner", { owner: "piyasa_owner" }, true],
    ["another app role", { app: "piyasa_app2" }, true],
    ["one connect-only role fewer", { connectOnly: ["piyasa_monitor"] }, true],
  ];
  for (const [what, news, changes] of cases) {
    assert.equal((await diff("id", grants(), grants(news))).changes, changes, what);
  }
});

const can = async (role: string, privilege: string, object: string, kind: "table" | "database" | "schema") =>
  (await pgs.query<{ ok: boolean }>(`SELECT has_${kind}_privilege($1, $2, $3) AS ok`, [role, object, privilege], db))[0]!.ok;

test("create, then update to another app role: each leaves the seed's privileges for the roles it names", async () => {
  await pgs.query("CREATE TABLE public.messages (id int)", [], db);
  const created = await create(grants());
  assert.equal(created.id, "piyasa_db/public");
  assert.deepEqual(created.outs, grants());
  await pgs.query("ALTER TABLE public.messages OWNER TO piyasa_user", [], db);
  await pgs.query("SET ROLE piyasa_user; CREATE TABLE public.later (id int)", [], db);
  const expected: [string, string, string, "table" | "database" | "schema", boolean][] = [
    ["piyasa_app", "SELECT, INSERT, UPDATE, DELETE", "public.later", "table", true],
    ["piyasa_app", "TRUNCATE", "public.later", "table", false],
    ["piyasa_monitor", "CONNECT", db, "database", true],
    ["piyasa_monitor", "SELECT", "public.later", "table", false],
    ["piyasa_app", "CREATE", "public", "schema", false],
    ["piyasa_user", "CREATE", "public", "schema", true],
    ["piyasa_app2", "CONNECT", db, "database", false],
  ];
  for (const [role, privilege, object, kind, ok] of expected) assert.equal(await can(role, privilege, object, kind), ok, `after create: ${role} ${privilege} on ${object}`);

  const updated = await update("piyasa_db/public", grants(), grants({ app: "piyasa_app2" }));
  assert.deepEqual(updated.outs, grants({ app: "piyasa_app2" }));
  assert.equal(await can("piyasa_app2", "CONNECT", db, "database"), true);
  assert.equal(await can("piyasa_app2", "SELECT, INSERT, UPDATE, DELETE", "public.messages", "table"), true);
});

test("a grant that fails names the statement and says nothing was changed (one transaction)", async () => {
  await assert.rejects(create(grants({ app: "no_such_role" })), (e: Error) => {
    assert.match(e.message, /^Granting privileges in database "piyasa_db" failed at: GRANT CONNECT ON DATABASE "piyasa_db" TO "no_such_role"/);
    assert.match(e.message, /Nothing was changed/);
    return true;
  });
});

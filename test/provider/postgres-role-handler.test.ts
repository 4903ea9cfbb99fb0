// The role handler's decisions, table by table: what check refuses, when diff
// asks for an update or a replacement, and what create and update leave in a
// real PostgreSQL 16 (attributes, memberships, password).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import pg from "pg";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { check, create, diff, remove, update, type RoleInputs, type RoleState } from "../../src/provider/postgres-role-handler";

let pgs: TestPostgres;
before(async () => {
  pgs = await startPostgres();
});
after(async () => pgs?.stop());

const PW = "a-generated-password-0123456789";
const digest = (p: string) => createHash("sha256").update(p).digest("hex");
const inputs = (o: Partial<RoleInputs> = {}): RoleInputs => ({ adminUrl: pgs.url(), name: "piyasa_monitor", password: PW, memberOf: ["pg_monitor"], connectionLimit: 5, ...o });
const state = (o: Partial<RoleState> = {}): RoleState => ({ name: "piyasa_monitor", login: true, memberOf: ["pg_monitor"], connectionLimit: 5, passwordDigest: digest(PW), ...o });

test("check: which inputs are refused, and why", async () => {
  const cases: [string, Partial<RoleInputs>, string[]][] = [
    ["a valid login role", {}, []],
    ["a NOLOGIN group role", { password: null }, []],
    ["an upper-case name", { name: "Piyasa" }, ["name"]],
    ["a 64-character name", { name: "a".repeat(64) }, ["name"]],
    ["a short password", { password: "short" }, ["password"]],
    ["a password with a space", { password: "a generated password 0123" }, ["password"]],
    ["a non-ASCII password", { password: "ğenerated-password-0123456" }, ["password"]],
  ];
  for (const [what, change, failing] of cases) {
    const r = await check(inputs(), inputs(change));
    assert.deepEqual(r.failures!.map((f) => f.property), failing, what);
  }
});

test("diff: what changes the role, what replaces it, what leaves it alone", async () => {
  const cases: [string, Partial<RoleState>, Partial<RoleInputs>, { changes: boolean; replaces: string[] }][] = [
    ["nothing changed", {}, {}, { changes: false, replaces: [] }],
    ["only the admin URL (another port-forward)", {}, { adminUrl: "postgres://postgres:x@127.0.0.1:1/postgres" }, { changes: false, replaces: [] }],
    ["memberships in another order", { memberOf: ["b", "a"] }, { memberOf: ["a", "b"] }, { changes: false, replaces: [] }],
    ["a new password", {}, { password: PW + "x" }, { changes: true, replaces: [] }],
    ["login to group role", {}, { password: null }, { changes: true, replaces: [] }],
    ["another connection limit", {}, { connectionLimit: 2 }, { changes: true, replaces: [] }],
    ["another membership", {}, { memberOf: ["pg_read_all_data"] }, { changes: true, replaces: [] }],
    ["another name", {}, { name: "piyasa_metrics" }, { changes: true, replaces: ["name"] }],
  ];
  for (const [what, olds, news, expected] of cases) {
    const r = await diff("id", state(olds), inputs(news));
    assert.deepEqual({ changes: r.changes, replaces: r.replaces }, expected, what);
    assert.equal(r.deleteBeforeReplace, true, what);
  }
});

async function roleInServer(name: string) {
  const [r] = await pgs.query<{ rolcanlogin: boolean; rolsuper: boolean; rolcreatedb: boolean; rolconnlimit: number; members: string[] | null }>(
    `SELECT rolcanlogin, rolsuper, rolcreatedb, rolconnlimit,
            (SELECT array_agg(g.rolname::text ORDER BY g.rolname) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) AS members
       FROM pg_roles r WHERE rolname = $1`,
    [name],
  );
  return r;
}

async function logsIn(name: string, password: string): Promise<boolean> {
  const c = new pg.Client({ host: "127.0.0.1", port: pgs.port, user: name, password, database: "postgres" });
  c.on("error", () => {});
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

test("create and update: the role ends up with exactly the attributes, memberships and password given", async () => {
  // A role someone made by hand with more rights is brought down to exactly these.
  await pgs.query("CREATE ROLE piyasa_backup SUPERUSER CREATEDB LOGIN PASSWORD 'by-hand-password'");
  await pgs.query("GRANT pg_monitor TO piyasa_backup");
  const steps: [string, "create" | "update", Partial<RoleInputs>, { login: boolean; limit: number; members: string[] | null; password?: string }][] = [
    ["create over a hand-made superuser", "create", { name: "piyasa_backup", memberOf: ["pg_read_all_data"], connectionLimit: 2 }, { login: true, limit: 2, members: ["pg_read_all_data"], password: PW }],
    ["update: new password, another membership", "update", { name: "piyasa_backup", password: PW + "2", memberOf: ["pg_monitor", "pg_read_all_data"], connectionLimit: 2 }, { login: true, limit: 2, members: ["pg_monitor", "pg_read_all_data"], password: PW + "2" }],
    ["update: a group role, no memberships", "update", { name: "piyasa_backup", password: null, memberOf: [], connectionLimit: -1 }, { login: false, limit: -1, members: null }],
  ];
  for (const [what, op, news, expected] of steps) {
    const r = op === "create" ? await create(inputs(news)) : await update("piyasa_backup", state(), inputs(news));
    const outs = r.outs as RoleState & { adminUrl: string };
    assert.equal(outs.login, expected.login, what);
    assert.equal(outs.passwordDigest, news.password === null ? "" : digest(expected.password!), what);
    assert.ok(!JSON.stringify(outs).includes(PW), `${what}: no password in the outputs`);
    const role = await roleInServer("piyasa_backup");
    assert.deepEqual(
      { login: role!.rolcanlogin, super: role!.rolsuper, createdb: role!.rolcreatedb, limit: role!.rolconnlimit, members: role!.members },
      { login: expected.login, super: false, createdb: false, limit: expected.limit, members: expected.members },
      what,
    );
    if (expected.password) assert.equal(await logsIn("piyasa_backup", expected.password), true, `${what}: logs in with the new password`);
  }
  assert.equal((await create(inputs({ name: "piyasa_backup", password: PW }))).id, "piyasa_backup", "the id is the role's name");
});

test("delete only takes LOGIN away: the role, and what it owns, stay", async () => {
  await create(inputs({ name: "piyasa_gone", memberOf: [] }));
  await pgs.query("CREATE TABLE owned_by_gone (id int)");
  await pgs.query("ALTER TABLE owned_by_gone OWNER TO piyasa_gone");
  await remove("piyasa_gone", { ...state({ name: "piyasa_gone" }), adminUrl: pgs.url() });
  assert.equal((await roleInServer("piyasa_gone"))!.rolcanlogin, false);
  assert.equal(await logsIn("piyasa_gone", PW), false);
  const [t] = await pgs.query<{ owner: string }>("SELECT tableowner AS owner FROM pg_tables WHERE tablename = 'owned_by_gone'");
  assert.equal(t!.owner, "piyasa_gone");
});

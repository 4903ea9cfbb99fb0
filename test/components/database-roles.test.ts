// DatabaseRoles under the real Pulumi engine (test/fixtures/roles) with the
// postgresql plugin, against a PostgreSQL 16 that logs every statement, error
// statement and bind parameter:
//   - the database, roles, grants and default privileges are @pulumi/postgresql
//     resources, and give each role exactly what it had before (CRUD and
//     sequences for the app, nothing more; connect-only for monitor/backup;
//     nothing for PUBLIC);
//   - a second up, a preview and a refresh find nothing to change (the
//     plugin's known grant drift, cyrilgdn #197/#303/#627, does not show);
//   - the app keeps reading and writing while an update replaces its grant
//     (revoke and re-grant, cyrilgdn #321) and after the owner adds a table
//     (pulumi-postgresql #223);
//   - the owner's traps (search_path, catalog look-alikes, an `=` operator, a
//     "$user" schema) do not make it superuser through the next updates;
//   - no password or SCRAM verifier in the server log, Pulumi's output or the
//     state in plaintext.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { rmSync } from "node:fs";
import pg from "pg";
import { logCaughtUp, startPostgres, type TestPostgres } from "../helpers/postgres";
import { appLoop } from "../helpers/roles";
import { pulumiWorkspace, repoRoot, type PulumiWorkspace } from "../helpers/pulumi";
import { scramVerifier, stableSalt } from "../../src/provider/admin-session";

const program = join(repoRoot, "test", "fixtures", "roles");
const stack = `roles${process.pid}`;
const db = "piyasa_db";
const roles = ["owner", "app", "monitor", "backup"] as const;
const names = { owner: "piyasa_user", app: "piyasa_app", monitor: "piyasa_monitor", backup: "piyasa_backup" };
let pgs: TestPostgres;
let ws: PulumiWorkspace;
let serverLog = "";
let pulumiOutput = "";
const everyPassword: string[] = [];
let current: Record<(typeof roles)[number], string>;

const newPasswords = () => Object.fromEntries(roles.map((r) => [r, "p" + randomBytes(24).toString("base64url")])) as Record<(typeof roles)[number], string>;

async function pulumi(args: string[], allowFailure = false): Promise<{ code: number; output: string }> {
  const run = await ws.run([...args, "--stack", stack], { allowFailure });
  pulumiOutput += run.stdout + run.stderr;
  return { code: run.code, output: run.stdout + run.stderr };
}

async function setPasswords(passwords: Record<string, string>): Promise<void> {
  for (const r of roles) {
    everyPassword.push(passwords[r]!);
    await ws.run(["config", "set", "--secret", `${r}Password`, passwords[r]!, "--stack", stack]);
  }
  current = passwords as typeof current;
}

const up = (extra: string[] = []) => pulumi(["up", "--yes", "--skip-preview", ...extra], true);

async function connect(user: string, password: string, database = db): Promise<pg.Client> {
  const c = new pg.Client({ host: "127.0.0.1", port: pgs.port, user, password, database });
  c.on("error", () => {});
  await c.connect();
  return c;
}

async function as(role: (typeof roles)[number], sql: string[], database = db): Promise<void> {
  const c = await connect(names[role], current[role], database);
  try {
    for (const s of sql) await c.query(s);
  } finally {
    await c.end();
  }
}

const isSuper = async () => (await pgs.query<{ s: boolean }>("SELECT rolsuper AS s FROM pg_roles WHERE rolname = 'piyasa_user'"))[0]!.s;

before(async () => {
  pgs = await startPostgres({
    onLog: (m) => (serverLog += m + "\n"),
    flags: [
      "-c",
      "log_statement=all",
      "-c",
      "log_min_error_statement=debug5",
      "-c",
      "log_min_duration_statement=0",
      "-c",
      "log_parameter_max_length=-1",
      "-c",
      "log_parameter_max_length_on_error=-1",
    ],
  });
  await pgs.query(`CREATE DATABASE ${db}`);
  ws = pulumiWorkspace(program);
  await ws.run(["stack", "init", stack, "--secrets-provider", "passphrase"]);
  await ws.run(["config", "set", "database", db, "--stack", stack]);
  // As index.ts wires it: the superuser's URL names the application database.
  await ws.run(["config", "set", "--secret", "adminUrl", pgs.url(db), "--stack", stack]);
});
after(async () => {
  await ws?.run(["stack", "rm", "--yes", "--force", stack], { allowFailure: true });
  if (ws) rmSync(ws.backendDir, { recursive: true, force: true });
  await pgs?.stop();
});

test("a role's verifier: the same password and role give the same one (a stable input), another password another salt", () => {
  const v = (role: string, p: string) => scramVerifier(p, { salt: stableSalt(role, p) });
  assert.equal(v("piyasa_app", "p-0123456789abcdef"), v("piyasa_app", "p-0123456789abcdef"));
  assert.notEqual(v("piyasa_app", "p-0123456789abcdef"), v("piyasa_app", "p-0123456789abcdeg"));
  assert.notEqual(v("piyasa_app", "p-0123456789abcdef"), v("piyasa_user", "p-0123456789abcdef"));
  assert.match(v("piyasa_app", "p-0123456789abcdef"), /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
});

test("up creates the database, roles, grants and default privileges as @pulumi/postgresql resources", async () => {
  // Someone made the backup role by hand, with more rights: it is taken over and brought down.
  await pgs.query("CREATE ROLE piyasa_backup SUPERUSER CREATEDB LOGIN PASSWORD 'by-hand-password'");
  await setPasswords(newPasswords());
  const created = await up();
  assert.equal(created.code, 0, created.output);

  const state = JSON.parse((await ws.run(["stack", "export", "--stack", stack])).stdout) as { deployment: { resources: { type: string; urn: string }[] } };
  const count = (type: string) => state.deployment.resources.filter((r) => r.type === type).length;
  assert.equal(count("postgresql:index/role:Role"), 4);
  assert.equal(count("postgresql:index/database:Database"), 1);
  // PUBLIC on postgres, template1, the database and the schema; connect and usage for app, monitor, backup; the app's tables and sequences.
  assert.equal(count("postgresql:index/grant:Grant"), 12);
  assert.equal(count("postgresql:index/defaultPrivileges:DefaultPrivileges"), 2);
  assert.equal(count("pulumi:providers:postgresql"), 1);
  // The one dynamic resource left: the admin role's session settings.
  assert.deepEqual(
    state.deployment.resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource").map((r) => r.urn.split("::").pop()),
    ["roles-admin-session"],
  );

  const [backup] = await pgs.query<{ rolsuper: boolean; rolcreatedb: boolean; rolconnlimit: number }>(
    "SELECT rolsuper, rolcreatedb, rolconnlimit FROM pg_roles WHERE rolname = 'piyasa_backup'",
  );
  assert.deepEqual(backup, { rolsuper: false, rolcreatedb: false, rolconnlimit: 2 });
  // PostgreSQL stores the verifier pgshift computed; each password logs in.
  const stored = await pgs.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname LIKE 'piyasa%'");
  assert.equal(stored.length, 4);
  for (const s of stored) assert.match(s.rolpassword, /^SCRAM-SHA-256\$4096:/);
  for (const r of roles) await as(r, ["SELECT 1"]);
  await assert.rejects(connect(names.backup, "by-hand-password"), /password authentication failed/);
});

test("each role has exactly its privileges, on tables made before and after the update", async () => {
  await as("owner", ["CREATE TABLE public.messages (id serial PRIMARY KEY, body text)"]);
  await as("app", [
    "INSERT INTO public.messages (body) VALUES ('hi')",
    "SELECT count(*) FROM public.messages",
    "UPDATE public.messages SET body = 'hello'",
    "DELETE FROM public.messages",
    "SELECT nextval('public.messages_id_seq')",
  ]);
  const refused: [string, string][] = [
    ["TRUNCATE public.messages", "TRUNCATE"],
    ["CREATE TABLE public.mine (id int)", "CREATE on the schema"],
    ["DROP TABLE public.messages", "DROP"],
    ["ALTER TABLE public.messages ADD COLUMN x int", "ALTER"],
    ["CREATE SCHEMA app_own", "CREATE SCHEMA"],
  ];
  for (const [sql, what] of refused) await assert.rejects(as("app", [sql]), /permission denied|must be owner/, `the app may not ${what}`);
  await assert.rejects(as("monitor", ["SELECT * FROM public.messages"]), /permission denied/);
  await as("monitor", ["SELECT * FROM pg_stat_activity"]);
  await as("backup", ["SELECT * FROM public.messages"]);
  await assert.rejects(as("backup", ["INSERT INTO public.messages (body) VALUES ('x')"]), /permission denied/);
  const members = await pgs.query<{ role: string; group: string }>(
    `SELECT r.rolname AS role, g.rolname AS group FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
      WHERE r.rolname LIKE 'piyasa%' ORDER BY 1, 2`,
  );
  assert.deepEqual(members, [
    { role: "piyasa_backup", group: "pg_read_all_data" },
    { role: "piyasa_monitor", group: "pg_monitor" },
  ]);
  // PUBLIC: a role nobody granted anything connects nowhere.
  await pgs.query("CREATE ROLE someone_else LOGIN PASSWORD 'someone-else-password'");
  for (const database of [db, "postgres", "template1"]) {
    await assert.rejects(connect("someone_else", "someone-else-password", database), /permission denied for database/, database);
  }
  const [owner] = await pgs.query<{ datowner: string }>(`SELECT datdba::regrole::text AS datowner FROM pg_database WHERE datname = '${db}'`);
  assert.equal(owner!.datowner, "piyasa_user");
});

test("a second up, a preview and a refresh find nothing to change: no grant drift", async () => {
  assert.equal((await pulumi(["preview", "--expect-no-changes"], true)).code, 0, pulumiOutput.slice(-3000));
  assert.equal((await up(["--expect-no-changes"])).code, 0, pulumiOutput.slice(-3000));
  // The owner's tables (default privileges) and sequences are what the grants read.
  assert.equal((await pulumi(["refresh", "--yes", "--skip-preview", "--expect-no-changes"], true)).code, 0, pulumiOutput.slice(-3000));
});

test("the app keeps reading and writing while an update re-grants its tables and after the owner adds a table", async () => {
  const app = await connect(names.app, current.app);
  const loop = appLoop(app, "public.messages");
  let result = { rounds: 0, failures: ["not stopped"] };
  try {
    const urn = (await pulumi(["stack", "export"])).output.match(/"urn":\s*"([^"]*::roles-app-tables)"/)?.[1];
    assert.ok(urn, "the app's table grant is in the state");
    const replaced = await up(["--replace", urn]);
    assert.equal(replaced.code, 0, replaced.output);
    assert.match(replaced.output, /replaced|1 replaced/);
    await as("owner", ["CREATE TABLE public.settings (key text PRIMARY KEY, value text)"]);
    await app.query("INSERT INTO public.settings VALUES ('a', 'b')");
    const again = await up(["--refresh", "--expect-no-changes"]);
    assert.equal(again.code, 0, again.output);
    await app.query("SELECT * FROM public.settings");
  } finally {
    result = await loop.stop();
    await app.end();
  }
  assert.deepEqual(result.failures, [], "the app's statements all succeeded");
  assert.ok(result.rounds > 20, `the loop ran (${result.rounds} rounds)`);
});

test("the owner's traps do not make it superuser through the next updates (password rotation, a refresh, a re-grant)", async () => {
  await as("owner", [
    `ALTER DATABASE ${db} SET search_path = "$user", public, pg_catalog`,
    "ALTER ROLE piyasa_user SET search_path = public, pg_catalog",
    `CREATE FUNCTION public.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
       BEGIN EXECUTE 'ALTER ROLE piyasa_user SUPERUSER'; RETURN true; EXCEPTION WHEN insufficient_privilege THEN RETURN true; END $$`,
    ...["pg_roles", "pg_class", "pg_namespace", "pg_auth_members", "pg_database", "pg_default_acl"].map(
      (v) => `CREATE VIEW public.${v} AS SELECT * FROM pg_catalog.${v} WHERE public.escalate()`,
    ),
    `CREATE FUNCTION public.aclexplode(aclitem[]) RETURNS TABLE(grantor oid, grantee oid, privilege_type text, is_grantable boolean)
       LANGUAGE sql AS $$ SELECT * FROM pg_catalog.aclexplode($1) WHERE public.escalate() $$`,
    `CREATE FUNCTION public.name_eq_text(name, text) RETURNS boolean LANGUAGE sql AS $$ SELECT public.escalate() AND $1::text OPERATOR(pg_catalog.=) $2 $$`,
    "CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.name_eq_text)",
    "CREATE SCHEMA postgres",
    "CREATE VIEW postgres.pg_class AS SELECT * FROM pg_catalog.pg_class WHERE public.escalate()",
  ]);
  assert.equal(await isSuper(), false);

  const first = current;
  await setPasswords(newPasswords());
  const rotated = await up();
  assert.equal(rotated.code, 0, rotated.output);
  const refreshed = await pulumi(["refresh", "--yes", "--skip-preview"], true);
  assert.equal(refreshed.code, 0, refreshed.output);
  const urn = (await pulumi(["stack", "export"])).output.match(/"urn":\s*"([^"]*::roles-app-sequences)"/)?.[1];
  const regranted = await up(["--replace", urn!]);
  assert.equal(regranted.code, 0, regranted.output);
  assert.equal(await isSuper(), false, "the owner did not become superuser");
  for (const r of roles) {
    await as(r, ["SELECT 1"]);
    await assert.rejects(connect(names[r], first[r]), /password authentication failed/, `${r}'s old password no longer works`);
  }

  // The traps were armed: a superuser session with the database's search_path (not the admin role's pin) springs them.
  const naive = new pg.Client({ connectionString: pgs.url(db) });
  await naive.connect();
  await naive.query(`SET search_path = "$user", public, pg_catalog`);
  await naive.query("SELECT count(*) FROM pg_roles");
  await naive.end();
  assert.equal(await isSuper(), true, "the trojan escalates a naive superuser session");
  await pgs.query("ALTER ROLE piyasa_user NOSUPERUSER");
});

test("no password or verifier reaches the server log, Pulumi's output or the state in plaintext", async () => {
  await logCaughtUp(pgs, () => serverLog);
  assert.ok(/statement: CREATE TABLE public\.messages/.test(serverLog), "the server logs statements (a leak would show)");
  assert.equal(everyPassword.length, 8);
  const exported = (await ws.run(["stack", "export", "--stack", stack])).stdout;
  for (const p of everyPassword) {
    assert.ok(!serverLog.includes(p), "a password is in the server log");
    assert.ok(!pulumiOutput.includes(p), "a password is in Pulumi's output");
    assert.ok(!exported.includes(p), "a password is in the state in plaintext");
  }
  assert.ok(!/SCRAM-SHA-256\$/.test(serverLog), "no verifier in the server log");
  assert.ok(!/SCRAM-SHA-256\$/.test(pulumiOutput), "no verifier in Pulumi's output");
  assert.ok(!/SCRAM-SHA-256\$/.test(exported), "no verifier in the state in plaintext");
});

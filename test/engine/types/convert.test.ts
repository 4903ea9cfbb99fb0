// Every hostile value stops its table with an error naming table, key, column
// and value, and leaves nothing of that table in PostgreSQL; the type zoo
// arrives as the cast rules promise.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { migrate, verifyMigration, ValueConversionError, LoadError } from "../../../src/engine";
import { float8Text } from "../../../src/engine/types/convert";
import { copyTable } from "../../../src/engine/postgres/copy";
import { session } from "../../../src/engine/migrate";
import { planMigration } from "../../../src/engine/plan";

let pg: TestPostgres;
before(async () => (pg = await startPostgres()));
after(async () => pg?.stop());

const dbName = (url: string) => url.split("/").pop();

test("type zoo: each value lands as its cast rule says", async () => {
  const src = sqliteFile((db) => {
    db.exec(`CREATE TABLE zoo (id INTEGER PRIMARY KEY, flag BOOLEAN, flag_text BOOL, ts DATETIME, ts_epoch DATETIME, d DATE,
      j JSON, price NUMERIC(10,2), r REAL, b BLOB, v VARCHAR(5), big BIGINT, u UUID, untyped, tm TIME)`);
    const ins = db.prepare("INSERT INTO zoo VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.run(
      1,
      1,
      "yes",
      "2025-11-04 12:00:00.123456",
      1700000000,
      "2024-02-29",
      '{"a": [1, 2]}',
      12.5,
      1.5,
      Buffer.from([0, 1, 255]),
      "çağrı",
      9007199254740993n,
      "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
      "x",
      "08:30",
    );
    ins.run(2, 0, "F", "2025-11-04T12:00:00Z", 1700000000.5, null, "0.35", "3", Infinity, null, "12345", -5, null, null, "23:59:59.500");
    ins.run(3, null, "TRUE", "2025-11-04T15:00:00+03:00", null, null, '"metin"', null, -Infinity, "text blob", null, null, null, 42, null);
    ins.run(4, "t", "off", "2025-11-04 12:00", null, null, "true", "1e2", "NaN", null, null, "12", null, null, "00:00:00");
  });
  const url = await pg.createDatabase();
  const r = await migrate({ source: src, target: url });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  // Every converter writes what PostgreSQL prints back, so the table is proven by the digest of what was sent.
  assert.equal(r.tables[0]!.verifiedBy, "copy digest");
  const rows = await pg.query<Record<string, unknown>>(
    `SELECT id, flag, flag_text, to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US') AS ts, to_char(ts_epoch, 'YYYY-MM-DD HH24:MI:SS.US') AS ts_epoch,
            d::text AS d, j, jsonb_typeof(j) AS jt, price::text AS price, r::text AS r, encode(b, 'hex') AS b, v, big::text AS big, u::text AS u, untyped
       FROM zoo ORDER BY id`,
    [],
    dbName(url),
  );
  assert.deepEqual(rows[0], {
    id: "1",
    flag: true,
    flag_text: true,
    ts: "2025-11-04 12:00:00.123456",
    ts_epoch: "2023-11-14 22:13:20.000000",
    d: "2024-02-29",
    j: { a: [1, 2] },
    jt: "object",
    price: "12.50",
    r: "1.5",
    b: "0001ff",
    v: "çağrı",
    big: "9007199254740993",
    u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    untyped: "x",
  });
  assert.deepEqual(rows[1], {
    id: "2",
    flag: false,
    flag_text: false,
    ts: "2025-11-04 12:00:00.000000",
    ts_epoch: "2023-11-14 22:13:20.500000",
    d: null,
    j: 0.35,
    jt: "number",
    price: "3.00",
    r: "Infinity",
    b: null,
    v: "12345",
    big: "-5",
    u: null,
    untyped: null,
  });
  assert.equal(rows[2]!.ts, "2025-11-04 12:00:00.000000", "offset converted to UTC");
  assert.equal(rows[2]!.j, "metin");
  assert.equal(rows[2]!.r, "-Infinity");
  assert.equal(rows[2]!.b, Buffer.from("text blob").toString("hex"));
  assert.equal(rows[2]!.untyped, "42.0", "a REAL (better-sqlite3 binds numbers as REAL) stays one in an untyped column");
  assert.equal(rows[3]!.flag, true);
  assert.equal(rows[3]!.flag_text, false);
  assert.equal(rows[3]!.price, "100.00");
  assert.equal(rows[3]!.r, "NaN");
});

interface Hostile {
  name: string;
  ddl: string;
  value: unknown;
  column: string;
  reason: RegExp;
  raw?: (db: Database.Database) => void;
}

const hostile: Hostile[] = [
  { name: "text in an INTEGER column", ddl: "n INTEGER", column: "n", value: "twelve", reason: /text in an integer column/ },
  { name: "a NUL byte in text", ddl: "s TEXT", column: "s", value: "a\u0000b", reason: /NUL byte/ },
  { name: "invalid JSON", ddl: "j JSON", column: "j", value: "{not json", reason: /not valid JSON/ },
  { name: "a lone surrogate in JSON", ddl: "j JSON", column: "j", value: '{"a": "\\ud800"}', reason: /lone surrogate/ },
  { name: "an impossible date", ddl: "t DATETIME", column: "t", value: "2025-02-30 10:00:00", reason: /impossible date/ },
  { name: "a non-boolean", ddl: "f BOOLEAN", column: "f", value: "maybe", reason: /not a boolean/ },
  { name: "text longer than VARCHAR(n)", ddl: "v VARCHAR(3)", column: "v", value: "abcd", reason: /longer than varchar\(3\)/ },
  { name: "a fraction in an INTEGER column", ddl: "n INTEGER", column: "n", value: 1.5, reason: /not a whole number/ },
  {
    name: "invalid UTF-8",
    ddl: "s TEXT",
    column: "s",
    value: null,
    reason: /not valid UTF-8/,
    raw: (db) => db.prepare("UPDATE t SET s = CAST(x'61ff62' AS TEXT) WHERE id = 42").run(),
  },
];

for (const h of hostile) {
  test(`${h.name} stops the table with its key, column and value, writing nothing of it`, async () => {
    const src = sqliteFile((db) => {
      db.exec(`CREATE TABLE ok (id INTEGER PRIMARY KEY); INSERT INTO ok VALUES (1); CREATE TABLE t (id INTEGER PRIMARY KEY, ${h.ddl})`);
      const ins = db.prepare(`INSERT INTO t (id, ${h.column}) VALUES (?, ?)`);
      for (let i = 1; i <= 100; i++) ins.run(i, i === 42 ? h.value : null);
      h.raw?.(db);
    });
    const url = await pg.createDatabase();
    await assert.rejects(migrate({ source: src, target: url, jobs: 1 }), (e: unknown) => {
      assert.ok(e instanceof ValueConversionError, String(e));
      assert.equal(e.table, "t");
      assert.equal(e.column, h.column);
      assert.deepEqual(e.key, { id: 42 });
      assert.match(e.reason, h.reason);
      assert.match(e.message, /table "t", row id=42, column "(n|s|j|t|f|v)"/);
      return true;
    });
    const t = await pg.query("SELECT 1 FROM pg_tables WHERE tablename = 't'", [], dbName(url));
    assert.equal(t.length, 0, "nothing of the failing table was written");
  });
}

test("an override keeps a hostile value as text", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, j JSON); INSERT INTO t VALUES (1, 'not json'), (2, '{\"ok\": 1}')");
  });
  const url = await pg.createDatabase();
  const r = await migrate({ source: src, target: url, casts: { "t.j": "text" } });
  assert.equal(r.ok, true);
  const rows = await pg.query<{ j: string }>("SELECT j FROM t ORDER BY id", [], dbName(url));
  assert.deepEqual(
    rows.map((x) => x.j),
    ["not json", '{"ok": 1}'],
  );
});

test("a value PostgreSQL refuses is reported with the row's key", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, p NUMERIC(4,2)); INSERT INTO t VALUES (1, 1.5), (2, 12345.5)");
  });
  const url = await pg.createDatabase();
  await assert.rejects(
    migrate({ source: src, target: url }),
    (e: unknown) => e instanceof LoadError && /row id=2/.test((e as Error).message) && /overflow/.test((e as Error).message),
  );
  const t = await pg.query("SELECT 1 FROM pg_tables WHERE tablename = 't'", [], dbName(url));
  assert.equal(t.length, 0);
});

test("doubles are written the way float8out prints them", async () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const values = [
    0, -0, 1, -1, 0.1, 1e-4, 9.99e-5, 1e15, 999999999999999.9, 1e16, 1e21, 1.5e-7, 5e-324, 1.7976931348623157e308, 123456.789, -2.5e-10, 84.15729213,
  ];
  for (let k = 0; k < 2000; k++) values.push((rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20));
  for (let k = 0; k < 1000; k++) values.push((rand() - 0.5) * 10 ** Math.floor(rand() * 600 - 300));
  for (let k = 0; k < 1000; k++) values.push(Math.round((rand() - 0.5) * 2 ** (53 + Math.floor(rand() * 20))));
  const rows = await pg.query<{ t: string }>("SELECT v::float8::text AS t FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n", [
    values.map((v) => (Object.is(v, -0) ? "-0" : String(v))),
  ]);
  const off = values.filter((v, k) => float8Text(v) !== rows[k]!.t).map((v) => `${v}: ${float8Text(v)} vs ${rows[values.indexOf(v)]!.t}`);
  assert.deepEqual(off, []);
});

const I64_MIN = -9223372036854775808n;
const I64_MAX = 9223372036854775807n;

test("the whole 64-bit range, both extremes, in keys and non-keys: copied, verified by digest and row by row", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE k (id INTEGER PRIMARY KEY, v INTEGER, w BIGINT); CREATE TABLE nk (id BIGINT PRIMARY KEY, v INT8)");
    const ins = db.prepare("INSERT INTO k VALUES (?,?,?)");
    ins.run(I64_MIN, I64_MAX, I64_MIN);
    ins.run(0, 9007199254740993n, -9007199254740993n);
    ins.run(I64_MAX, I64_MIN, I64_MAX);
    db.prepare("INSERT INTO nk VALUES (?,?)").run(I64_MIN, I64_MIN);
    db.prepare("INSERT INTO nk VALUES (?,?)").run(I64_MAX, I64_MAX);
  });
  const url = await pg.createDatabase();
  const r = await migrate({ source: src, target: url });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.ok(r.tables.every((t) => t.verifiedBy === "copy digest"));
  const rows = await pg.query<{ id: string; v: string; w: string }>("SELECT id::text, v::text, w::text FROM k ORDER BY id", [], dbName(url));
  assert.deepEqual(rows, [
    { id: String(I64_MIN), v: String(I64_MAX), w: String(I64_MIN) },
    { id: "0", v: "9007199254740993", w: "-9007199254740993" },
    { id: String(I64_MAX), v: String(I64_MIN), w: String(I64_MAX) },
  ]);
  const nk = await pg.query<{ id: string; v: string }>("SELECT id::text, v::text FROM nk ORDER BY id", [], dbName(url));
  assert.deepEqual(nk, [
    { id: String(I64_MIN), v: String(I64_MIN) },
    { id: String(I64_MAX), v: String(I64_MAX) },
  ]);
  // A plain verify compares row by row against SQLite, keys merged in order.
  const v = await verifyMigration({ source: src, target: url });
  assert.equal(v.ok, true, JSON.stringify(v.tables));
  assert.ok(v.tables.every((t) => t.verifiedBy === "key order"));
  // The identity cannot go past the highest key: the report says so instead of crashing.
  const k = r.tables.find((t) => t.source === "k")!;
  assert.match((k.warnings ?? []).join("\n"), /highest key \(9223372036854775807\) is the largest value sequence .*k_id_seq/);
  assert.equal(r.tables.find((t) => t.source === "nk")!.warnings, undefined);
});

test("an AUTOINCREMENT counter beyond 2^53 keeps its digits; one beyond the sequence's maximum is reported, not crashed on", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT); INSERT INTO a VALUES (9007199254740993, 'x'); DELETE FROM a;");
    db.exec("INSERT INTO a VALUES (5, 'kept')");
  });
  const plan = await planMigration({ source: src });
  assert.equal(plan.tables[0]!.sequenceFloor, "9007199254740993");
  const url = await pg.createDatabase();
  const r = await migrate({ source: src, target: url });
  assert.equal(r.ok, true);
  assert.equal(r.tables[0]!.warnings, undefined);
  const [ins] = await pg.query<{ id: string }>("INSERT INTO a (v) VALUES ('next') RETURNING id::text", [], dbName(url));
  assert.equal(ins!.id, "9007199254740994", "ids of deleted rows are never reused, to the last digit");

  // --schema existing with an integer serial: SQLite's counter is past what the sequence can hold.
  const url2 = await pg.createDatabase();
  await pg.query("CREATE TABLE a (id serial PRIMARY KEY, v text)", [], dbName(url2));
  const r2 = await migrate({ source: src, target: url2, schema: "existing" });
  assert.equal(r2.ok, true);
  assert.match(
    (r2.tables[0]!.warnings ?? []).join(""),
    /highest key \(9007199254740993\) is the largest value sequence public.a_id_seq can hand out \(2147483647\)/,
  );
});

test("a failure on pgshift's side of the copy is not reported as PostgreSQL refusing the data", async () => {
  const src = sqliteFile((db) => db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"));
  const url = await pg.createDatabase();
  const plan = await planMigration({ source: src });
  const client = await session(url);
  try {
    await client.query("CREATE TABLE public.t (id bigint, v text)");
    const reader = {
      rows: () => [][Symbol.iterator](),
      keyOfRow: () => undefined,
      *chunks() {
        yield { data: Buffer.from("1\ta\n"), rows: 1 };
        throw new Error("disk I/O error");
      },
    };
    await assert.rejects(copyTable(client, "public", plan.tables[0]!, reader as never), (e: unknown) => {
      assert.ok(e instanceof LoadError);
      assert.doesNotMatch(e.message, /PostgreSQL refused/);
      assert.match(e.message, /Reading table "t" from the SQLite snapshot failed in pgshift: disk I\/O error/);
      return true;
    });
  } finally {
    await client.end();
  }
});

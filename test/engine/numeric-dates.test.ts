// Numbers in date/time columns: the unit is decided per column from the data
// (or by --cast), every reading is range-checked, mixed units are refused with
// a row named — against real SQLite files and a real PostgreSQL 16.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import { formatPlan, migrate, planMigration, ValueConversionError, UsageError } from "../../src/engine";

let pg: TestPostgres;
before(async () => (pg = await startPostgres()));
after(async () => pg?.stop());

const dbName = (url: string) => url.split("/").pop();
const BASE_MS = 1_700_000_000_000; // 2023-11-14 22:13:20 UTC

/** A JavaScript app's events table: `at` is Date.now(), `day` a DATE as epoch seconds of midnight. */
const eventsDb = (n: number, extra?: (db: import("better-sqlite3").Database) => void) =>
  sqliteFile((db) => {
    db.exec("CREATE TABLE ev (id INTEGER PRIMARY KEY, at DATETIME, day DATE, note TEXT)");
    const ins = db.prepare("INSERT INTO ev VALUES (?, ?, ?, ?)");
    for (let i = 1; i <= n; i++) ins.run(i, BASE_MS + i * 1234, 1_699_920_000 + 86400 * (i % 3), `e${i}`);
    ins.run(n + 1, "2023-11-15 08:00:00", null, "text date");
    extra?.(db);
  });

test("epoch milliseconds are recognised per column, shown in the plan, and land as the dates the app meant", async () => {
  const src = eventsDb(812);
  const plan = await planMigration({ source: src });
  const text = formatPlan(plan);
  assert.match(text, /at: numbers read as epoch milliseconds \(all 812 values in range\)/);
  assert.match(text, /day: numbers read as epoch seconds \(all 812 values in range\)/);
  const url = await pg.createDatabase();
  const r = await migrate({ source: src, target: url });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(r.tables[0]!.verifiedBy, "copy digest");
  const rows = await pg.query<{ at: string; day: string }>("SELECT at::text, day::text FROM ev WHERE id IN (1, 813) ORDER BY id", [], dbName(url));
  assert.deepEqual(rows, [
    { at: "2023-11-14 22:13:21.234", day: "2023-11-15" },
    { at: "2023-11-15 08:00:00", day: null as unknown as string },
  ]);
});

test("epoch microseconds and julian day numbers (REAL, as julianday() writes them) read as SQLite itself reads them", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, us TIMESTAMP, jd DATETIME)");
    db.prepare("INSERT INTO t VALUES (1, 1700000000123456, julianday('2025-01-02 00:00:00.994'))").run();
    db.prepare("INSERT INTO t VALUES (2, -315619199999999, julianday('1999-12-31 23:59:59'))").run();
    db.prepare("INSERT INTO t VALUES (3, 0, NULL)").run(); // 0 is 1970 in every unit: no evidence either way
  });
  const expected = (await import("better-sqlite3")).default;
  const s = new expected(src, { readonly: true });
  const sqliteSays = s.prepare("SELECT strftime('%Y-%m-%d %H:%M:%f', jd) AS v FROM t ORDER BY id").all() as { v: string }[];
  s.close();
  const text = formatPlan(await planMigration({ source: src }));
  assert.match(text, /jd: numbers read as julian day numbers \(all 2 values in range\)/);
  assert.match(text, /us: numbers read as epoch microseconds \(all 3 values in range\)/);
  const url = await pg.createDatabase();
  const r = await migrate({ source: src, target: url });
  assert.equal(r.ok, true);
  const rows = await pg.query<{ us: string; jd: string }>("SELECT us::text, to_char(jd, 'YYYY-MM-DD HH24:MI:SS.MS') AS jd FROM t ORDER BY id", [], dbName(url));
  assert.deepEqual(rows.map((x) => x.us), ["2023-11-14 22:13:20.123456", "1960-01-01 00:00:00.000001", "1970-01-01 00:00:00"]);
  assert.deepEqual(rows.map((x) => x.jd), sqliteSays.map((x) => x.v), "the same instant SQLite's own date functions give");
  assert.equal(rows[0]!.jd, "2025-01-02 00:00:00.994");
});

test("a column that mixes seconds and milliseconds is refused, naming a row, before anything is written", async () => {
  const src = eventsDb(50, (db) => db.prepare("INSERT INTO ev VALUES (900, 1700000000, NULL, 'seconds')").run());
  const url = await pg.createDatabase();
  await assert.rejects(migrate({ source: src, target: url }), (e: unknown) => {
    assert.ok(e instanceof ValueConversionError, String(e));
    assert.equal(e.table, "ev");
    assert.equal(e.column, "at");
    assert.deepEqual(e.key, { id: 900 });
    assert.equal(e.value, 1700000000);
    assert.match(e.message, /mix units \(1 look like epoch seconds, 50 look like epoch milliseconds\)/);
    assert.match(e.message, /--cast ev\.at=timestamp:epoch-s\|epoch-ms/);
    return true;
  });
  const t = await pg.query("SELECT 1 FROM pg_tables WHERE schemaname = 'public'", [], dbName(url));
  assert.equal(t.length, 0, "nothing was written");
});

test("julian day numbers among epoch seconds are refused, not read as January 1970", async () => {
  // Read as epoch seconds, julianday('2024-11-07 18:00') is 1970-01-29 07:37:02: in range, plausible, wrong.
  const src = sqliteFile((db) => db.exec("CREATE TABLE ev (id INTEGER PRIMARY KEY, at DATETIME); INSERT INTO ev VALUES (1, 1731000000), (2, 2460622.25), (3, 1731000001)"));
  const url = await pg.createDatabase();
  await assert.rejects(migrate({ source: src, target: url }), (e: unknown) => {
    assert.ok(e instanceof ValueConversionError, String(e));
    assert.deepEqual([e.table, e.column, e.key, e.value], ["ev", "at", { id: 2 }, 2460622.25]);
    assert.match(e.message, /mix units \(1 look like julian day numbers, 2 do not\)/);
    return true;
  });
  const t = await pg.query("SELECT 1 FROM pg_tables WHERE schemaname = 'public'", [], dbName(url));
  assert.equal(t.length, 0, "nothing was written");
  // With the reading given, the seconds load and the julian day (January 1970 as seconds) is what the app asked for.
  const r = await migrate({ source: src, target: url, casts: { "ev.at": "timestamp:epoch-s" } });
  assert.equal(r.ok, true);
});

test("an explicit reading (--cast ev.at=timestamp:epoch-ms) wins; a value outside 1900–9999 in it is refused with its key", async () => {
  // 4e10 ms is 1971: by magnitude it looks like seconds, so the data alone would call the column mixed.
  const src = eventsDb(20, (db) => db.prepare("INSERT INTO ev VALUES (901, 40000000000, NULL, '1971')").run());
  const url = await pg.createDatabase();
  const r = await migrate({ source: src, target: url, casts: { "ev.at": "timestamp:epoch-ms" } });
  assert.equal(r.ok, true);
  const [row] = await pg.query<{ at: string }>("SELECT at::text FROM ev WHERE id = 901", [], dbName(url));
  assert.equal(row!.at, "1971-04-08 23:06:40");
  assert.match(formatPlan(await planMigration({ source: src, casts: { "ev.at": "timestamp:epoch-ms" } })), /at: numbers read as epoch milliseconds \(--cast; all 21 values in range\)/);

  // The same column read as seconds puts the milliseconds after 9999: refused, naming the first such row.
  await assert.rejects(migrate({ source: src, target: await pg.createDatabase(), casts: { "ev.at": "timestamp:epoch-s" } }), (e: unknown) => {
    assert.ok(e instanceof ValueConversionError, String(e));
    assert.deepEqual(e.key, { id: 1 });
    assert.equal(e.column, "at");
    assert.match(e.reason, /1700000001234 read as epoch seconds is after 9999/);
    return true;
  });
});

test("numbers that are no date in any unit (year 55,000 as seconds, before 1900) are refused with table, key, column and value", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME)");
    db.prepare("INSERT INTO t VALUES (1, 1700000000), (2, -5000000000)").run();
  });
  await assert.rejects(migrate({ source: src, target: await pg.createDatabase() }), (e: unknown) => {
    assert.ok(e instanceof ValueConversionError, String(e));
    assert.deepEqual([e.table, e.column, e.key, e.value], ["t", "at", { id: 2 }, -5000000000]);
    assert.match(e.reason, /read as epoch seconds is before 1900/);
    return true;
  });
});

test("a date column holding an epoch with a time of day is refused, not truncated", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, d DATE)");
    db.prepare("INSERT INTO t VALUES (1, 1699920000), (2, 1699920000 + 3600)").run();
  });
  await assert.rejects(migrate({ source: src, target: await pg.createDatabase() }), (e: unknown) => {
    assert.ok(e instanceof ValueConversionError, String(e));
    assert.deepEqual(e.key, { id: 2 });
    assert.match(e.reason, /with a time of day, in a date column/);
    return true;
  });
});

test("a cast that names no known type or reading is a usage error naming the column", async () => {
  const src = eventsDb(3);
  for (const bad of ["timestamp:epoch-ns", "text:epoch-ms", "timestampz"]) {
    await assert.rejects(planMigration({ source: src, casts: { "ev.at": bad } }), (e: unknown) => {
      assert.ok(e instanceof UsageError, String(e));
      assert.match((e as Error).message, new RegExp(`--cast "ev\\.at=${bad}"`));
      return true;
    });
  }
});

test("--schema existing: the app's own timestamptz column takes a reading for numbers and keeps its type", async () => {
  const src = eventsDb(5);
  const url = await pg.createDatabase();
  await pg.query("CREATE TABLE ev (id bigint PRIMARY KEY, at timestamptz, day date, note text)", [], dbName(url));
  const r = await migrate({ source: src, target: url, schema: "existing", casts: { "ev.at": "timestamp:epoch-ms" } });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  const [row] = await pg.query<{ at: string }>("SELECT at::text FROM ev WHERE id = 1", [], dbName(url));
  assert.equal(row!.at, "2023-11-14 22:13:21.234+00");
});

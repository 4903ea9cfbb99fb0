// Numbers in date/time columns: the unit is decided per column from the data
// (or by --cast), every reading is range-checked, mixed units are refused with
// a row named — against real SQLite files and a real PostgreSQL 16. A refresh
// plans without counting and decides each date column in the scan it makes
// anyway (or by query), exactly as the plan would have.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { formatPlan, migrate, planMigration, ValueConversionError, UsageError, type MigrationReport } from "../../../src/engine";
import { copyTextSpec } from "../../../src/engine/sqlite/copy-text";
import { settleNumericDates } from "../../../src/engine/sqlite/numeric-dates";
import { planFrom } from "../../../src/engine/plan";
import { DISABLE_ENV, rangeDigestsExtension, sqliteRangeScan } from "../../../src/engine/sqlite/range-digests";
import { tableReader } from "../../../src/engine/sqlite/source";

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
  assert.deepEqual(
    rows.map((x) => x.us),
    ["2023-11-14 22:13:20.123456", "1960-01-01 00:00:00.000001", "1970-01-01 00:00:00"],
  );
  assert.deepEqual(
    rows.map((x) => x.jd),
    sqliteSays.map((x) => x.v),
    "the same instant SQLite's own date functions give",
  );
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
  const src = sqliteFile((db) =>
    db.exec("CREATE TABLE ev (id INTEGER PRIMARY KEY, at DATETIME); INSERT INTO ev VALUES (1, 1731000000), (2, 2460622.25), (3, 1731000001)"),
  );
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
  assert.match(
    formatPlan(await planMigration({ source: src, casts: { "ev.at": "timestamp:epoch-ms" } })),
    /at: numbers read as epoch milliseconds \(--cast; all 21 values in range\)/,
  );

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

/** A table whose notes come from several columns, in order: dates, a default that is not kept, NOCASE, dates again. */
const notedDb = () =>
  sqliteFile((db) => {
    db.exec(`CREATE TABLE ev (id INTEGER PRIMARY KEY, at DATETIME, odd TEXT DEFAULT (random()), name TEXT COLLATE NOCASE, day DATE, txt DATETIME);
             CREATE TABLE plain (id INTEGER PRIMARY KEY, v TEXT)`);
    const ins = db.prepare("INSERT INTO ev (id, at, name, day, txt) VALUES (?, ?, ?, ?, ?)");
    for (let i = 1; i <= 40; i++) ins.run(i, BASE_MS + i, `n${i}`, i % 2 ? 1_699_920_000 + 86400 * i : "2023-11-15", "2023-11-15 08:00:00");
  });

test("planned for a refresh, date columns are left pending; decided later (by query or from the C counts) the plan is the one planned at once", async () => {
  const src = notedDb();
  const db = new Database(src, { readonly: true });
  try {
    const now = await planFrom(db, { source: src });
    assert.ok(!JSON.stringify(now).includes("numericDatesPending"), "a plan without --refresh leaves nothing pending");
    assert.match(formatPlan(now), /at: numbers read as epoch milliseconds \(all 40 values in range\)/);
    const later = await planFrom(db, { source: src }, { numericDates: "defer" });
    const ev = later.tables.find((t) => t.source === "ev")!;
    assert.deepEqual(
      ev.columns.filter((c) => c.numericDatesPending).map((c) => c.source),
      ["at", "day", "txt"],
    );
    assert.equal(ev.columns.find((c) => c.source === "at")!.cast.numbers, undefined);
    assert.ok(!ev.notes.some((n) => /numbers read as/.test(n)), "no note before the data is counted");
    // Converting a pending table is a bug on some path, never a silent epoch-seconds reading.
    assert.throws(() => tableReader(db, ev), /internal error: table "ev" .*"at", "day", "txt"/);
    assert.throws(() => copyTextSpec(ev), /internal error/);
    settleNumericDates(db, ev);
    assert.deepEqual(later, now, "by query");
    const e = rangeDigestsExtension();
    assert.ok("path" in e);
    const fromC = await planFrom(db, { source: src }, { numericDates: "defer" });
    const t = fromC.tables.find((x) => x.source === "ev")!;
    const scan = await sqliteRangeScan(db, t, "id", 8n, e.path, { split: true, dateColumns: ["at", "day", "txt"] });
    settleNumericDates(db, t, scan.dates);
    assert.deepEqual(fromC, now, "from the C counts");
    // An explicit reading is not the data's to decide: planned at once, even for a refresh (its note counts values in range).
    const cast = await planFrom(db, { source: src, casts: { "ev.at": "timestamp:epoch-ms" } }, { numericDates: "defer" });
    const at = cast.tables[0]!.columns.find((c) => c.source === "at")!;
    assert.equal(at.numericDatesPending, undefined);
    assert.match(cast.tables[0]!.notes.join("\n"), /at: numbers read as epoch milliseconds \(--cast; all 40 values in range\)/);
  } finally {
    db.close();
  }
});

/** A chat app's table with text dates only at the first load. */
const textDatesDb = () =>
  sqliteFile((db) => {
    db.exec("CREATE TABLE msg (id INTEGER PRIMARY KEY, at DATETIME, edited DATETIME, body TEXT)");
    const ins = db.prepare("INSERT INTO msg VALUES (?, ?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= 500; i++) ins.run(i, `2024-01-01 00:00:${String(i % 60).padStart(2, "0")}`, null, `m${i}`);
    })();
  });

const edit = (src: string, sql: string) => {
  const w = new Database(src);
  w.exec(sql);
  w.close();
};

const iso = (ms: number) =>
  new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.?0*Z$/, "");

async function refreshIntroducingMilliseconds(env?: "off"): Promise<MigrationReport> {
  const src = textDatesDb();
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: src, target: url })).ok, true);
  // The app switched to Date.now(): changed rows hold milliseconds where the load saw only text; a new table too.
  edit(
    src,
    `UPDATE msg SET edited = ${BASE_MS} + id * 1001 WHERE id % 50 = 0;
     INSERT INTO msg VALUES (501, ${BASE_MS + 501}, NULL, 'new');
     CREATE TABLE ev (id INTEGER PRIMARY KEY, at DATETIME); INSERT INTO ev VALUES (1, ${BASE_MS + 7}), (2, '2024-01-01 00:00:00');`,
  );
  const before = process.env[DISABLE_ENV];
  if (env) process.env[DISABLE_ENV] = env;
  let r: MigrationReport;
  try {
    r = await migrate({ source: src, target: url, refresh: true });
  } finally {
    if (before === undefined) delete process.env[DISABLE_ENV];
    else process.env[DISABLE_ENV] = before;
  }
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  const rows = await pg.query<{ id: number; at: string; edited: string | null }>(
    "SELECT id::int AS id, at::text, edited::text FROM msg WHERE id IN (1, 50, 500, 501) ORDER BY id",
    [],
    dbName(url),
  );
  assert.deepEqual(rows, [
    { id: 1, at: "2024-01-01 00:00:01", edited: null },
    { id: 50, at: "2024-01-01 00:00:50", edited: iso(BASE_MS + 50 * 1001) },
    { id: 500, at: "2024-01-01 00:00:20", edited: iso(BASE_MS + 500 * 1001) },
    { id: 501, at: iso(BASE_MS + 501), edited: null },
  ]);
  const ev = await pg.query<{ at: string }>("SELECT at::text FROM ev ORDER BY id", [], dbName(url));
  assert.deepEqual(
    ev.map((x) => x.at),
    [iso(BASE_MS + 7), "2024-01-01 00:00:00"],
    "a table loaded for the first time in a refresh",
  );
  return r;
}

test("a refresh whose changed rows bring epoch milliseconds into a column that held only text reads them as milliseconds (counted in the digest scan)", async () => {
  const r = await refreshIntroducingMilliseconds();
  const msg = r.tables.find((t) => t.source === "msg")!;
  assert.equal(msg.action, "synced");
  assert.match(msg.refresh ?? "", /synced by recorded digests/);
  assert.equal(r.tables.find((t) => t.source === "ev")!.action, "loaded");
});

test("without the C extension the refresh decides the same by query (sync by content)", async () => {
  const r = await refreshIntroducingMilliseconds("off");
  assert.match(r.tables.find((t) => t.source === "msg")!.refresh ?? "", /synced by content digests/);
});

test("a table a refresh reloads whole (its columns changed) decides its date columns first, by query", async () => {
  const src = textDatesDb();
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: src, target: url })).ok, true);
  edit(src, `ALTER TABLE msg ADD COLUMN extra TEXT; UPDATE msg SET edited = ${BASE_MS} + id WHERE id = 9`);
  const r = await migrate({ source: src, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.match(r.tables[0]!.refresh ?? "", /reloaded whole: its columns or keys changed/);
  const [row] = await pg.query<{ edited: string }>("SELECT edited::text FROM msg WHERE id = 9", [], dbName(url));
  assert.equal(row!.edited, iso(BASE_MS + 9));
});

test("a refresh whose changed rows mix units fails naming table, key and column, and leaves PostgreSQL as it was", async () => {
  const src = textDatesDb();
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: src, target: url })).ok, true);
  const dump = async () => ({
    msg: (await pg.query<{ r: string }>("SELECT m::text AS r FROM msg m ORDER BY id", [], dbName(url))).map((x) => x.r),
    loads: (await pg.query<{ r: string }>("SELECT l::text AS r FROM pgshift.loads l ORDER BY target_table", [], dbName(url))).map((x) => x.r),
    tables: (await pg.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", [], dbName(url))).map((x) => x.t),
  });
  const was = await dump();
  edit(
    src,
    `UPDATE msg SET edited = ${BASE_MS} + id WHERE id IN (100, 200, 300);
     UPDATE msg SET edited = 1700000400 WHERE id = 250;
     UPDATE msg SET body = 'changed' WHERE id = 7;
     CREATE TABLE ev (id INTEGER PRIMARY KEY, at DATETIME); INSERT INTO ev VALUES (1, ${BASE_MS});`,
  );
  await assert.rejects(migrate({ source: src, target: url, refresh: true }), (e: unknown) => {
    assert.ok(e instanceof ValueConversionError, String(e));
    assert.deepEqual([e.table, e.column, e.key, e.value], ["msg", "edited", { id: 250 }, 1700000400]);
    assert.match(e.message, /mix units \(1 look like epoch seconds, 3 look like epoch milliseconds\)/);
    return true;
  });
  assert.deepEqual(await dump(), was, "nothing written: not the synced table, not its record, not the new table");
});

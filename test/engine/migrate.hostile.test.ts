// migrate() on the hostile files of test/helpers/hostile-sqlite.ts against a
// real PostgreSQL 16: each is copied exactly or refused by name, with nothing
// of any table written. Both conversion paths (C and JavaScript) run each case.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { hostileFile } from "../helpers/hostile-sqlite";
import { migrate, planMigration, verifyMigration, UsageError, ValueConversionError } from "../../src/engine";

let pg: TestPostgres;
before(async () => {
  pg = await startPostgres();
});
after(async () => pg?.stop());

const dbName = (url: string) => url.split("/").pop()!;
const tablesIn = async (url: string) =>
  (await pg.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1", [], dbName(url))).map(
    (r) => r.t,
  );

/** Runs `body` with the C converter on and off: whatever one path does, the other must do too. */
async function bothPaths(body: (path: string) => Promise<void>): Promise<void> {
  for (const native of ["on", "off"]) {
    const before = process.env.PGSHIFT_NATIVE_COPY;
    if (native === "off") process.env.PGSHIFT_NATIVE_COPY = "off";
    try {
      await body(native);
    } finally {
      if (before === undefined) delete process.env.PGSHIFT_NATIVE_COPY;
      else process.env.PGSHIFT_NATIVE_COPY = before;
    }
  }
}

/**
 * The refusal, with nothing of the refused table in PostgreSQL afterwards —
 * and nothing at all when `inPlan` (refused before anything is written). A
 * value refused during the copy stops its own table's transaction; tables
 * loaded meanwhile stay, and a re-run keeps them (docs/engine.md, error policy).
 */
async function refusedWithNothingWritten(source: string, options: Record<string, unknown> = {}, refused?: string): Promise<Error> {
  const url = await pg.createDatabase();
  const err = await migrate({ source, target: url, ...options }).then(
    () => assert.fail("expected a refusal"),
    (e: Error) => e,
  );
  const left = await tablesIn(url);
  if (refused) assert.ok(!left.includes(refused), `nothing of "${refused}" committed after: ${err.message}`);
  else assert.deepEqual(left, [], `nothing committed after: ${err.message}`);
  return err;
}

test("ordinary tables named like an FTS5 shadow table are copied; the real shadow tables are not", async () => {
  const source = hostileFile("shadowLookalikes");
  const url = await pg.createDatabase();
  const report = await migrate({ source, target: url });
  assert.equal(report.ok, true);
  assert.deepEqual(report.tables.map((t) => t.source).sort(), ["docs_archive", "docs_data_old"]);
  const rows = await pg.query<{ body: string }>("SELECT body FROM docs_archive ORDER BY id", [], dbName(url));
  assert.deepEqual(
    rows.map((r) => r.body),
    ["old one", "older"],
  );
  const plan = await planMigration({ source });
  const skipped = Object.fromEntries(plan.skipped.map((s) => [s.name, s.kind]));
  for (const shadow of ["docs_data", "docs_idx", "docs_content", "docs_docsize", "docs_config"]) assert.equal(skipped[shadow], "shadow table", shadow);
  assert.equal(skipped.docs, "virtual table");
});

test("generated columns become GENERATED ALWAYS AS (…) STORED and verification compares them", async () => {
  const source = hostileFile("generatedColumns");
  await bothPaths(async () => {
    const url = await pg.createDatabase();
    const report = await migrate({ source, target: url });
    assert.equal(report.ok, true, JSON.stringify(report.tables));
    const rows = await pg.query<{ id: string; b: string | null; c: string | null }>("SELECT id, b, c FROM items ORDER BY id", [], dbName(url));
    assert.deepEqual(
      rows.map((r) => [Number(r.id), r.b, r.c]),
      [
        [1, "2", "ABC"],
        [2, "42", "XYZ"],
        [3, null, null],
      ],
    );
    const gen = await pg.query<{ column_name: string; is_generated: string }>(
      "SELECT column_name, is_generated FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position",
      [],
      dbName(url),
    );
    assert.deepEqual(
      gen.map((g) => `${g.column_name}:${g.is_generated}`),
      ["id:NEVER", "a:NEVER", "s:NEVER", "b:ALWAYS", "c:ALWAYS"],
    );
    // PostgreSQL's upper() folds every letter, SQLite's only A–Z: a row where they differ fails verification, by key.
    await pg.query("ALTER TABLE items DROP COLUMN c", [], dbName(url));
    await pg.query("ALTER TABLE items ADD COLUMN c text GENERATED ALWAYS AS (lower(s)) STORED", [], dbName(url));
    const v = await verifyMigration({ source, target: url });
    assert.equal(v.ok, false, "a generated column computed differently is a difference");
    const items = v.tables.find((t) => t.source === "items")!;
    assert.equal(items.differences[0]?.key.id, "1");
    assert.equal(items.differences[0]?.columns?.[0]?.column, "c");
  });
});

test("a generated column whose expression does not translate is refused in the plan, naming it and the ways out", async () => {
  const source = hostileFile("generatedUntranslatable");
  const err = await refusedWithNothingWritten(source);
  assert.ok(err instanceof UsageError, String(err));
  assert.match(err.message, /Table "facts", generated column "kind"/);
  assert.match(err.message, /typeof\(\)/);
  assert.match(err.message, /--cast facts\.kind=text/);
  assert.match(err.message, /--tables/);
  // The first way out: SQLite's computed values in a plain column.
  const url = await pg.createDatabase();
  const report = await migrate({ source, target: url, casts: { "facts.kind": "text" } });
  assert.equal(report.ok, true);
  const rows = await pg.query<{ kind: string }>("SELECT kind FROM facts ORDER BY id", [], dbName(url));
  assert.deepEqual(
    rows.map((r) => r.kind),
    ["integer", "text", "real"],
  );
});

test("JSON objects with a duplicate key are refused for jsonb (naming the row), and kept as written with --cast …=json", async () => {
  const source = hostileFile("jsonDuplicateKeys");
  await bothPaths(async () => {
    const err = await refusedWithNothingWritten(source, {}, "settings");
    assert.ok(err instanceof ValueConversionError, String(err));
    assert.equal(err.table, "settings");
    assert.equal(err.column, "value");
    assert.deepEqual(err.key, { id: 2 });
    assert.match(err.message, /"a" twice/);
    assert.match(err.message, /json/);
    const url = await pg.createDatabase();
    const report = await migrate({ source, target: url, casts: { "settings.value": "json" } });
    assert.equal(report.ok, true);
    const rows = await pg.query<{ v: string }>("SELECT value::text AS v FROM settings ORDER BY id", [], dbName(url));
    assert.deepEqual(
      rows.map((r) => r.v),
      ['{"x": 1}', '{"a":1,"a":2}', '[1, {"b": 2, "b": 3}]'],
    );
  });
});

test("numbers in a BLOB column are refused, naming table, row and column; text is its UTF-8 bytes", async () => {
  const source = hostileFile("blobNumbers");
  await bothPaths(async () => {
    const err = await refusedWithNothingWritten(source, {}, "files");
    assert.ok(err instanceof ValueConversionError, String(err));
    assert.equal(err.table, "files");
    assert.equal(err.column, "data");
    assert.deepEqual(err.key, { id: 3 });
    assert.match(err.message, /a number \(5\) in a BLOB column/);
  });
});

test("an untyped column keeps REAL −0.0 and 2.0 as REALs ('-0.0', '2.0'), integers and text as they are", async () => {
  const source = hostileFile("untypedReals");
  await bothPaths(async () => {
    const url = await pg.createDatabase();
    const report = await migrate({ source, target: url });
    assert.equal(report.ok, true);
    const rows = await pg.query<{ v: string }>("SELECT v FROM readings ORDER BY id", [], dbName(url));
    assert.deepEqual(
      rows.map((r) => r.v),
      ["-0.0", "2.0", "2", "2", "0.1", "1e+20", "9.223372036854776e+18"],
    );
  });
});

test("YYYYMMDD integers in a date/time column are refused as ambiguous, and read as dates with --cast …:yyyymmdd", async () => {
  const source = hostileFile("yyyymmddDates");
  const err = await refusedWithNothingWritten(source);
  assert.ok(err instanceof ValueConversionError, String(err));
  assert.equal(err.table, "events");
  assert.equal(err.column, "at");
  assert.deepEqual(err.key, { id: 1 });
  assert.match(err.message, /YYYYMMDD/);
  assert.match(err.message, /--cast events\.at=timestamp:yyyymmdd/);
  assert.match(err.message, /--cast events\.at=timestamp:epoch-s/);
  const url = await pg.createDatabase();
  const report = await migrate({ source, target: url, casts: { "events.at": "timestamp:yyyymmdd", "events.on_day": "date:yyyymmdd" } });
  assert.equal(report.ok, true);
  const rows = await pg.query<{ at: string | null; d: string | null }>("SELECT at::text AS at, on_day::text AS d FROM events ORDER BY id", [], dbName(url));
  assert.deepEqual(
    rows.map((r) => [r.at, r.d]),
    [
      ["2024-01-01 00:00:00", "2024-02-29"],
      ["2023-12-31 00:00:00", "1999-12-31"],
      [null, null],
    ],
  );
  // An epoch unit given is a choice too.
  const url2 = await pg.createDatabase();
  const epoch = await migrate({ source, target: url2, casts: { "events.at": "timestamp:epoch-s", "events.on_day": "date:yyyymmdd" } });
  assert.equal(epoch.ok, true);
  const [first] = await pg.query<{ at: string }>("SELECT at::text AS at FROM events WHERE id = 1", [], dbName(url2));
  assert.equal(first!.at, "1970-08-23 06:15:01");
});

// ---- refusals that name what they refuse ----

/** A plan refusal: a NameProblemsError before anything is written, bystander tables included. */
async function refusedInPlan(source: string, options: Record<string, unknown> = {}): Promise<string> {
  const err = await refusedWithNothingWritten(source, options);
  assert.ok(err instanceof UsageError, `a usage error (exit 2), not ${err.name}: ${err.message}`);
  return err.message;
}

test("columns named xmin and ctid are refused in the plan, naming table and columns", async () => {
  const msg = await refusedInPlan(hostileFile("systemColumnNames"));
  assert.match(msg, /nothing was written/);
  assert.match(msg, /table "versions", column "xmin": "xmin" is a PostgreSQL system column/);
  assert.match(msg, /table "versions", column "ctid"/);
  assert.match(msg, /rename/);
});

test("an empty column name is refused in the plan, naming the table", async () => {
  const msg = await refusedInPlan(hostileFile("emptyColumnName"));
  assert.match(msg, /table "blank": a column has an empty name/);
});

test("two column names equal in their first 63 bytes are refused in the plan", async () => {
  const msg = await refusedInPlan(hostileFile("longColumnNames"));
  // PostgreSQL would cut both to the same 63 bytes: each name longer than that is refused, by name.
  assert.match(msg, /Column name "c{63}_one" of table "wide" is 67 bytes long in PostgreSQL; PostgreSQL names hold at most 63 bytes\. Rename it/);
});

test("two index names equal in their first 63 bytes are refused in the plan, with the right hint", async () => {
  const msg = await refusedInPlan(hostileFile("longIndexNames"));
  assert.match(msg, /Index name "ix_x+_a" of table "tagged" is 65 bytes long in PostgreSQL; PostgreSQL names hold at most 63 bytes\. Rename it/);
  assert.doesNotMatch(msg, /enforce/);
});

test("names fold as PostgreSQL folds unquoted names (A–Z only): Ä and ä stay two columns", async () => {
  const url = await pg.createDatabase();
  const report = await migrate({ source: hostileFile("unicodeCaseColumns"), target: url });
  assert.equal(report.ok, true);
  const cols = await pg.query<{ c: string }>(
    "SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'umlauts' ORDER BY ordinal_position",
    [],
    dbName(url),
  );
  assert.deepEqual(
    cols.map((c) => c.c),
    ["id", "Ä", "ä"],
  );
});

test("a non-ASCII name keeps its non-ASCII letters, so the app's unquoted SQL finds it in PostgreSQL", async () => {
  const url = await pg.createDatabase();
  const report = await migrate({ source: hostileFile("nonAsciiNames"), target: url });
  assert.equal(report.ok, true);
  assert.equal(report.tables[0]!.target, "ÇaĞri");
  // Unquoted, as the app writes it: PostgreSQL folds A–Z and nothing else.
  const rows = await pg.query<{ İsİm: string; durum: string }>("SELECT İSİM, Durum FROM ÇAĞRI", [], dbName(url));
  assert.deepEqual(
    rows.map((r) => Object.values(r)),
    [["x", "açık"]],
  );
});

test("invalid UTF-8 in a text primary key is refused naming the row by its bytes", async () => {
  await bothPaths(async () => {
    const err = await refusedWithNothingWritten(hostileFile("invalidUtf8Key"), {}, "codes");
    assert.ok(err instanceof ValueConversionError, `${err.name}: ${err.message}`);
    assert.equal(err.table, "codes");
    assert.equal(err.column, "code");
    assert.deepEqual(err.key, { code: Buffer.from([0x61, 0xff, 0x62]) });
    assert.match(err.message, /row code=x'61ff62'/);
    assert.match(err.message, /not valid UTF-8/);
  });
});

test("100,000-deep JSON is refused naming row and column, not a stack overflow", async () => {
  await bothPaths(async () => {
    const err = await refusedWithNothingWritten(hostileFile("deepJson"), {}, "docs");
    assert.ok(err instanceof ValueConversionError, `${err.name}: ${err.message}`);
    assert.equal(err.table, "docs");
    assert.equal(err.column, "body");
    assert.deepEqual(err.key, { id: 7 });
    assert.match(err.message, /nested more than 2000 levels deep/);
  });
});

test("an orphaned foreign key names the row by its key, and what it points at", async () => {
  const url = await pg.createDatabase();
  const err = await migrate({ source: hostileFile("orphanForeignKey"), target: url }).then(
    () => assert.fail("expected a refusal"),
    (e: Error) => e,
  );
  assert.match(err.message, /Rows of "messages" pointing at no row of "bots": row id=11: bot_id=99\./);
});

test("2^63 in a REAL in an INTEGER column is refused with all its digits", async () => {
  const err = await refusedWithNothingWritten(hostileFile("realTwoToThe63"), {}, "counters");
  assert.ok(err instanceof ValueConversionError, `${err.name}: ${err.message}`);
  assert.match(err.message, /the REAL 9223372036854775808 is out of range for bigint/);
  assert.doesNotMatch(err.message, /9223372036854776000/);
});

test("a STRICT table's ANY column keeps text, integers and reals as an untyped column does", async () => {
  await bothPaths(async () => {
    const url = await pg.createDatabase();
    const report = await migrate({ source: hostileFile("strictAny"), target: url });
    assert.equal(report.ok, true, JSON.stringify(report.tables));
    const rows = await pg.query<{ v: string }>("SELECT v FROM kv ORDER BY k", [], dbName(url));
    assert.deepEqual(
      rows.map((r) => r.v),
      ["text", "1", "2.5"],
    );
  });
});

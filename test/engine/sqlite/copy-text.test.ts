// The copy's hot path in C (native/copy-text.c) must write every value it
// converts exactly as the JavaScript converters do, byte for byte, and leave
// every other value to them: then a table reads back from PostgreSQL as it was
// sent, and a refused value is still named by table, key and column.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { to as copyTo } from "pg-copy-streams";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { migrate } from "../../../src/engine";
import { copyTable } from "../../../src/engine/postgres/copy";
import { session } from "../../../src/engine/migrate";
import { createTableSql } from "../../../src/engine/postgres/schema";
import { copyTextExtension, copyTextSpec, nativeChunks, NATIVE_COPY_ENV, NotBinary } from "../../../src/engine/sqlite/copy-text";
import { ValueConversionError } from "../../../src/engine/errors";
import { loadExtension } from "../../../src/engine/sqlite/native";
import { planMigration, type TablePlan } from "../../../src/engine/plan";
import { tableReader } from "../../../src/engine/sqlite/source";

let pg: TestPostgres;
before(async () => (pg = await startPostgres()));
after(async () => pg?.stop());

function extension(): { path: string; entry: string } {
  const e = copyTextExtension();
  assert.ok("path" in e, `the copy-text extension is built at install (npm run build:native): ${"unavailable" in e ? e.unavailable : ""}`);
  return e;
}

function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
/** A double from random bits (finite ones only), so every exponent and digit count comes up. */
function randomDouble(r: () => number): number {
  for (;;) {
    u64[0] = (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
    if (Number.isFinite(f64[0]!)) return f64[0]!;
  }
}

const invalidUtf8 = Buffer.from([0x61, 0xc3, 0x28]);
/** Per declared type: values C must convert (common), and values it may leave to JavaScript (anything). */
const CASES: { decl: string; kind: string; cast?: string; common: unknown[]; other: unknown[] }[] = [
  { decl: "SMALLINT", kind: "smallint", common: [0, 1, -1, 32767, -32768, null], other: [32768, -32769, " 12 ", "x", 2.5] },
  { decl: "INT", kind: "integer", cast: "integer", common: [2147483647, -2147483648, 3.0, 42n], other: [2147483648, "  42 ", "abc", 2.5, Buffer.from("1")] },
  {
    decl: "BIGINT",
    kind: "bigint",
    common: [9223372036854775807n, -9223372036854775808n, 2n ** 53n + 1n, -(2n ** 53n) - 3n, 0],
    other: ["9223372036854775808", "7"],
  },
  { decl: "BOOLEAN", kind: "boolean", common: [0, 1, null], other: [2, "true", "t", "no", -1] },
  {
    decl: "REAL",
    kind: "double",
    common: [0.1, 0.2 + 0.1, 1 / 3, 100, 1e-4, 999999999999999.9, 33.7021857657014, 0.5, 2 ** 49 + 0.5, 2 ** -13, 5, -7.25, 0],
    other: [1e20, 1e-5, 1e15, -1e300, 5e-324, "1.50", "abc", Infinity, -Infinity],
  },
  {
    decl: "TEXT",
    kind: "text",
    common: ["plain", "", "tab\there", "nl\nand\rcr", "back\\slash", "\b\f\v", "ünïcödé 🚀 漢字", "a real \uFFFD", "x".repeat(5000), 42, -7, "\u007f"],
    other: [invalidUtf8, Buffer.from("blob text"), "nul\u0000byte", 1.5, 2n ** 60n],
  },
  { decl: "VARCHAR(5)", kind: "varchar", common: ["abcde", "ééééé", "🚀🚀🚀🚀🚀", "", 12345n], other: ["abcdef", "🚀🚀🚀🚀🚀🚀", 123456n] },
  {
    decl: "DATETIME",
    kind: "timestamp",
    common: [
      "2025-01-01 00:00:00",
      "2025-01-01 00:00:00.120000",
      "2025-01-01 00:00:00.000000",
      "2024-02-29 23:59:59.999999",
      "0001-01-01 00:00:00.5",
      "9999-12-31 23:59:59",
    ],
    other: [
      "2023-02-29 00:00:00",
      "2025-01-01T00:00:00",
      "2025-01-01 00:00:00Z",
      "2025-01-01 10:00:00+02:00",
      "2025-01-01",
      "2025-13-01 00:00:00",
      "2025-01-01 24:00:00",
      "0000-01-01 00:00:00",
      "2025-01-01 00:00:00.1234567",
      1700000000,
    ],
  },
  { decl: "TIMESTAMPTZ", kind: "timestamptz", common: ["2025-06-30 12:34:56.789", "2000-01-01 00:00:00"], other: ["2025-06-30T12:34:56+05:30", 1700000000.5] },
  {
    decl: "DATE",
    kind: "date",
    common: ["2025-01-31", "2024-02-29", "0001-01-01", "9999-12-31", null],
    other: ["2023-02-29", "2025-1-31", " 2025-01-31", "2025-01-31 00:00:00", "2025-01-31 10:00:00", 1700000000, "0000-01-01"],
  },
  {
    decl: "TIME",
    kind: "time",
    common: ["00:00:00", "23:59:59", "12:34:56.789000", "12:34:56.000000", "01:02:03.000001"],
    other: ["24:00:00", "12:60:00", "12:34", " 12:34:56", "12:34:56.1234567", "12:34:56Z", 3600],
  },
  {
    decl: "UUID",
    kind: "uuid",
    common: ["123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000", Buffer.from("00112233445566778899aabbccddeeff", "hex")],
    other: ["{123e4567-e89b-12d3-a456-426614174000}", "123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g", Buffer.alloc(15), 5],
  },
  { decl: "BLOB", kind: "bytea", common: [Buffer.from([0, 1, 2, 254, 255]), Buffer.alloc(0), "text as bytes", "ü"], other: [invalidUtf8, 12, 1.5] },
];

/** One table per case, the values in id order; returns its plan. */
async function caseTable(decl: string, values: unknown[], cast?: string): Promise<{ path: string; t: TablePlan }> {
  const path = sqliteFile((db) => {
    db.exec(`CREATE TABLE v (id INTEGER PRIMARY KEY, x ${decl})`);
    const ins = db.prepare("INSERT INTO v VALUES (?, ?)");
    values.forEach((x, i) => ins.run(i + 1, typeof x === "boolean" ? Number(x) : (x as number)));
  });
  const plan = await planMigration({ source: path, ...(cast ? { casts: { "v.x": cast } } : {}) });
  return { path, t: plan.tables[0]! };
}

/** What the JavaScript reader writes for row `id`, or the error it throws. */
function jsLine(db: Database.Database, t: TablePlan, id: number): string | Error {
  try {
    return [...tableReader(db, t, [[BigInt(id), BigInt(id)]]).rowsAsText()][0]!;
  } catch (err) {
    return err as Error;
  }
}

/** A case's values: its own, then generated ones of its kind. */
function caseValues(c: (typeof CASES)[number], r: () => number): unknown[] {
  const extra: unknown[] = [];
  if (c.kind === "double") for (let i = 0; i < 3000; i++) extra.push(i % 3 === 0 ? r() * 100 : i % 3 === 1 ? Math.round(r() * 1e6) / 1000 : randomDouble(r));
  if (c.kind === "text")
    for (let i = 0; i < 500; i++)
      extra.push(
        Array.from({ length: Math.floor(r() * 30) }, () =>
          String.fromCodePoint([9, 10, 13, 92, 8, 11, 12, 97, 98, 0xe9, 0x1f680, 0x4e2d, 0x7f, 0x1b][Math.floor(r() * 14)]!),
        ).join(""),
      );
  if (c.kind === "timestamp")
    for (let i = 0; i < 500; i++)
      extra.push(
        `${String(1 + Math.floor(r() * 9999)).padStart(4, "0")}-${String(1 + Math.floor(r() * 12)).padStart(2, "0")}-${String(1 + Math.floor(r() * 31)).padStart(2, "0")} ${String(Math.floor(r() * 24)).padStart(2, "0")}:${String(Math.floor(r() * 60)).padStart(2, "0")}:${String(Math.floor(r() * 60)).padStart(2, "0")}.${String(
          Math.floor(r() * 1e6),
        )
          .padStart(6, "0")
          .slice(0, 1 + Math.floor(r() * 6))}`,
      );
  return [...c.common, ...c.other, ...extra];
}

test("each value C converts is written exactly as the JavaScript converter writes it; the rest is left to JavaScript", async () => {
  const ext = extension();
  const r = seeded(11);
  for (const c of CASES) {
    const values = caseValues(c, r);
    const { path, t } = await caseTable(c.decl, values, c.cast);
    assert.equal(t.columns[1]!.cast.kind, c.kind, `${c.decl} is planned as ${c.kind}`);
    const spec = copyTextSpec(t)!.split(",")[1]!;
    const db = new Database(path, { readonly: true });
    try {
      loadExtension(db, ext);
      const field = db.prepare("SELECT pgshift_copy_field(?, x) FROM v WHERE id = ?").pluck();
      let converted = 0;
      values.forEach((x, i) => {
        const id = i + 1;
        const fromC = field.get(spec, id) as string | null;
        const fromJs = jsLine(db, t, id);
        const what = `${c.decl} value #${id} ${JSON.stringify(typeof x === "bigint" ? String(x) : x)}`;
        if (i < c.common.length) assert.notEqual(fromC, null, `${what}: C must convert it, not leave it to JavaScript`);
        if (fromC === null) return;
        converted++;
        assert.ok(typeof fromJs === "string", `${what}: C wrote ${JSON.stringify(fromC)} where JavaScript refuses it (${String(fromJs)})`);
        assert.equal(`${id}\t${fromC}`, fromJs, what);
      });
      assert.ok(converted >= c.common.length);
    } finally {
      db.close();
    }
  }
});

/** The messages-like table: every kind C writes, with a few values only JavaScript converts spread through it. */
function mixedTable(rows: number, odd: (id: number) => boolean, refused?: number): string {
  return sqliteFile((db) => {
    db.exec(`CREATE TABLE m (id INTEGER PRIMARY KEY, n INT NOT NULL, big BIGINT, flag BOOLEAN, score REAL, body TEXT, code VARCHAR(8),
                             at DATETIME NOT NULL, data BLOB)`);
    const ins = db.prepare("INSERT INTO m VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    const r = seeded(5);
    db.transaction(() => {
      for (let id = 1; id <= rows; id++) {
        const at = odd(id) ? "2025-03-04T05:06:07+01:00" : `2025-03-04 05:06:${String(id % 60).padStart(2, "0")}.${id % 1000}`;
        const n = id === refused ? "not a number" : id * 7;
        ins.run(
          id * 2,
          n,
          id % 5 ? BigInt(id) * 1_000_000_007n : null,
          id % 2,
          id % 4 ? r() * 1000 : null,
          `line ${id}\twith\\escapes\n🚀`,
          `c${id % 1000}`,
          at,
          id % 3 ? Buffer.from([id & 255, 0, 9]) : null,
        );
      }
    })();
  });
}

test("a table's chunks from C equal the JavaScript reader's rows, with the chunks C leaves to JavaScript converted there", async () => {
  extension();
  const path = mixedTable(5000, (id) => id % 1000 === 0);
  const t = (await planMigration({ source: path })).tables[0]!;
  const db = new Database(path, { readonly: true });
  try {
    const expected = [...tableReader(db, t).rowsAsText()].map((l) => l + "\n").join("");
    let fallbacks = 0;
    const chunks = nativeChunks(db, t, 4096, (lo, hi) => {
      fallbacks++;
      return [{ data: Buffer.from([...tableReader(db, t, [[lo, hi]]).rowsAsText()].map((l) => l + "\n").join("")), rows: -1 }];
    });
    assert.ok(chunks, "the table takes the C path");
    const all = [...chunks!];
    assert.equal(Buffer.concat(all.map((c) => c.data)).toString(), expected);
    assert.equal(fallbacks, 5, "exactly the five chunks holding a value only JavaScript converts");
    assert.ok(all.length > 50, `chunks of about 4 KB (got ${all.length})`);
    // The reader the copy uses takes the same path and counts rows.
    const viaReader = [...tableReader(db, t).chunks(4096)];
    assert.equal(Buffer.concat(viaReader.map((c) => c.data)).toString(), expected);
    assert.equal(
      viaReader.reduce((n, c) => n + c.rows, 0),
      5000,
    );
  } finally {
    db.close();
  }
});

test("many short key ranges (a delta sync's re-read) come batched, in key order, exactly the JavaScript reader's rows; a batch holding a value only JavaScript converts goes to JavaScript range by range", async () => {
  extension();
  // ~850 ranges of 1 to 8 keys, some past the last key, and one long range (read the usual way, by LIMIT).
  const ranges: [bigint, bigint][] = [];
  for (let lo = 1n; lo < 10_200n; lo += 9n + (lo % 5n)) ranges.push([lo, lo + (lo % 8n)]);
  ranges.splice(100, 20, [ranges[100]![0], ranges[119]![1] + 1500n]);
  while (ranges.length > 101 && ranges[101]![0] <= ranges[100]![1]) ranges.splice(101, 1);
  // Keys are 2 × id: one in a short range past the long one holds a value only JavaScript converts.
  const odd = ranges.slice(300).find(([lo, hi]) => hi > lo)!;
  const oddKey = odd[0] % 2n === 0n ? odd[0] : odd[0] + 1n;
  const path = mixedTable(5000, (id) => BigInt(id) * 2n === oddKey);
  const t = (await planMigration({ source: path })).tables[0]!;
  const db = new Database(path, { readonly: true });
  try {
    const expected = [...tableReader(db, t, ranges).rowsAsText()].map((l) => l + "\n").join("");
    const fellBack: string[] = [];
    const chunks = nativeChunks(
      db,
      t,
      1 << 20,
      (lo, hi) => {
        fellBack.push(`${lo}-${hi}`);
        return [{ data: Buffer.from([...tableReader(db, t, [[lo, hi]]).rowsAsText()].map((l) => l + "\n").join("")), rows: -1 }];
      },
      ranges,
    );
    const all = [...chunks!];
    assert.equal(Buffer.concat(all.map((c) => c.data)).toString(), expected);
    const fromC = all.filter((c) => c.rows >= 0).length;
    assert.ok(fromC <= 10, `batched: ${fromC} chunks from C for ${ranges.length} ranges`);
    assert.ok(
      fellBack.length > 1 && fellBack.includes(`${odd[0]}-${odd[1]}`) && fellBack.every((r) => ranges.some(([lo, hi]) => r === `${lo}-${hi}`)),
      `whole ranges to JavaScript: ${fellBack.join(", ")}`,
    );
  } finally {
    db.close();
  }
});

test("a value JavaScript refuses is still named by table, key and column on the C path", async () => {
  extension();
  const path = mixedTable(3000, () => false, 2222);
  const t = (await planMigration({ source: path })).tables[0]!;
  const db = new Database(path, { readonly: true });
  try {
    assert.throws(
      () => {
        for (const _ of tableReader(db, t).chunks(4096));
      },
      (err: unknown) => err instanceof ValueConversionError && /"m"/.test(err.message) && /4444/.test(err.message) && /"n"/.test(err.message),
    );
  } finally {
    db.close();
  }
});

test("a table converted in C loads into PostgreSQL 16 and reads back byte for byte (verification by digest)", async () => {
  extension();
  const path = mixedTable(20_000, (id) => id % 7000 === 0);
  const url = await pg.createDatabase();
  const r = await migrate({ source: path, target: url });
  assert.equal(r.ok, true);
  const m = r.tables.find((x) => x.source === "m")!;
  assert.equal(m.targetRows, 20_000);
  assert.equal(m.verifiedBy, "copy digest");
  assert.equal(m.match, true);
});

/** The table as PostgreSQL prints it in COPY text, in key order: what the text path would have sent, if the binary values are right. */
async function textOf(client: Awaited<ReturnType<typeof session>>, t: TablePlan): Promise<string> {
  const cols = t.columns.map((c) => `"${c.target}"`).join(", ");
  const stream = client.query(copyTo(`COPY (SELECT ${cols} FROM public."${t.target}" ORDER BY "${t.columns[0]!.target}") TO STDOUT`));
  const parts: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts).toString("utf8");
}

/** Creates the table in a fresh database and copies it as the load does: binary first, in one transaction, and as text again after NotBinary. */
async function loadBinary(path: string, t: TablePlan): Promise<{ format: string; text: string; rows: number; notBinary: boolean }> {
  const client = await session(await pg.createDatabase());
  const db = new Database(path, { readonly: true });
  const attempt = async (binary: boolean) => {
    await client.query("BEGIN");
    await client.query(createTableSql("public", t));
    const sent = await copyTable(client, "public", t, tableReader(db, t), undefined, undefined, 1, binary);
    await client.query("COMMIT");
    return sent;
  };
  try {
    let notBinary = false;
    const sent = await attempt(true).catch(async (err: unknown) => {
      if (!(err instanceof NotBinary)) throw err;
      notBinary = true;
      await client.query("ROLLBACK");
      return attempt(false);
    });
    return { format: sent.format, text: await textOf(client, t), rows: sent.rows, notBinary };
  } finally {
    db.close();
    await client.end();
  }
}

test("binary tuples from C hold exactly the values the JavaScript converters write as text (read back from PostgreSQL 16)", async () => {
  const ext = extension();
  const r = seeded(23);
  for (const c of CASES) {
    // Only what C converts: one value it leaves to JavaScript sends the whole table as text (next test).
    const probe = new Database(":memory:");
    loadExtension(probe, ext);
    const accepted = caseValues(c, r).filter((x) => {
      probe.exec("DROP TABLE IF EXISTS v");
      probe.exec(`CREATE TABLE v (x ${c.decl})`);
      probe.prepare("INSERT INTO v VALUES (?)").run(x as number);
      const spec =
        c.decl === "VARCHAR(5)"
          ? "v5"
          : c.decl === "INT"
            ? "i"
            : { SMALLINT: "s", BIGINT: "l", BOOLEAN: "b", REAL: "d", TEXT: "t", DATETIME: "T", TIMESTAMPTZ: "Z", DATE: "D", TIME: "H", UUID: "U", BLOB: "x" }[
                c.decl
              ]!;
      return probe.prepare("SELECT pgshift_copy_field(?, x) FROM v").pluck().get(spec) !== null;
    });
    probe.close();
    const { path, t } = await caseTable(c.decl, accepted, c.cast);
    const db = new Database(path, { readonly: true });
    const expected = [...tableReader(db, t).rowsAsText()].map((l) => l + "\n").join("");
    db.close();
    const loaded = await loadBinary(path, t);
    assert.equal(loaded.format, "binary", `${c.decl}: copied as binary tuples`);
    assert.equal(loaded.rows, accepted.length);
    assert.equal(loaded.text, expected, `${c.decl}: PostgreSQL holds what the text path would have written`);
  }
});

test("a value only JavaScript converts stops the binary COPY (NotBinary); the table then goes as text, exactly", async () => {
  extension();
  const path = mixedTable(3000, (id) => id === 2500);
  const t = (await planMigration({ source: path })).tables[0]!;
  const db = new Database(path, { readonly: true });
  const expected = [...tableReader(db, t).rowsAsText()].map((l) => l + "\n").join("");
  db.close();
  const loaded = await loadBinary(path, t);
  assert.equal(loaded.notBinary, true);
  assert.equal(loaded.format, "text");
  assert.equal(loaded.rows, 3000);
  assert.equal(loaded.text, expected);
  const clean = await loadBinary(
    mixedTable(3000, () => false),
    t,
  );
  assert.equal(clean.format, "binary");
});

test(`${NATIVE_COPY_ENV}=off converts every value in JavaScript, as text, with the same bytes`, async () => {
  extension();
  const path = mixedTable(2000, () => false);
  const t = (await planMigration({ source: path })).tables[0]!;
  const db = new Database(path, { readonly: true });
  const before = process.env[NATIVE_COPY_ENV];
  try {
    const inC = Buffer.concat([...tableReader(db, t).chunks(4096)].map((c) => c.data));
    assert.ok(tableReader(db, t).binaryChunks(4096), "C takes the table while the switch is on");
    process.env[NATIVE_COPY_ENV] = "off";
    assert.deepEqual(copyTextExtension(), { unavailable: `${NATIVE_COPY_ENV}=off` });
    assert.equal(tableReader(db, t).binaryChunks(4096), undefined, "no binary without C");
    const inJs = Buffer.concat([...tableReader(db, t).chunks(4096)].map((c) => c.data));
    assert.ok(inJs.equals(inC));
  } finally {
    if (before === undefined) delete process.env[NATIVE_COPY_ENV];
    else process.env[NATIVE_COPY_ENV] = before;
    db.close();
  }
});

// Numbers in date/time columns. SQLite has no date type, so apps store
// timestamps as text or as numbers — epoch seconds (Python's time.time()),
// milliseconds (JavaScript's Date.now()), microseconds, or julian day numbers
// (SQLite's julianday()). Read in the wrong unit, a millisecond becomes the
// year 55,000 and nobody notices. So the unit is decided per column from all of
// its numbers before anything is written: every number must fit one reading,
// or the column is refused with a row that does not fit.
import type Database from "better-sqlite3";
import { hasDateNumbers, type ColumnCast } from "../types/column-types";
import { NUMERIC_DATE_UNITS, type NumericDateUnit } from "../types/convert";
import { ValueConversionError } from "../errors";
import { fillTemplate, quoteSqlite } from "../identifiers";
import type { TablePlan } from "../plan";
import { sqlFile } from "../sql-files";

const query = sqlFile("sqlite", "numeric-dates");

/** Where a unit's magnitude bucket lies, as SQL over `pgshift_value` (mirrors numeric-dates.sql). */
const BUCKET: Record<Exclude<NumericDateUnit, "julian" | "yyyymmdd">, string> = {
  "epoch-s": "abs(CAST(pgshift_value AS REAL)) < 1e11 OR pgshift_value = 0",
  "epoch-ms": "abs(CAST(pgshift_value AS REAL)) >= 1e11 AND abs(CAST(pgshift_value AS REAL)) < 1e14",
  "epoch-us": "abs(CAST(pgshift_value AS REAL)) >= 1e14 AND abs(CAST(pgshift_value AS REAL)) < 1e17",
};

/** How one column's numbers fit each reading: numeric-dates.sql's columns, or the C aggregate's (native/numeric-dates.h). */
export interface NumericDateCounts {
  n: number;
  reals: number;
  zeros: number;
  julian: number;
  /** reals within julian days 1900–9999: what julianday() writes */
  julian_reals: number;
  s: number;
  ms: number;
  us: number;
  s_ok: number;
  ms_ok: number;
  us_ok: number;
}

/** The C aggregate's int64 fields, in its BLOB's order (native/numeric-dates.h): the query's column order. */
const FIELDS = ["n", "reals", "julian", "julian_reals", "zeros", "s", "ms", "us", "s_ok", "ms_ok", "us_ok"] as const;

/** pgshift_numeric_dates(col1, …, colN)'s BLOB, read: N counts (an empty BLOB, from no rows: N of nothing). */
export function parseNumericDateCounts(blob: Uint8Array, columns: number): NumericDateCounts[] {
  const size = FIELDS.length * 8;
  if (blob.byteLength !== 0 && blob.byteLength !== columns * size)
    throw new Error(`pgshift_numeric_dates returned ${blob.byteLength} bytes for ${columns} columns, not ${columns * size}`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  return Array.from(
    { length: columns },
    (_, c) =>
      Object.fromEntries(FIELDS.map((f, i) => [f, blob.byteLength ? Number(view.getBigInt64(c * size + 8 * i, true)) : 0])) as unknown as NumericDateCounts,
  );
}

/** Two parts of a table counted apart (a refresh hashes a big table in two halves), as one. */
export function addNumericDateCounts(a: NumericDateCounts, b: NumericDateCounts): NumericDateCounts {
  return Object.fromEntries(FIELDS.map((f) => [f, a[f] + b[f]])) as unknown as NumericDateCounts;
}

export interface NumericDateDecision {
  cast: ColumnCast;
  /** for the plan, e.g. "at: numbers read as epoch milliseconds (all 812 values in range)"; undefined: no numbers */
  note?: string;
}

/**
 * Decides how the numbers of one date/time column are read. An explicit
 * `cast.numbers` (an override) is kept; otherwise the data decides. Throws
 * ValueConversionError, naming a row, when the numbers mix units.
 */
export function decideNumericDates(db: Database.Database, table: string, column: string, cast: ColumnCast, key: string[]): NumericDateDecision {
  if (!hasDateNumbers(cast.kind)) return { cast };
  return decideFromCounts(db, table, column, cast, key, countNumericDates(db, table, column));
}

/** numeric-dates.sql over one column: a full scan of the table. */
export function countNumericDates(db: Database.Database, table: string, column: string): NumericDateCounts {
  return db.prepare(fillTemplate(query, { COL: column, TABLE: table })).get() as NumericDateCounts;
}

/**
 * The decision from a column's counts, however they were made (the query, or
 * the C aggregate in a refresh's digest scan). `db` is read only to name the
 * row that does not fit when the units mix.
 */
export function decideFromCounts(
  db: Database.Database,
  table: string,
  column: string,
  cast: ColumnCast,
  key: string[],
  c: NumericDateCounts,
): NumericDateDecision {
  if (!hasDateNumbers(cast.kind)) return { cast };
  const col = quoteSqlite(column);
  if (c.n === 0) return { cast };
  const inRange = (unit: NumericDateUnit) =>
    unit === "julian"
      ? c.julian
      : unit === "epoch-s"
        ? c.s_ok
        : unit === "epoch-ms"
          ? c.ms_ok
          : unit === "epoch-us"
            ? c.us_ok
            : yyyymmdd(db, table, column, key).n;
  const describe = (unit: NumericDateUnit, how: string) => {
    const ok = inRange(unit);
    const range = ok === c.n ? `all ${c.n} values in range` : `${c.n - ok} of ${c.n} values outside 1900–9999: the copy refuses them`;
    return `${column}: numbers read as ${NUMERIC_DATE_UNITS[unit]} (${how}${range})`;
  };
  if (cast.numbers) return { cast, note: describe(cast.numbers, "--cast; ") };
  // Julian day numbers come from julianday() as REAL; epoch seconds in that
  // range would be January 1970, which no app stores as fractions.
  if (c.reals > 0 && c.julian === c.n) return { cast: { ...cast, numbers: "julian" }, note: describe("julian", "") };
  if (c.julian_reals > 0) {
    // julianday() values among other numbers: read as epoch seconds they would all be January 1970, with no error.
    const keyCols = key.length ? key.map(quoteSqlite).join(", ") : "rowid";
    const odd = db
      .prepare(`SELECT ${keyCols}, ${col} FROM ${quoteSqlite(table)} WHERE typeof(${col}) = 'real' AND ${col} BETWEEN 2415020.5 AND 5373484.5 LIMIT 1`)
      .raw(true)
      .get() as unknown[];
    const keyNames = key.length ? key : ["rowid"];
    throw new ValueConversionError(
      table,
      column,
      Object.fromEntries(keyNames.map((k, i) => [k, odd[i]])),
      odd[odd.length - 1],
      `the column's numbers mix units (${c.julian_reals} look like julian day numbers, ${c.n - c.julian} do not), so no single reading gives the dates the app meant`,
      `Fix the rows, or choose the reading with --cast ${table}.${column}=${cast.pgType}:epoch-s|epoch-ms|epoch-us|julian (values that land outside 1900–9999 in it are still refused).`,
    );
  }
  const buckets: [Exclude<NumericDateUnit, "julian" | "yyyymmdd">, number][] = [
    ["epoch-s", c.s],
    ["epoch-ms", c.ms],
    ["epoch-us", c.us],
  ];
  const whole = buckets.find(([, k]) => k + c.zeros === c.n);
  if (whole?.[0] === "epoch-s") {
    // 20240101 is a date to most people and 1970-08-23 as epoch seconds: the data cannot say which the app meant.
    const ymd = yyyymmdd(db, table, column, key);
    if (ymd.n > 0) {
      const keyNames = key.length ? key : ["rowid"];
      throw new ValueConversionError(
        table,
        column,
        Object.fromEntries(keyNames.map((k, i) => [k, ymd.first![i]])),
        ymd.first![ymd.first!.length - 1],
        `${ymd.n} of the column's ${c.n} numbers read both as a date written YYYYMMDD and as epoch seconds (this one: ${ymdText(ymd.first![ymd.first!.length - 1])} or ${new Date(Number(ymd.first![ymd.first!.length - 1]) * 1000).toISOString().replace("T", " ").slice(0, 19)}), so the data alone cannot say which the app meant`,
        `Choose the reading: --cast ${table}.${column}=${cast.pgType}:yyyymmdd for dates written as digits, or --cast ${table}.${column}=${cast.pgType}:epoch-s for unix time.`,
      );
    }
  }
  if (whole) return { cast: { ...cast, numbers: whole[0] }, note: describe(whole[0], "") };
  // Mixed (or beyond microseconds): name a row that does not fit the majority.
  const [major] = [...buckets].sort((a, b) => b[1] - a[1])[0]!;
  const keyCols = key.length ? key.map(quoteSqlite).join(", ") : "rowid";
  const odd = db
    .prepare(
      `SELECT ${keyCols}, pgshift_value FROM (SELECT ${keyCols}, ${col} AS pgshift_value FROM ${quoteSqlite(table)}) WHERE typeof(pgshift_value) IN ('integer', 'real') AND NOT (${BUCKET[major]}) AND pgshift_value <> 0 LIMIT 1`,
    )
    .raw(true)
    .get() as unknown[];
  const value = odd[odd.length - 1];
  const keyNames = key.length ? key : ["rowid"];
  const counts = buckets.filter(([, k]) => k > 0).map(([u, k]) => `${k} look like ${NUMERIC_DATE_UNITS[u]}`);
  const beyond = c.n - c.zeros - c.s - c.ms - c.us;
  if (beyond > 0) counts.push(`${beyond} are too large for any of them`);
  throw new ValueConversionError(
    table,
    column,
    Object.fromEntries(keyNames.map((k, i) => [k, odd[i]])),
    value,
    `the column's numbers mix units (${counts.join(", ")}), so no single reading gives the dates the app meant`,
    `Fix the rows, or choose the reading with --cast ${table}.${column}=${cast.pgType}:epoch-s|epoch-ms|epoch-us|julian (values that land outside 1900–9999 in it are still refused).`,
  );
}

/**
 * The integers of a date/time column that are also dates written YYYYMMDD
 * (1900-01-01 to 9999-12-31, a real month and day): how many, and the first
 * (its key, then the value). A scan, made only when the numbers would read as epoch seconds.
 */
const ymdText = (v: unknown) => String(v).replace(/^(\d{4})(\d{2})(\d{2})$/, "$1-$2-$3");

function yyyymmdd(db: Database.Database, table: string, column: string, key: string[]): { n: number; first?: unknown[] } {
  const col = quoteSqlite(column);
  const keyCols = key.length ? key.map(quoteSqlite).join(", ") : "rowid";
  const digits = `printf('%04d-%02d-%02d', ${col} / 10000, ${col} / 100 % 100, ${col} % 100)`;
  const where = `typeof(${col}) = 'integer' AND ${col} BETWEEN 19000101 AND 99991231 AND date(${digits}) = ${digits}`;
  const from = quoteSqlite(table);
  const n = Number((db.prepare(`SELECT count(*) AS n FROM ${from} WHERE ${where}`).get() as { n: number }).n);
  if (n === 0) return { n };
  return { n, first: db.prepare(`SELECT ${keyCols}, ${col} FROM ${from} WHERE ${where} LIMIT 1`).raw(true).get() as unknown[] };
}

/** The date columns of a table whose reading for numbers was left to the copy (planFrom's numericDates: "defer"). */
export function pendingNumericDates(t: TablePlan): string[] {
  return t.columns.filter((c) => c.numericDatesPending).map((c) => c.source);
}

/**
 * Decides the pending columns of a table, as plan time would have: the cast
 * gains its reading and the table its notes, at the place plan time puts them.
 * From `counts` (per source column, made by the C aggregate in a refresh's
 * digest scan) where given, else by numeric-dates.sql. Throws
 * ValueConversionError, naming a row, for mixed units: before any row of the
 * table is converted, so the caller's transaction writes nothing.
 */
export function settleNumericDates(db: Database.Database, t: TablePlan, counts?: ReadonlyMap<string, NumericDateCounts>): void {
  let inserted = 0;
  for (const c of t.columns) {
    const pending = c.numericDatesPending;
    if (!pending) continue;
    const decided = decideFromCounts(db, t.source, c.source, c.cast, t.sourceKey, counts?.get(c.source) ?? countNumericDates(db, t.source, c.source));
    c.cast = decided.cast;
    delete c.numericDatesPending;
    if (decided.note) t.notes.splice(pending.noteAt + inserted++, 0, decided.note);
  }
}

/** The safety net before converting a table's rows: a pending column would be read in a unit nobody decided. */
export function assertNumericDatesSettled(t: TablePlan): void {
  const pending = pendingNumericDates(t);
  if (pending.length)
    throw new Error(
      `internal error: table "${t.source}" is being converted while the unit of the numbers in ${pending.map((c) => `"${c}"`).join(", ")} is undecided ` +
        "(settleNumericDates was not called on this path). Nothing of the table was written; please report this.",
    );
}

// The read side, shared by copy and verify: for each table of a snapshot
// (snapshot.ts), the SELECT and per-column converters that turn its rows into
// COPY text fields in key order.
import Database from "better-sqlite3";
import { converterFor, isIntegerKind, isTextKind } from "../types/column-types";
import { nativeChunks, type Chunk } from "./copy-text";
import { InvalidUtf8Suspect, Reject, decodeUtf8Strict, realText, type Converter } from "../types/convert";
import { ValueConversionError } from "../errors";
import { quoteSqlite } from "../identifiers";
import { assertNumericDatesSettled } from "./numeric-dates";
import type { TablePlan } from "../plan";

const MAX_SAFE = "9007199254740991";

export interface TableReader {
  /** rows as arrays of COPY text fields, in key order */
  rows(): Generator<string[]>;
  /** the same rows as COPY text (UTF-8), in chunks of about `size` bytes: the copy's hot path, in C where it can be (copy-text.ts) */
  chunks(size: number): Iterable<Chunk>;
  /** the same rows as binary COPY tuples, all converted in C; undefined when C cannot take this table (copy-text.ts) */
  binaryChunks(size: number): Iterable<Chunk> | undefined;
  /** each row as a COPY text line without its newline, converted in JavaScript */
  rowsAsText(): Generator<string>;
  /** key of the n-th row (1-based) in that order, for errors reported by PostgreSQL */
  keyOfRow(n: number): Record<string, unknown> | undefined;
}

/** Only the rows whose (single, integer) key lies in one of these inclusive ranges, in range order: delta sync's re-copy. */
export type KeyRanges = [bigint, bigint][];

export function tableReader(db: Database.Database, t: TablePlan, ranges?: KeyRanges): TableReader {
  assertNumericDatesSettled(t);
  const cols = t.columns;
  // Integers beyond 2^53 would lose digits as JavaScript numbers; SQLite hands
  // those few over as text instead.
  const selectList = cols
    .map((c) => {
      const q = quoteSqlite(c.source);
      // A REAL in a text column of a column without TEXT affinity (untyped, or cast to text):
      // better-sqlite3 hands 2.0 over as the number 2, and SQLite's own text of it drops −0.0's sign.
      if (isTextKind(c.cast.kind) && !TEXT_AFFINITY.test(c.declaredType))
        return `CASE WHEN typeof(${q}) = 'real' THEN ${realTextFunction(db)}(${q}) ELSE ${q} END`;
      return isIntegerKind(c.cast.kind)
        ? // not abs(): abs(-9223372036854775808) overflows and SQLite stops the query
          `CASE WHEN typeof(${q}) = 'integer' AND ${q} NOT BETWEEN -${MAX_SAFE} AND ${MAX_SAFE} THEN CAST(${q} AS TEXT) ELSE ${q} END`
        : q;
    })
    .join(", ");
  const keyless = t.sourceKey.length === 0;
  // COLLATE BINARY: a NOCASE key would otherwise sort case-insensitively, not in the byte order verify merges by.
  const order = keyless ? (t.withoutRowid ? "" : " ORDER BY rowid") : ` ORDER BY ${t.sourceKey.map((k) => `${quoteSqlite(k)} COLLATE BINARY`).join(", ")}`;
  const from = quoteSqlite(t.source);
  const where = ranges ? ` WHERE ${quoteSqlite(t.sourceKey[0]!)} BETWEEN ? AND ?` : "";
  const sql = `SELECT ${selectList}${keyless && !t.withoutRowid ? ", rowid" : ""} FROM ${from}${where}${order}`;
  const keyIdx = t.sourceKey.map((k) => cols.findIndex((c) => c.source === k));
  const converters: Converter[] = cols.map((c) => converterFor(c.cast));
  const keyOf = (row: unknown[]): Record<string, unknown> =>
    keyless ? { rowid: row[cols.length] } : Object.fromEntries(t.sourceKey.map((k, i) => [k, row[keyIdx[i]!]]));

  let lookup: Database.Database | undefined;
  const rawBytes = (row: unknown[], col: number): Buffer => {
    // The iterating connection is busy; a second one reads the bytes.
    lookup ??= new Database(db.name, { readonly: true, fileMustExist: true });
    const key = keyOf(row);
    const where = Object.keys(key)
      .map((k) => `${k === "rowid" && keyless ? "rowid" : quoteSqlite(k)} = ?`)
      .join(" AND ");
    const r = lookup.prepare(`SELECT CAST(${quoteSqlite(cols[col]!.source)} AS BLOB) AS b FROM ${from} WHERE ${where}`).get(...Object.values(key)) as
      { b: Buffer } | undefined;
    if (r) return r.b;
    // The key itself is not valid UTF-8: better-sqlite3 handed it over with U+FFFD, which matches no row.
    // Rare (an error is about to be reported): find the row by its keys' bytes.
    const keyCols = Object.keys(key).map((k) => (k === "rowid" && keyless ? "rowid" : quoteSqlite(k)));
    const scan = lookup
      .prepare(`SELECT ${keyCols.map((k) => `CAST(${k} AS BLOB)`).join(", ")}, CAST(${quoteSqlite(cols[col]!.source)} AS BLOB) FROM ${from}`)
      .raw(true);
    const wanted = Object.values(key).map(String);
    for (const row of scan.iterate() as IterableIterator<(Buffer | null)[]>) {
      if (wanted.every((w, i) => (row[i] === null ? "null" : row[i]!.toString("utf8")) === w)) {
        lastBrokenKey = Object.fromEntries(Object.keys(key).map((k, i) => [k, row[i] === null || validUtf8(row[i]!) ? row[i]?.toString("utf8") : row[i]]));
        return row[row.length - 1] as Buffer;
      }
    }
    throw new Error(`internal error: row ${JSON.stringify(key)} of "${t.source}" was read but cannot be found again`);
  };
  /** The key of the last row found by its bytes: shown as bytes (x'61ff62') where it is not valid UTF-8. */
  let lastBrokenKey: Record<string, unknown> | undefined;

  /** One field, with the slow paths: a U+FFFD re-read as bytes, a refusal turned into an error naming the row. */
  const convert = (row: unknown[], i: number): string => {
    try {
      return converters[i]!(row[i]);
    } catch (first) {
      let err = first;
      let bytes: Buffer | undefined;
      if (err instanceof InvalidUtf8Suspect) {
        try {
          bytes = rawBytes(row, i);
          return converters[i]!(decodeUtf8Strict(bytes), true);
        } catch (inner) {
          err = inner;
        }
      }
      if (err instanceof Reject) {
        const broken = lastBrokenKey;
        lastBrokenKey = undefined;
        // Invalid UTF-8 is shown as its bytes, not as the U+FFFD better-sqlite3 put in its place.
        const shown = bytes && !validUtf8(bytes) ? bytes : row[i];
        throw new ValueConversionError(t.source, cols[i]!.source, broken ?? keyOf(row), shown, err.reason, err.hint);
      }
      throw err;
    }
  };
  const n = cols.length;
  const rowsOf = function* (): Generator<unknown[]> {
    const stmt = db.prepare(sql).raw(true);
    try {
      if (!ranges) yield* stmt.iterate() as IterableIterator<unknown[]>;
      else for (const [lo, hi] of ranges) yield* stmt.iterate(lo, hi) as IterableIterator<unknown[]>;
    } finally {
      lookup?.close();
      lookup = undefined;
    }
  };

  /** Each row as one COPY text line (without its newline). */
  const rowsAsText = function* (): Generator<string> {
    for (const row of rowsOf()) {
      let line = convert(row, 0);
      for (let i = 1; i < n; i++) line += "\t" + convert(row, i);
      yield line;
    }
  };

  return {
    *rows() {
      for (const row of rowsOf()) {
        const fields = new Array<string>(n);
        for (let i = 0; i < n; i++) fields[i] = convert(row, i);
        yield fields;
      }
    },
    chunks(size: number) {
      const native = nativeChunks(db, t, size, (lo, hi) => jsChunks(tableReader(db, t, [[lo, hi]]).rowsAsText(), size), ranges);
      return native ?? jsChunks(rowsAsText(), size);
    },
    binaryChunks(size: number) {
      return ranges ? undefined : nativeChunks(db, t, size, "binary");
    },
    rowsAsText,
    keyOfRow(n: number) {
      if (ranges) {
        // Rare (an error report): walk the ranges to the n-th row.
        let i = 0;
        for (const row of rowsOf()) if (++i === n) return keyOf(row);
        return undefined;
      }
      const row = db
        .prepare(`${sql} LIMIT 1 OFFSET ?`)
        .raw(true)
        .get(n - 1) as unknown[] | undefined;
      return row ? keyOf(row) : undefined;
    },
  };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
function validUtf8(b: Buffer): boolean {
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** SQLite's rule for TEXT affinity: such a column turns every number written into it into text. */
const TEXT_AFFINITY = /CHAR|CLOB|TEXT/i;
const withRealText = new WeakSet<Database.Database>();
/** pgshift_real_text(x): a REAL as text that still reads as a REAL (convert.ts realText), on this connection. */
function realTextFunction(db: Database.Database): string {
  if (!withRealText.has(db)) {
    db.function("pgshift_real_text", { deterministic: true }, (x: unknown) => (typeof x === "number" ? realText(x) : (x as string)));
    withRealText.add(db);
  }
  return "pgshift_real_text";
}

/** Lines joined into chunks of about `size` characters, as UTF-8. */
export function* jsChunks(lines: Iterable<string>, size: number): Generator<Chunk> {
  let text = "";
  let rows = 0;
  for (const line of lines) {
    text += line + "\n";
    rows++;
    if (text.length >= size) {
      yield { data: Buffer.from(text, "utf8"), rows };
      text = "";
      rows = 0;
    }
  }
  if (rows > 0) yield { data: Buffer.from(text, "utf8"), rows };
}

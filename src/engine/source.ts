// The read side, shared by copy and verify: a consistent snapshot of the SQLite
// database, and for each table the SELECT and per-column converters that turn
// its rows into COPY text fields in key order.
import Database from "better-sqlite3";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { converterFor, isIntegerKind } from "./column-types";
import { nativeChunks, type Chunk } from "./copy-text";
import { InvalidUtf8Suspect, Reject, decodeUtf8Strict, type Converter } from "./convert";
import { ValueConversionError } from "./errors";
import { quoteSqlite } from "./identifiers";
import { assertNumericDatesSettled } from "./numeric-dates";
import type { TablePlan } from "./plan";

export interface Snapshot {
  path: string;
  /** when the copy was taken (the state every table is read from), ISO 8601 */
  takenAt: string;
  /** how long it took: in rollback-journal mode, the longest the app's writers waited */
  ms: number;
  /** how it was copied (file copy under a read lock, or backup in one step), with the source's journal mode */
  method: string;
  open(): Database.Database;
  dispose(): void;
}

// All pages in one backup step. SQLite restarts a stepped backup whenever
// another connection writes between steps, so under an app committing every
// few milliseconds the default (100 pages a step) may never finish. One step
// reads the whole file inside one read transaction: in WAL mode writers carry
// on meanwhile; in rollback-journal mode they wait for that one pass (a few
// hundred milliseconds per 100 MB, see docs/engine.md).
const ALL_PAGES = 0x7fffffff;

/**
 * Copies the source so that every table is read from one moment in time even
 * while the app keeps writing. In rollback-journal mode the file is copied
 * whole inside a read transaction: its SHARED lock keeps every other
 * connection from writing the file until the copy is done, and a plain file
 * copy is ~4x faster than SQLite's backup API (380 MB: ~0.2 s against ~0.8 s),
 * which is most of a small refresh's fixed cost. In WAL mode, where writers do
 * not wait for readers, SQLite's online backup API in a single step.
 */
export async function takeSnapshot(source: Database.Database): Promise<Snapshot> {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-snapshot-"));
  const path = join(dir, "snapshot.db");
  const journal = String(source.pragma("journal_mode", { simple: true }));
  const started = Date.now();
  let takenAt = new Date(started);
  let method: string;
  try {
    if (journal !== "wal" && source.name !== ":memory:") {
      source.exec("BEGIN");
      try {
        source.prepare("SELECT count(*) FROM sqlite_schema").get(); // takes the SHARED lock
        takenAt = new Date();
        copyFileSync(source.name, path);
      } finally {
        source.exec("COMMIT");
      }
      method = `file copy under a read lock (${journal} journal)`;
    } else {
      // The first step (0 pages) only opens the backup; the second copies everything.
      await source.backup(path, {
        progress: () => {
          takenAt = new Date();
          return ALL_PAGES;
        },
      });
      method = `backup in one step (${journal} journal)`;
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    path,
    takenAt: takenAt.toISOString(),
    ms: Date.now() - started,
    method,
    open: () => new Database(path, { readonly: true, fileMustExist: true }),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

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
    const where = Object.keys(key).map((k) => `${k === "rowid" && keyless ? "rowid" : quoteSqlite(k)} = ?`).join(" AND ");
    const r = lookup.prepare(`SELECT CAST(${quoteSqlite(cols[col]!.source)} AS BLOB) AS b FROM ${from} WHERE ${where}`).get(...Object.values(key)) as { b: Buffer };
    return r.b;
  };

  /** One field, with the slow paths: a U+FFFD re-read as bytes, a refusal turned into an error naming the row. */
  const convert = (row: unknown[], i: number): string => {
    try {
      return converters[i]!(row[i]);
    } catch (first) {
      let err = first;
      if (err instanceof InvalidUtf8Suspect) {
        try {
          return converters[i]!(decodeUtf8Strict(rawBytes(row, i)), true);
        } catch (inner) {
          err = inner;
        }
      }
      if (err instanceof Reject) throw new ValueConversionError(t.source, cols[i]!.source, keyOf(row), row[i], err.reason, err.hint);
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
      if (!ranges) {
        const native = nativeChunks(db, t, size, (lo, hi) => jsChunks(tableReader(db, t, [[lo, hi]]).rowsAsText(), size));
        if (native) return native;
      }
      return jsChunks(rowsAsText(), size);
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
      const row = db.prepare(`${sql} LIMIT 1 OFFSET ?`).raw(true).get(n - 1) as unknown[] | undefined;
      return row ? keyOf(row) : undefined;
    },
  };
}

/** Lines joined into chunks of about `size` characters, as UTF-8. */
function* jsChunks(lines: Iterable<string>, size: number): Generator<Chunk> {
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

// Streams one table's rows into PostgreSQL with COPY FROM STDIN. Rows are
// encoded into large text chunks (not one write per row) and written with
// backpressure, so memory stays flat whatever the table's size. The bytes sent
// are hashed on the way: verification later compares that digest with the
// table read back in the same order (verify.ts), without reading SQLite again.
import { createHash } from "node:crypto";
import type pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { isIntegerKind } from "../types/column-types";
import { LoadError, PgshiftError, describeKey } from "../errors";
import { qualified, quoteIdent } from "../identifiers";
import type { TablePlan } from "../plan";
import { NotBinary, nativePossible } from "../sqlite/copy-text";
import type { Chunk } from "../sqlite/read-workers";
import type { TableReader } from "../sqlite/source";

export const CHUNK = 256 * 1024;
// Socket errors, server shutdown (57P0x) and connection exceptions (08xxx).
const CONNECTION_LOST = /^(EPIPE|ECONNRESET|ECONNREFUSED|57P0\d|08\w{3})$/;

export interface CopyProgress {
  (rowsSoFar: number): void;
}

/** What was sent: the row count, and the SHA-256 of the COPY data in the reader's (key) order, in one or more consecutive parts. */
export interface CopyResult {
  rows: number;
  parts: SentPart[];
  /** COPY's format: binary tuples (hashed without COPY's header and trailer) or text lines; verification reads back in the same */
  format: CopyFormat;
}

export type CopyFormat = "text" | "binary";

/** Binary COPY's header (signature, no flags, no extension) and trailer. */
export const BINARY_HEADER = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
export const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/**
 * Consecutive rows of what was sent. A big table's digest is split at key
 * boundaries so that verification can read the parts back over several
 * connections at once (PostgreSQL's output functions, one core per
 * connection, are what verification waits for).
 */
export interface SentPart {
  rows: number;
  /** SHA-256 of the part's COPY text */
  digest: string;
  /** the (single, integer) key of the part's first row, as COPY text; absent for the first part */
  from?: string;
}

/** Parts smaller than this are not worth another connection. */
export const MIN_PART_ROWS = 50_000;

export async function copyTable(
  client: pg.Client,
  schema: string,
  t: TablePlan,
  reader: TableReader,
  onProgress?: CopyProgress,
  /** the same rows encoded elsewhere (a read worker), in the format asked for; default: encoded here from `reader` */
  chunks?: (format: CopyFormat) => AsyncIterable<Chunk>,
  /** into how many parts to split the digest (at chunk boundaries, by the table's planned row count) */
  parts = 1,
  /**
   * Binary COPY where C converts the table (copy-text.ts), for tables pgshift
   * created: their column types are the ones the C encoder writes. PostgreSQL
   * then parses no numbers or timestamps. A value only JavaScript converts
   * aborts the COPY with NotBinary: the caller rolls its transaction back and
   * copies the table again as text.
   */
  binary = false,
): Promise<CopyResult> {
  const tuples = !binary ? undefined : chunks ? (nativePossible(t) ? chunks("binary") : undefined) : reader.binaryChunks(CHUNK);
  if (tuples) return copyOnce(client, schema, t, reader, onProgress, tuples, parts, "binary");
  return copyOnce(client, schema, t, reader, onProgress, chunks ? chunks("text") : encodeHere(reader), parts, "text");
}

async function copyOnce(
  client: pg.Client,
  schema: string,
  t: TablePlan,
  reader: TableReader,
  onProgress: CopyProgress | undefined,
  source: AsyncIterable<Chunk> | Iterable<Chunk>,
  parts: number,
  format: CopyFormat,
): Promise<CopyResult> {
  const columns = t.columns.map((c) => quoteIdent(c.target)).join(", ");
  const stream = client.query(copyFrom(`COPY ${qualified(schema, t.target)} (${columns}) FROM STDIN${format === "binary" ? " (FORMAT binary)" : ""}`));
  let failed: Error | undefined;
  const done = new Promise<void>((resolve, reject) => {
    stream.on("finish", resolve);
    stream.on("error", (err: Error) => {
      failed = err;
      reject(err);
    });
  });
  done.catch(() => {});
  let rows = 0;
  const splitter = partSplitter(t, parts, format);
  const flush = async (data: Buffer) => {
    if (!stream.write(data)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          stream.off("error", onError);
          resolve();
        };
        const onError = (e: Error) => {
          stream.off("drain", onDrain);
          reject(e);
        };
        stream.once("drain", onDrain);
        stream.once("error", onError);
      });
    }
  };
  try {
    if (format === "binary") await flush(BINARY_HEADER);
    for await (const chunk of source) {
      splitter.add(chunk, rows);
      await flush(Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength));
      rows += chunk.rows;
      if (failed) break;
      onProgress?.(rows);
    }
    if (!failed) {
      if (format === "binary") await flush(BINARY_TRAILER);
      stream.end();
    }
    await done;
  } catch (err) {
    // Only what the COPY stream reported first came from PostgreSQL. Anything
    // else (SQLite, a read worker, pgshift itself) must not be worded as a
    // refusal — not even after the abort below makes PostgreSQL echo it back
    // as "COPY from stdin failed".
    const ours = failed ? undefined : (err as Error);
    // Abort the COPY so the connection's transaction can be rolled back.
    if (ours) stream.destroy(ours);
    await done.catch(() => {});
    if (err instanceof PgshiftError || err instanceof NotBinary) throw err;
    if (ours) throw readError(t, ours);
    throw explainCopyError(t, reader, failed as Error & { where?: string; code?: string });
  }
  onProgress?.(rows);
  return { rows, parts: splitter.end(rows), format };
}

/**
 * Hashes the chunks as they go out, starting a new part at the first chunk
 * past each 1/n of the planned rows whose first row has an integer key.
 */
function partSplitter(t: TablePlan, n: number, format: CopyFormat) {
  const keyCol = t.sourceKey.length === 1 ? t.columns.findIndex((c) => c.source === t.sourceKey[0]) : -1;
  const split = n > 1 && keyCol >= 0 && isIntegerKind(t.columns[keyCol]!.cast.kind) && t.rows >= 2 * MIN_PART_ROWS;
  const done: SentPart[] = [];
  let hash = createHash("sha256");
  let from: string | undefined;
  let startRow = 0;
  return {
    add(chunk: Chunk, rowsBefore: number) {
      if (split && done.length < n - 1 && rowsBefore - startRow >= MIN_PART_ROWS && rowsBefore >= ((done.length + 1) * t.rows) / n) {
        const key = format === "binary" ? firstBinaryKey(chunk.data, keyCol) : firstField(chunk.data, keyCol);
        if (/^-?\d+$/.test(key)) {
          done.push({ rows: rowsBefore - startRow, digest: hash.digest("hex"), ...(from !== undefined ? { from } : {}) });
          hash = createHash("sha256");
          from = key;
          startRow = rowsBefore;
        }
      }
      hash.update(chunk.data);
    },
    end(rows: number): SentPart[] {
      return [...done, { rows: rows - startRow, digest: hash.digest("hex"), ...(from !== undefined ? { from } : {}) }];
    },
  };
}

/** Field `col` of the first line of COPY text (raw: an integer key needs no unescaping). */
function firstField(data: Uint8Array, col: number): string {
  let start = 0;
  for (let i = 0; i < col; i++) {
    const tab = data.indexOf(9, start);
    if (tab === -1) return "";
    start = tab + 1;
  }
  let end = start;
  while (end < data.length && data[end] !== 9 && data[end] !== 10) end++;
  return Buffer.from(data.buffer, data.byteOffset + start, end - start).toString("latin1");
}

/** Field `col` of the first binary tuple, when it is an 8-, 4- or 2-byte integer, as digits. */
function firstBinaryKey(data: Uint8Array, col: number): string {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let at = 2; // the tuple's field count
  for (let i = 0; i < col; i++) {
    if (at + 4 > b.length) return "";
    const n = b.readInt32BE(at);
    at += 4 + Math.max(0, n);
  }
  if (at + 4 > b.length) return "";
  const n = b.readInt32BE(at);
  if (at + 4 + n > b.length) return "";
  if (n === 8) return b.readBigInt64BE(at + 4).toString();
  if (n === 4) return String(b.readInt32BE(at + 4));
  if (n === 2) return String(b.readInt16BE(at + 4));
  return "";
}

function* encodeHere(reader: TableReader): Generator<Chunk> {
  yield* reader.chunks(CHUNK);
}

/** Reading or encoding the rows failed on pgshift's side, not PostgreSQL's. */
export function readError(t: TablePlan, err: Error): LoadError {
  const origin = (err as { code?: string }).code?.startsWith("SQLITE_") ? `SQLite (${(err as { code?: string }).code})` : "pgshift";
  return new LoadError(
    t.source,
    `Reading table "${t.source}" from the SQLite snapshot failed in ${origin}: ${err.message}.\n` +
      `  The table's load was rolled back; nothing of "${t.target}" was written. PostgreSQL did not refuse anything; ` +
      "please report this with the table's CREATE statement (pgshift plan shows it).",
    err,
  );
}

/** PostgreSQL names the COPY line; turn that into the row's key in SQLite. */
export function explainCopyError(t: TablePlan, reader: TableReader, err: Error & { where?: string; code?: string; column?: string }): LoadError {
  if (CONNECTION_LOST.test(err.code ?? "") || /Connection terminated|ECONNRESET|EPIPE/.test(err.message)) {
    return new LoadError(
      t.source,
      `The connection to PostgreSQL was lost while copying table "${t.source}": ${err.message}${err.code ? ` (${err.code})` : ""}.\n` +
        "  The table's load was rolled back. Once PostgreSQL is back, run the same command again: tables already loaded are kept, the rest are loaded.",
      err,
    );
  }
  const where = err.where ?? "";
  const m = /COPY [^,]+, line (\d+)(?:, column ([^:]+))?/.exec(where);
  let location = "";
  if (m) {
    const key = reader.keyOfRow(Number(m[1]));
    const col = m[2] ? (t.columns.find((c) => c.target === m[2])?.source ?? m[2]) : undefined;
    location = `, row ${describeKey(key)}${col ? `, column "${col}"` : ""}`;
  }
  const fn = raisingFunction(where);
  if (fn || err.code === "P0001") {
    // A function of the database's own (a trigger on the table, or one its constraints or defaults call) refused the row:
    // pgshift's conversion did what was asked, and a cast override would not help.
    const by = fn ? `the ${fn.language} function ${fn.name}` : "a RAISE";
    // An AFTER trigger runs once the COPY's rows are in: PostgreSQL's context then names no line.
    if (!m) location = " (PostgreSQL names no row: an AFTER trigger runs once all rows are in; its message may say which)";
    return new LoadError(
      t.source,
      `PostgreSQL's own code rejected a row of table "${t.source}"${location}: ${by} raised "${err.message}"${err.code ? ` (${err.code})` : ""} ` +
        `while the row was inserted into "${t.target}" — a trigger on the table, or a function its constraints or defaults call.\n` +
        `  The table's load was rolled back; nothing of "${t.target}" was written. pgshift converted the row as planned (a cast override will not help): ` +
        `fix the row in SQLite, or the trigger or function in PostgreSQL (with --schema existing the table and its triggers are the app's), then run again.`,
      err,
    );
  }
  return new LoadError(
    t.source,
    `PostgreSQL refused the data of table "${t.source}"${location}: ${err.message}${err.code ? ` (${err.code})` : ""}.\n` +
      `  The table's load was rolled back; nothing of "${t.target}" was written. Fix the row or override the column's cast, then run again.`,
    err,
  );
}

/**
 * The user's function an error was raised in, from PostgreSQL's context lines
 * (`PL/pgSQL function reject_bad() line 3 at RAISE`, `SQL function "f" statement 1`):
 * the innermost one, the line that names it first.
 */
export function raisingFunction(where: string): { language: string; name: string } | undefined {
  const m = /^(PL\/\w+|SQL) function "?([^"\n]+?)"?(?: line \d+| statement \d+|$)/m.exec(where);
  return m ? { language: m[1]!, name: m[2]! } : undefined;
}

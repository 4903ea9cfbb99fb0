// SQLite's side of delta sync, from raw values: per key range, the row count and
// a 64-bit digest of what SQLite stores (native/range-digests.c). Recorded in
// pgshift.loads when a table is loaded; on a refresh the same digests of the new
// file say which ranges changed in SQLite without converting a single value.
//
// The C extension is built at install (native.ts). With its JavaScript path
// asked for (PGSHIFT_RANGE_DIGESTS=off or PGSHIFT_NATIVE=off) nothing is
// recorded and a refresh compares both sides' full contents instead (delta.ts),
// which is slower but as exact.
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { quoteSqlite } from "../identifiers";
import { loadExtension, nativeExtension, type Built } from "./native";
import { addNumericDateCounts, parseNumericDateCounts, type NumericDateCounts } from "./numeric-dates";
import type { TablePlan } from "../plan";

/**
 * Per range: its id, rows, and the wrapping sum of its rows' hashes, as
 * parallel arrays sorted by id with each id once. Typed arrays, not a Map: a
 * million-row table has ~125,000 ranges, compared three ways on every refresh.
 */
export interface RawDigests {
  ids: BigInt64Array;
  rows: BigInt64Array;
  digests: BigInt64Array;
}

const EXTENSION = {
  name: "range-digests",
  target: "range_digests",
  entry: "sqlite3_rangedigests_init",
  does: "range digests and numeric dates",
  disableEnv: "PGSHIFT_RANGE_DIGESTS",
};
const ENTRY = EXTENSION.entry;
/** Set to "off" to never use the extension (a refresh then compares full contents; PGSHIFT_NATIVE=off turns every C path off). */
export const DISABLE_ENV = EXTENSION.disableEnv;

/** The built extension, or why the JavaScript path was asked for; throws when it is not built (native.ts). */
export function rangeDigestsExtension(): Built {
  return nativeExtension(EXTENSION);
}

/**
 * The aggregate over a table: one BLOB of (range, rows, digest) int64 triples;
 * then, in the same scan, the counts of the `dateColumns` in one BLOB
 * (pgshift_numeric_dates, native/numeric-dates.h).
 */
export function rangeDigestsSql(t: TablePlan, keyColumn: string, width: bigint, keys?: KeySpan, dateColumns: string[] = []): string {
  const args = t.columns.map((c) => quoteSqlite(c.source)).join(", ");
  const k = quoteSqlite(keyColumn);
  // Bounds are bigints, written as digits.
  // The upper part is "not below", so a NULL or text key lands in it and the extension refuses it, never skipped.
  const where = keys?.below !== undefined ? ` WHERE ${k} < ${keys.below}` : keys?.notBelow !== undefined ? ` WHERE (${k} < ${keys.notBelow}) IS NOT TRUE` : "";
  const dates = dateColumns.length ? `, pgshift_numeric_dates(${dateColumns.map(quoteSqlite).join(", ")})` : "";
  return `SELECT pgshift_range_digests(${width}, ${k}, ${args})${dates} FROM ${quoteSqlite(t.source)}${where}`;
}

/** Half a table by key: the rows below a key, or every other row. */
export type KeySpan = { below: bigint; notBelow?: undefined } | { notBelow: bigint; below?: undefined };

/** Triples as the extension wrote them (or as recorded), sorted by range and merged (a range whose rows were not adjacent comes in parts). */
export function parseDigests(blob: Uint8Array): RawDigests {
  // A copy: BigInt64Array needs 8-byte alignment, which a Buffer's offset may not have.
  const buffer = blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength);
  const a = new BigInt64Array(buffer);
  const count = Math.floor(a.length / 3);
  // The usual case without a BigInt per value (a million-row table has ~125,000 triples, read on every refresh):
  // compared and copied as pairs of 32-bit words (little-endian: low word first).
  const w = new Int32Array(buffer);
  const cmp = (x: number, y: number) => w[6 * x + 1]! - w[6 * y + 1]! || (w[6 * x]! >>> 0) - (w[6 * y]! >>> 0);
  let sorted = true;
  // Parts hashed apart and joined end to end are sorted too, with at most a range they share.
  for (let i = 1; i < count && sorted; i++) sorted = cmp(i - 1, i) <= 0;
  if (sorted) {
    const ids = new Int32Array(2 * count);
    const rows = new Int32Array(2 * count);
    const digests = new Int32Array(2 * count);
    let n = 0;
    for (let i = 0; i < count; i++) {
      if (n > 0 && w[6 * i] === ids[2 * n - 2] && w[6 * i + 1] === ids[2 * n - 1]) {
        // A range both parts hold (rare): added up as BigInts.
        const r = new BigInt64Array(rows.buffer);
        const d = new BigInt64Array(digests.buffer);
        r[n - 1]! += a[3 * i + 1]!;
        d[n - 1] = BigInt.asIntN(64, d[n - 1]! + a[3 * i + 2]!);
        continue;
      }
      ids[2 * n] = w[6 * i]!;
      ids[2 * n + 1] = w[6 * i + 1]!;
      rows[2 * n] = w[6 * i + 2]!;
      rows[2 * n + 1] = w[6 * i + 3]!;
      digests[2 * n] = w[6 * i + 4]!;
      digests[2 * n + 1] = w[6 * i + 5]!;
      n++;
    }
    return { ids: new BigInt64Array(ids.buffer, 0, n), rows: new BigInt64Array(rows.buffer, 0, n), digests: new BigInt64Array(digests.buffer, 0, n) };
  }
  const order = Array.from({ length: count }, (_, i) => i);
  order.sort((x, y) => (a[3 * x]! < a[3 * y]! ? -1 : a[3 * x]! > a[3 * y]! ? 1 : 0));
  const out: RawDigests = { ids: new BigInt64Array(count), rows: new BigInt64Array(count), digests: new BigInt64Array(count) };
  let n = 0;
  for (const i of order) {
    const id = a[3 * i]!;
    if (n > 0 && out.ids[n - 1] === id) {
      out.rows[n - 1]! += a[3 * i + 1]!;
      out.digests[n - 1] = BigInt.asIntN(64, out.digests[n - 1]! + a[3 * i + 2]!);
    } else {
      out.ids[n] = id;
      out.rows[n] = a[3 * i + 1]!;
      out.digests[n] = a[3 * i + 2]!;
      n++;
    }
  }
  return { ids: out.ids.subarray(0, n), rows: out.rows.subarray(0, n), digests: out.digests.subarray(0, n) };
}

/** The form recorded in pgshift.loads.range_digests: the triples, one per range, in range order. */
export function serializeDigests(d: RawDigests): Buffer {
  const a = new BigInt64Array(d.ids.length * 3);
  for (let i = 0; i < d.ids.length; i++) {
    a[3 * i] = d.ids[i]!;
    a[3 * i + 1] = d.rows[i]!;
    a[3 * i + 2] = d.digests[i]!;
  }
  return Buffer.from(a.buffer);
}

/** Rows in all ranges. */
export function totalRows(d: RawDigests): number {
  let n = 0;
  for (const r of d.rows) n += Number(r);
  return n;
}

/** SQLite's digests of a table, on this thread (a refresh: PostgreSQL works on its side meanwhile). */
export function sqliteRangeDigests(db: Database.Database, t: TablePlan, keyColumn: string, width: bigint, extension: string, keys?: KeySpan): RawDigests {
  return parseDigests(sqliteRangeDigestBlob(db, t, keyColumn, width, extension, keys));
}

function sqliteRangeDigestBlob(db: Database.Database, t: TablePlan, keyColumn: string, width: bigint, extension: string, keys?: KeySpan): Buffer {
  return scanBlobs(db, t, keyColumn, width, extension, keys, [])[0]!;
}

/** The digests' BLOB, then (with date columns) the BLOB of their counts. */
function scanBlobs(
  db: Database.Database,
  t: TablePlan,
  keyColumn: string,
  width: bigint,
  extension: string,
  keys: KeySpan | undefined,
  dateColumns: string[],
): Buffer[] {
  loadExtension(db, { path: extension, entry: ENTRY });
  return db
    .prepare(rangeDigestsSql(t, keyColumn, width, keys, dateColumns))
    .raw(true)
    .get() as Buffer[];
}

// Plain JavaScript (no TypeScript loader in a fresh worker), evaluated as the worker's source.
const IN_WORKER = `
const { parentPort, workerData: w } = require("node:worker_threads");
const Database = require(w.module);
let db;
try {
  db = new Database(w.path, { readonly: true, fileMustExist: true });
  db.loadExtension(w.extension, w.entry);
  const blobs = db.prepare(w.sql).raw(true).get().map((b) => new Uint8Array(b));
  parentPort.postMessage(blobs, blobs.map((b) => b.buffer));
} catch (err) {
  // SQLite's error class does not survive the trip between threads: its message and code do.
  parentPort.postMessage({ message: String(err && err.message), code: err && err.code });
} finally {
  if (db) db.close();
}
`;

/** The same, on another thread, from the snapshot file: a load records them while its main thread copies. */
export async function rangeDigestsInWorker(
  snapshotPath: string,
  t: TablePlan,
  keyColumn: string,
  width: bigint,
  extension: string,
  keys?: KeySpan,
): Promise<RawDigests> {
  return parseDigests((await blobsInWorker(snapshotPath, t, keyColumn, width, extension, keys, []))[0]!);
}

function blobsInWorker(
  snapshotPath: string,
  t: TablePlan,
  keyColumn: string,
  width: bigint,
  extension: string,
  keys: KeySpan | undefined,
  dateColumns: string[],
): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(IN_WORKER, {
      eval: true,
      workerData: {
        module: require.resolve("better-sqlite3"),
        path: snapshotPath,
        extension,
        entry: ENTRY,
        sql: rangeDigestsSql(t, keyColumn, width, keys, dateColumns),
      },
    });
    worker.once("message", (m: Uint8Array[] | { message: string; code?: string }) => {
      if (Array.isArray(m)) resolve(m);
      else reject(Object.assign(new Error(m.message), { code: m.code }));
    });
    worker.once("error", reject);
    worker.once("exit", (code) => code !== 0 && reject(new Error(`Hashing table "${t.source}"'s key ranges stopped with exit code ${code}.`)));
  });
}

/** A refresh's one scan of a table: its range digests, and the counts of its pending date columns (numeric-dates.ts). */
export interface RangeScan {
  digests: RawDigests;
  /** per source column named in `dateColumns` */
  dates: Map<string, NumericDateCounts>;
}

/**
 * A big table hashed in two halves by key at once, this thread taking the
 * lower and a worker the upper: on a refresh this is the longest step, and
 * PostgreSQL's side is one cheap scan on the other core.
 */
export async function sqliteRangeDigestsSplit(db: Database.Database, t: TablePlan, keyColumn: string, width: bigint, extension: string): Promise<RawDigests> {
  return (await sqliteRangeScan(db, t, keyColumn, width, extension, { split: true, dateColumns: [] })).digests;
}

/**
 * SQLite's digests of a table, with the counts of `dateColumns` from the same
 * scan; `split`: in two halves at once, as sqliteRangeDigestsSplit (each half's
 * counts added up).
 */
export async function sqliteRangeScan(
  db: Database.Database,
  t: TablePlan,
  keyColumn: string,
  width: bigint,
  extension: string,
  how: { split: boolean; dateColumns: string[] },
): Promise<RangeScan> {
  const { dateColumns } = how;
  const scanned = (parts: Uint8Array[][]): RangeScan => {
    const counts = dateColumns.length ? parts.map((p) => parseNumericDateCounts(p[1]!, dateColumns.length)) : [];
    return {
      digests: parseDigests(Buffer.concat(parts.map((p) => p[0]!))),
      dates: new Map(dateColumns.map((c, i) => [c, counts.map((part) => part[i]!).reduce(addNumericDateCounts)])),
    };
  };
  const whole = () => scanned([scanBlobs(db, t, keyColumn, width, extension, undefined, dateColumns)]);
  if (!how.split) return whole();
  const k = quoteSqlite(keyColumn);
  // Apart: SQLite answers a lone min() or max() from the key's b-tree, but both in one SELECT scan an index (60 ms a million rows).
  const s = db
    .prepare(`SELECT (SELECT min(${k}) FROM ${quoteSqlite(t.source)}) AS lo, (SELECT max(${k}) FROM ${quoteSqlite(t.source)}) AS hi`)
    .safeIntegers(true)
    .get() as { lo: unknown; hi: unknown };
  if (typeof s.lo !== "bigint" || typeof s.hi !== "bigint" || s.hi - s.lo < 2n) return whole();
  const mid = s.lo + (s.hi - s.lo) / 2n;
  const upper = blobsInWorker(db.name, t, keyColumn, width, extension, { notBelow: mid }, dateColumns);
  upper.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
  const lower = scanBlobs(db, t, keyColumn, width, extension, { below: mid }, dateColumns);
  return scanned([lower, await upper]);
}

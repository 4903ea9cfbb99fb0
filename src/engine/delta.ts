// Delta sync: bringing a table pgshift loaded earlier level with a changed
// SQLite file by re-copying only the key ranges that differ. Both sides cut the
// table into the same ranges of `width` keys (key / width, truncated toward
// zero). Differing ranges are deleted and copied again inside the caller's
// transaction: inserts, updates, deletes and keys that moved between ranges all
// show up as a range that differs.
//
// Which ranges differ is found one of two ways:
// - recorded (the usual way): the load recorded, per range, the row count and a
//   digest of SQLite's raw values (range-digests.ts) and the transactions that
//   wrote the rows. SQLite's side is the same digests of the new file — no
//   value converted; PostgreSQL's side is a scan of row counts and xmin, since
//   any row inserted or updated by someone else (an app after a rolled-back
//   cutover) carries another transaction id, and a deleted one lowers a count.
// - by content, when nothing usable was recorded (no C compiler for the
//   extension, a load by an older pgshift, a verification that failed, or
//   2^31 transactions since): both sides hash each range's rows in COPY's text
//   form — SQLite's from the COPY text pgshift would send, PostgreSQL's in
//   PostgreSQL (sql/postgres/chunk-digests.sql).
import { createHash } from "node:crypto";
import type Database from "better-sqlite3";
import type pg from "pg";
import { CHUNK } from "./postgres/copy";
import { qualified, quoteSqlite } from "./identifiers";
import type { RecordedRanges } from "./postgres/catalog";
import type { ColumnPlan, TablePlan } from "./plan";
import { isIntegerKind } from "./types/column-types";
import { rangeDigestsExtension, type RawDigests } from "./sqlite/range-digests";
import { jsChunks, type KeyRanges, type TableReader } from "./sqlite/source";
import { sqlFile } from "./sql-files";
import { inKeyOrder, targetLineBatches } from "./compare";

export const chunkDigestsSql = sqlFile("postgres", "chunk-digests");

/** Rows per range on average: 2,000 scattered changes in 100k rows re-copy ~12 % of them (39 % with 32 a range), in 1M ~1.6 %. */
export const ROWS_PER_RANGE = 8;
/** From this many rows a refresh hashes SQLite's side in two halves at once (a worker thread's start costs ~50 ms). */
export const SPLIT_MIN_ROWS = 200_000;
/**
 * Hashed in two halves only with a core for each and one for PostgreSQL's own
 * scan: on 2 cores the three took turns, and a million rows' scan took 0.83 s
 * split against 0.68 s whole (the worker also starts a thread and reads the
 * pages through a second connection).
 */
export const SPLIT_MIN_CORES = 4;
/** Most ranges a table is cut into (24 bytes each in pgshift.loads.range_digests). */
const MAX_RANGES = 1_000_000;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Per range id (key / width, as text): the row count and md5 of the range's COPY lines. */
export type RangeDigests = Map<string, { n: number; digest: string }>;

/** What a table's structure in PostgreSQL depends on: when it differs from the recorded one, the table is reloaded whole. */
export function layoutOf(t: TablePlan): string {
  const shape = { columns: t.columns.map((c) => [c.target, c.targetType, c.notNull]), key: t.sourceKey, primaryKey: t.primaryKey };
  return createHash("sha256").update(JSON.stringify(shape)).digest("hex").slice(0, 32);
}

/** The single integer key column delta sync cuts ranges on, if the table has one. */
export function deltaKeyColumn(t: TablePlan): ColumnPlan | undefined {
  if (t.sourceKey.length !== 1) return undefined;
  const c = t.columns.find((x) => x.source === t.sourceKey[0]);
  return c && isIntegerKind(c.cast.kind) ? c : undefined;
}

/** Transactions since pgshift's oldest recorded writer beyond which an xid may name another transaction (wraparound at 2^31, with room). */
export const MAX_WRITER_AGE = 2n ** 31n - 2n ** 24n;

/** Whether the table's key is SQLite's rowid (a single INTEGER PRIMARY KEY of a rowid table): never NULL, always an integer. */
export function rowidKey(t: TablePlan): boolean {
  return t.keyIsRowid === true;
}

/** `layoutChanged`: the table's columns or keys differ from the recorded load (or none was recorded) */
export type DeltaDecision = { width: bigint; recorded?: RecordedRanges & { extension: string } } | { reason: string; layoutChanged?: boolean };

/**
 * Whether the table can be brought level by ranges, and how: with what the load
 * recorded (its range width), or by content (the key span of the snapshot cut
 * into about rows / ROWS_PER_RANGE ranges).
 */
export function deltaDecision(db: Database.Database, t: TablePlan, recordedLayout: string | null | undefined, recorded?: RecordedRanges): DeltaDecision {
  if (recordedLayout !== layoutOf(t))
    return {
      reason: recordedLayout ? "its columns or keys changed since the last load" : "loaded by an older pgshift (no layout recorded)",
      layoutChanged: true,
    };
  if (!deltaKeyColumn(t)) return { reason: t.sourceKey.length === 0 ? "no key" : "key is not a single integer column" };
  // An INTEGER PRIMARY KEY is the rowid: always an integer, no need to look.
  const rowid = rowidKey(t);
  const k = quoteSqlite(t.sourceKey[0]!);
  if (
    !rowid &&
    db
      .prepare(`SELECT EXISTS (SELECT 1 FROM ${quoteSqlite(t.source)} WHERE typeof(${k}) <> 'integer')`)
      .pluck()
      .get()
  ) {
    return { reason: "some keys in SQLite are not integers" };
  }
  const extension = rangeDigestsExtension();
  if (recorded && recorded.age < MAX_WRITER_AGE && "path" in extension) return { width: recorded.width, recorded: { ...recorded, extension: extension.path } };
  return { width: rangeWidth(db, t) };
}

/**
 * The range width for a table with a single integer key: about ROWS_PER_RANGE
 * rows a range. Sparse keys: from the density between the 10th and 90th
 * percentile, so that a few outlying keys (an id moved far away) do not make
 * every range huge.
 */
export function rangeWidth(db: Database.Database, t: TablePlan): bigint {
  const k = quoteSqlite(t.sourceKey[0]!);
  const s = db
    .prepare(`SELECT min(${k}) AS lo, max(${k}) AS hi, count(*) AS n FROM ${quoteSqlite(t.source)}`)
    .safeIntegers(true)
    .get() as { lo: bigint | null; hi: bigint | null; n: bigint };
  if (s.n === 0n || s.lo === null || s.hi === null || typeof s.lo !== "bigint" || typeof s.hi !== "bigint") return 1n;
  const n = s.n;
  let spread = s.hi - s.lo + 1n;
  let rows = n;
  // Keys filling at least half their span (ids handed out in order, some deleted) need no percentiles: the
  // OFFSET queries below walk the table, a quarter of a second per million rows, on the copy's own thread.
  if (spread > 2n * n) {
    const at = db
      .prepare(`SELECT ${k} AS k FROM ${quoteSqlite(t.source)} ORDER BY ${k} LIMIT 1 OFFSET ?`)
      .safeIntegers(true)
      .pluck();
    const [i10, i90] = [n / 10n, (n * 9n) / 10n];
    if (i90 > i10) {
      spread = (at.get(i90) as bigint) - (at.get(i10) as bigint);
      rows = i90 - i10;
    }
  }
  // Past MAX_RANGES ranges, wider ones: the record stays under 24 MB whatever the table's size.
  const perRange = BigInt(Math.max(ROWS_PER_RANGE, Math.ceil(Number(n) / MAX_RANGES)));
  let width = (spread * perRange + rows - 1n) / rows;
  if (width < 1n) width = 1n;
  if (width > 2n ** 62n) width = 2n ** 62n;
  return width;
}

/** The inclusive key range of range id `c` (truncating division: range 0 holds -(width-1) … width-1). */
export function rangeOf(c: bigint, width: bigint): [bigint, bigint] {
  const lo = c > 0n ? c * width : c === 0n ? -(width - 1n) : c * width - (width - 1n);
  const hi = c < 0n ? c * width : c === 0n ? width - 1n : c * width + (width - 1n);
  const clamp = (x: bigint) => (x < INT64_MIN ? INT64_MIN : x > INT64_MAX ? INT64_MAX : x);
  return [clamp(lo), clamp(hi)];
}

/** SQLite's side: the COPY lines pgshift would send, hashed per range, in key order. */
export function sourceDigests(reader: TableReader, keyIndex: number, width: bigint): RangeDigests {
  const out: RangeDigests = new Map();
  const small = width < 2n ** 52n;
  const w = Number(width);
  let current: string | undefined;
  let text = "";
  let n = 0;
  const close = () => {
    if (current !== undefined) out.set(current, { n, digest: createHash("md5").update(text, "utf8").digest("hex") });
  };
  for (const fields of reader.rows()) {
    const key = fields[keyIndex]!;
    // Below 2^52 a float division truncates exactly; beyond, BigInt.
    const id = small && key.length < 16 ? String(Math.trunc(Number(key) / w) + 0) : String(BigInt(key) / width);
    const line = fields.join("\t");
    if (id !== current) {
      close();
      current = id;
      text = line;
      n = 1;
    } else {
      text += "\n" + line;
      n++;
    }
  }
  close();
  return out;
}

/** PostgreSQL's side, computed in PostgreSQL. */
export async function targetDigests(client: pg.Client, schema: string, t: TablePlan, width: bigint): Promise<RangeDigests> {
  const key = deltaKeyColumn(t)!;
  const r = await client.query<{ chunk: string; n: string; digest: string }>(
    "SELECT chunk::text AS chunk, n, digest FROM pgshift.chunk_digests($1::regclass, $2::text[], $3, $4::bigint, $5::bigint[])",
    [qualified(schema, t.target), t.columns.map((c) => c.target), key.target, width.toString(), null],
  );
  return new Map(r.rows.map((x) => [x.chunk, { n: Number(x.n), digest: x.digest }]));
}

/** Range ids, sorted, merged into contiguous inclusive key ranges. */
export function keyRanges(ids: Iterable<bigint>, width: bigint): KeyRanges {
  const sorted = [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ranges: KeyRanges = [];
  let prev: bigint | undefined;
  for (const c of sorted) {
    const [lo, hi] = rangeOf(c, width);
    if (prev !== undefined && c === prev + 1n) ranges[ranges.length - 1]![1] = hi;
    else ranges.push([lo, hi]);
    prev = c;
  }
  return ranges;
}

/** By content: range ids present on one side only, or with another count or digest. */
export function differingRanges(source: RangeDigests, target: RangeDigests): bigint[] {
  const ids = new Set<string>();
  for (const [id, s] of source) {
    const t = target.get(id);
    if (!t || t.n !== s.n || t.digest !== s.digest) ids.add(id);
  }
  for (const id of target.keys()) if (!source.has(id)) ids.add(id);
  return [...ids].map(BigInt);
}

/** Per range in PostgreSQL, sorted by id: rows; and the ranges holding a row written by a transaction other than pgshift's. */
export interface WriterCounts {
  ids: BigInt64Array;
  rows: BigInt64Array;
  foreign: Set<bigint>;
  /** rows in the whole table, where counted (writerCounts) */
  total?: number;
}

/**
 * With what was recorded: a range is level when SQLite's digest of it is the
 * recorded one, and PostgreSQL holds the recorded number of rows, all written
 * by pgshift (or neither side has any rows in it). A merge of three sorted lists.
 */
export function changedSinceRecord(now: RawDigests, recorded: RawDigests, pg: WriterCounts): bigint[] {
  const changed: bigint[] = [];
  let i = 0;
  let j = 0;
  let k = 0;
  const END = 2n ** 64n; // above every id
  for (;;) {
    const a = i < now.ids.length ? now.ids[i]! : END;
    const b = j < recorded.ids.length ? recorded.ids[j]! : END;
    const c = k < pg.ids.length ? pg.ids[k]! : END;
    let id = a < b ? a : b;
    if (c < id) id = c;
    if (id === END) return changed;
    const s = a === id ? i++ : -1;
    const r = b === id ? j++ : -1;
    const p = c === id ? k++ : -1;
    if (s < 0 && p < 0) continue; // recorded, but gone from both sides
    const level =
      s >= 0 &&
      r >= 0 &&
      p >= 0 &&
      now.rows[s] === recorded.rows[r] &&
      now.digests[s] === recorded.digests[r] &&
      pg.rows[p] === recorded.rows[r] &&
      !pg.foreign.has(id);
    if (!level) changed.push(id);
  }
}

/** SQLite's rows in these ranges (ids sorted ascending, as changedSinceRecord returns them). */
export function rowsIn(d: RawDigests, ids: bigint[]): number {
  let n = 0;
  let i = 0;
  for (const id of ids) {
    while (i < d.ids.length && d.ids[i]! < id) i++;
    if (i < d.ids.length && d.ids[i] === id) n += Number(d.rows[i]);
  }
  return n;
}

/**
 * Up to this many rows in the differing ranges, they are compared row by row
 * with PostgreSQL's (both sides as COPY text, held in memory: ~5 MB for 12,000
 * chat messages) and only the rows that differ are deleted and copied again.
 * Writing a row into a big table costs PostgreSQL ~15 µs (its unique check
 * visits the deleted row's heap page, and every index page it touches is
 * logged whole after a checkpoint); reading one back ~3 µs. 2,000 changes in a
 * 1M-row table sit in ranges of ~12,000 rows.
 */
export const ROW_DIFF_MAX_ROWS = 100_000;

/**
 * The differing ranges on both sides in key order, merged by key: PostgreSQL's
 * keys whose rows are not exactly SQLite's COPY text (gone, changed, or
 * another writer's), and SQLite's lines to copy for them and for keys
 * PostgreSQL lacks, with their keys as ranges. Every other row of these ranges
 * was just found byte for byte equal, under the table's lock: verification
 * reads back only the rows copied. Undefined when the table has no key order.
 */
export async function rowsThatDiffer(
  client: pg.Client,
  schema: string,
  t: TablePlan,
  reader: TableReader,
  ranges: KeyRanges,
  writers?: string[],
): Promise<{ stale: string[]; fresh: string[]; keys: KeyRanges } | undefined> {
  const key = deltaKeyColumn(t)!;
  const query = inKeyOrder(schema, t, { column: key.target, ranges }, writers);
  if (!query) return undefined;
  const k = t.columns.indexOf(key);
  // PostgreSQL reads its side while this thread converts SQLite's (in C where it can, copy-text.ts).
  const theirs: string[] = [];
  const foreign = new Set<number>();
  const reading = (async () => {
    // A row another transaction wrote is copied again even when equal: then every row is pgshift's writers' again,
    // and the next refresh's check of xmin (writerCounts) can find the table untouched without counting ranges.
    for await (const lines of targetLineBatches(client, query))
      for (const line of lines) {
        if (writers && !line.endsWith("\tt")) foreign.add(theirs.length);
        theirs.push(writers ? line.slice(0, -2) : line);
      }
  })();
  reading.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
  let text = "";
  try {
    // Between chunks the event loop takes in PostgreSQL's lines: otherwise its COPY stalls on a full socket
    // until SQLite's side is read, and the two sides are read one after the other instead of at once.
    let at = Date.now();
    for (const chunk of reader.chunks(CHUNK)) {
      text += chunk.data.toString("utf8");
      if (Date.now() - at >= 5) {
        await new Promise(setImmediate);
        at = Date.now();
      }
    }
  } finally {
    await reading.catch(() => {});
  }
  await reading;
  const ours = text === "" ? [] : text.slice(0, -1).split("\n");
  const stale: string[] = [];
  const fresh: string[] = [];
  const keys: KeyRanges = [];
  const ourKeys = ours.map((line) => fieldOf(line, k));
  const theirKeys = theirs.map((line) => fieldOf(line, k));
  let i = 0;
  let j = 0;
  // Keys are integers in COPY text; a key held twice (no unique key in PostgreSQL) goes as a group.
  while (i < ours.length || j < theirs.length) {
    const id =
      i === ours.length ? theirKeys[j]! : j === theirs.length ? ourKeys[i]! : compareIntegers(ourKeys[i]!, theirKeys[j]!) <= 0 ? ourKeys[i]! : theirKeys[j]!;
    const from = i;
    while (i < ours.length && ourKeys[i] === id) i++;
    const at = j;
    while (j < theirs.length && theirKeys[j] === id) j++;
    const same = i - from === j - at && ours.slice(from, i).every((line, n) => line === theirs[at + n] && !foreign.has(at + n));
    if (same) continue;
    if (j > at) stale.push(id);
    if (i === from) continue;
    fresh.push(...ours.slice(from, i));
    const key = BigInt(id);
    const last = keys[keys.length - 1];
    if (last && last[1] + 1n === key) last[1] = key;
    else keys.push([key, key]);
  }
  return { stale, fresh, keys };
}

/** Two integers as COPY writes them (no leading zeros), compared by value. */
function compareIntegers(a: string, b: string): number {
  const negative = a.charCodeAt(0) === 45;
  if (negative !== (b.charCodeAt(0) === 45)) return negative ? -1 : 1;
  const d = a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return negative ? -d : d;
}

/** Field `n` of a COPY text line, as written (an integer key needs no unescaping). */
function fieldOf(line: string, n: number): string {
  let start = 0;
  for (let f = 0; f < n; f++) start = line.indexOf("\t", start) + 1;
  const end = line.indexOf("\t", start);
  return end < 0 ? line.slice(start) : line.slice(start, end);
}

/** Lines already converted, as a reader copyTable can send (and name a refused line's key from). */
export function linesReader(lines: string[], t: TablePlan): TableReader {
  const k = t.columns.indexOf(deltaKeyColumn(t)!);
  return {
    *rows() {
      for (const line of lines) yield line.split("\t");
    },
    chunks: (size) => jsChunks(lines, size),
    binaryChunks: () => undefined,
    *rowsAsText() {
      yield* lines;
    },
    keyOfRow: (n) => (lines[n - 1] === undefined ? undefined : { [t.sourceKey[0]!]: fieldOf(lines[n - 1]!, k) }),
  };
}

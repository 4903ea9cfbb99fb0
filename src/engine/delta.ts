// Delta sync: bringing a table pgshift loaded earlier level with a changed
// SQLite file by re-copying only the key ranges that differ. Both sides cut the
// table into the same ranges of `width` keys (key / width, truncated toward
// zero) and hash each range's rows in COPY's text form — SQLite's side from the
// COPY text pgshift would send (convert.ts writes PostgreSQL's output form),
// PostgreSQL's side in PostgreSQL (sql/postgres/chunk-digests.sql) — so equal data gives
// equal digests without moving the rows. Differing ranges are deleted and copied
// again inside the caller's transaction: inserts, updates, deletes and keys
// that moved between ranges all show up as a range whose digest differs.
import { createHash } from "node:crypto";
import type Database from "better-sqlite3";
import type pg from "pg";
import { copyTable, type CopyProgress } from "./copy";
import { qualified, quoteIdent, quoteSqlite } from "./identifiers";
import type { ColumnPlan, TablePlan } from "./plan";
import { tableReader, type KeyRanges, type TableReader } from "./source";
import { sqlFile } from "./sql-files";
import type { TableVerification } from "./verify";

export const chunkDigestsSql = sqlFile("postgres", "chunk-digests");

/** Rows per range on average: 2,000 scattered changes in 100k rows re-copy ~12 % of them (39 % with 32 a range), in 1M ~1.6 %. */
export const ROWS_PER_RANGE = 8;
const INTEGER_KINDS = new Set(["smallint", "integer", "bigint"]);
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
  return c && INTEGER_KINDS.has(c.cast.kind) ? c : undefined;
}

/** `layoutChanged`: the table's columns or keys differ from the recorded load (or none was recorded) */
export type DeltaDecision = { width: bigint } | { reason: string; layoutChanged?: boolean };

/**
 * Whether the table can be brought level by ranges, and the range width: the
 * key span of the snapshot cut into about rows / ROWS_PER_RANGE ranges.
 */
export function deltaDecision(db: Database.Database, t: TablePlan, recordedLayout: string | null | undefined): DeltaDecision {
  if (recordedLayout !== layoutOf(t)) return { reason: recordedLayout ? "its columns or keys changed since the last load" : "loaded by an older pgshift (no layout recorded)", layoutChanged: true };
  if (!deltaKeyColumn(t)) return { reason: t.sourceKey.length === 0 ? "no key" : "key is not a single integer column" };
  const k = quoteSqlite(t.sourceKey[0]!);
  const s = db
    .prepare(`SELECT min(${k}) AS lo, max(${k}) AS hi, count(*) AS n, coalesce(sum(typeof(${k}) <> 'integer'), 0) AS odd FROM ${quoteSqlite(t.source)}`)
    .safeIntegers(true)
    .get() as { lo: bigint | null; hi: bigint | null; n: bigint; odd: bigint };
  if (s.odd > 0n) return { reason: "some keys in SQLite are not integers" };
  if (s.n === 0n || s.lo === null || s.hi === null) return { width: 1n };
  // The density of keys between the 10th and 90th percentile, so that a few
  // outlying keys (an id moved far away) do not make every range huge.
  const at = db.prepare(`SELECT ${k} AS k FROM ${quoteSqlite(t.source)} ORDER BY ${k} LIMIT 1 OFFSET ?`).safeIntegers(true).pluck();
  const n = s.n;
  const [i10, i90] = [n / 10n, (n * 9n) / 10n];
  const q10 = at.get(i10) as bigint;
  const q90 = at.get(i90) as bigint;
  const spread = i90 > i10 ? q90 - q10 : s.hi - s.lo;
  const rows = i90 > i10 ? i90 - i10 : n;
  let width = (spread * BigInt(ROWS_PER_RANGE) + rows - 1n) / rows;
  if (width < 1n) width = 1n;
  if (width > 2n ** 62n) width = 2n ** 62n;
  return { width };
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
export async function targetDigests(client: pg.Client, schema: string, t: TablePlan, width: bigint, only?: string[]): Promise<RangeDigests> {
  const key = deltaKeyColumn(t)!;
  const r = await client.query<{ chunk: string; n: string; digest: string }>(
    "SELECT chunk::text AS chunk, n, digest FROM pgshift.chunk_digests($1::regclass, $2::text[], $3, $4::bigint, $5::bigint[])",
    [qualified(schema, t.target), t.columns.map((c) => c.target), key.target, width.toString(), only ?? null],
  );
  return new Map(r.rows.map((x) => [x.chunk, { n: Number(x.n), digest: x.digest }]));
}

/** Range ids present on one side only, or with another count or digest, merged into contiguous key ranges. */
export function differingRanges(source: RangeDigests, target: RangeDigests, width: bigint): { ids: number; ranges: KeyRanges; changed: string[] } {
  const ids = new Set<string>();
  for (const [id, s] of source) {
    const t = target.get(id);
    if (!t || t.n !== s.n || t.digest !== s.digest) ids.add(id);
  }
  for (const id of target.keys()) if (!source.has(id)) ids.add(id);
  const sorted = [...ids].map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const ranges: KeyRanges = [];
  let prev: bigint | undefined;
  for (const c of sorted) {
    const [lo, hi] = rangeOf(c, width);
    if (prev !== undefined && c === prev + 1n) ranges[ranges.length - 1]![1] = hi;
    else ranges.push([lo, hi]);
    prev = c;
  }
  return { ids: ids.size, ranges, changed: [...ids] };
}

export interface SyncResult {
  /** rows copied again from SQLite (inserted or updated ones, and the unchanged rows sharing a range with them) */
  copiedRows: number;
  /** rows deleted from PostgreSQL before the re-copy (deleted, updated, and the rest of their ranges) */
  deletedRows: number;
  /** ranges that differed, of how many */
  changedRanges: number;
  totalRanges: number;
  width: bigint;
  /** SQLite's digests of the re-copied ranges, for verification after commit */
  digests: RangeDigests;
  /** the range ids re-copied */
  changed: string[];
  /** rows in the snapshot's table */
  sourceRows: number;
}

/**
 * Brings one table level with the snapshot, inside the caller's transaction:
 * compare range digests, delete the differing ranges, copy them again. The
 * table is locked against writers first, so the ranges found equal stay equal
 * until commit.
 */
export async function syncTable(client: pg.Client, schema: string, t: TablePlan, db: Database.Database, width: bigint, onProgress?: CopyProgress): Promise<SyncResult> {
  const table = qualified(schema, t.target);
  const key = deltaKeyColumn(t)!;
  await client.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
  // PostgreSQL hashes its side while this thread hashes SQLite's.
  const theirs = targetDigests(client, schema, t, width);
  theirs.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
  const keyIndex = t.columns.indexOf(key);
  let ours: RangeDigests;
  try {
    ours = sourceDigests(tableReader(db, t), keyIndex, width);
  } finally {
    await theirs.catch(() => {});
  }
  const { ids, ranges, changed } = differingRanges(ours, await theirs, width);
  let deletedRows = 0;
  let copiedRows = 0;
  if (ranges.length > 0) {
    const del = await client.query(
      `DELETE FROM ${table} AS t USING unnest($1::bigint[], $2::bigint[]) AS r(lo, hi) WHERE t.${quoteIdent(key.target)} BETWEEN r.lo AND r.hi`,
      [ranges.map((r) => r[0].toString()), ranges.map((r) => r[1].toString())],
    );
    deletedRows = del.rowCount ?? 0;
    copiedRows = (await copyTable(client, schema, t, tableReader(db, t, ranges), onProgress)).rows;
  }
  const all = new Set([...ours.keys(), ...(await theirs).keys()]);
  let sourceRows = 0;
  for (const d of ours.values()) sourceRows += d.n;
  const copied: RangeDigests = new Map(changed.filter((id) => ours.has(id)).map((id) => [id, ours.get(id)!]));
  return { copiedRows, deletedRows, changedRanges: ids, totalRanges: all.size, width, digests: copied, changed, sourceRows };
}

/**
 * After commit: the re-copied ranges against SQLite's digests, and the row
 * count. The other ranges were found equal inside the sync's transaction, with
 * the table locked until commit; undefined if anything differs (the caller
 * then compares row by row).
 */
export async function verifyByRanges(client: pg.Client, schema: string, t: TablePlan, sync: SyncResult): Promise<TableVerification | undefined> {
  const theirs = sync.changed.length ? await targetDigests(client, schema, t, sync.width, sync.changed) : new Map();
  const { ids } = differingRanges(sync.digests, theirs, sync.width);
  const rows = Number((await client.query(`SELECT count(*) AS n FROM ${qualified(schema, t.target)}`)).rows[0].n);
  if (ids > 0 || rows !== sync.sourceRows) return undefined;
  return { source: t.source, target: t.target, sourceRows: rows, targetRows: rows, match: true, method: "range digests", differences: [] };
}

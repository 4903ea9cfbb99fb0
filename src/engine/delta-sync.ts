// Delta sync's writing side (delta.ts decides and finds the differing key
// ranges): syncTable re-copies them in the refresh's transaction, and what it
// records of the writers and ranges so that the next refresh goes by record.
import { availableParallelism } from "node:os";
import type Database from "better-sqlite3";
import type pg from "pg";
import { copyTable, type CopyProgress, type CopyResult } from "./postgres/copy";
import { qualified, quoteIdent } from "./identifiers";
import type { RecordedRanges } from "./postgres/catalog";
import type { TablePlan } from "./plan";
import { pendingNumericDates, settleNumericDates } from "./sqlite/numeric-dates";
import { parseDigests, sqliteRangeScan, totalRows, type RawDigests } from "./sqlite/range-digests";
import { readableByWorkers } from "./sqlite/snapshot";
import { tableReader, type KeyRanges } from "./sqlite/source";
import { verifyByDigest, type TableVerification } from "./compare";
import {
  deltaKeyColumn,
  sourceDigests,
  targetDigests,
  keyRanges,
  differingRanges,
  changedSinceRecord,
  rowsThatDiffer,
  rowsIn,
  linesReader,
  ROW_DIFF_MAX_ROWS,
  SPLIT_MIN_CORES,
  SPLIT_MIN_ROWS,
  type RangeDigests,
  type WriterCounts,
} from "./delta";

export interface SyncResult {
  /** rows copied again from SQLite: inserted or changed ones (past ROW_DIFF_MAX_ROWS, every row of the differing ranges) */
  copiedRows: number;
  /** rows deleted from PostgreSQL before the re-copy: deleted or changed ones (or every row of the differing ranges), nullKeyRows included */
  deletedRows: number;
  /** of those, rows whose key was NULL in PostgreSQL (a nullable key column in --schema existing): in no range, and never in SQLite */
  nullKeyRows: number;
  /** ranges that differed, of how many */
  changedRanges: number;
  totalRanges: number;
  width: bigint;
  /** how the differing ranges were found */
  method: "recorded digests" | "content digests";
  /** the keys copied again, as ranges, and what was sent for them (verification reads them back) */
  ranges: KeyRanges;
  sent?: CopyResult;
  /** rows in the snapshot's table */
  sourceRows: number;
  /** SQLite's raw digests of the whole snapshot table, to record (recorded path only) */
  digests?: RawDigests;
  /**
   * PostgreSQL's rows at the end of the sync, counted under its lock: the rows
   * before, less those deleted, plus those copied. Undefined when a trigger or
   * rule may have written rows of its own (verification then counts them).
   */
  targetRows?: number;
}

/**
 * Brings one table level with the snapshot, inside the caller's transaction:
 * find the differing ranges, delete them, copy them again. The table is locked
 * against writers first, so the ranges found level stay level until commit.
 * Date columns whose reading for numbers is still pending (a refresh's plan)
 * are decided first: counted in the digest scan, or by query.
 */
export async function syncTable(...args: Parameters<typeof findChanges>): Promise<SyncResult> {
  return (await findChanges(...args)).write();
}

export interface SyncHooks {
  /** the reader for a re-copy of about that many rows (a refresh reading the source in place may copy it first, snapshot.ts) */
  recopying?: (rows: number) => Database.Database | Promise<Database.Database>;
  /** SQLite's side has been read: its scan and, for a row-by-row comparison, the differing ranges */
  read?: () => void;
}

/** A sync whose changes are found but not written yet (findChanges). */
export interface PendingSync {
  /**
   * Whether writing it deletes rows of the table (rows deleted or changed in
   * SQLite are deleted, then copied again): only then can a foreign key's
   * ON DELETE action referencing the table fire.
   */
  deletes: boolean;
  /** deletes and copies the differing rows, in the caller's transaction */
  write(): Promise<SyncResult>;
}

/**
 * syncTable's first half: locks the table and finds what differs, writing
 * nothing, so that a refresh knows which tables will lose rows before it
 * touches any (refresh.ts keeps the foreign keys of the others in place).
 */
export async function findChanges(
  client: pg.Client,
  schema: string,
  t: TablePlan,
  db: Database.Database,
  decision: { width: bigint; recorded?: RecordedRanges & { extension: string } },
  onProgress?: CopyProgress,
  hooks: SyncHooks = {},
): Promise<PendingSync> {
  const table = qualified(schema, t.target);
  const key = deltaKeyColumn(t)!;
  const { width, recorded } = decision;
  await client.query(`LOCK TABLE ${table} IN EXCLUSIVE MODE`);
  const nullKeyRows = await deleteNullKeys(client, table, key.target);

  let changed: bigint[];
  let totalRanges: number;
  let sourceRows = 0;
  let digests: RawDigests | undefined;
  let recopyRows = 0;
  let targetBefore: number | undefined = 0;
  if (recorded) {
    // PostgreSQL scans its side while this thread hashes SQLite's: one core each. Its parallel workers would only
    // take turns with the hashing for the same cores (2 cores: the SQLite scan 0.58 s alone, 0.68 s beside them).
    const before = parseDigests(recorded.digests);
    await client.query("SET LOCAL max_parallel_workers_per_gather = 0");
    const theirs = writerCounts(client, table, key.target, width, recorded.writers, before);
    theirs.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
    try {
      const scan = await sqliteRangeScan(db, t, key.source, width, recorded.extension, {
        split: t.rows >= SPLIT_MIN_ROWS && availableParallelism() >= SPLIT_MIN_CORES && readableByWorkers(db),
        dateColumns: pendingNumericDates(t),
      });
      settleNumericDates(db, t, scan.dates);
      digests = scan.digests;
    } finally {
      await theirs.catch(() => {});
    }
    const pgSide = await theirs;
    changed = changedSinceRecord(digests, before, pgSide);
    totalRanges = Math.max(digests.ids.length, pgSide.ids.length);
    sourceRows = totalRows(digests);
    recopyRows = rowsIn(digests, changed);
    targetBefore = pgSide.total;
  } else {
    const theirs = targetDigests(client, schema, t, width);
    theirs.catch(() => {});
    let ours: RangeDigests;
    try {
      settleNumericDates(db, t);
      ours = sourceDigests(tableReader(db, t), t.columns.indexOf(key), width);
    } finally {
      await theirs.catch(() => {});
    }
    changed = differingRanges(ours, await theirs);
    totalRanges = new Set([...ours.keys(), ...(await theirs).keys()]).size;
    for (const d of ours.values()) sourceRows += d.n;
    for (const id of changed) recopyRows += ours.get(id.toString())?.n ?? 0;
    for (const d of (await theirs).values()) targetBefore += d.n;
  }
  const ranges = keyRanges(changed, width);
  const rowWise =
    ranges.length > 0 && recopyRows <= ROW_DIFF_MAX_ROWS
      ? await rowsThatDiffer(client, schema, t, tableReader((await hooks.recopying?.(recopyRows)) ?? db, t, ranges), ranges, recorded?.writers)
      : undefined;
  if (ranges.length === 0 || rowWise) hooks.read?.(); // (a row-wise re-copy sends lines already read)

  const write = async (): Promise<SyncResult> => {
    let deletedRows = 0;
    let copiedRows = 0;
    let sent: CopyResult | undefined;
    let copiedRanges = ranges;
    if (rowWise) {
      if (rowWise.stale.length)
        deletedRows = (await client.query(`DELETE FROM ${table} WHERE ${quoteIdent(key.target)} = ANY ($1::bigint[])`, [rowWise.stale])).rowCount ?? 0;
      copiedRanges = rowWise.keys;
      if (rowWise.fresh.length) {
        sent = await copyTable(client, schema, t, linesReader(rowWise.fresh, t), onProgress);
        copiedRows = sent.rows;
      }
    } else if (ranges.length > 0) {
      // The reader is asked for now, not when the changes were found: another table's sync may have copied the file since.
      const reader = (await hooks.recopying?.(recopyRows)) ?? db;
      const del = await client.query(
        `DELETE FROM ${table} AS t USING unnest($1::bigint[], $2::bigint[]) AS r(lo, hi) WHERE t.${quoteIdent(key.target)} BETWEEN r.lo AND r.hi`,
        [ranges.map((r) => r[0].toString()), ranges.map((r) => r[1].toString())],
      );
      deletedRows = del.rowCount ?? 0;
      sent = await copyTable(client, schema, t, tableReader(reader, t, ranges), onProgress);
      copiedRows = sent.rows;
      hooks.read?.();
    }
    // Exact under the EXCLUSIVE lock, unless something else writes when the sync does: then verification counts.
    const plain = await writesOnlyItsOwn(client, table);

    return {
      copiedRows,
      deletedRows: deletedRows + nullKeyRows,
      nullKeyRows,
      changedRanges: changed.length,
      totalRanges,
      width,
      method: recorded ? "recorded digests" : "content digests",
      ranges: copiedRanges,
      ...(sent ? { sent } : {}),
      sourceRows,
      ...(digests ? { digests } : {}),
      ...(plain && targetBefore !== undefined ? { targetRows: targetBefore - deletedRows + copiedRows } : {}),
    };
  };
  return { deletes: nullKeyRows > 0 || (rowWise ? rowWise.stale.length > 0 : ranges.length > 0), write };
}

/**
 * Rows whose key is NULL, deleted first. Only a key column PostgreSQL lets hold
 * NULL (a table of the user's in --schema existing) can have them, written by
 * the app after a rolled-back cutover. Such a row falls in no key range (its
 * range id is NULL) and SQLite has none (deltaDecision found every key there an
 * integer), so a row SQLite lacks is deleted, as a refresh deletes any other.
 * A NOT NULL key makes the catalog check a one-time filter: nothing is scanned.
 */
async function deleteNullKeys(client: pg.Client, table: string, column: string): Promise<number> {
  const r = await client.query(
    `DELETE FROM ${table} WHERE ${quoteIdent(column)} IS NULL
        AND NOT (SELECT attnotnull FROM pg_catalog.pg_attribute WHERE attrelid = $1::regclass AND attname = $2)`,
    [table, column],
  );
  return r.rowCount ?? 0;
}

/**
 * Whether only the sync's own statements write the table: a plain table (not partitioned, no child tables, whose
 * own triggers and rules this would not see), with no trigger of the user's and no rule (either could add or drop rows).
 */
async function writesOnlyItsOwn(client: pg.Client, table: string): Promise<boolean> {
  const r = await client.query<{ plain: boolean }>(
    `SELECT (SELECT relkind = 'r' FROM pg_class WHERE oid = $1::regclass)
        AND NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = $1::regclass)
        AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal)
        AND NOT EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = $1::regclass AND rulename <> '_RETURN') AS plain`,
    [table],
  );
  return r.rows[0]?.plain === true;
}

/**
 * PostgreSQL's side with a record: per range, rows, and the ranges holding a
 * row whose xmin is not one of pgshift's writers. No value is formatted.
 * First one cheap pass: when no row carries another writer's xid and the table
 * holds as many rows as recorded, nothing was inserted, updated or deleted
 * since (a delete lowers the count; anything else writes a new xmin), and the
 * record is PostgreSQL's side as it is. Only otherwise are rows counted per
 * range (a CTE that PostgreSQL runs only when it is read), coming back as one string:
 * 125,000 ranges as rows would cost more to receive than to count.
 */
export async function writerCounts(
  client: pg.Client,
  table: string,
  keyColumn: string,
  width: bigint,
  writers: string[],
  recorded: RawDigests,
): Promise<WriterCounts> {
  const r = await client.query<{ untouched: boolean; total: string; counts: string | null; foreign: string | null }>({
    text: `WITH totals AS (SELECT count(*) AS n, count(*) FILTER (WHERE NOT (xmin = ANY ($2::xid[]))) AS others FROM ${table}),
                ranges AS (SELECT ${quoteIdent(keyColumn)}::bigint / $1::bigint AS c, count(*) AS n, bool_or(NOT (xmin = ANY ($2::xid[]))) AS f FROM ${table} GROUP BY 1)
           SELECT totals.n = $3::bigint AND totals.others = 0 AS untouched, totals.n AS total,
                  CASE WHEN totals.n = $3::bigint AND totals.others = 0 THEN NULL ELSE (SELECT string_agg(c::text || ' ' || n::text, ',' ORDER BY c) FROM ranges) END AS counts,
                  CASE WHEN totals.n = $3::bigint AND totals.others = 0 THEN NULL ELSE (SELECT string_agg(c::text, ',') FILTER (WHERE f) FROM ranges) END AS foreign
             FROM totals`,
    values: [width.toString(), writers, totalRows(recorded).toString()],
  });
  const row = r.rows[0]!;
  const total = Number(row.total);
  if (row.untouched) return { ids: recorded.ids, rows: recorded.rows, foreign: new Set(), total };
  const pairs = row.counts ? row.counts.split(",") : [];
  const out: WriterCounts = {
    ids: new BigInt64Array(pairs.length),
    rows: new BigInt64Array(pairs.length),
    foreign: new Set((row.foreign ?? "").split(",").filter(Boolean).map(BigInt)),
    total,
  };
  pairs.forEach((pair, i) => {
    const space = pair.indexOf(" ");
    out.ids[i] = BigInt(pair.slice(0, space));
    out.rows[i] = BigInt(pair.slice(space + 1));
  });
  return out;
}

/**
 * After commit: the re-copied ranges read back against what was sent, and the
 * row count. The other ranges were found level inside the sync's transaction,
 * with the table locked until commit; undefined if anything differs (the
 * caller then compares row by row). The count is the one the sync took under
 * its lock where it could (SyncResult.targetRows): counting again would read
 * the whole table (0.1–0.6 s a million rows, the longest step of this check).
 */
export async function verifyByRanges(client: pg.Client, schema: string, t: TablePlan, sync: SyncResult): Promise<TableVerification | undefined> {
  const rows = sync.targetRows ?? Number((await client.query(`SELECT count(*) AS n FROM ${qualified(schema, t.target)}`)).rows[0].n);
  if (rows !== sync.sourceRows) return undefined;
  if (sync.sent) {
    const back = await verifyByDigest(client, schema, t, sync.sent, { column: deltaKeyColumn(t)!.target, ranges: sync.ranges });
    if (!back) return undefined;
  }
  return { source: t.source, target: t.target, sourceRows: rows, targetRows: rows, match: true, method: "range digests", differences: [] };
}

/** Most distinct writers a content sync records; a table written row by row by an app records nothing (its next refresh compares contents again). */
const MAX_WRITERS = 1000;

/**
 * After a sync by content, every row is proven level with the snapshot, so
 * every transaction that wrote one can be recorded as a writer: a later change
 * carries a new xid. xmin is 32 bits; the epoch is today's (older rows are frozen
 * and MAX_WRITER_AGE keeps the record from outliving a wraparound anyway).
 */
export async function tableWriters(client: pg.Client, schema: string, t: TablePlan): Promise<string[] | undefined> {
  const r = await client.query<{ writers: string[] | null }>(
    `WITH w AS (SELECT DISTINCT xmin::text::numeric AS x FROM ${qualified(schema, t.target)}),
          now AS (SELECT pg_current_xact_id()::text::numeric AS c)
     SELECT CASE WHEN count(*) > ${MAX_WRITERS} THEN NULL
                 ELSE array_agg((c - mod(c, 4294967296) + x - CASE WHEN x > mod(c, 4294967296) THEN 4294967296 ELSE 0 END)::text)
            END AS writers
       FROM w, now`,
  );
  return r.rows[0]?.writers ?? undefined;
}

// The rows that differ between PostgreSQL and the SQLite file, merged in key
// order (compare.ts), read only where the last sync's record says something
// changed; and the same comparison again after writing, before the commit.
import type Database from "better-sqlite3";
import type pg from "pg";
import { qualified, quoteSqlite } from "../identifiers";
import { recordedRanges } from "../postgres/catalog";
import type { TablePlan } from "../plan";
import { MAX_WRITER_AGE, changedSinceRecord, deltaKeyColumn, keyRanges } from "../delta";
import { writerCounts } from "../delta-sync";
import { parseDigests, rangeDigestsExtension, sqliteRangeDigests, type RawDigests } from "../sqlite/range-digests";
import { tableReader, type KeyRanges } from "../sqlite/source";
import { keyedDifferences, verifyTable, type KeyedDifference, type RowDifference } from "../compare";
import type { SyncBackProblem } from "./refusal";

/** One table's differing rows, and the writes that bring SQLite level with PostgreSQL (writes.ts). */
export interface TableWork {
  t: TablePlan;
  diffs: KeyedDifference[];
  counts: { sourceRows: number; targetRows: number };
  inserts: unknown[][];
  updates: { key: unknown[]; columns: number[]; values: unknown[]; described: Record<string, unknown> }[];
  deletes: { key: unknown[]; described: Record<string, unknown> }[];
  /** compared only in these key ranges (the rest proven level by the record) */
  only?: { column: string; ranges: KeyRanges };
}

/** The SQLite table's row count. */
export function sqliteRows(db: Database.Database, table: string): number {
  return Number(
    db
      .prepare(`SELECT count(*) FROM ${quoteSqlite(table)}`)
      .pluck()
      .get(),
  );
}

/**
 * Every row that differs, merged in key order. With what the last load or
 * refresh recorded (delta.ts, range-digests.ts), only the key ranges that
 * changed since on either side are read: SQLite's ranges whose digest is not
 * the recorded one, PostgreSQL's that hold a row another transaction wrote or
 * fewer rows. A range SQLite changed in is a refusal: the file was written
 * after PostgreSQL was last brought level with it, and copying PostgreSQL's
 * rows back would overwrite those writes. Without a record, whole tables are
 * compared. A table without a key can only be proven equal.
 */
export async function compareTable(
  client: pg.Client,
  schema: string,
  db: Database.Database,
  t: TablePlan,
  problems: SyncBackProblem[],
  onProgress?: (line: string) => void,
): Promise<TableWork> {
  const counts = { sourceRows: 0, targetRows: 0 };
  const w: TableWork = { t, diffs: [], counts, inserts: [], updates: [], deletes: [] };
  const byRecord = await changedByRecord(client, schema, db, t, problems);
  if (byRecord) {
    w.only = { column: byRecord.column, ranges: byRecord.ranges };
    counts.sourceRows = sqliteRows(db, t.source);
    counts.targetRows = Number((await client.query(`SELECT count(*) AS n FROM ${qualified(schema, t.target)}`)).rows[0].n);
    onProgress?.(`${t.source}: by the record of the last sync, ${byRecord.changed} of ${byRecord.total} key ranges changed since`);
    if (byRecord.ranges.length === 0) return w;
    const inRanges = { sourceRows: 0, targetRows: 0 };
    for await (const d of keyedDifferences(client, schema, t, tableReader(db, t, byRecord.ranges), inRanges, w.only)!) w.diffs.push(d);
    return w;
  }
  const keyed = keyedDifferences(client, schema, t, tableReader(db, t), counts);
  if (!keyed) {
    const v = await verifyTable(client, schema, t, tableReader(db, t));
    Object.assign(counts, { sourceRows: v.sourceRows, targetRows: v.targetRows });
    if (!v.match) {
      problems.push({
        table: t.source,
        reason: `PostgreSQL's rows differ from SQLite's (${v.targetRows} against ${v.sourceRows}), and the table has ${t.sourceKey.length ? "a key pgshift cannot order by" : "no primary key"}, so they cannot be matched row by row. Give the table a primary key, or copy it back by hand.`,
      });
    }
    return w;
  }
  for await (const d of keyed) w.diffs.push(d);
  return w;
}

/** The key ranges that changed since the record, or undefined when nothing usable is recorded (see compareTable). */
async function changedByRecord(
  client: pg.Client,
  schema: string,
  db: Database.Database,
  t: TablePlan,
  problems: SyncBackProblem[],
): Promise<{ column: string; ranges: KeyRanges; changed: number; total: number } | undefined> {
  const key = deltaKeyColumn(t);
  const extension = rangeDigestsExtension();
  if (!key || !("path" in extension)) return undefined;
  const recorded = await recordedRanges(client, schema, t.target);
  if (!recorded || recorded.age >= MAX_WRITER_AGE) return undefined;
  const before = parseDigests(recorded.digests);
  let now: RawDigests;
  try {
    now = sqliteRangeDigests(db, t, key.source, recorded.width, extension.path);
  } catch {
    return undefined; // e.g. a key that is not an integer: compared whole
  }
  const pgSide = await writerCounts(client, qualified(schema, t.target), key.target, recorded.width, recorded.writers, before);
  const changed = changedSinceRecord(now, before, pgSide);
  const inSqlite = changedSinceRecord(now, before, { ids: before.ids, rows: before.rows, foreign: new Set() });
  if (inSqlite.length) {
    const ranges = keyRanges(inSqlite, recorded.width);
    const shown = ranges
      .slice(0, 3)
      .map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}–${hi}`))
      .join(", ");
    problems.push({
      table: t.source,
      reason:
        `SQLite's rows with ${key.source} in ${shown}${ranges.length > 3 ? ` and ${ranges.length - 3} more ranges` : ""} changed after pgshift last brought PostgreSQL level with the file: ` +
        "the app wrote to SQLite after the cutover's final sync, and copying PostgreSQL's rows back would overwrite those writes. " +
        `Compare them with the backup taken at cutover, and bring PostgreSQL level with them (or restore the file) before syncing back`,
    });
  }
  return { column: key.target, ranges: keyRanges(changed, recorded.width), changed: changed.length, total: Math.max(now.ids.length, pgSide.ids.length) };
}

/**
 * Both sides compared again after writing: the ranges compared before (the
 * rest was proven level by the record, under both locks) and the row counts,
 * or the whole table.
 */
export async function verifyWritten(
  client: pg.Client,
  schema: string,
  db: Database.Database,
  w: TableWork,
): Promise<{ match: boolean; sourceRows: number; targetRows: number; differences: RowDifference[] }> {
  const { t, only } = w;
  if (!only) return verifyTable(client, schema, t, tableReader(db, t));
  const sourceRows = sqliteRows(db, t.source);
  const differences: RowDifference[] = [];
  if (only.ranges.length) {
    for await (const d of keyedDifferences(client, schema, t, tableReader(db, t, only.ranges), { sourceRows: 0, targetRows: 0 }, only)!) {
      // Read to the end either way: a COPY left half read would leave the session unusable.
      if (differences.length >= 5) continue;
      const i = d.columns?.[0];
      differences.push({
        key: d.key,
        problem: d.problem,
        ...(i !== undefined ? { columns: [{ column: t.columns[i]!.source, source: d.source![i]!, target: d.target![i]! }] } : {}),
      });
    }
  }
  const targetRows = w.counts.targetRows;
  if (sourceRows !== targetRows && differences.length === 0)
    differences.push({ key: {}, problem: sourceRows < targetRows ? "extra in PostgreSQL" : "missing in PostgreSQL" });
  return { match: differences.length === 0, sourceRows, targetRows, differences };
}

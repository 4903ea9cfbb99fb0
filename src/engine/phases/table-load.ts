// What loading one table writes, shared by the first load (load.ts) and a
// refresh (refresh.ts): CREATE TABLE, the COPY, the range digests delta sync
// records, and the table's record in pgshift.loads.
import type pg from "pg";
import { CHUNK, copyTable, type CopyFormat } from "../postgres/copy";
import { quoteIdent } from "../identifiers";
import type { LoadContext } from "../load-context";
import { recordLoad, type LoadEntry } from "../postgres/catalog";
import { deltaKeyColumn, layoutOf, rangeWidth } from "../delta";
import { rangeDigestsExtension, rangeDigestsInWorker, serializeDigests, sqliteRangeDigests, type RawDigests } from "../sqlite/range-digests";
import type { TablePlan } from "../plan";
import { ReadWorkers } from "../sqlite/read-workers";
import { createTableSql } from "../postgres/schema";
import { tableReader } from "../sqlite/source";

/**
 * Below this many rows a table's range digests are computed on the main thread
 * (~0.5 µs a row: 0.1 s here), not worth a thread of its own and its memory when
 * twenty such tables load two at a time.
 */
const DIGEST_WORKER_MIN_ROWS = 200_000;

/** A reader of the run's snapshot of the SQLite file. */
export type SourceReader = ReturnType<LoadContext["snapshot"]["open"]>;

export type Recording = { width: bigint; digests: RawDigests } | undefined;

/**
 * What delta sync records of a table as it loads (range-digests.ts): SQLite's
 * raw digests per key range, hashed on another thread (on this one below
 * DIGEST_WORKER_MIN_ROWS) once the rows are sent, while PostgreSQL builds keys.
 * Undefined when the table has no single integer key or the extension cannot
 * be built; a refresh then compares full contents. A failure here costs the next refresh time, never this load.
 */
export function recordRanges(ctx: LoadContext, t: TablePlan, db: SourceReader): Promise<Recording> {
  const key = deltaKeyColumn(t);
  const extension = rangeDigestsExtension();
  if (!key || !("path" in extension)) return Promise.resolve(undefined);
  try {
    const width = rangeWidth(db, t);
    if (t.rows < DIGEST_WORKER_MIN_ROWS) return Promise.resolve({ width, digests: sqliteRangeDigests(db, t, key.source, width, extension.path) });
    return rangeDigestsInWorker(ctx.snapshot.path, t, key.source, width, extension.path).then(
      (digests) => ({ width, digests }),
      () => undefined,
    );
  } catch {
    return Promise.resolve(undefined); // e.g. a key in SQLite that is not an integer
  }
}

/** Binary (copy-text.ts) only into tables pgshift creates: their column types are the ones C writes. */
export function copy(ctx: LoadContext, client: pg.Client, t: TablePlan, db: SourceReader, binary: boolean) {
  ctx.progress(t.target, "copy", 0, t.rows);
  if (ctx.readerThreads && !ctx.readers) ctx.readers = new ReadWorkers(ctx.snapshot.path, CHUNK, ctx.readerThreads);
  const readers = ctx.readers;
  const chunks = readers && ((format: CopyFormat) => readers.chunks(t, format));
  return copyTable(client, ctx.plan.targetSchema, t, tableReader(db, t), (n) => ctx.progress(t.target, "copy", n, t.rows), chunks, ctx.jobs, binary);
}

export async function record(
  ctx: LoadContext,
  client: pg.Client,
  t: TablePlan,
  rows: number,
  recording: Recording,
  ranges?: LoadEntry["ranges"],
  fingerprint?: string,
): Promise<void> {
  const { plan } = ctx;
  // The overrides that applied to this table, so `pgshift verify` compares the same way.
  const casts = Object.fromEntries(Object.entries(plan.casts).filter(([k]) => k.slice(0, k.lastIndexOf(".")) === t.source));
  return recordLoad(client, {
    targetSchema: plan.targetSchema,
    targetTable: t.target,
    sourceTable: t.source,
    fingerprint: fingerprint ?? (await ctx.fingerprint()),
    schemaMode: plan.schemaMode,
    rows,
    identifiers: plan.identifiers,
    casts,
    layout: layoutOf(t),
    ranges: ranges ?? (recording && { width: recording.width, digests: serializeDigests(recording.digests), writers: "this" }),
  });
}

/** The citext type, qualified by the schema its extension lives in (null when it is not installed). */
async function citextType(client: pg.Client): Promise<string | null> {
  const { rows } = await client.query<{ s: string }>(
    "SELECT n.nspname AS s FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'citext'",
  );
  return rows[0] ? `${quoteIdent(rows[0].s)}.citext` : null;
}

/** CREATE TABLE for `t`, its citext columns' type qualified. */
export async function createTable(client: pg.Client, schema: string, t: TablePlan): Promise<void> {
  const citext = t.columns.some((c) => c.targetType === "citext") ? await citextType(client) : null;
  await client.query(createTableSql(schema, t, citext ? { citext } : {}));
}

// Phase 2, load: one transaction per table — CREATE TABLE (no indexes), COPY,
// its keys (keys.ts), and its record in pgshift.loads, committed together; a
// refresh reloads every changed table in one transaction instead. Each table is
// analyzed as soon as it is committed, while the next ones load.
import { randomUUID } from "node:crypto";
import os from "node:os";
import type pg from "pg";
import { CHUNK, copyTable, type CopyFormat } from "../copy";
import { NotBinary } from "../copy-text";
import { LoadError } from "../errors";
import { qualified } from "../identifiers";
import { inTransaction, pool, type LoadContext } from "../load-context";
import { foreignKeysTouching, loadRecords, recordedRanges, recordLoad, type LoadEntry } from "../pg-catalog";
import { chunkDigestsSql, deltaDecision, deltaKeyColumn, layoutOf, rangeWidth, syncTable, tableWriters } from "../delta";
import { rangeDigestsExtension, rangeDigestsInWorker, serializeDigests, sqliteRangeDigests, type RawDigests } from "../range-digests";
import type { Loaded } from "../load-context";
import type { TablePlan } from "../plan";
import { settleNumericDates } from "../numeric-dates";
import { ReadWorkers } from "../read-workers";
import { createTableSql } from "../schema";
import { tableReader } from "../source";
import { quoteIdent } from "../identifiers";
import { addKeys, resetSequences } from "./keys";

/** Tables at least this big count as "big" when deciding whether read workers are worth starting. */
const WORKER_MIN_ROWS = 20_000;

/**
 * Below this many rows a table's range digests are computed on the main thread
 * (~0.5 µs a row: 0.1 s here), not worth a thread of its own and its memory when
 * twenty such tables load two at a time.
 */
const DIGEST_WORKER_MIN_ROWS = 200_000;

/**
 * A refresh reading the source in place (source.ts) keeps the app's writers
 * waiting while it reads. Re-copying more than this share of a table's rows
 * takes longer than copying the file (1M rows of ~380 bytes: a 31k-row re-copy
 * ~0.2 s, the 380 MB file ~0.25 s), so the file is copied then and the lock let go.
 */
const IN_PLACE_MAX_SHARE = 32;

/** Writers recorded before a sync compacts them to the xids its rows carry (reloadTables). */
const MAX_RECORDED_WRITERS = 32;

/** Loads every table the decide phase chose to load, reload or replace. */
export async function load(ctx: LoadContext): Promise<void> {
  const { plan, admin, actions, ordered } = ctx;
  await ensureCitext(ctx);
  const reloads = ordered.filter((t) => actions.get(t.target) === "reloaded");
  const singles = ordered.filter((t) => ["load", "replaced"].includes(actions.get(t.target)!));
  for (const t of ordered.filter((t) => ["kept", "bookkeeping"].includes(actions.get(t.target)!))) ctx.progress(t.target, "keep", t.rows, t.rows);
  // A refresh plans without counting date columns' numbers (plan.ts numericDates "defer"): tables it does not
  // sync are decided here, by query, before anything is written, so mixed units still refuse the whole run.
  settleAll(ctx, ordered.filter((t) => actions.get(t.target) !== "reloaded"));

  // Read workers pay off when several big tables load at once (each converts on
  // its own core); for one big table the main thread keeps up with PostgreSQL
  // on its own, and a worker would only add its memory. Beyond one worker per
  // core, tables wait for a free worker: more would convert no faster, and each
  // is a V8 heap (~45 MB busy; --jobs 4 on 2 cores peaked at 396 MB RSS).
  // They start with the first whole copy: a refresh that only syncs ranges never needs them.
  const big = [...reloads, ...singles].filter((t) => t.rows >= WORKER_MIN_ROWS).length;
  if (ctx.jobs > 1 && big >= 2) ctx.readerThreads = Math.min(ctx.jobs, os.availableParallelism());
  const analyses: Promise<unknown>[] = [];
  const analyze = (tables: TablePlan[]) => {
    const done = admin.query(`ANALYZE ${tables.map((t) => qualified(plan.targetSchema, t.target)).join(", ")}`);
    done.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
    analyses.push(done);
  };
  if (reloads.length > 0) {
    await admin.query(chunkDigestsSql);
    await reloadTables(ctx, reloads);
    // A sync that re-copied a few ranges leaves the planner's statistics as good as they were (autovacuum catches up).
    const resampled = reloads.filter((t) => {
      const sync = ctx.sent.get(t.target)?.sync;
      return !sync || sync.copiedRows + sync.deletedRows > sync.sourceRows / 10;
    });
    if (resampled.length) analyze(resampled);
  }
  // In existing mode the app's foreign keys are live during the load, so
  // tables go one at a time in dependency order; in create mode they are
  // added afterwards and tables load in parallel.
  const jobs = plan.schemaMode === "existing" ? 1 : ctx.jobs;
  // A refresh that reads the source in place copies it before reading whole tables (source.ts).
  if (singles.length) await ctx.snapshot.copy();
  await pool(singles, jobs, async (t) => {
    await loadTable(ctx, t, actions.get(t.target) === "replaced");
    analyze([t]);
  });
  // The workers' heaps are not needed past the load: verification would hold them for nothing.
  await ctx.readers?.close();
  ctx.readers = undefined;
  await Promise.all(analyses);
}

/**
 * A table pgshift creates goes as binary COPY first. A value only JavaScript
 * converts rolls that whole transaction back and the table loads again as
 * text. (Not a savepoint: rows written under one carry a subtransaction's xid,
 * and delta sync recognises pgshift's own rows by their transaction, delta.ts.)
 */
async function loadTable(ctx: LoadContext, t: TablePlan, replace: boolean): Promise<void> {
  if (ctx.plan.schemaMode !== "create") return loadTableAs(ctx, t, replace, false);
  try {
    await loadTableAs(ctx, t, replace, true);
  } catch (err) {
    if (!(err instanceof NotBinary)) throw err;
    ctx.progress(t.target, "copy", 0, t.rows);
    await loadTableAs(ctx, t, replace, false);
  }
}

async function loadTableAs(ctx: LoadContext, t: TablePlan, replace: boolean, binary: boolean): Promise<void> {
  const { plan } = ctx;
  const schema = plan.targetSchema;
  await inTransaction(ctx.url, ctx.snapshot, async (client, db) => {
    await client.query("SET LOCAL synchronous_commit = off");
    if (plan.schemaMode === "create") {
      if (replace) await client.query(`DROP TABLE ${qualified(schema, t.target)} CASCADE`);
      await createTable(client, schema, t);
    } else if (replace) {
      await client.query(`TRUNCATE ${qualified(schema, t.target)}`);
    }
    const copied = await copy(ctx, client, t, db, binary);
    // The range digests are hashed while PostgreSQL builds the keys: this thread is idle then.
    const keys = addKeys(ctx, client, t, copied.rows);
    const recording = recordRanges(ctx, t, db);
    const warnings = await keys;
    ctx.sent.set(t.target, { ...copied, warnings });
    await record(ctx, client, t, copied.rows, await recording);
  });
}

type Recording = { width: bigint; digests: RawDigests } | undefined;

/**
 * What delta sync records of a table as it loads (range-digests.ts): SQLite's
 * raw digests per key range, hashed on another thread (on this one below
 * DIGEST_WORKER_MIN_ROWS) once the rows are sent, while PostgreSQL builds keys.
 * Undefined when the table has no single integer key or the extension cannot
 * be built; a refresh then compares full contents. A failure here costs the next refresh time, never this load.
 */
function recordRanges(ctx: LoadContext, t: TablePlan, db: ReturnType<LoadContext["snapshot"]["open"]>): Promise<Recording> {
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

/**
 * One transaction for every table to refresh, so the app never sees a
 * half-refreshed database. A table whose columns are unchanged and which has a
 * single integer key is synced (only its differing key ranges copied again,
 * delta.ts); any other is truncated and copied whole — created again first, in
 * create mode, when its columns changed.
 */
async function reloadTables(ctx: LoadContext, tables: TablePlan[]): Promise<void> {
  const { plan } = ctx;
  const schema = plan.targetSchema;
  const records = await loadRecords(ctx.admin, schema);
  // What delta sync recorded (~3 MB a million rows) is read while the sync's own session connects.
  const recordedRead = Promise.all(tables.map((t) => (records.get(t.target)?.schema_mode === plan.schemaMode ? recordedRanges(ctx.admin, schema, t.target) : undefined)));
  recordedRead.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
  await inTransaction(ctx.url, ctx.snapshot, async (client, opened) => {
    const recorded = await recordedRead;
    // Read in place (source.ts) until a table must be read whole or a sync re-copies much of one: then from a
    // copy (whose reader the snapshot closes).
    let db = opened;
    const readWhole = async () => (db = (await ctx.snapshot.copy(db))!);
    const decisions = new Map<string, ReturnType<typeof deltaDecision>>();
    tables.forEach((t, i) => {
      const rec = records.get(t.target);
      decisions.set(t.target, rec?.schema_mode === plan.schemaMode ? deltaDecision(db, t, rec.layout, recorded[i]) : { reason: "the schema mode changed", layoutChanged: true });
    });
    // A table synced by its record counts its date columns in its digest scan (delta.ts); the others by query, now.
    for (const t of tables) {
      const d = decisions.get(t.target)!;
      if (!("width" in d && d.recorded)) settleNumericDates(db, t);
    }
    const whole = tables.filter((t) => "reason" in decisions.get(t.target)!);
    const synced = tables.filter((t) => "width" in decisions.get(t.target)!);
    const qualifiedNames = (ts: TablePlan[]) => ts.map((t) => qualified(schema, t.target));
    // Foreign keys touching tables reloaded whole are set aside and restored (and re-validated) before commit.
    const dropped = whole.length ? await foreignKeysTouching(client, qualifiedNames(whole)) : [];
    const droppedNames = new Set(dropped.map((fk) => `${fk.tbl}.${fk.name}`));
    // Those touching synced tables only are deferred to the end instead, so that
    // a parent row deleted and copied again is not refused meanwhile, and only
    // the changed rows are checked. A key with an ON DELETE/UPDATE action would
    // act on the delete at once (actions are never deferred): set aside too.
    const touching = synced.length ? (await foreignKeysTouching(client, qualifiedNames(synced))).filter((fk) => !droppedNames.has(`${fk.tbl}.${fk.name}`)) : [];
    const deferred = touching.filter((fk) => fk.deferrable);
    dropped.push(...touching.filter((fk) => !fk.deferrable));
    for (const fk of dropped) await client.query(`ALTER TABLE ${fk.tbl} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
    for (const fk of deferred) await client.query(`ALTER TABLE ${fk.tbl} ALTER CONSTRAINT ${quoteIdent(fk.name)} DEFERRABLE INITIALLY DEFERRED`);
    // In create mode pgshift owns the table: one whose columns changed is created again from the plan
    // (its own foreign keys are added from the plan after the commit, by the foreign-keys phase).
    const recreate = new Set(plan.schemaMode === "create" ? whole.filter((t) => (decisions.get(t.target) as { layoutChanged?: boolean }).layoutChanged).map((t) => t.target) : []);
    for (const t of whole.filter((x) => recreate.has(x.target))) {
      await client.query(`DROP TABLE ${qualified(schema, t.target)}`);
      await createTable(client, schema, t);
    }
    const restore = dropped.filter((fk) => !(fk.rel_schema === schema && recreate.has(fk.rel_name)));
    const truncate = whole.filter((t) => !recreate.has(t.target));
    // Records are written last, in the same transaction, with a placeholder for the source's fingerprint: it is
    // hashed on another thread once the longest scan is done, and set after the commit (migrate.ts).
    const recordsToWrite: (() => Promise<void>)[] = [];
    const placeholder = (ctx.fingerprintPlaceholder = `pending:${randomUUID()}`);
    const longest = synced.reduce<TablePlan | undefined>((a, b) => (a && a.rows >= b.rows ? a : b), undefined);
    if (truncate.length) await client.query(`TRUNCATE ${qualifiedNames(truncate).join(", ")}`);
    for (const t of tables) {
      const decision = decisions.get(t.target)!;
      let loaded: Loaded;
      let ranges: LoadEntry["ranges"];
      if ("width" in decision) {
        ctx.progress(t.target, "copy", 0, t.rows);
        // A sync by content reads every row: from a copy. It records what it proved, so that the next refresh goes by record.
        if (!decision.recorded) await readWhole();
        const recording = decision.recorded ? undefined : recordRanges(ctx, t, db);
        const sync = await syncTable(client, schema, t, db, decision, (n) => ctx.progress(t.target, "copy", n, t.rows), {
          recopying: (rows) => (ctx.snapshot.holdsWriters && rows > t.rows / IN_PLACE_MAX_SHARE ? readWhole() : db),
          // The source's fingerprint is hashed once the longest table is read, not alongside (2 cores).
          read: () => void (t === longest ? ctx.fingerprint() : undefined),
        });
        loaded = {
          rows: sync.copiedRows,
          parts: [],
          format: "text",
          warnings: await resetSequences(ctx, client, t),
          sync,
          refresh: `synced by ${sync.method}: ${sync.changedRanges} of ${sync.totalRanges} key ranges differed; ${sync.deletedRows} rows deleted, ${sync.copiedRows} copied again`,
        };
        if (sync.digests) {
          // Each sync adds its transaction to the writers; a long list is replaced by the xids the rows carry
          // now (all proven level), so the xmin check stays a short list.
          const many = decision.recorded && decision.recorded.writers.length >= MAX_RECORDED_WRITERS;
          const now = many ? await tableWriters(client, schema, t) : undefined;
          ranges = { width: sync.width, digests: serializeDigests(sync.digests), writers: now?.length ? now : "add" };
        }
        else {
          const recorded = await recording;
          const writers = recorded && (await tableWriters(client, schema, t));
          if (recorded && writers) ranges = { width: recorded.width, digests: serializeDigests(recorded.digests), writers: writers.length ? writers : "this" };
        }
        recordsToWrite.push(() => record(ctx, client, t, sync.sourceRows, undefined, ranges, placeholder));
      } else {
        // Every reloaded table shares one transaction: text, which never needs a second attempt.
        await readWhole();
        const copied = await copy(ctx, client, t, db, false);
        const keys = recreate.has(t.target) ? addKeys(ctx, client, t, copied.rows) : resetSequences(ctx, client, t);
        const recording = recordRanges(ctx, t, db);
        loaded = { ...copied, warnings: await keys, refresh: `reloaded whole: ${decision.reason}` };
        const recorded = await recording;
        recordsToWrite.push(() => record(ctx, client, t, copied.rows, recorded, undefined, placeholder));
      }
      ctx.sent.set(t.target, loaded);
    }
    // The deferred checks run now, on the changed rows only; then the keys are as they were.
    for (const write of recordsToWrite) await write();
    for (const fk of deferred) await client.query(`SET CONSTRAINTS ${fk.nsp}.${quoteIdent(fk.name)} IMMEDIATE`);
    for (const fk of deferred) await client.query(`ALTER TABLE ${fk.tbl} ALTER CONSTRAINT ${quoteIdent(fk.name)} NOT DEFERRABLE INITIALLY IMMEDIATE`);
    for (const fk of restore) await client.query(`ALTER TABLE ${fk.tbl} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.def}`);
  });
}

/** Decides the pending date columns of `tables` (numeric-dates.ts) on a reader of the snapshot. */
function settleAll(ctx: LoadContext, tables: TablePlan[]): void {
  const pending = tables.filter((t) => t.columns.some((c) => c.numericDatesPending));
  if (pending.length === 0) return;
  const db = ctx.snapshot.open();
  try {
    for (const t of pending) settleNumericDates(db, t);
  } finally {
    db.close();
  }
}

/** Binary (copy-text.ts) only into tables pgshift creates: their column types are the ones C writes. */
function copy(ctx: LoadContext, client: pg.Client, t: TablePlan, db: ReturnType<LoadContext["snapshot"]["open"]>, binary: boolean) {
  ctx.progress(t.target, "copy", 0, t.rows);
  if (ctx.readerThreads && !ctx.readers) ctx.readers = new ReadWorkers(ctx.snapshot.path, CHUNK, ctx.readerThreads);
  const readers = ctx.readers;
  const chunks = readers && ((format: CopyFormat) => readers.chunks(t, format));
  return copyTable(client, ctx.plan.targetSchema, t, tableReader(db, t), (n) => ctx.progress(t.target, "copy", n, t.rows), chunks, ctx.jobs, binary);
}

async function record(ctx: LoadContext, client: pg.Client, t: TablePlan, rows: number, recording: Recording, ranges?: LoadEntry["ranges"], fingerprint?: string): Promise<void> {
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
async function createTable(client: pg.Client, schema: string, t: TablePlan): Promise<void> {
  const citext = t.columns.some((c) => c.targetType === "citext") ? await citextType(client) : null;
  await client.query(createTableSql(schema, t, citext ? { citext } : {}));
}

/** COLLATE NOCASE columns become citext (plan.ts): the extension must exist before their tables are created. */
async function ensureCitext(ctx: LoadContext): Promise<void> {
  const { plan, actions } = ctx;
  if (plan.schemaMode !== "create") return;
  const columns = plan.tables
    .filter((t) => ["load", "replaced"].includes(actions.get(t.target)!))
    .flatMap((t) => t.columns.filter((c) => c.cast.pgType === "citext").map((c) => `${t.source}.${c.source}`));
  if (columns.length === 0) return;
  try {
    // Into the target schema when missing: the engine's search_path is only the catalog, so the type is written qualified.
    await ctx.admin.query(`CREATE EXTENSION IF NOT EXISTS citext SCHEMA ${quoteIdent(plan.targetSchema)}`);
  } catch (err) {
    throw new LoadError(
      columns[0]!.split(".")[0]!,
      `The COLLATE NOCASE columns ${columns.join(", ")} become citext (case-insensitive text), and creating the citext extension failed: ${(err as Error).message}.\n` +
        "  Nothing was written. Have a superuser run CREATE EXTENSION citext in this database, or keep them case-sensitive with --cast table.column=text.",
      err,
    );
  }
}

// Phase 2, load: one transaction per table — CREATE TABLE (no indexes), COPY,
// its keys (keys.ts), and its record in pgshift.loads, committed together
// (table-load.ts); tables loaded earlier are refreshed in one transaction
// instead (refresh.ts). Each table is analyzed as soon as it is committed,
// while the next ones load.
import os from "node:os";
import { NotBinary } from "../sqlite/copy-text";
import { LoadError } from "../errors";
import { qualified, quoteIdent } from "../identifiers";
import type { LoadContext } from "../load-context";
import { inTransaction, pool } from "../postgres/connection";
import { chunkDigestsSql } from "../delta";
import type { TablePlan } from "../plan";
import { settleNumericDates } from "../sqlite/numeric-dates";
import { addKeys } from "./keys";
import { refreshTables } from "./refresh";
import { copy, createTable, record, recordRanges } from "./table-load";
import { proveEarly } from "./verify";

/** Tables at least this big count as "big" when deciding whether read workers are worth starting. */
const WORKER_MIN_ROWS = 20_000;

/** Loads every table the decide phase chose to load, reload or replace. */
export async function load(ctx: LoadContext): Promise<void> {
  const { plan, admin, actions, ordered } = ctx;
  await ensureCitext(ctx);
  const reloads = ordered.filter((t) => actions.get(t.target) === "reloaded");
  const singles = ordered.filter((t) => ["load", "replaced"].includes(actions.get(t.target)!));
  for (const t of ordered.filter((t) => ["kept", "bookkeeping"].includes(actions.get(t.target)!))) ctx.progress(t.target, "keep", t.rows, t.rows);
  // A refresh plans without counting date columns' numbers (plan.ts numericDates "defer"): tables it does not
  // sync are decided here, by query, before anything is written, so mixed units still refuse the whole run.
  settleAll(
    ctx,
    ordered.filter((t) => actions.get(t.target) !== "reloaded"),
  );

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
    await refreshTables(ctx, reloads);
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
  // A refresh that reads the source in place copies it before reading whole tables (snapshot.ts).
  if (singles.length) await ctx.snapshot.materialize();
  await pool(singles, jobs, async (t) => {
    await loadTable(ctx, t, actions.get(t.target) === "replaced");
    analyze([t]);
    proveEarly(ctx, t); // read back while the rest of the run goes on
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

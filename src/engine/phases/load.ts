// Phase 2, load: one transaction per table — CREATE TABLE (no indexes), COPY,
// its keys (keys.ts), and its record in pgshift.loads, committed together; a
// refresh reloads every changed table in one transaction instead. Each table is
// analyzed as soon as it is committed, while the next ones load.
import type pg from "pg";
import { CHUNK, copyTable } from "../copy";
import { LoadError } from "../errors";
import { qualified } from "../identifiers";
import { inTransaction, pool, type LoadContext } from "../load-context";
import { foreignKeysTouching, recordLoad } from "../pg-catalog";
import type { TablePlan } from "../plan";
import { ReadWorkers } from "../read-workers";
import { createTableSql } from "../schema";
import { tableReader } from "../source";
import { quoteIdent } from "../identifiers";
import { addKeys, resetSequences } from "./keys";

/** Tables at least this big count as "big" when deciding whether read workers are worth starting. */
const WORKER_MIN_ROWS = 20_000;

/** Loads every table the decide phase chose to load, reload or replace. */
export async function load(ctx: LoadContext): Promise<void> {
  const { plan, admin, actions, ordered } = ctx;
  await ensureCitext(ctx);
  const reloads = ordered.filter((t) => actions.get(t.target) === "reloaded");
  const singles = ordered.filter((t) => ["load", "replaced"].includes(actions.get(t.target)!));
  for (const t of ordered.filter((t) => ["kept", "bookkeeping"].includes(actions.get(t.target)!))) ctx.progress(t.target, "keep", t.rows, t.rows);

  // Read workers pay off when several big tables load at once (each converts on
  // its own core); for one big table the main thread keeps up with PostgreSQL
  // on its own, and a worker would only add its memory.
  const big = [...reloads, ...singles].filter((t) => t.rows >= WORKER_MIN_ROWS).length;
  if (ctx.jobs > 1 && big >= 2) ctx.readers = new ReadWorkers(ctx.snapshot.path, CHUNK);
  const analyses: Promise<unknown>[] = [];
  const analyze = (tables: TablePlan[]) => {
    const done = admin.query(`ANALYZE ${tables.map((t) => qualified(plan.targetSchema, t.target)).join(", ")}`);
    done.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
    analyses.push(done);
  };
  if (reloads.length > 0) {
    await reloadTables(ctx, reloads);
    analyze(reloads);
  }
  // In existing mode the app's foreign keys are live during the load, so
  // tables go one at a time in dependency order; in create mode they are
  // added afterwards and tables load in parallel.
  const jobs = plan.schemaMode === "existing" ? 1 : ctx.jobs;
  await pool(singles, jobs, async (t) => {
    await loadTable(ctx, t, actions.get(t.target) === "replaced");
    analyze([t]);
  });
  await Promise.all(analyses);
}

async function loadTable(ctx: LoadContext, t: TablePlan, replace: boolean): Promise<void> {
  const { plan } = ctx;
  const schema = plan.targetSchema;
  await inTransaction(ctx.url, ctx.snapshot, async (client, db) => {
    await client.query("SET LOCAL synchronous_commit = off");
    if (plan.schemaMode === "create") {
      if (replace) await client.query(`DROP TABLE ${qualified(schema, t.target)} CASCADE`);
      await client.query(createTableSql(schema, t));
    } else if (replace) {
      await client.query(`TRUNCATE ${qualified(schema, t.target)}`);
    }
    const copied = await copy(ctx, client, t, db);
    const warnings = await addKeys(ctx, client, t, copied.rows);
    ctx.sent.set(t.target, { ...copied, warnings });
    await record(ctx, client, t, copied.rows);
  });
}

/** One transaction for every table to reload, so the app never sees a half-refreshed database. */
async function reloadTables(ctx: LoadContext, tables: TablePlan[]): Promise<void> {
  const schema = ctx.plan.targetSchema;
  await inTransaction(ctx.url, ctx.snapshot, async (client, db) => {
    const names = tables.map((t) => qualified(schema, t.target));
    // Foreign keys touching these tables are set aside and restored (and re-validated) before commit.
    const fks = await foreignKeysTouching(client, names);
    for (const fk of fks) await client.query(`ALTER TABLE ${fk.tbl} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
    await client.query(`TRUNCATE ${names.join(", ")}`);
    for (const t of tables) {
      const copied = await copy(ctx, client, t, db);
      const warnings = await resetSequences(ctx, client, t);
      await record(ctx, client, t, copied.rows);
      ctx.sent.set(t.target, { ...copied, warnings });
    }
    for (const fk of fks) await client.query(`ALTER TABLE ${fk.tbl} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.def}`);
  });
}

function copy(ctx: LoadContext, client: pg.Client, t: TablePlan, db: ReturnType<LoadContext["snapshot"]["open"]>) {
  ctx.progress(t.target, "copy", 0, t.rows);
  return copyTable(client, ctx.plan.targetSchema, t, tableReader(db, t), (n) => ctx.progress(t.target, "copy", n, t.rows), ctx.readers?.chunks(t));
}

function record(ctx: LoadContext, client: pg.Client, t: TablePlan, rows: number): Promise<void> {
  const { plan } = ctx;
  // The overrides that applied to this table, so `pgshift verify` compares the same way.
  const casts = Object.fromEntries(Object.entries(plan.casts).filter(([k]) => k.slice(0, k.lastIndexOf(".")) === t.source));
  return recordLoad(client, {
    targetSchema: plan.targetSchema,
    targetTable: t.target,
    sourceTable: t.source,
    fingerprint: ctx.fingerprint,
    schemaMode: plan.schemaMode,
    rows,
    identifiers: plan.identifiers,
    casts,
  });
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
    await ctx.admin.query("CREATE EXTENSION IF NOT EXISTS citext");
  } catch (err) {
    throw new LoadError(
      columns[0]!.split(".")[0]!,
      `The COLLATE NOCASE columns ${columns.join(", ")} become citext (case-insensitive text), and creating the citext extension failed: ${(err as Error).message}.\n` +
        "  Nothing was written. Have a superuser run CREATE EXTENSION citext in this database, or keep them case-sensitive with --cast table.column=text.",
      err,
    );
  }
}

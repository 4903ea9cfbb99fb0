// The load pipeline: plan → decide per table (load, keep, reload, or refuse) →
// copy each table in its own transaction (then ANALYZE it) → foreign keys → verify.
// Every table's rows, keys and its record in pgshift.loads commit together, so
// a crash at any point leaves each table either fully loaded or untouched, and
// a re-run finishes the job with exactly one copy of every row.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { connect, redact } from "./connection";
import { CHUNK, copyTable, type CopyResult } from "./copy";
import { ReadWorkers } from "./read-workers";
import { chunkDigestsSql, deltaDecision, layoutOf, syncTable, verifyByRanges, type SyncResult } from "./delta";
import { LoadError, TargetConflictError, describeKey } from "./errors";
import { fingerprintSqlite } from "./fingerprint";
import { qualified, quoteIdent, quoteSqlite, type IdentifierMode } from "./identifiers";
import { openSource, planFrom, type MigrationOptions, type MigrationPlan, type SchemaMode, type TablePlan } from "./plan";
import { afterLoadSql, createTableSql, foreignKeySql, orphanSql, resetSequenceSql, type DdlStatement } from "./schema";
import { tableReader, takeSnapshot, type Snapshot } from "./source";
import { verifyByDigest, verifyTable, type RowDifference, type TableVerification } from "./verify";

export interface ProgressEvent {
  table: string;
  phase: "copy" | "keep" | "indexes" | "foreign keys" | "verify" | "done";
  rows: number;
  total: number;
}

export interface MigrateOptions extends MigrationOptions {
  target: string;
  /** tables copied at the same time (default 2) */
  jobs?: number;
  /** reload tables pgshift loaded earlier from a different version of the source */
  refresh?: boolean;
  /** replace target tables pgshift did not load (create: drop and recreate; existing: truncate) */
  overwrite?: boolean;
  /** compare every row afterwards (default true) */
  verify?: boolean;
  onProgress?: (e: ProgressEvent) => void;
}

/** What a load sent (for the digest check), and what the report should tell the app's owner. */
type Loaded = CopyResult & { warnings: string[]; sync?: SyncResult; refresh?: string };

/**
 * "bookkeeping": a migration tool's table whose rows in PostgreSQL were kept (bookkeeping.ts);
 * "synced": refreshed by re-copying only the key ranges that changed (delta.ts).
 */
export type TableAction = "loaded" | "reloaded" | "synced" | "kept" | "replaced" | "bookkeeping";

export interface TableReport {
  source: string;
  target: string;
  sourceRows: number;
  targetRows: number;
  match: boolean;
  action: TableAction;
  differences: RowDifference[];
  /** how the rows were compared: the digest of what was sent, or row by row against SQLite */
  verifiedBy?: TableVerification["method"];
  /** loaded, but something the app will notice (e.g. a sequence with no value left) */
  warnings?: string[];
  /** rows copied in this run: every row for a load or reload, the re-copied ranges' rows for a sync, 0 when kept */
  copiedRows?: number;
  /** a refresh: how it went (ranges compared and re-copied, or why the table was reloaded whole) */
  refresh?: string;
}

export interface MigrationReport {
  ok: boolean;
  source: string;
  /** the target URL with the password removed */
  target: string;
  schemaMode: string;
  fingerprint: string;
  tables: TableReport[];
  skipped: MigrationPlan["skipped"];
  verified: boolean;
  durationMs: number;
  /** the moment every table was read from: the snapshot of the SQLite file */
  snapshot?: { takenAt: string; ms: number; method: string };
  /** of which comparing PostgreSQL with what was sent (or with SQLite) took this long */
  verifyMs?: number;
}

/** Tables at least this big count as "big" when deciding whether read workers are worth starting. */
const WORKER_MIN_ROWS = 20_000;

const loadsSql = readFileSync(join(__dirname, "sql", "loads.sql"), "utf8");
const SESSION = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1; SET client_encoding = 'UTF8'";

export async function session(url: string): Promise<pg.Client> {
  const c = await connect(url);
  await c.query(SESSION);
  return c;
}

interface LoadRecord {
  target_table: string;
  source_fingerprint: string;
  schema_mode: string;
  layout: string | null;
}

async function pool<T>(items: T[], jobs: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let failure: unknown;
  const runners = Array.from({ length: Math.max(1, Math.min(jobs, items.length)) }, async () => {
    while (queue.length > 0 && failure === undefined) {
      const item = queue.shift()!;
      try {
        await work(item);
      } catch (err) {
        failure ??= err;
      }
    }
  });
  await Promise.all(runners);
  if (failure !== undefined) throw failure;
}

export async function migrate(options: MigrateOptions): Promise<MigrationReport> {
  const started = Date.now();
  const src = openSource(options.source);
  let snapshot: Snapshot | undefined;
  let readers: ReadWorkers | undefined;
  const admin = await session(options.target);
  try {
    const plan = await planFrom(src, options);
    let fingerprint: string;
    ({ snapshot, fingerprint } = await snapshotWithFingerprint(src, options.source));
    const schema = plan.targetSchema;
    await admin.query(loadsSql);
    const records = new Map(
      (
        await admin.query<LoadRecord>("SELECT target_table, source_fingerprint, schema_mode, layout FROM pgshift.loads WHERE target_schema = $1", [schema])
      ).rows.map((r) => [r.target_table, r]),
    );
    const existingTables = new Set(
      (await admin.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = $1", [schema])).rows.map((r) => r.tablename),
    );

    // Decide everything before writing anything: a refusal leaves the target untouched.
    const actions = new Map<string, TableAction | "load">();
    for (const t of plan.tables) {
      const rec = records.get(t.target);
      const exists = existingTables.has(t.target);
      if (rec && exists) {
        if (rec.source_fingerprint === fingerprint) actions.set(t.target, "kept");
        else if (options.refresh) actions.set(t.target, "reloaded");
        else
          throw new TargetConflictError(
            t.source,
            `Table "${t.target}" was loaded by pgshift from a different version of ${options.source} (the file changed since).\n` +
              "  Re-run with --refresh to reload the tables pgshift loaded — but not after cutover, when the app writes to PostgreSQL.",
          );
      } else if (exists) {
        const hasRows = (await admin.query(`SELECT EXISTS (SELECT 1 FROM ${qualified(schema, t.target)}) AS x`)).rows[0].x as boolean;
        if (plan.schemaMode === "existing" && !hasRows) actions.set(t.target, "load");
        else if (plan.schemaMode === "existing" && t.bookkeeping) actions.set(t.target, "bookkeeping");
        else if (options.overwrite) actions.set(t.target, "replaced");
        else
          throw new TargetConflictError(
            t.source,
            plan.schemaMode === "create"
              ? `Table "${t.target}" already exists in PostgreSQL schema "${schema}" and was not created by pgshift. Nothing was changed.\n` +
                  "  To load into it, use --schema existing; to drop and recreate it from SQLite, use --overwrite."
              : `Table "${t.target}" already holds rows that pgshift did not load. Nothing was changed.\n` +
                  "  To replace them with the SQLite data, use --overwrite (TRUNCATE, then load).",
          );
      } else actions.set(t.target, "load");
    }

    const progress = (table: string, phase: ProgressEvent["phase"], rows: number, total: number) => options.onProgress?.({ table, phase, rows, total });
    await ensureCitext(admin, plan, actions);
    const byTarget = new Map(plan.tables.map((t) => [t.target, t]));
    const ordered = plan.loadOrder.map((n) => byTarget.get(n)!);
    const reloads = ordered.filter((t) => actions.get(t.target) === "reloaded");
    const singles = ordered.filter((t) => ["load", "replaced"].includes(actions.get(t.target)!));
    for (const t of ordered.filter((t) => ["kept", "bookkeeping"].includes(actions.get(t.target)!))) progress(t.target, "keep", t.rows, t.rows);

    // What each copy sent, so verification can compare digests instead of re-reading SQLite.
    const sent = new Map<string, Loaded>();
    // Read workers pay off when several big tables load at once (each converts on
    // its own core); for one big table the main thread keeps up with PostgreSQL
    // on its own, and a worker would only add its memory.
    const big = [...reloads, ...singles].filter((t) => t.rows >= WORKER_MIN_ROWS).length;
    const workers = (options.jobs ?? 2) > 1 && big >= 2 ? (readers = new ReadWorkers(snapshot.path, CHUNK)) : undefined;
    // Each table is analyzed as soon as it is committed, on the admin connection,
    // while the next ones load: with many tables the statistics come for free.
    const analyses: Promise<unknown>[] = [];
    const analyze = (tables: TablePlan[]) => {
      const done = admin.query(`ANALYZE ${tables.map((t) => qualified(schema, t.target)).join(", ")}`);
      done.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
      analyses.push(done);
    };
    if (reloads.length > 0) {
      await admin.query(chunkDigestsSql);
      await reloadTables(options.target, plan, reloads, records, snapshot, fingerprint, progress, sent, workers);
      analyze(reloads);
    }
    // In existing mode the app's foreign keys are live during the load, so
    // tables go one at a time in dependency order; in create mode they are
    // added afterwards and tables load in parallel.
    const jobs = plan.schemaMode === "existing" ? 1 : (options.jobs ?? 2);
    await pool(singles, jobs, async (t) => {
      await loadTable(options.target, plan, t, actions.get(t.target) === "replaced", snapshot!, fingerprint, progress, sent, workers);
      analyze([t]);
    });
    await Promise.all(analyses);
    if (plan.schemaMode === "create") await addForeignKeys(admin, plan, progress);

    const verified = options.verify !== false;
    const verifyStarted = Date.now();
    const kept = ordered.filter((t) => actions.get(t.target) === "bookkeeping");
    const compared = new Map<string, TableReport>();
    for (const t of kept) compared.set(t.target, await compareBookkeeping(options.target, plan, t, snapshot));
    const toVerify = ordered.filter((t) => actions.get(t.target) !== "bookkeeping");
    const verifications = verified ? await verifyTables(options.target, plan, toVerify, snapshot, options.jobs ?? 2, progress, sent) : new Map<string, TableVerification>();
    const verifyMs = verified ? Date.now() - verifyStarted : undefined;
    const tables: TableReport[] = ordered.map((t) => {
      if (compared.has(t.target)) return compared.get(t.target)!;
      const v = verifications.get(t.target);
      const loaded = sent.get(t.target);
      const action = loaded?.sync ? "synced" : actions.get(t.target)!;
      return {
        source: t.source,
        target: t.target,
        sourceRows: v?.sourceRows ?? t.rows,
        targetRows: v?.targetRows ?? t.rows,
        match: v ? v.match : true,
        action: action === "load" ? "loaded" : action,
        differences: v?.differences ?? [],
        ...(v ? { verifiedBy: v.method } : {}),
        ...(loaded?.warnings.length ? { warnings: loaded.warnings } : {}),
        copiedRows: loaded?.rows ?? 0,
        ...(loaded?.refresh ? { refresh: loaded.refresh } : {}),
      };
    });
    return report(options, plan, fingerprint, tables, verified, started, verifyMs, snapshot);
  } finally {
    await readers?.close();
    src.close();
    snapshot?.dispose();
    await admin.end().catch(() => {});
  }
}

/** The snapshot to read from, and the source's fingerprint, hashed on another thread while the snapshot is copied. */
async function snapshotWithFingerprint(src: ReturnType<typeof openSource>, path: string): Promise<{ snapshot: Snapshot; fingerprint: string }> {
  // data_version moves when any other connection commits: if it moved while the
  // file was hashed and copied, the hash may hold writes the snapshot does not,
  // and a later run with that same hash must not keep these tables.
  const version = () => Number(src.pragma("data_version", { simple: true }));
  const before = version();
  const fingerprinting = fingerprintSqlite(path);
  fingerprinting.catch(() => {}); // awaited below; no unhandled rejection while the snapshot is taken
  const snapshot = await takeSnapshot(src);
  try {
    const fingerprint = await fingerprinting;
    return { snapshot, fingerprint: version() === before ? fingerprint : `${fingerprint}:written-during-snapshot` };
  } catch (err) {
    snapshot.dispose();
    throw err;
  }
}

/** Sets each sequence past the copied keys; returns what the app should know (a sequence that has no value left). */
async function resetSequences(client: pg.Client, plan: MigrationPlan, t: TablePlan): Promise<string[]> {
  const schema = plan.targetSchema;
  const candidates = plan.schemaMode === "create" ? t.columns.filter((c) => c.identity) : t.columns.filter((c) => ["bigint", "integer", "smallint"].includes(c.cast.kind));
  const warnings: string[] = [];
  for (const c of candidates) {
    const seq = await client.query<{ s: string | null }>("SELECT pg_get_serial_sequence($1, $2) AS s", [qualified(schema, t.target), c.target]);
    if (!seq.rows[0]?.s) continue;
    const { want, top } = (await client.query<{ want: string; top: string }>(resetSequenceSql(schema, t, c.target))).rows[0]!;
    if (BigInt(want) >= BigInt(top)) {
      warnings.push(
        `column "${c.target}": the highest key (${want}) is the largest value sequence ${seq.rows[0].s} can hand out (${top}); ` +
          "an INSERT that leaves the id to PostgreSQL will fail — insert with explicit ids, or renumber the keys",
      );
    }
  }
  return warnings;
}

async function recordLoad(client: pg.Client, plan: MigrationPlan, t: TablePlan, fingerprint: string, rows: number): Promise<void> {
  await client.query(
    `INSERT INTO pgshift.loads (target_schema, target_table, source_table, source_fingerprint, schema_mode, row_count, identifiers, casts, layout)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (target_schema, target_table) DO UPDATE
       SET source_table = EXCLUDED.source_table, source_fingerprint = EXCLUDED.source_fingerprint,
           schema_mode = EXCLUDED.schema_mode, row_count = EXCLUDED.row_count, loaded_at = now(),
           identifiers = EXCLUDED.identifiers, casts = EXCLUDED.casts, layout = EXCLUDED.layout`,
    [plan.targetSchema, t.target, t.source, fingerprint, plan.schemaMode, rows, plan.identifiers, JSON.stringify(tableCasts(plan, t)), layoutOf(t)],
  );
}

/** The overrides that applied to one table ({ "table.column": "type" }), as recorded in pgshift.loads. */
function tableCasts(plan: MigrationPlan, t: TablePlan): Record<string, string> {
  return Object.fromEntries(Object.entries(plan.casts).filter(([k]) => k.slice(0, k.lastIndexOf(".")) === t.source));
}

/**
 * How the tables were loaded, from pgshift.loads: `pgshift verify` without
 * --identifiers/--schema/--cast compares the way the migration loaded.
 */
async function recordedOptions(url: string, options: MigrationOptions): Promise<MigrationOptions> {
  const client = await session(url);
  try {
    // Read only: verify writes nothing, and a record made by an older pgshift lacks these columns.
    const recorded = await client.query("SELECT 1 FROM information_schema.columns WHERE table_schema = 'pgshift' AND table_name = 'loads' AND column_name IN ('identifiers', 'casts')");
    if (recorded.rowCount !== 2) return options;
    const rows = (
      await client.query<{ source_table: string; schema_mode: SchemaMode; identifiers: IdentifierMode; casts: Record<string, string> }>(
        "SELECT source_table, schema_mode, identifiers, casts FROM pgshift.loads WHERE target_schema = $1",
        [options.targetSchema ?? "public"],
      )
    ).rows;
    const selected = options.tables?.length ? rows.filter((r) => options.tables!.includes(r.source_table)) : rows;
    if (selected.length === 0) return options;
    const one = <T>(values: T[]): T | undefined => (new Set(values).size === 1 ? values[0] : undefined);
    return {
      ...options,
      identifiers: options.identifiers ?? one(selected.map((r) => r.identifiers)),
      schema: options.schema ?? one(selected.map((r) => r.schema_mode)),
      casts: { ...Object.assign({}, ...selected.map((r) => r.casts)), ...(options.casts ?? {}) },
    };
  } finally {
    await client.end().catch(() => {});
  }
}

async function loadTable(
  url: string,
  plan: MigrationPlan,
  t: TablePlan,
  replace: boolean,
  snapshot: Snapshot,
  fingerprint: string,
  progress: (table: string, phase: ProgressEvent["phase"], rows: number, total: number) => void,
  sent: Map<string, Loaded>,
  readers: ReadWorkers | undefined,
): Promise<void> {
  const schema = plan.targetSchema;
  await inTransaction(url, snapshot, async (client, db) => {
    await client.query("SET LOCAL synchronous_commit = off");
    if (plan.schemaMode === "create") {
      if (replace) await client.query(`DROP TABLE ${qualified(schema, t.target)} CASCADE`);
      await client.query(createTableSql(schema, t));
    } else if (replace) {
      await client.query(`TRUNCATE ${qualified(schema, t.target)}`);
    }
    progress(t.target, "copy", 0, t.rows);
    const copied = await copyTable(client, schema, t, tableReader(db, t), (n) => progress(t.target, "copy", n, t.rows), readers?.chunks(t));
    const rows = copied.rows;
    const warnings: string[] = [];
    if (plan.schemaMode === "create") {
      progress(t.target, "indexes", rows, t.rows);
      for (const ddl of afterLoadSql(schema, t)) await runDdl(client, t, ddl, warnings);
    }
    warnings.push(...(await resetSequences(client, plan, t)));
    sent.set(t.target, { ...copied, warnings });
    await recordLoad(client, plan, t, fingerprint, rows);
  });
}

/** COLLATE NOCASE columns become citext (plan.ts): the extension must exist before their tables are created. */
async function ensureCitext(admin: pg.Client, plan: MigrationPlan, actions: Map<string, TableAction | "load">): Promise<void> {
  if (plan.schemaMode !== "create") return;
  const columns = plan.tables
    .filter((t) => ["load", "replaced"].includes(actions.get(t.target)!))
    .flatMap((t) => t.columns.filter((c) => c.cast.pgType === "citext").map((c) => `${t.source}.${c.source}`));
  if (columns.length === 0) return;
  try {
    await admin.query("CREATE EXTENSION IF NOT EXISTS citext");
  } catch (err) {
    throw new LoadError(
      columns[0]!.split(".")[0]!,
      `The COLLATE NOCASE columns ${columns.join(", ")} become citext (case-insensitive text), and creating the citext extension failed: ${(err as Error).message}.\n` +
        "  Nothing was written. Have a superuser run CREATE EXTENSION citext in this database, or keep them case-sensitive with --cast table.column=text.",
      err,
    );
  }
}

/** Runs `work` in one PostgreSQL transaction with its own snapshot reader; rolls back on any error. */
async function inTransaction(url: string, snapshot: Snapshot, work: (client: pg.Client, db: ReturnType<Snapshot["open"]>) => Promise<void>): Promise<void> {
  const client = await session(url);
  const db = snapshot.open();
  try {
    await client.query("BEGIN");
    await work(client, db);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    db.close();
    await client.end().catch(() => {});
  }
}

// SQLSTATE class 42: PostgreSQL could not make sense of the statement (a type
// mismatch in a translated expression), as opposed to data that violates it.
const NOT_UNDERSTOOD = /^42/;

async function runDdl(client: pg.Client, t: TablePlan, ddl: DdlStatement, warnings: string[]): Promise<void> {
  const { sql, translated } = ddl;
  if (translated) await client.query("SAVEPOINT translated");
  try {
    await client.query(sql);
    if (translated) await client.query("RELEASE SAVEPOINT translated");
  } catch (err) {
    const e = err as Error & { detail?: string; code?: string };
    if (translated && NOT_UNDERSTOOD.test(e.code ?? "")) {
      await client.query("ROLLBACK TO SAVEPOINT translated");
      warnings.push(`${translated} was not created: PostgreSQL did not accept the translation (${e.message}); recreate it by hand if the app relies on it`);
      return;
    }
    if (translated && e.code === "23514") {
      throw new LoadError(
        t.source,
        `The translated ${translated} of "${t.target}" refuses rows SQLite holds: ${e.message}${e.detail ? ` (${e.detail})` : ""}\n  statement: ${sql}\n` +
          "  The table's load was rolled back. SQLite skips CHECKs with PRAGMA ignore_check_constraints; fix the rows, and run again.",
        err,
      );
    }
    throw new LoadError(
      t.source,
      `Creating a key or index on "${t.target}" failed: ${e.message}${e.detail ? ` (${e.detail})` : ""}\n  statement: ${sql}\n` +
        "  The table's load was rolled back. SQLite does not always enforce what it declares (e.g. duplicate values in a UNIQUE column with NULLs or mixed types); fix the data and run again.",
      err,
    );
  }
}

/**
 * One transaction for every table to refresh, so the app never sees a
 * half-refreshed database. A table whose columns are unchanged and which has a
 * single integer key is synced (only its differing key ranges copied again,
 * delta.ts); any other is truncated and copied whole.
 */
async function reloadTables(
  url: string,
  plan: MigrationPlan,
  tables: TablePlan[],
  records: Map<string, LoadRecord>,
  snapshot: Snapshot,
  fingerprint: string,
  progress: (table: string, phase: ProgressEvent["phase"], rows: number, total: number) => void,
  sent: Map<string, Loaded>,
  readers: ReadWorkers | undefined,
): Promise<void> {
  const schema = plan.targetSchema;
  await inTransaction(url, snapshot, async (client, db) => {
    const byTarget = (name: string) => tables.find((t) => t.target === name)!;
    const decisions = new Map(tables.map((t) => [t.target, records.get(t.target)?.schema_mode === plan.schemaMode ? deltaDecision(db, t, records.get(t.target)?.layout) : { reason: "the schema mode changed" }]));
    const whole = tables.filter((t) => "reason" in decisions.get(t.target)!);
    const synced = tables.filter((t) => "width" in decisions.get(t.target)!);
    const fkQuery = `SELECT conrelid::regclass::text AS tbl, connamespace::regnamespace::text AS nsp, conname AS name, pg_get_constraintdef(oid) AS def, confupdtype = 'a' AND confdeltype = 'a' AND NOT condeferrable AS deferrable
                       FROM pg_constraint WHERE contype = 'f' AND (conrelid = ANY($1::regclass[]) OR confrelid = ANY($1::regclass[]))`;
    type Fk = { tbl: string; nsp: string; name: string; def: string; deferrable: boolean };
    // Foreign keys touching tables reloaded whole are set aside and restored (and re-validated) before commit.
    const dropped = whole.length ? (await client.query<Fk>(fkQuery, [whole.map((t) => qualified(schema, t.target))])).rows : [];
    const droppedNames = new Set(dropped.map((fk) => `${fk.tbl}.${fk.name}`));
    // Those touching synced tables only are deferred to the end instead, so that
    // a deleted-then-recopied parent row is not refused meanwhile, and only the
    // changed rows are checked. A key with an ON DELETE/UPDATE action would act
    // on the delete at once (actions are never deferred): set aside too.
    const touching = synced.length ? (await client.query<Fk>(fkQuery, [synced.map((t) => qualified(schema, t.target))])).rows.filter((fk) => !droppedNames.has(`${fk.tbl}.${fk.name}`)) : [];
    const deferred = touching.filter((fk) => fk.deferrable);
    dropped.push(...touching.filter((fk) => !fk.deferrable));
    for (const fk of dropped) await client.query(`ALTER TABLE ${fk.tbl} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
    // In create mode pgshift owns the table: one whose columns changed is created again from the plan
    // (its own foreign keys are added from the plan after the commit, by addForeignKeys).
    const recreate = new Set(plan.schemaMode === "create" ? whole.filter((t) => (decisions.get(t.target) as { layoutChanged?: boolean }).layoutChanged).map((t) => t.target) : []);
    for (const target of recreate) {
      await client.query(`DROP TABLE ${qualified(schema, target)}`);
      await client.query(createTableSql(schema, byTarget(target)));
    }
    const restore = dropped.filter((fk) => ![...recreate].some((target) => fk.tbl === qualified(schema, target) || fk.tbl === quoteIdent(target) || fk.tbl === target));
    for (const fk of deferred) await client.query(`ALTER TABLE ${fk.tbl} ALTER CONSTRAINT ${quoteIdent(fk.name)} DEFERRABLE INITIALLY DEFERRED`);
    const truncate = whole.filter((t) => !recreate.has(t.target));
    if (truncate.length) await client.query(`TRUNCATE ${truncate.map((t) => qualified(schema, t.target)).join(", ")}`);
    for (const t of tables) {
      progress(t.target, "copy", 0, t.rows);
      const decision = decisions.get(t.target)!;
      let loaded: Loaded;
      if ("width" in decision) {
        const sync = await syncTable(client, schema, t, db, decision.width, (n) => progress(t.target, "copy", n, t.rows));
        loaded = {
          rows: sync.copiedRows,
          digest: "",
          warnings: [],
          sync,
          refresh: `synced: ${sync.changedRanges} of ${sync.totalRanges} key ranges differed; ${sync.deletedRows} rows deleted, ${sync.copiedRows} copied again`,
        };
      } else {
        const copied = await copyTable(client, schema, t, tableReader(db, t), (n) => progress(t.target, "copy", n, t.rows), readers?.chunks(t));
        loaded = { ...copied, warnings: [], refresh: `reloaded whole: ${decision.reason}` };
        if (recreate.has(t.target)) for (const ddl of afterLoadSql(schema, t)) await runDdl(client, t, ddl, loaded.warnings);
      }
      loaded.warnings.push(...(await resetSequences(client, plan, t)));
      const rows = loaded.sync ? Number((await client.query(`SELECT count(*) AS n FROM ${qualified(schema, t.target)}`)).rows[0].n) : loaded.rows;
      await recordLoad(client, plan, t, fingerprint, rows);
      sent.set(t.target, loaded);
    }
    // The deferred checks run now, on the changed rows only; then the keys are as they were.
    for (const fk of deferred) await client.query(`SET CONSTRAINTS ${fk.nsp}.${quoteIdent(fk.name)} IMMEDIATE`);
    for (const fk of deferred) await client.query(`ALTER TABLE ${fk.tbl} ALTER CONSTRAINT ${quoteIdent(fk.name)} NOT DEFERRABLE INITIALLY IMMEDIATE`);
    for (const fk of restore) await client.query(`ALTER TABLE ${fk.tbl} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.def}`);
  });
}

async function addForeignKeys(
  client: pg.Client,
  plan: MigrationPlan,
  progress: (table: string, phase: ProgressEvent["phase"], rows: number, total: number) => void,
): Promise<void> {
  const schema = plan.targetSchema;
  const present = new Set(
    (
      await client.query<{ name: string }>(
        "SELECT conname AS name FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1 AND contype = 'f'",
        [schema],
      )
    ).rows.map((r) => r.name),
  );
  const migrated = new Map(plan.tables.map((t) => [t.target, t]));
  const todo = plan.tables.flatMap((t) => t.foreignKeys.filter((fk) => !present.has(fk.name) && migrated.has(fk.refTable)).map((fk) => ({ t, fk })));
  if (todo.length === 0) return;
  await client.query("BEGIN");
  try {
    for (const { t, fk } of todo) {
      progress(t.target, "foreign keys", t.rows, t.rows);
      try {
        await client.query(foreignKeySql(schema, t.target, fk));
      } catch (err) {
        const orphans = await client
          .query("ROLLBACK")
          .then(() => client.query(orphanSql(schema, t.target, fk, migrated.get(fk.refTable)!.primaryKey)))
          .then((r) => r.rows as Record<string, unknown>[])
          .catch(() => []);
        throw new LoadError(
          t.source,
          `Foreign key ${t.target}(${fk.columns.join(", ")}) → ${fk.refTable} cannot be created: ${(err as Error).message}.\n` +
            (orphans.length ? `  Rows pointing at nothing: ${orphans.map((o) => describeKey(o)).join("; ")}.\n` : "") +
            "  SQLite does not enforce foreign keys unless PRAGMA foreign_keys is on, so such rows can exist. The data is loaded; " +
            `fix or delete those rows in PostgreSQL (or SQLite, then --refresh) and run again to add the key.`,
          err,
        );
      }
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

function report(
  options: { source: string; target: string },
  plan: MigrationPlan,
  fingerprint: string,
  tables: TableReport[],
  verified: boolean,
  started: number,
  verifyMs: number | undefined,
  snapshot: Snapshot,
): MigrationReport {
  return {
    ok: tables.every((t) => t.match),
    source: options.source,
    target: redact(options.target),
    schemaMode: plan.schemaMode,
    fingerprint,
    tables,
    skipped: plan.skipped,
    verified,
    durationMs: Date.now() - started,
    snapshot: { takenAt: snapshot.takenAt, ms: snapshot.ms, method: snapshot.method },
    ...(verifyMs !== undefined ? { verifyMs } : {}),
  };
}

/**
 * Every row of each table, several tables at a time, each on its own connection
 * and snapshot reader. A table copied in this run is first checked against the
 * digest of what was sent; SQLite is read again only if that does not prove it.
 */
async function verifyTables(
  url: string,
  plan: MigrationPlan,
  tables: TablePlan[],
  snapshot: Snapshot,
  jobs: number,
  progress: (table: string, phase: ProgressEvent["phase"], rows: number, total: number) => void,
  sent: Map<string, Loaded> = new Map(),
): Promise<Map<string, TableVerification>> {
  const results = new Map<string, TableVerification>();
  await pool(tables, jobs, async (t) => {
    const db = snapshot.open();
    const client = await session(url);
    try {
      progress(t.target, "verify", 0, t.rows);
      const copied = sent.get(t.target);
      // The digest proves PostgreSQL holds what was sent; the count proves what was sent is every row of the snapshot.
      const snapshotRows = Number((db.prepare(`SELECT count(*) AS n FROM ${quoteSqlite(t.source)}`).get() as { n: number }).n);
      // A synced table: every key range of PostgreSQL's table against SQLite's digests of the snapshot.
      const proven = copied?.sync
        ? await verifyByRanges(client, plan.targetSchema, t, copied.sync)
        : copied && copied.rows === snapshotRows
          ? await verifyByDigest(client, plan.targetSchema, t, copied)
          : undefined;
      results.set(t.target, proven ?? (await verifyTable(client, plan.targetSchema, t, tableReader(db, t))));
      progress(t.target, "done", t.rows, t.rows);
    } finally {
      db.close();
      await client.end();
    }
  });
  return results;
}

/**
 * A migration tool's bookkeeping table in --schema existing: PostgreSQL's rows
 * stay; how they differ from SQLite's (the app's migrations in PostgreSQL at
 * another revision than the SQLite data was written under) is a warning.
 */
async function compareBookkeeping(url: string, plan: MigrationPlan, t: TablePlan, snapshot: Snapshot): Promise<TableReport> {
  const db = snapshot.open();
  const client = await session(url);
  try {
    const v = await verifyTable(client, plan.targetSchema, t, tableReader(db, t));
    const show = (d: RowDifference) => `${Object.entries(d.key).map(([k, x]) => `${k}=${x}`).join(", ") || "a row"} ${d.problem === "missing in PostgreSQL" ? "only in SQLite" : d.problem === "extra in PostgreSQL" ? "only in PostgreSQL" : "differs"}`;
    const warnings = v.match
      ? []
      : [
          `${t.bookkeeping}'s bookkeeping in PostgreSQL differs from SQLite's (${v.differences.map(show).join("; ")}): ` +
            "PostgreSQL's rows were kept. The app's migrations in PostgreSQL are at another revision than the SQLite data; check that the schema matches the data.",
        ];
    return { source: t.source, target: t.target, sourceRows: v.sourceRows, targetRows: v.targetRows, match: true, action: "bookkeeping", differences: [], ...(warnings.length ? { warnings } : {}) };
  } finally {
    db.close();
    await client.end().catch(() => {});
  }
}

/** `pgshift verify`: compare without copying (the seed guide's --verify-only). */
export async function verifyMigration(given: MigrationOptions & { target: string; jobs?: number; onProgress?: (e: ProgressEvent) => void }): Promise<MigrationReport> {
  const started = Date.now();
  const src = openSource(given.source);
  let snapshot: Snapshot | undefined;
  try {
    const options = { ...given, ...(await recordedOptions(given.target, given)) };
    const plan = await planFrom(src, { ...options, schema: options.schema ?? "create" });
    let fingerprint: string;
    ({ snapshot, fingerprint } = await snapshotWithFingerprint(src, options.source));
    const results: TableReport[] = [];
    const verifyStarted = Date.now();
    const admin = await session(options.target);
    const present = new Set(
      (await admin.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = $1", [plan.targetSchema])).rows.map((r) => r.tablename),
    );
    await admin.end();
    for (const t of plan.tables.filter((x) => !present.has(x.target))) {
      results.push({ source: t.source, target: t.target, sourceRows: t.rows, targetRows: 0, match: false, action: "kept", differences: [{ key: {}, problem: "missing in PostgreSQL" }] });
    }
    const progress = (table: string, phase: ProgressEvent["phase"], rows: number, total: number) => options.onProgress?.({ table, phase, rows, total });
    for (const t of plan.tables.filter((x) => x.bookkeeping && present.has(x.target))) results.push(await compareBookkeeping(options.target, plan, t, snapshot));
    const verifications = await verifyTables(options.target, plan, plan.tables.filter((x) => !x.bookkeeping && present.has(x.target)), snapshot, options.jobs ?? 2, progress);
    for (const { method, ...v } of verifications.values()) results.push({ ...v, action: "kept", verifiedBy: method });
    const order = new Map(plan.loadOrder.map((n, i) => [n, i]));
    results.sort((a, b) => (order.get(a.target) ?? 0) - (order.get(b.target) ?? 0));
    return report(options, plan, fingerprint, results, true, started, Date.now() - verifyStarted, snapshot);
  } finally {
    src.close();
    snapshot?.dispose();
  }
}

// Sync-back: PostgreSQL → SQLite, the copy a rollback needs. After a cutover
// the app writes to PostgreSQL; rolling back to SQLite without copying those
// writes loses them. At cutover PostgreSQL was verified equal to the SQLite
// file, so the rows that differ between the two now are exactly what was
// inserted, updated or deleted in PostgreSQL since: no change log is needed.
// Both sides are merged in key order (compare.ts keyedDifferences, the
// comparison verification makes), and only the differing rows — only their
// differing columns — are written into SQLite, in the form the app's SQLite
// column holds its values (sqlite/forms.ts), in one SQLite transaction.
//
// Nothing is written unless every value can go back exactly: each written row
// is read back through the load's own converters and must compare equal to
// PostgreSQL's, inside the transaction, before anything is committed. The plan
// (planSyncBack) does all of it on a copy of the file and rolls back, so a
// rollback can be refused before the app is stopped.
//
// The steps, each in a module of this folder: checks.ts (what must hold before
// anything is compared), differences.ts (the differing rows, and the comparison
// again after writing), writes.ts (the values in the file's forms, written in
// foreign-key order), records.ts (pgshift.loads brought up to date after the
// commit); refusal.ts names every value that cannot go back.
import Database from "better-sqlite3";
import { dirname } from "node:path";
import { UsageError, VerificationError, describeKey } from "../errors";
import { fingerprintSqlite } from "../sqlite/fingerprint";
import { qualified } from "../identifiers";
import { session } from "../postgres/connection";
import { DEFAULTS } from "../options";
import { recordedLoadOptions } from "../postgres/catalog";
import { openSource, planFrom, type TablePlan } from "../plan";
import { backupSqlite } from "../sqlite/backup";
import { takeSnapshot } from "../sqlite/snapshot";
import { SyncBackRefusal, type SyncBackProblem } from "./refusal";
import { checkColumns, checkNullKeys, checkPostgresOnlyTables, loadOptions } from "./checks";
import { compareTable, verifyWritten, type TableWork } from "./differences";
import { apply, prepareWrites, sequenceBumps } from "./writes";
import { updateRecords } from "./records";

export { SyncBackRefusal, type SyncBackProblem } from "./refusal";

export interface SyncBackOptions {
  /** PostgreSQL URL (a role that may read the tables and pgshift.loads; writing back also locks the tables and updates pgshift.loads) */
  from: string;
  /** SQLite file path */
  to: string;
  /** source (SQLite) table names; default: every table pgshift loaded */
  tables?: string[];
  /** where the backup goes; default: beside the file */
  backupDir?: string;
  onProgress?: (line: string) => void;
}

export interface SyncBackTable {
  source: string;
  target: string;
  inserted: number;
  updated: number;
  deleted: number;
  sourceRows: number;
  targetRows: number;
  match: boolean;
}

export interface SyncBackReport {
  ok: boolean;
  tables: SyncBackTable[];
  backupFile: string | null;
  rowsChanged: number;
  /** sqlite_sequence raised to PostgreSQL's sequence, so the app's next id is not one PostgreSQL handed out */
  sequences: { table: string; from: string | null; to: string }[];
  /** tables of the file not synced back, and why */
  skipped: { table: string; reason: string }[];
  /** per column written, the form its values were written in and why */
  forms: { table: string; column: string; form: string; why: string }[];
  durationMs: number;
}

/** What a sync-back would write; the rows were written to a copy of the file and read back, then rolled back. */
export interface SyncBackPlan extends Omit<SyncBackReport, "backupFile"> {
  /** PostgreSQL's rows that differ from SQLite's: inserted, updated or deleted since the cutover */
  backupFile: null;
}

/** Reads only: what syncBack would write, after writing it to a copy of the file and reading it back. Throws SyncBackRefusal naming every value that cannot go back. */
export async function planSyncBack(opts: SyncBackOptions): Promise<SyncBackPlan> {
  const report = await run(opts, false);
  return { ...report, backupFile: null };
}

/** Backs the file up, writes PostgreSQL's differing rows into it in one transaction, verifies both sides equal, commits. Throws (nothing written) on any refusal. */
export async function syncBack(opts: SyncBackOptions): Promise<SyncBackReport> {
  return run(opts, true);
}

async function run(opts: SyncBackOptions, write: boolean): Promise<SyncBackReport> {
  const started = Date.now();
  // Each progress line says how long the step before it took: a rollback's downtime is spent here.
  let lastLine = Date.now();
  const say = (line: string) => {
    const now = Date.now();
    opts.onProgress?.(`${line} (+${((now - lastLine) / 1000).toFixed(1)}s)`);
    lastLine = now;
  };
  if (!opts.from) throw new UsageError("sync-back needs the PostgreSQL URL to copy from (--from).");
  const schema = DEFAULTS.targetSchema;
  // The file's path is checked (and the file opened read-only) before PostgreSQL is asked anything.
  const source = openSource(opts.to);
  const client = await session(opts.from);
  let db: Database.Database | undefined;
  let dispose = () => {};
  let pgOpen = false;
  // The fingerprint reads the file through descriptors of its own; closing one drops every POSIX lock this
  // process holds on the file, SQLite's write lock included, so they stay open until the connection is closed.
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  try {
    const recorded = await recordedLoadOptions(client, schema);
    if (recorded.length === 0) {
      throw new UsageError(
        `PostgreSQL at this URL holds no record of a pgshift load in schema "${schema}" (pgshift.loads): sync-back copies back tables pgshift loaded from ${opts.to}. Check --from (the database the app was cut over to).`,
      );
    }
    const options = loadOptions(recorded, opts.tables);
    // The file the rows are compared with and written into: the file itself under SQLite's write lock, or for a plan a copy.
    if (write) {
      source.close();
      db = new Database(opts.to, { fileMustExist: true, timeout: 5000 });
    } else {
      const snapshot = await takeSnapshot(source);
      source.close();
      dispose = () => snapshot.dispose();
      db = new Database(snapshot.path, { fileMustExist: true });
    }
    // SQLite's foreign-key actions must not fire: PostgreSQL already applied them, and their results are among the rows copied back.
    db.pragma("foreign_keys = OFF");
    try {
      db.exec("BEGIN IMMEDIATE");
    } catch (err) {
      throw new UsageError(
        `${opts.to} is being written by another connection (${(err as Error).message}): stop the app's writers to SQLite, then run sync-back again.`,
      );
    }
    const dataVersion = Number(db.pragma("data_version", { simple: true }));
    const plan = await planFrom(db, { source: opts.to, target: opts.from, ...options });
    const loaded = new Set(recorded.map((r) => r.source_table));
    const skipped: SyncBackReport["skipped"] = [];
    const tables: TablePlan[] = [];
    for (const name of plan.loadOrder) {
      const t = plan.tables.find((x) => x.target === name)!;
      if (!loaded.has(t.source)) skipped.push({ table: t.source, reason: "not loaded by pgshift (no pgshift.loads record)" });
      else if (t.bookkeeping)
        skipped.push({ table: t.source, reason: `${t.bookkeeping}'s migration bookkeeping: PostgreSQL's rows describe PostgreSQL's schema, not the file's` });
      else tables.push(t);
    }

    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ" + (write ? "" : " READ ONLY"));
    pgOpen = true;
    if (write && tables.length) {
      // The app's writes to PostgreSQL wait until the rows are back in SQLite: none lands in between.
      await client.query("SET LOCAL lock_timeout = '60s'");
      try {
        await client.query(`LOCK TABLE ${tables.map((t) => qualified(schema, t.target)).join(", ")} IN SHARE MODE`);
      } catch (err) {
        throw new UsageError(
          `PostgreSQL's tables could not be locked against writers within 60 s (${(err as Error).message}): a transaction is still writing or holding them. Stop the app's writers to PostgreSQL, then run sync-back again. Nothing was written.`,
        );
      }
    }

    const work: TableWork[] = [];
    const problems: SyncBackProblem[] = [];
    const formsUsed: SyncBackReport["forms"] = [];
    await checkColumns(client, schema, tables, problems);
    await checkNullKeys(client, schema, tables, problems);
    // With --tables the person chose what goes back; otherwise every table PostgreSQL holds must have a place in the file.
    if (!opts.tables?.length)
      await checkPostgresOnlyTables(client, schema, new Set([...plan.tables.map((t) => t.target), ...recorded.map((r) => r.target_table)]), problems, skipped);
    if (problems.length) throw new SyncBackRefusal(problems);
    for (const t of tables) {
      say(`${t.source}: comparing with PostgreSQL's "${t.target}"`);
      const w = await compareTable(client, schema, db, t, problems, say);
      work.push(w);
      const changes = w.diffs.length;
      say(`${t.source}: ${changes} rows differ (${w.counts.sourceRows} in SQLite, ${w.counts.targetRows} in PostgreSQL)`);
      if (changes) prepareWrites(db, w, problems, formsUsed);
    }
    if (problems.length) throw new SyncBackRefusal(problems);
    const sequences = await sequenceBumps(client, schema, db, tables);
    const rowsChanged = work.reduce((n, w) => n + w.inserts.length + w.updates.length + w.deletes.length, 0);

    let backupFile: string | null = null;
    if (write && (rowsChanged > 0 || sequences.length > 0)) {
      // Under SQLite's write lock (no one else can commit), from a second connection: the file as it is now.
      say(`backing up ${opts.to}`);
      backupFile = await backupSqlite(opts.to, opts.backupDir ?? dirname(opts.to));
      if (Number(db.pragma("data_version", { simple: true })) !== dataVersion)
        throw new UsageError(`${opts.to} changed while it was compared: stop the app's writers to SQLite, then run sync-back again. Nothing was written.`);
      say(`backup: ${backupFile}`);
    }

    const fingerprintBefore = write && rowsChanged + sequences.length > 0 ? await fingerprintSqlite(opts.to, released) : undefined;
    say(`writing ${rowsChanged} rows`);
    apply(db, work, sequences, problems);
    if (problems.length) throw new SyncBackRefusal(problems);
    say("written; comparing both sides again");

    // Both sides compared again inside both transactions (verifyWritten), before SQLite commits.
    const results: SyncBackTable[] = [];
    const mismatches: SyncBackProblem[] = [];
    for (const w of work) {
      const { t } = w;
      if (w.diffs.length) say(`${t.source}: ${w.inserts.length} inserted, ${w.updates.length} updated, ${w.deletes.length} deleted; verifying`);
      const v = await verifyWritten(client, schema, db, w);
      for (const d of v.differences) {
        const column = d.columns?.[0];
        mismatches.push({
          table: t.source,
          key: d.key,
          ...(column ? { column: column.column, value: column.target } : {}),
          reason: column ? `written back, SQLite's value reads as ${column.source} where PostgreSQL holds ${column.target}` : `${d.problem} after writing`,
        });
      }
      results.push({
        source: t.source,
        target: t.target,
        inserted: w.inserts.length,
        updated: w.updates.length,
        deleted: w.deletes.length,
        sourceRows: v.sourceRows,
        targetRows: v.targetRows,
        match: v.match,
      });
    }
    if (mismatches.length) {
      // In a plan this is a value that cannot go back; written for real, something changed the rows meanwhile (a trigger?).
      if (!write) throw new SyncBackRefusal(mismatches);
      throw new VerificationError(
        `After writing PostgreSQL's rows into ${opts.to}, the two sides still differ; the SQLite transaction was rolled back and nothing was written.\n` +
          mismatches
            .slice(0, 10)
            .map((p) => `  table "${p.table}", row ${describeKey(p.key)}${p.column ? `, column "${p.column}"` : ""}: ${p.reason}`)
            .join("\n") +
          "\n  A SQLite trigger on these tables may have changed the rows; run `pgshift sync-back --dry-run` to see what would be written.",
      );
    }

    if (write) {
      try {
        db.exec("COMMIT");
      } catch (err) {
        // Rolled back in the finally below: a reader kept the file from being written (rollback-journal mode).
        throw new UsageError(
          `${opts.to} could not be committed (${(err as Error).message}): another connection kept reading it. Stop the app, then run sync-back again. Nothing was written.`,
        );
      }
      if (fingerprintBefore)
        await updateRecords(
          client,
          schema,
          db,
          opts.to,
          released,
          work.filter((w) => w.diffs.length > 0).map((w) => w.t),
          fingerprintBefore,
        );
      await client.query("COMMIT");
      pgOpen = false;
    }
    say(write ? `synced back: ${rowsChanged} rows changed` : `dry run: ${rowsChanged} rows would change`);
    return { ok: true, tables: results, backupFile, rowsChanged, sequences, skipped, forms: formsUsed, durationMs: Date.now() - started };
  } finally {
    if (db?.open) {
      if (db.inTransaction) db.exec("ROLLBACK");
      db.close();
    }
    if (source.open) source.close();
    release();
    dispose();
    if (pgOpen) await client.query("ROLLBACK").catch(() => {});
    await client.end().catch(() => {});
  }
}

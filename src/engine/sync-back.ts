// Sync-back: PostgreSQL → SQLite, the copy a rollback needs. After a cutover
// the app writes to PostgreSQL; rolling back to SQLite without copying those
// writes loses them. At cutover PostgreSQL was verified equal to the SQLite
// file, so the rows that differ between the two now are exactly what was
// inserted, updated or deleted in PostgreSQL since: no change log is needed.
// Both sides are merged in key order (verify.ts keyedDifferences, the
// comparison verification makes), and only the differing rows — only their
// differing columns — are written into SQLite, in the form the app's SQLite
// column holds its values (sqlite-forms.ts), in one SQLite transaction.
//
// Nothing is written unless every value can go back exactly: each written row
// is read back through the load's own converters and must compare equal to
// PostgreSQL's, inside the transaction, before anything is committed. The plan
// (planSyncBack) does all of it on a copy of the file and rolls back, so a
// rollback can be refused before the app is stopped.
import Database from "better-sqlite3";
import { dirname } from "node:path";
import type pg from "pg";
import { unescapeCopy, Reject } from "./types/convert";
import { PgshiftError, UsageError, VerificationError, describeKey, truncateValue, EXIT_BAD_INPUT } from "./errors";
import { fingerprintSqlite } from "./sqlite/fingerprint";
import { qualified, quoteIdent, quoteSqlite } from "./identifiers";
import { session } from "./postgres/connection";
import { DEFAULTS } from "./options";
import { recordedLoadOptions, recordedRanges, serialSequence, type RecordedOptions } from "./postgres/catalog";
import { openSource, planFrom, type ColumnPlan, type MigrationPlan, type TablePlan } from "./plan";
import { MAX_WRITER_AGE, changedSinceRecord, deltaKeyColumn, keyRanges } from "./delta";
import { tableWriters, writerCounts } from "./delta-sync";
import { parseDigests, rangeDigestsExtension, serializeDigests, sqliteRangeDigests, type RawDigests } from "./sqlite/range-digests";
import { backupSqlite } from "./sqlite/backup";
import { chooseForm, describeFamily, readColumnForms, resolveJsonPlain, sqliteValue, type ColumnForms } from "./sqlite/forms";
import { tableReader, takeSnapshot, type KeyRanges } from "./sqlite/source";
import { keyedDifferences, verifyTable, type KeyedDifference, type RowDifference } from "./compare";

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

export interface SyncBackProblem {
  table: string;
  key?: Record<string, unknown>;
  column?: string;
  value?: unknown;
  reason: string;
}

/** A value or row that cannot go back into SQLite in its original form; nothing was written. */
export class SyncBackRefusal extends PgshiftError {
  override readonly exitCode = EXIT_BAD_INPUT;
  readonly table: string;
  readonly key?: Record<string, unknown>;
  readonly column?: string;
  constructor(readonly problems: SyncBackProblem[]) {
    super(
      `Cannot copy PostgreSQL's rows back into SQLite: ${problems.length === 1 ? "a value" : `${problems.length} values`} cannot go back in the form the app's SQLite column holds. Nothing was written.\n` +
        problems
          .slice(0, 10)
          .map(
            (p) =>
              `  table "${p.table}"${p.key ? `, row ${describeKey(p.key)}` : ""}${p.column ? `, column "${p.column}"` : ""}: ${p.reason}${p.value !== undefined ? `\n    value: ${truncateValue(p.value)}` : ""}`,
          )
          .join("\n") +
        (problems.length > 10 ? `\n  … and ${problems.length - 10} more` : "") +
        "\n  Change those rows in PostgreSQL so they fit the SQLite file, then run sync-back again; or keep the app on PostgreSQL" +
        " (through Pulumi, rollback.discardPostgresWrites rolls back without copying, leaving PostgreSQL's writes behind).",
    );
    this.table = problems[0]!.table;
    if (problems[0]!.key) this.key = problems[0]!.key;
    if (problems[0]!.column) this.column = problems[0]!.column;
  }
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

interface TableWork {
  t: TablePlan;
  diffs: KeyedDifference[];
  counts: { sourceRows: number; targetRows: number };
  inserts: unknown[][];
  updates: { key: unknown[]; columns: number[]; values: unknown[]; described: Record<string, unknown> }[];
  deletes: { key: unknown[]; described: Record<string, unknown> }[];
  /** compared only in these key ranges (the rest proven level by the record) */
  only?: { column: string; ranges: KeyRanges };
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

/**
 * Both sides compared again after writing: the ranges compared before (the
 * rest was proven level by the record, under both locks) and the row counts,
 * or the whole table.
 */
async function verifyWritten(
  client: pg.Client,
  schema: string,
  db: Database.Database,
  w: TableWork,
): Promise<{ match: boolean; sourceRows: number; targetRows: number; differences: RowDifference[] }> {
  const { t, only } = w;
  if (!only) return verifyTable(client, schema, t, tableReader(db, t));
  const sourceRows = Number(
    db
      .prepare(`SELECT count(*) FROM ${quoteSqlite(t.source)}`)
      .pluck()
      .get(),
  );
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

/**
 * Tables that exist only in PostgreSQL (created after the cutover, by the
 * app's newer migrations or by hand) have no table in the SQLite file to go
 * back to: one holding rows refuses, since rolling back would leave them
 * behind; an empty one loses nothing and is listed as skipped.
 */
async function checkPostgresOnlyTables(
  client: pg.Client,
  schema: string,
  known: Set<string>,
  problems: SyncBackProblem[],
  skipped: SyncBackReport["skipped"],
): Promise<void> {
  const present = (
    await client.query<{ name: string; readable: boolean; reader: string }>(
      "SELECT c.relname AS name, pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable, CURRENT_USER AS reader" +
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace" +
        " WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog.\"char\"[]) AND NOT c.relispartition ORDER BY c.relname",
      [schema],
    )
  ).rows;
  for (const { name, readable, reader } of present) {
    if (known.has(name)) continue;
    if (!readable) {
      // Not knowing whether it holds rows is not the same as knowing it is empty.
      problems.push({
        table: name,
        reason: `PostgreSQL's table "${schema}.${name}" has no table in the SQLite file, and role "${reader}" may not read it, so pgshift cannot tell whether rolling back would leave rows behind. If it is not the app's, move it out of schema "${schema}" (ALTER TABLE … SET SCHEMA) or drop it; otherwise GRANT SELECT on it to "${reader}"`,
      });
      continue;
    }
    const used = (await client.query<{ x: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${qualified(schema, name)}) AS x`)).rows[0]!.x;
    if (used) {
      problems.push({
        table: name,
        reason: `PostgreSQL's table "${schema}.${name}" has no table in the SQLite file (created after the cutover?) and holds rows: rolling back would leave them behind. Create the table in the SQLite file (the app's migrations for SQLite) so pgshift can copy it back, or move its rows elsewhere`,
      });
    } else {
      skipped.push({ table: name, reason: `exists only in PostgreSQL ("${schema}.${name}") and is empty: nothing to copy back` });
    }
  }
}

/**
 * PostgreSQL's tables must still have the columns they were loaded with, and
 * a column added there since (the app's newer migrations) must hold no value:
 * SQLite has nowhere to keep it.
 */
async function checkColumns(client: pg.Client, schema: string, tables: TablePlan[], problems: SyncBackProblem[]): Promise<void> {
  for (const t of tables) {
    const present = new Set(
      (
        await client.query<{ name: string }>("SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped", [
          qualified(schema, t.target),
        ])
      ).rows.map((r) => r.name),
    );
    const planned = new Set(t.columns.map((c) => c.target));
    for (const c of t.columns) {
      if (!present.has(c.target))
        problems.push({
          table: t.source,
          column: c.source,
          reason: `PostgreSQL's table "${t.target}" has no column "${c.target}" any more (dropped after the cutover?), so its values cannot be compared or copied back`,
        });
    }
    for (const name of present) {
      if (planned.has(name)) continue;
      const used = (
        await client.query<{ x: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${qualified(schema, t.target)} WHERE ${quoteIdent(name)} IS NOT NULL) AS x`)
      ).rows[0]!.x;
      if (used)
        problems.push({
          table: t.source,
          reason: `PostgreSQL's table "${t.target}" has a column "${name}" that the SQLite table lacks (added after the cutover?), and rows hold values in it: SQLite has nowhere to keep them`,
        });
    }
  }
}

/** How the tables were loaded (pgshift.loads): the plan must match the load's, or values compare differently. */
function loadOptions(
  recorded: RecordedOptions[],
  tables: string[] | undefined,
): { schema: MigrationPlan["schemaMode"]; identifiers: MigrationPlan["identifiers"]; casts: Record<string, string>; tables: string[] } {
  const known = new Set(recorded.map((r) => r.source_table));
  for (const name of tables ?? []) {
    if (!known.has(name)) throw new UsageError(`--tables names "${name}", which pgshift did not load into this database. Loaded: ${[...known].join(", ")}`);
  }
  const selected = tables?.length ? recorded.filter((r) => tables.includes(r.source_table)) : recorded;
  const one = <T>(values: T[], what: string): T => {
    const set = new Set(values);
    if (set.size !== 1)
      throw new UsageError(`The tables were loaded with different ${what} (${[...set].join(", ")}); sync them back separately with --tables.`);
    return values[0]!;
  };
  return {
    schema: one(
      selected.map((r) => r.schema_mode),
      "schema modes",
    ),
    identifiers: one(
      selected.map((r) => r.identifiers),
      "identifier modes",
    ),
    casts: Object.assign({}, ...selected.map((r) => r.casts)),
    tables: tables?.length ? tables : selected.map((r) => r.source_table),
  };
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
async function compareTable(
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
    counts.sourceRows = Number(
      db
        .prepare(`SELECT count(*) FROM ${quoteSqlite(t.source)}`)
        .pluck()
        .get(),
    );
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

/** A key as SQLite values: integers as bigints, text as text (keys are integer or text columns: verify.ts keyOrder). */
function keyValues(t: TablePlan, row: string[]): unknown[] {
  return t.sourceKey.map((k) => {
    const i = t.columns.findIndex((c) => c.source === k);
    const v = unescapeCopy(row[i]!);
    return v !== null && COLUMN_IS_INTEGER(t.columns[i]!) ? BigInt(v) : v;
  });
}

const COLUMN_IS_INTEGER = (c: ColumnPlan) => ["bigint", "integer", "smallint"].includes(c.cast.kind);

/** The values to write for every differing row, each in its column's form; a value that cannot be written so is a problem. */
function prepareWrites(db: Database.Database, w: TableWork, problems: SyncBackProblem[], formsUsed: SyncBackReport["forms"]): void {
  const { t } = w;
  const forms = new Map<number, ColumnForms>();
  const formsOf = (i: number) => {
    let f = forms.get(i);
    if (!f) forms.set(i, (f = readColumnForms(db, t, t.columns[i]!)));
    return f;
  };
  const noted = new Set<string>();
  const where = t.sourceKey.map((k) => `${quoteSqlite(k)} = ?`).join(" AND ");
  const oldRow = db
    .prepare(`SELECT ${t.columns.map((c) => quoteSqlite(c.source)).join(", ")} FROM ${quoteSqlite(t.source)} WHERE ${where}`)
    .raw(true)
    .safeIntegers(true);
  const convert = (i: number, field: string, old: unknown, key: Record<string, unknown>): unknown => {
    const c = t.columns[i]!;
    const value = unescapeCopy(field);
    if (value === null) return null;
    const f = formsOf(i);
    const chosen = resolveJsonPlain(f, chooseForm(f, old));
    const form = describeFamily(chosen.family, chosen.fraction);
    if (!noted.has(`${c.source}\u0000${form}`)) {
      noted.add(`${c.source}\u0000${form}`);
      formsUsed.push({
        table: t.source,
        column: c.source,
        form,
        why: chosen.why + (f.families.size > 1 ? ` (the column holds ${f.families.size} forms)` : ""),
      });
    }
    try {
      return sqliteValue(c, chosen, value);
    } catch (err) {
      if (!(err instanceof Reject)) throw err;
      problems.push({ table: t.source, key, column: c.source, value, reason: `${err.reason}; the column's values are ${form}` });
      return undefined;
    }
  };
  for (const d of w.diffs) {
    if (d.problem === "missing in PostgreSQL") {
      w.deletes.push({ key: keyValues(t, d.source!), described: d.key });
    } else if (d.problem === "extra in PostgreSQL") {
      w.inserts.push(d.target!.map((field, i) => convert(i, field, undefined, d.key)));
    } else {
      const key = keyValues(t, d.source!);
      const old = oldRow.get(...key) as unknown[] | undefined;
      if (!old) {
        problems.push({ table: t.source, key: d.key, reason: "the row's key does not find it in SQLite (a key stored in another type than its column's?)" });
        continue;
      }
      const columns = d.columns!;
      w.updates.push({ key, columns, values: columns.map((i) => convert(i, d.target![i]!, old[i], d.key)), described: d.key });
    }
  }
}

interface SequenceBump {
  table: string;
  from: string | null;
  to: string;
}

/**
 * AUTOINCREMENT tables: sqlite_sequence raised to the last id PostgreSQL's
 * sequence handed out, so the app never hands out an id PostgreSQL already
 * used (rows inserted there and deleted again included).
 */
async function sequenceBumps(client: pg.Client, schema: string, db: Database.Database, tables: TablePlan[]): Promise<SequenceBump[]> {
  const bumps: SequenceBump[] = [];
  for (const t of tables) {
    const key = deltaKeyColumn(t);
    if (!t.autoincrement || !key) continue;
    const seq = await serialSequence(client, schema, t.target, key.target);
    if (!seq) continue;
    // The sequence's name is bound, never pasted: NULL until it has handed out a value.
    const r = (await client.query<{ last: string | null }>("SELECT pg_sequence_last_value($1::regclass)::text AS last", [seq])).rows[0];
    if (!r || r.last === null) continue;
    const current = db.prepare("SELECT CAST(seq AS TEXT) FROM sqlite_sequence WHERE name = ?").pluck().get(t.source) as string | undefined;
    if (current !== undefined && BigInt(current) >= BigInt(r.last)) continue;
    bumps.push({ table: t.source, from: current ?? null, to: r.last });
  }
  return bumps;
}

/**
 * The writes, in an order foreign keys hold in: rows updated first, then
 * deleted from referencing tables before referenced ones, then inserted into
 * referenced tables first. A write refused for a UNIQUE constraint is tried
 * again once the others are done (two rows swapping a unique value); any other
 * refusal (CHECK, NOT NULL) is a problem naming the row.
 */
function apply(db: Database.Database, work: TableWork[], sequences: SequenceBump[], problems: SyncBackProblem[]): void {
  const violationsBefore = foreignKeyViolations(db, work);
  type Step = { table: string; key: Record<string, unknown>; run: () => void };
  const steps: Step[] = [];
  // One statement per set of columns updated, prepared once.
  const statements = new Map<string, Database.Statement>();
  const prepared = (sql: string) => {
    let stmt = statements.get(sql);
    if (!stmt) statements.set(sql, (stmt = db.prepare(sql)));
    return stmt;
  };
  for (const w of work) {
    const { t } = w;
    const where = t.sourceKey.map((k) => `${quoteSqlite(k)} = ?`).join(" AND ");
    for (const u of w.updates) {
      const sql = `UPDATE ${quoteSqlite(t.source)} SET ${u.columns.map((i) => `${quoteSqlite(t.columns[i]!.source)} = ?`).join(", ")} WHERE ${where}`;
      steps.push({ table: t.source, key: u.described, run: () => void prepared(sql).run(...u.values, ...u.key) });
    }
  }
  for (const w of [...work].reverse()) {
    const del = w.deletes.length
      ? db.prepare(`DELETE FROM ${quoteSqlite(w.t.source)} WHERE ${w.t.sourceKey.map((k) => `${quoteSqlite(k)} = ?`).join(" AND ")}`)
      : undefined;
    for (const d of w.deletes) steps.push({ table: w.t.source, key: d.described, run: () => void del!.run(...d.key) });
  }
  for (const w of work) {
    const { t } = w;
    const ins = w.inserts.length
      ? db.prepare(
          `INSERT INTO ${quoteSqlite(t.source)} (${t.columns.map((c) => quoteSqlite(c.source)).join(", ")}) VALUES (${t.columns.map(() => "?").join(", ")})`,
        )
      : undefined;
    for (const values of w.inserts) {
      const key = Object.fromEntries(t.sourceKey.map((k) => [k, values[t.columns.findIndex((c) => c.source === k)]]));
      steps.push({ table: t.source, key, run: () => void ins!.run(...values) });
    }
  }
  let pending = steps;
  for (;;) {
    const retry: Step[] = [];
    const failed: { step: Step; err: Error & { code?: string } }[] = [];
    for (const step of pending) {
      try {
        step.run();
      } catch (err) {
        const e = err as Error & { code?: string };
        if (!String(e.code).startsWith("SQLITE_CONSTRAINT")) throw err;
        if (e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY") retry.push(step);
        failed.push({ step, err: e });
      }
    }
    for (const f of failed.filter((x) => !retry.includes(x.step))) problems.push(constraintProblem(f.step.table, f.step.key, f.err));
    if (retry.length === 0) break;
    if (retry.length === pending.length || problems.length) {
      for (const f of failed.filter((x) => retry.includes(x.step))) problems.push(constraintProblem(f.step.table, f.step.key, f.err));
      break;
    }
    pending = retry;
  }
  if (problems.length) return;
  for (const s of sequences) {
    const n = db.prepare("UPDATE sqlite_sequence SET seq = CAST(? AS INTEGER) WHERE name = ?").run(s.to, s.table).changes;
    if (n === 0) db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES (?, CAST(? AS INTEGER))").run(s.table, s.to);
  }
  for (const v of foreignKeyViolations(db, work)) {
    if (violationsBefore.has(v)) continue;
    const [table, rowid, parent] = v.split("\u0000");
    problems.push({ table: table!, key: { rowid }, reason: `after writing, this row refers to a row of "${parent}" that SQLite does not have (foreign key)` });
  }
}

function constraintProblem(table: string, key: Record<string, unknown>, err: Error): SyncBackProblem {
  const notNull = /NOT NULL constraint failed: [^.]+\.(.+)$/.exec(err.message);
  return {
    table,
    key,
    ...(notNull ? { column: notNull[1]! } : {}),
    reason: `SQLite refuses the row: ${err.message}${/CHECK/.test(err.message) ? " (the SQLite table's CHECK constraint, which PostgreSQL did not enforce)" : ""}`,
  };
}

/**
 * SQLite's foreign key violations where a write can make one: in the tables
 * written, and in the tables referring to them. As "table\0rowid\0parent".
 */
function foreignKeyViolations(db: Database.Database, work: TableWork[]): Set<string> {
  const out = new Set<string>();
  const written = new Set(work.filter((w) => w.diffs.length).map((w) => w.t.source.toLowerCase()));
  if (written.size === 0) return out;
  const tables = db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL%'")
    .pluck()
    .all() as string[];
  const refersTo = db.prepare(`SELECT "table" FROM pragma_foreign_key_list(?)`).pluck();
  const check = db.prepare("SELECT * FROM pragma_foreign_key_check(?)");
  for (const table of tables) {
    const relevant = written.has(table.toLowerCase()) || (refersTo.all(table) as string[]).some((parent) => written.has(parent.toLowerCase()));
    if (!relevant) continue;
    for (const row of check.all(table) as { table: string; rowid: number | null; parent: string }[])
      out.add(`${row.table}\u0000${row.rowid}\u0000${row.parent}`);
  }
  return out;
}

/**
 * After the commit, pgshift.loads says what is now true: the file's rows are
 * PostgreSQL's. Its range digests are the file's, the transactions that wrote
 * PostgreSQL's rows count as pgshift's (so the next refresh finds both sides
 * level without copying a row), and records that named the file before the
 * write name the file as it is now.
 */
async function updateRecords(
  client: pg.Client,
  schema: string,
  db: Database.Database,
  file: string,
  released: Promise<void>,
  written: TablePlan[],
  fingerprintBefore: string,
): Promise<void> {
  const extension = rangeDigestsExtension();
  for (const t of written) {
    const key = deltaKeyColumn(t);
    const rows = Number(
      db
        .prepare(`SELECT count(*) FROM ${quoteSqlite(t.source)}`)
        .pluck()
        .get(),
    );
    const path = "path" in extension ? extension.path : undefined;
    const recorded = key && path ? await recordedRanges(client, schema, t.target) : undefined;
    const writers = recorded ? await tableWriters(client, schema, t) : undefined;
    if (key && path && recorded && writers) {
      const digests = serializeDigests(sqliteRangeDigests(db, t, key.source, recorded.width, path));
      await client.query(
        "UPDATE pgshift.loads SET row_count = $3, range_digests = $4, writer_xids = $5::xid8[] WHERE target_schema = $1 AND target_table = $2",
        [schema, t.target, rows, digests, writers],
      );
    } else {
      // Too many writers to list (or nothing recorded): the next refresh compares contents.
      await client.query(
        "UPDATE pgshift.loads SET row_count = $3, range_width = NULL, range_digests = NULL, writer_xids = NULL WHERE target_schema = $1 AND target_table = $2",
        [schema, t.target, rows],
      );
    }
  }
  const after = await fingerprintSqlite(file, released);
  await client.query("UPDATE pgshift.loads SET source_fingerprint = $3 WHERE target_schema = $1 AND source_fingerprint = $2", [
    schema,
    fingerprintBefore,
    after,
  ]);
}

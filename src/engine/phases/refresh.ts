// Phase 2 for a refresh (`migrate --refresh`, a cutover's final sync): every
// table pgshift loaded earlier from an older version of the SQLite file is
// brought level in ONE transaction, so the app never sees a half-refreshed
// database. Its named steps, in order:
//   decide each table (sync by key ranges, or reload whole, delta.ts) →
//   find what differs in each synced table (nothing written yet) →
//   set foreign keys aside → recreate tables whose columns changed →
//   sync or reload each table (and record it in pgshift.loads) →
//   restore the foreign keys (checked, before the commit).
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { qualified, quoteIdent } from "../identifiers";
import type { Loaded, LoadContext } from "../load-context";
import { inTransaction } from "../postgres/connection";
import { foreignKeysTouching, loadRecords, recordedRanges, type LoadEntry } from "../postgres/catalog";
import { deltaDecision } from "../delta";
import { findChanges, tableWriters, type PendingSync } from "../delta-sync";
import { serializeDigests } from "../sqlite/range-digests";
import type { TablePlan } from "../plan";
import { settleNumericDates } from "../sqlite/numeric-dates";
import { addKeys, resetSequences } from "./keys";
import { copy, createTable, record, recordRanges, type SourceReader } from "./table-load";

/**
 * A refresh reading the source in place (snapshot.ts) keeps the app's writers
 * waiting while it reads. Re-copying more than this share of a table's rows
 * takes longer than copying the file (1M rows of ~380 bytes: a 31k-row re-copy
 * ~0.2 s, the 380 MB file ~0.25 s), so the file is copied then and the lock let go.
 */
const IN_PLACE_MAX_SHARE = 32;

/** Writers recorded before a sync compacts them to the xids its rows carry (syncOrReload). */
const MAX_RECORDED_WRITERS = 32;

type Decision = ReturnType<typeof deltaDecision>;
type ForeignKey = Awaited<ReturnType<typeof foreignKeysTouching>>[number];

/**
 * The foreign keys a refresh changed: dropped (restored before commit), made
 * deferrable (not deferrable again after their check), and whether any key is
 * deferred (checked before commit).
 */
interface SetAside {
  dropped: ForeignKey[];
  madeDeferrable: ForeignKey[];
  deferring: boolean;
}

/** A synced table's changes, found before anything is written, and its record of ranges when it has none yet. */
interface Found {
  pending: PendingSync;
  recording?: ReturnType<typeof recordRanges>;
}

/**
 * Brings `tables` level with the snapshot in one transaction. A table whose
 * columns are unchanged and which has a single integer key is synced (only its
 * differing key ranges copied again, delta.ts); any other is truncated and
 * copied whole — created again first, in create mode, when its columns changed.
 */
export async function refreshTables(ctx: LoadContext, tables: TablePlan[]): Promise<void> {
  const schema = ctx.plan.targetSchema;
  const records = await loadRecords(ctx.admin, schema);
  // What delta sync recorded (~3 MB a million rows) is read while the sync's own session connects: one table
  // after another, since they share the admin session (pg queues a second query on a busy client, deprecated).
  const recordedRead = (async () => {
    const out: Awaited<ReturnType<typeof recordedRanges>>[] = [];
    for (const t of tables)
      out.push(records.get(t.target)?.schema_mode === ctx.plan.schemaMode ? await recordedRanges(ctx.admin, schema, t.target) : undefined);
    return out;
  })();
  recordedRead.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
  await inTransaction(ctx.url, ctx.snapshot, async (client, opened) => {
    const recorded = await recordedRead;
    const reader = readerOf(ctx, opened);
    const decisions = new Map<string, Decision>();
    tables.forEach((t, i) => {
      const rec = records.get(t.target);
      decisions.set(
        t.target,
        rec?.schema_mode === ctx.plan.schemaMode
          ? deltaDecision(reader.db, t, rec.layout, recorded[i])
          : { reason: "the schema mode changed", layoutChanged: true },
      );
    });
    // A table synced by its record counts its date columns in its digest scan (delta.ts); the others by query, now.
    for (const t of tables) {
      const d = decisions.get(t.target)!;
      if (!("width" in d && d.recorded)) settleNumericDates(reader.db, t);
    }
    ctx.clock?.mark("refresh: decide");
    const whole = tables.filter((t) => "reason" in decisions.get(t.target)!);
    const synced = tables.filter((t) => "width" in decisions.get(t.target)!);
    const found = await findSyncChanges(ctx, client, synced, decisions, reader);
    const aside = await setForeignKeysAside(client, schema, whole, synced, found);
    const recreated = await recreateChangedTables(ctx, client, whole, decisions);
    ctx.clock?.mark("refresh: foreign keys set aside");
    await syncOrReload(ctx, client, tables, decisions, recreated, reader, found);
    await restoreForeignKeys(client, schema, aside, recreated);
    ctx.clock?.mark("refresh: foreign keys restored");
  });
  ctx.clock?.mark("refresh: commit");
}

/**
 * Read in place (snapshot.ts) until a table must be read whole or a sync
 * re-copies much of one: then from a copy (whose reader the snapshot closes).
 */
function readerOf(ctx: LoadContext, opened: SourceReader): { db: SourceReader; readWhole: () => Promise<SourceReader> } {
  const reader = {
    db: opened,
    readWhole: async () => (reader.db = (await ctx.snapshot.materialize(reader.db))!),
  };
  return reader;
}

const qualifiedNames = (schema: string, ts: TablePlan[]) => ts.map((t) => qualified(schema, t.target));

/**
 * Each synced table is locked and compared, and what differs is found, before
 * anything is written: which tables will lose rows decides the foreign keys
 * (setForeignKeysAside), and PostgreSQL refuses to drop a key once rows it
 * checks later are pending.
 */
async function findSyncChanges(
  ctx: LoadContext,
  client: pg.Client,
  synced: TablePlan[],
  decisions: Map<string, Decision>,
  reader: ReturnType<typeof readerOf>,
): Promise<Map<string, Found>> {
  const schema = ctx.plan.targetSchema;
  const longest = synced.reduce<TablePlan | undefined>((a, b) => (a && a.rows >= b.rows ? a : b), undefined);
  const found = new Map<string, Found>();
  for (const t of synced) {
    const decision = decisions.get(t.target) as Extract<Decision, { width: bigint }>;
    ctx.progress(t.target, "copy", 0, t.rows);
    // A sync by content reads every row: from a copy. It records what it proved, so that the next refresh goes by record.
    if (!decision.recorded) await reader.readWhole();
    const recording = decision.recorded ? undefined : recordRanges(ctx, t, reader.db);
    recording?.catch(() => {}); // awaited when the table is written; never an unhandled rejection meanwhile
    const pending = await findChanges(client, schema, t, reader.db, decision, (n) => ctx.progress(t.target, "copy", n, t.rows), {
      recopying: (rows) => (ctx.snapshot.holdsWriters && rows > t.rows / IN_PLACE_MAX_SHARE ? reader.readWhole() : reader.db),
      // The source's fingerprint is hashed once the longest table is read, not alongside (2 cores).
      read: () => {
        ctx.clock?.mark("refresh: SQLite digest scan");
        if (t === longest) void ctx.fingerprint();
      },
    });
    // (the re-copy, after the foreign keys are set aside, adds to the same step)
    ctx.clock?.mark("refresh: compare with PostgreSQL and re-copy");
    found.set(t.target, { pending, ...(recording ? { recording } : {}) });
  }
  return found;
}

/**
 * Foreign keys touching tables reloaded whole are dropped (restored and
 * re-validated before commit). Those touching synced tables only are deferred
 * to the end instead, so that a parent row deleted and copied again is not
 * refused meanwhile, and only the changed rows are checked — ALTER CONSTRAINT
 * changes the catalog and checks no row. A key with an ON DELETE/UPDATE action
 * would act on a delete at once (actions are never deferred): dropped too, but
 * only when this sync deletes rows of its referenced table (a sync never
 * updates a row: it deletes it and copies it again); otherwise nothing can fire
 * it, and re-validating it would read the whole referencing table.
 */
async function setForeignKeysAside(client: pg.Client, schema: string, whole: TablePlan[], synced: TablePlan[], found: Map<string, Found>): Promise<SetAside> {
  const dropped = whole.length ? await foreignKeysTouching(client, qualifiedNames(schema, whole)) : [];
  const droppedNames = new Set(dropped.map((fk) => `${fk.tbl}.${fk.name}`));
  const touching = synced.length
    ? (await foreignKeysTouching(client, qualifiedNames(schema, synced))).filter((fk) => !droppedNames.has(`${fk.tbl}.${fk.name}`))
    : [];
  const couldFire = (fk: ForeignKey) => fk.acts && fk.ref_schema === schema && found.get(fk.ref_name)?.pending.deletes === true;
  const deferred = touching.filter((fk) => !couldFire(fk));
  dropped.push(...touching.filter(couldFire));
  const madeDeferrable = deferred.filter((fk) => !fk.deferrable);
  for (const fk of dropped) await client.query(`ALTER TABLE ${fk.tbl} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
  for (const fk of madeDeferrable) await client.query(`ALTER TABLE ${fk.tbl} ALTER CONSTRAINT ${quoteIdent(fk.name)} DEFERRABLE INITIALLY DEFERRED`);
  // Keys declared DEFERRABLE INITIALLY IMMEDIATE are deferred for this transaction only (ALL: a name may be held twice in a schema).
  if (deferred.length) await client.query("SET CONSTRAINTS ALL DEFERRED");
  return { dropped, madeDeferrable, deferring: deferred.length > 0 };
}

/**
 * In create mode pgshift owns the table: one whose columns changed is created
 * again from the plan (its own foreign keys are added from the plan after the
 * commit, by the foreign-keys phase). Returns their target names.
 */
async function recreateChangedTables(ctx: LoadContext, client: pg.Client, whole: TablePlan[], decisions: Map<string, Decision>): Promise<Set<string>> {
  const schema = ctx.plan.targetSchema;
  const recreate = new Set(
    ctx.plan.schemaMode === "create" ? whole.filter((t) => (decisions.get(t.target) as { layoutChanged?: boolean }).layoutChanged).map((t) => t.target) : [],
  );
  for (const t of whole.filter((x) => recreate.has(x.target))) {
    await client.query(`DROP TABLE ${qualified(schema, t.target)}`);
    await createTable(client, schema, t);
  }
  return recreate;
}

/**
 * Each table synced by its key ranges or reloaded whole (truncated first,
 * unless just created again), then every table's record in pgshift.loads.
 * Records are written last, in the same transaction, with a placeholder for the
 * source's fingerprint: it is hashed on another thread once the longest scan is
 * done, and set after the commit (migrate.ts).
 */
async function syncOrReload(
  ctx: LoadContext,
  client: pg.Client,
  tables: TablePlan[],
  decisions: Map<string, Decision>,
  recreated: Set<string>,
  reader: ReturnType<typeof readerOf>,
  found: Map<string, Found>,
): Promise<void> {
  const schema = ctx.plan.targetSchema;
  const whole = tables.filter((t) => "reason" in decisions.get(t.target)!);
  const truncate = whole.filter((t) => !recreated.has(t.target));
  const recordsToWrite: (() => Promise<void>)[] = [];
  const placeholder = (ctx.fingerprintPlaceholder = `pending:${randomUUID()}`);
  if (truncate.length) await client.query(`TRUNCATE ${qualifiedNames(schema, truncate).join(", ")}`);
  for (const t of tables) {
    const decision = decisions.get(t.target)!;
    let loaded: Loaded;
    let ranges: LoadEntry["ranges"];
    if ("width" in decision) {
      const { pending, recording } = found.get(t.target)!;
      const sync = await pending.write();
      ctx.clock?.mark("refresh: compare with PostgreSQL and re-copy");
      loaded = {
        rows: sync.copiedRows,
        parts: [],
        format: "text",
        warnings: await resetSequences(ctx, client, t),
        sync,
        refresh: `synced by ${sync.method}: ${sync.changedRanges} of ${sync.totalRanges} key ranges differed; ${sync.deletedRows} rows deleted${sync.nullKeyRows ? ` (${sync.nullKeyRows} of them with a NULL ${t.sourceKey[0]} in PostgreSQL, a key SQLite has no row for)` : ""}, ${sync.copiedRows} copied again`,
      };
      if (sync.digests) {
        // Each sync adds its transaction to the writers; a long list is replaced by the xids the rows carry
        // now (all proven level), so the xmin check stays a short list.
        const many = decision.recorded && decision.recorded.writers.length >= MAX_RECORDED_WRITERS;
        const now = many ? await tableWriters(client, schema, t) : undefined;
        ranges = { width: sync.width, digests: serializeDigests(sync.digests), writers: now?.length ? now : "add" };
      } else {
        const recorded = await recording;
        const writers = recorded && (await tableWriters(client, schema, t));
        if (recorded && writers) ranges = { width: recorded.width, digests: serializeDigests(recorded.digests), writers: writers.length ? writers : "this" };
      }
      recordsToWrite.push(() => record(ctx, client, t, sync.sourceRows, undefined, ranges, placeholder));
    } else {
      // Every reloaded table shares one transaction: text, which never needs a second attempt.
      await reader.readWhole();
      const copied = await copy(ctx, client, t, reader.db, false);
      const keys = recreated.has(t.target) ? addKeys(ctx, client, t, copied.rows) : resetSequences(ctx, client, t);
      const recording = recordRanges(ctx, t, reader.db);
      loaded = { ...copied, warnings: await keys, refresh: `reloaded whole: ${decision.reason}` };
      const recorded = await recording;
      recordsToWrite.push(() => record(ctx, client, t, copied.rows, recorded, undefined, placeholder));
      ctx.clock?.mark("refresh: reload whole");
    }
    ctx.sent.set(t.target, loaded);
  }
  for (const write of recordsToWrite) await write();
  ctx.clock?.mark("refresh: sequences and records");
}

/**
 * The deferred checks run now, on the changed rows only; then the keys are as
 * they were. Keys dropped from a table created again are not restored here: the
 * foreign-keys phase adds its own from the plan.
 */
async function restoreForeignKeys(client: pg.Client, schema: string, aside: SetAside, recreated: Set<string>): Promise<void> {
  const restore = aside.dropped.filter((fk) => !(fk.rel_schema === schema && recreated.has(fk.rel_name)));
  if (aside.deferring) await client.query("SET CONSTRAINTS ALL IMMEDIATE");
  for (const fk of aside.madeDeferrable) await client.query(`ALTER TABLE ${fk.tbl} ALTER CONSTRAINT ${quoteIdent(fk.name)} NOT DEFERRABLE INITIALLY IMMEDIATE`);
  for (const fk of restore) await client.query(`ALTER TABLE ${fk.tbl} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.def}`);
}

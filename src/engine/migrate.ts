// The load pipeline, as named phases over one LoadContext (load-context.ts):
//   plan + snapshot → decide (phases/decide.ts) → load, each table with its keys
//   (phases/load.ts, phases/keys.ts) → foreign keys (phases/foreign-keys.ts) →
//   verify (phases/verify.ts) → report.
// Every table's rows, keys and its record in pgshift.loads commit together, so
// a crash at any point leaves each table either fully loaded or untouched, and
// a re-run finishes the job with exactly one copy of every row.
import Database from "better-sqlite3";
import { redact } from "./postgres/connection";
import { fingerprintSqlite } from "./sqlite/fingerprint";
import type { LoadContext, MigrateOptions, ProgressEvent, TableReport } from "./load-context";
import { session } from "./postgres/connection";
import { DEFAULTS, checkOptions, withDefaults } from "./options";
import { recordedLoadOptions, settleFingerprint, tablesIn } from "./postgres/catalog";
import { openSource, planFrom, type MigrationOptions, type MigrationPlan } from "./plan";
import { takeSnapshot, type Snapshot } from "./sqlite/snapshot";
import { decide } from "./phases/decide";
import { addForeignKeys } from "./phases/foreign-keys";
import { load } from "./phases/load";
import { compareBookkeeping, settleProofs, verify, verifyTables } from "./phases/verify";
import { StepClock, type StepTime } from "./step-clock";

export { type MigrateOptions, type ProgressEvent, type TableAction, type TableReport } from "./load-context";
export { session } from "./postgres/connection";

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
  /** of which the run waited this long, after the foreign keys, for comparing PostgreSQL with what was sent (or with SQLite); reading a table back starts as its load commits, so part of it overlaps the load */
  verifyMs?: number;
  /** where the time went, step by step (they add up to durationMs, less closing) */
  steps?: StepTime[];
}

export async function migrate(given: MigrateOptions): Promise<MigrationReport> {
  const started = Date.now();
  const clock = new StepClock();
  checkOptions(given, given.optionNames); // before connecting: a bad option is the caller's to fix, whatever the server says
  const options = { ...given, ...withDefaults(given) };
  const src = openSource(options.source);
  let ctx: LoadContext | undefined;
  let hashed: SourceFingerprint | undefined;
  const admin = await session(options.target);
  try {
    // A refresh reads the source in place (snapshot.ts), so the plan is made inside its lock, from the same state,
    // and counts date columns' numbers in the scan its delta sync makes anyway (delta.ts), not here.
    let plan: MigrationPlan | undefined;
    if (!options.refresh) plan = await planFrom(src, options, { numericDates: "scan" });
    clock.mark("connect and plan");
    const { snapshot, fingerprint } = await snapshotWithFingerprint(src, options.source, options.refresh === true);
    hashed = fingerprint;
    clock.mark("snapshot");
    try {
      plan ??= await planFrom(src, options, { numericDates: "defer" });
    } catch (err) {
      snapshot.dispose();
      throw err;
    }
    clock.mark("connect and plan");
    ctx = context(options, plan, snapshot, fingerprint, admin, clock);
    const verified = options.verify ?? DEFAULTS.verify;
    if (verified) ctx.proofs = new Map(); // each table's proof starts as its load commits (phases/verify.ts)
    ctx.actions = await decide(ctx, options);
    clock.mark("decide");
    await load(ctx);
    clock.mark(options.refresh ? "load (the rest of the refresh)" : "load");
    await addForeignKeys(ctx);
    clock.mark("foreign keys");
    const verifyStarted = Date.now();
    const tables = await verify(ctx, verified);
    const verifyMs = verified ? Date.now() - verifyStarted : undefined;
    clock.mark("verify");
    const hash = await ctx.fingerprint();
    if (ctx.fingerprintPlaceholder) await settleFingerprint(admin, plan.targetSchema, ctx.fingerprintPlaceholder, hash);
    clock.mark("fingerprint");
    return { ...report(ctx, tables, verified, started, verifyMs, hash), steps: clock.steps };
  } finally {
    await hashed?.started()?.catch(() => {}); // the hashing thread is done before the source closes
    await settleProofs(ctx); // and so is reading back what was loaded
    await ctx?.readers?.close();
    ctx?.snapshot.dispose();
    src.close();
    await admin.end().catch(() => {});
  }
}

/** `pgshift verify`: compare without copying (the seed guide's --verify-only). */
export async function verifyMigration(given: MigrationOptions & { target: string; onProgress?: (e: ProgressEvent) => void }): Promise<MigrationReport> {
  const started = Date.now();
  checkOptions(given, given.optionNames);
  const src = openSource(given.source);
  let snapshot: Snapshot | undefined;
  let fingerprinting: SourceFingerprint | undefined;
  let admin: Awaited<ReturnType<typeof session>> | undefined;
  try {
    // Unless given, the settings the tables were loaded with; else the defaults.
    const recorded = { ...given, ...(await recordedOptions(given.target, given)) };
    const options = { ...recorded, ...withDefaults(recorded) };
    const plan = await planFrom(src, options);
    let fingerprint: SourceFingerprint;
    ({ snapshot, fingerprint } = await snapshotWithFingerprint(src, options.source));
    fingerprinting = fingerprint;
    const verifyStarted = Date.now();
    admin = await session(options.target);
    const ctx = context(options, plan, snapshot, fingerprint, admin);
    const present = await tablesIn(admin, plan.targetSchema);
    const results: TableReport[] = [];
    for (const t of plan.tables.filter((x) => !present.has(x.target))) {
      results.push({
        source: t.source,
        target: t.target,
        sourceRows: t.rows,
        targetRows: 0,
        match: false,
        action: "kept",
        differences: [{ key: {}, problem: "missing in PostgreSQL" }],
      });
    }
    for (const t of plan.tables.filter((x) => x.bookkeeping && present.has(x.target))) results.push(await compareBookkeeping(ctx, t));
    const verifications = await verifyTables(
      ctx,
      plan.tables.filter((x) => !x.bookkeeping && present.has(x.target)),
    );
    for (const { method, ...v } of verifications.values()) results.push({ ...v, action: "kept", verifiedBy: method });
    const order = new Map(plan.loadOrder.map((n, i) => [n, i]));
    results.sort((a, b) => (order.get(a.target) ?? 0) - (order.get(b.target) ?? 0));
    return report(ctx, results, true, started, Date.now() - verifyStarted, await fingerprint());
  } finally {
    await fingerprinting?.started()?.catch(() => {});
    src.close();
    snapshot?.dispose();
    await admin?.end().catch(() => {});
  }
}

function context(
  options: MigrationOptions & { target: string; jobs: number; onProgress?: (e: ProgressEvent) => void },
  plan: MigrationPlan,
  snapshot: Snapshot,
  fingerprint: () => Promise<string>,
  admin: LoadContext["admin"],
  clock?: StepClock,
): LoadContext {
  const byTarget = new Map(plan.tables.map((t) => [t.target, t]));
  return {
    url: options.target,
    source: options.source,
    plan,
    snapshot,
    fingerprint,
    admin,
    ...(clock ? { clock } : {}),
    jobs: options.jobs,
    progress: (table, phase, rows, total) => options.onProgress?.({ table, phase, rows, total }),
    ordered: plan.loadOrder.map((n) => byTarget.get(n)!),
    actions: new Map(),
    sent: new Map(),
  };
}

/**
 * The snapshot to read from, and the source's fingerprint, hashed on another
 * thread while the snapshot is copied and after: a refresh needs it only when
 * it records its loads, so it does not wait for it.
 */
async function snapshotWithFingerprint(
  src: ReturnType<typeof openSource>,
  path: string,
  inPlace = false,
): Promise<{ snapshot: Snapshot; fingerprint: SourceFingerprint }> {
  // data_version moves when any other connection commits: if it moved while the
  // file was hashed and copied, the hash may hold writes the snapshot does not,
  // and a later run with that same hash must not keep these tables.
  // A WAL source read in place keeps a read transaction open on `src`, where data_version stands still: another connection asks.
  const probe = inPlace && src.pragma("journal_mode", { simple: true }) === "wal" ? new Database(path, { readonly: true, fileMustExist: true }) : undefined;
  const version = () => Number((probe ?? src).pragma("data_version", { simple: true }));
  const before = version();
  let released!: () => void;
  const unlocked = new Promise<void>((resolve) => (released = resolve));
  let hashing: Promise<string> | undefined;
  const hash = () => {
    if (!hashing) {
      hashing = fingerprintSqlite(path, unlocked)
        .then((h) => (version() === before ? h : `${h}:written-during-snapshot`))
        .finally(() => probe?.close());
      hashing.catch(() => {}); // awaited by whoever needs it
    }
    return hashing;
  };
  // A copy is hashed while it is made. In place, the lock holds the file still for as long as the run reads it
  // (in WAL mode the probe above tells whether it moved), and the hash waits to be asked for (a refresh asks once
  // its long scans are done: 2 cores).
  // Not asked for by the time the lock goes (a refresh by content, with the range digests' JavaScript path): hashed
  // then, while the probe still watches, instead of later against a closed probe ("connection is not open").
  if (!inPlace) hash();
  else if (probe) void unlocked.then(() => void hash());
  const snapshot = await takeSnapshot(src, { inPlace, onRelease: released });
  return { snapshot, fingerprint: Object.assign(hash, { started: () => hashing }) };
}

/** The source's fingerprint: hashed when first asked for (started() says whether it was). */
type SourceFingerprint = (() => Promise<string>) & { started: () => Promise<string> | undefined };

/**
 * How the tables were loaded, from pgshift.loads: `pgshift verify` without
 * --identifiers/--schema/--cast compares the way the migration loaded.
 */
async function recordedOptions(url: string, options: MigrationOptions): Promise<MigrationOptions> {
  const client = await session(url);
  try {
    const rows = await recordedLoadOptions(client, options.targetSchema ?? DEFAULTS.targetSchema);
    const selected = options.tables?.length ? rows.filter((r) => options.tables!.includes(r.source_table)) : rows;
    if (selected.length === 0) return options;
    const one = <T>(values: T[]): T | undefined => (new Set(values).size === 1 ? values[0] : undefined);
    return {
      ...options,
      identifiers: options.identifiers ?? one(selected.map((r) => r.identifiers)),
      schema: options.schema ?? one(selected.map((r) => r.schema_mode)),
      casts: { ...Object.assign({}, ...selected.map((r) => r.casts)), ...options.casts },
    };
  } finally {
    await client.end().catch(() => {});
  }
}

function report(
  ctx: LoadContext,
  tables: TableReport[],
  verified: boolean,
  started: number,
  verifyMs: number | undefined,
  fingerprint: string,
): MigrationReport {
  const { plan, snapshot } = ctx;
  return {
    ok: tables.every((t) => t.match),
    source: ctx.source,
    target: redact(ctx.url),
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

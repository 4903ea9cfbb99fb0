// The cutover and the rollback as ordered steps, each waiting for the one
// before, and a failure after the writers are stopped putting everything back
// before the update fails. Over two small interfaces: the app on the cluster
// (app-side.ts: replicas, the Secret, the health check) and its data
// (data-side.ts: the final snapshot, the sync each way); so the order is one
// piece of code whatever the source or the cluster.
import type { HealthCheck, Workload } from "../kube/app-workloads";

export type Backend = "sqlite" | "postgresql";

export interface AppSide {
  replicas(w: Workload): Promise<number>;
  scale(w: Workload, replicas: number): Promise<void>;
  waitStopped(w: Workload, timeoutMs: number): Promise<void>;
  waitReady(w: Workload, replicas: number, timeoutMs: number): Promise<void>;
  /** points the app's Secret at this backend */
  switchTo(backend: Backend): Promise<void>;
  /** one health check: the HTTP status, or throws when nothing answers */
  probe(check: HealthCheck): Promise<number>;
}

export interface TableSync {
  source: string;
  target: string;
  /** rows written to the side being brought level */
  changed: number;
  match: boolean;
}

export interface SyncResult {
  ok: boolean;
  rowsChanged: number;
  tables: TableSync[];
  /** the SQLite file's backup taken before it was written (sync back) */
  backupFile?: string;
}

export interface DataSide {
  /** where the final state of the app's SQLite database can be read, taken after its writers are gone */
  finalSnapshot(): Promise<string>;
  /** brings PostgreSQL level with the snapshot and verifies */
  syncForward(snapshot: string): Promise<SyncResult>;
  /** refuses (naming table, key and column) when a PostgreSQL value cannot go back into its SQLite column */
  planBack(): Promise<void>;
  /** copies PostgreSQL's inserts, updates and deletes back into the SQLite file (backed up first), and verifies */
  syncBack(): Promise<SyncResult>;
  /** rows PostgreSQL holds that the SQLite file does not (what a discarding rollback leaves behind) */
  differingRows(): Promise<{ rows: number; atLeast: boolean; tables: string[] }>;
}

export interface StepOptions {
  workloads: Workload[];
  healthCheck?: HealthCheck | null;
  /** how long the app may take to stop, to become Ready, and to pass the health check (each) */
  timeoutMs: number;
  /** replicas recorded by an earlier, interrupted attempt: restored instead of the (now 0) live counts */
  recorded?: Record<string, number>;
  log?: (line: string) => void;
  /** persists the replica counts before anything is scaled (so an interrupted update can restore them) */
  onRecorded?: (replicas: Record<string, number>) => Promise<void> | void;
  now?: () => number;
  /** the list the steps are added to, in order; the data side adds its own lines (which pod read or wrote the file) to it as they happen */
  steps?: string[];
}

export interface StepsResult {
  backend: Backend;
  replicas: Record<string, number>;
  /** writers stopped → app Ready (and healthy); 0 when there were no workloads */
  writeDowntimeMs: number;
  /** where the downtime went, in order (stop, data, restart, health check), in ms; empty without workloads */
  downtimeParts: { part: string; ms: number }[];
  rowsSynced: number;
  sync?: SyncResult;
  backupFile?: string;
  /** what was done, in order: the update's status says it */
  steps: string[];
  /** a rollback that discarded PostgreSQL's writes: how many it left behind */
  leftBehind?: { rows: number; atLeast: boolean; tables: string[] };
}

/** The update failed; `putBack` says what was restored (or could not be). */
export class CutoverError extends Error {
  constructor(
    message: string,
    readonly steps: string[],
  ) {
    super(message);
    this.name = "CutoverError";
  }
}

export const workloadKey = (w: Workload) => `${w.kind}/${w.name}`;

/** What `pulumi preview` shows for a switch: the steps, with workloads and replica counts. */
export function describeSteps(
  to: Backend,
  workloads: Workload[],
  replicas: Record<string, number>,
  o: { healthCheck?: HealthCheck | null; discardPostgresWrites?: boolean; source: string; timeoutMs: number },
): string[] {
  const list = workloads.map((w) => `${workloadKey(w)} (${replicas[workloadKey(w)] ?? "?"} → 0)`).join(", ") || "no app.workloads: nothing to stop";
  const back = workloads.map((w) => `${workloadKey(w)} → ${replicas[workloadKey(w)] ?? "?"}`).join(", ");
  const health = o.healthCheck
    ? `GET ${o.healthCheck.path} on Service ${o.healthCheck.service}:${o.healthCheck.port} until 2xx`
    : "no cutover.healthCheck: Ready is enough";
  const secs = Math.round(o.timeoutMs / 1000);
  if (to === "postgresql") {
    return [
      `1. stop the writers: scale ${list}; wait until their pods are gone`,
      `2. final snapshot of ${o.source}`,
      "3. delta sync SQLite → PostgreSQL, verify every table",
      "4. switch the app's Secret to PostgreSQL",
      `5. scale back ${back || "(none)"}; wait Ready; ${health} (within ${secs} s)`,
      "   on failure: stop again, copy PostgreSQL's writes back to SQLite, Secret → SQLite, restore the replicas, fail the update",
    ];
  }
  return [
    o.discardPostgresWrites
      ? "0. rollback.discardPostgresWrites: nothing is copied back; PostgreSQL's writes since cutover are left behind"
      : `0. ${o.source.startsWith("pod:") ? `read ${o.source} as it is now (in the app's running pod); ` : ""}check every PostgreSQL value can go back into its SQLite column (refuses before anything stops)`,
    `1. stop the writers: scale ${list}; wait until their pods are gone`,
    o.discardPostgresWrites
      ? "2. (no copy)"
      : o.source.startsWith("pod:")
        ? `2. in a writer pod on the app's volume claim: snapshot ${o.source}, copy PostgreSQL's inserts, updates and deletes back into the snapshot, verify, put it in place (the file before kept beside it as <file>.pgshift-backup-<UTC time>)`
        : `2. back up ${o.source}, copy PostgreSQL's inserts, updates and deletes back into it, verify`,
    "3. switch the app's Secret to SQLite",
    `4. scale back ${back || "(none)"}; wait Ready; ${health} (within ${secs} s)`,
  ];
}

async function stopWriters(app: AppSide, o: StepOptions, steps: string[]): Promise<Record<string, number>> {
  const replicas: Record<string, number> = {};
  for (const w of o.workloads) {
    const live = await app.replicas(w);
    // An earlier attempt that stopped the app and then failed left 0: restore what it recorded.
    replicas[workloadKey(w)] = live === 0 && o.recorded?.[workloadKey(w)] ? o.recorded[workloadKey(w)]! : live;
  }
  await o.onRecorded?.(replicas);
  for (const w of o.workloads) await app.scale(w, 0);
  for (const w of o.workloads) await app.waitStopped(w, o.timeoutMs);
  if (o.workloads.length) steps.push(`stopped ${o.workloads.map((w) => `${workloadKey(w)} (${replicas[workloadKey(w)]})`).join(", ")}`);
  return replicas;
}

async function startWriters(app: AppSide, o: StepOptions, replicas: Record<string, number>, steps: string[]): Promise<void> {
  for (const w of o.workloads) await app.scale(w, replicas[workloadKey(w)] ?? 1);
  for (const w of o.workloads) await app.waitReady(w, replicas[workloadKey(w)] ?? 1, o.timeoutMs);
  if (o.workloads.length) steps.push(`started ${o.workloads.map((w) => `${workloadKey(w)} (${replicas[workloadKey(w)]})`).join(", ")}, Ready`);
}

async function healthy(app: AppSide, o: StepOptions, steps: string[]): Promise<void> {
  if (!o.healthCheck) return;
  const now = o.now ?? Date.now;
  const until = now() + o.timeoutMs;
  let last = "no answer yet";
  for (;;) {
    try {
      const status = await app.probe(o.healthCheck);
      if (status >= 200 && status < 300) {
        steps.push(`health check ${o.healthCheck.path}: ${status}`);
        return;
      }
      last = `HTTP ${status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (now() >= until)
      throw new Error(
        `health check GET ${o.healthCheck.path} on Service ${o.healthCheck.service}:${o.healthCheck.port} did not answer 2xx within ${Math.round(o.timeoutMs / 1000)} s (last: ${last})`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Times the parts of the write downtime, so a slow cutover says which part to work on. */
function downtimeClock(now: () => number) {
  const start = now();
  let last = start;
  const parts: { part: string; ms: number }[] = [];
  return {
    mark(part: string) {
      const t = now();
      parts.push({ part, ms: t - last });
      last = t;
    },
    finish(workloads: number, steps: string[]): { writeDowntimeMs: number; downtimeParts: { part: string; ms: number }[] } {
      if (!workloads) {
        steps.push("write downtime 0.0 s");
        return { writeDowntimeMs: 0, downtimeParts: [] };
      }
      const writeDowntimeMs = last - start; // the last part ends the downtime: the parts add up to it
      const split = parts.map((p) => `${p.part} ${(p.ms / 1000).toFixed(1)} s`).join(", ");
      steps.push(`write downtime ${(writeDowntimeMs / 1000).toFixed(1)} s (${split})`);
      return { writeDowntimeMs, downtimeParts: parts };
    },
  };
}

const sum = (r: SyncResult) => r.tables.map((t) => `${t.source}: ${t.changed}`).join(", ");

function unequal(r: SyncResult): string {
  return r.tables
    .filter((t) => !t.match)
    .map((t) => t.source)
    .join(", ");
}

/** cutover: true — stop, final snapshot, delta sync + verify, switch, restart, health check; put back on failure. */
export async function cutOver(app: AppSide, data: DataSide, o: StepOptions): Promise<StepsResult> {
  const now = o.now ?? Date.now;
  const steps: string[] = o.steps ?? [];
  const log = o.log ?? (() => undefined);
  const clock = downtimeClock(now);
  const replicas = await stopWriters(app, o, steps);
  clock.mark("stopping the writers");
  log(steps.at(-1) ?? "no workloads to stop");
  let sync: SyncResult;
  try {
    const snapshot = await data.finalSnapshot();
    steps.push(`final snapshot ${snapshot}`);
    sync = await data.syncForward(snapshot);
    if (!sync.ok) throw new Error(`verification found differences after the final sync in ${unequal(sync)}`);
    steps.push(`synced ${sync.rowsChanged} rows to PostgreSQL (${sum(sync)}), verified`);
    clock.mark("final snapshot and sync");
    log(steps.at(-1)!);
  } catch (e) {
    // Nothing was switched: the app goes back to SQLite as it was.
    await startWriters(app, o, replicas, steps);
    throw new CutoverError(
      `Cutover stopped before the switch: ${(e as Error).message.replace(/\.$/, "")}. The app was started again on SQLite (${steps.join("; ")}); ` +
        "nothing was lost. Fix the cause and run `pulumi up` again.",
      steps,
    );
  }
  let switched = false;
  try {
    await app.switchTo("postgresql");
    switched = true;
    steps.push("the app's Secret points at PostgreSQL");
    await startWriters(app, o, replicas, steps);
    clock.mark("switch and restart until Ready");
    await healthy(app, o, steps);
    if (o.healthCheck) clock.mark("health check");
  } catch (e) {
    const why = (e as Error).message;
    log(`cutover failed: ${why}; putting the app back on SQLite`);
    const putBack: string[] = [];
    try {
      await stopWriters(app, { ...o, recorded: replicas }, putBack);
      if (switched) {
        // The app may have written to PostgreSQL in between: those rows go back too.
        const back = await data.syncBack();
        if (!back.ok) throw new Error(`after copying PostgreSQL's writes back, ${unequal(back)} still differ`);
        putBack.push(`copied ${back.rowsChanged} rows PostgreSQL took back to SQLite${back.backupFile ? ` (SQLite backed up to ${back.backupFile})` : ""}`);
      }
      await app.switchTo("sqlite");
      putBack.push("the app's Secret points at SQLite again");
      await startWriters(app, o, replicas, putBack);
    } catch (e2) {
      throw new CutoverError(
        `Cutover failed (${why}) and putting the app back failed too: ${(e2 as Error).message}. Done so far: ${[...steps, ...putBack].join("; ")}. ` +
          "Check the app's Secret and replicas by hand before anything else.",
        [...steps, ...putBack],
      );
    }
    throw new CutoverError(`Cutover failed: ${why}. Put back: ${putBack.join("; ")}. The app runs on SQLite; nothing was lost.`, [...steps, ...putBack]);
  }
  const { writeDowntimeMs, downtimeParts } = clock.finish(o.workloads.length, steps);
  return { backend: "postgresql", replicas, writeDowntimeMs, downtimeParts, rowsSynced: sync.rowsChanged, sync, steps };
}

/** cutover: false after a cutover — refuse early, stop, back up + copy back + verify, switch, restart, health check. */
export async function rollBack(app: AppSide, data: DataSide, o: StepOptions & { discardPostgresWrites: boolean }): Promise<StepsResult> {
  const now = o.now ?? Date.now;
  const steps: string[] = o.steps ?? [];
  const log = o.log ?? (() => undefined);
  // Before anything stops: a value that cannot go back refuses the rollback here.
  if (!o.discardPostgresWrites) await data.planBack();
  const clock = downtimeClock(now);
  const replicas = await stopWriters(app, o, steps);
  clock.mark("stopping the writers");
  let sync: SyncResult | undefined;
  let leftBehind: StepsResult["leftBehind"];
  try {
    if (o.discardPostgresWrites) {
      leftBehind = await data.differingRows();
      steps.push(
        `rollback.discardPostgresWrites: ${leftBehind.atLeast ? "at least " : ""}${leftBehind.rows} rows PostgreSQL took are left behind${leftBehind.tables.length ? ` (${leftBehind.tables.join(", ")})` : ""}`,
      );
    } else {
      sync = await data.syncBack();
      if (!sync.ok) throw new Error(`verification found differences after copying back in ${unequal(sync)}`);
      steps.push(`copied ${sync.rowsChanged} rows back to SQLite (${sum(sync)}), verified${sync.backupFile ? `; SQLite backed up to ${sync.backupFile}` : ""}`);
    }
    clock.mark(o.discardPostgresWrites ? "counting what is left behind" : "backup and copy back");
    log(steps.at(-1)!);
  } catch (e) {
    await startWriters(app, o, replicas, steps);
    throw new CutoverError(
      `Rollback stopped before the switch: ${(e as Error).message.replace(/\.$/, "")}. The app was started again on PostgreSQL (${steps.join("; ")}); nothing was lost.` +
        (sync?.backupFile ? ` The SQLite file as it was before is ${sync.backupFile}.` : ""),
      steps,
    );
  }
  try {
    await app.switchTo("sqlite");
    steps.push("the app's Secret points at SQLite");
    await startWriters(app, o, replicas, steps);
    clock.mark("switch and restart until Ready");
    await healthy(app, o, steps);
    if (o.healthCheck) clock.mark("health check");
  } catch (e) {
    const why = (e as Error).message;
    const putBack: string[] = [];
    try {
      // Back onto PostgreSQL, with whatever the app wrote to SQLite meanwhile.
      await stopWriters(app, { ...o, recorded: replicas }, putBack);
      const forward = await data.syncForward(await data.finalSnapshot());
      if (!forward.ok) throw new Error(`after copying SQLite's writes forward, ${unequal(forward)} still differ`);
      putBack.push(`copied ${forward.rowsChanged} rows SQLite took to PostgreSQL`);
      await app.switchTo("postgresql");
      putBack.push("the app's Secret points at PostgreSQL again");
      await startWriters(app, o, replicas, putBack);
    } catch (e2) {
      throw new CutoverError(
        `Rollback failed (${why}) and putting the app back failed too: ${(e2 as Error).message}. Done so far: ${[...steps, ...putBack].join("; ")}.`,
        [...steps, ...putBack],
      );
    }
    throw new CutoverError(`Rollback failed: ${why}. Put back: ${putBack.join("; ")}. The app runs on PostgreSQL; nothing was lost.`, [...steps, ...putBack]);
  }
  const { writeDowntimeMs, downtimeParts } = clock.finish(o.workloads.length, steps);
  return {
    backend: "sqlite",
    replicas,
    writeDowntimeMs,
    downtimeParts,
    rowsSynced: sync?.rowsChanged ?? 0,
    sync,
    backupFile: sync?.backupFile,
    steps,
    leftBehind,
  };
}

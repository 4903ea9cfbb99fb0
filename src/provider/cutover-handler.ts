// What the Cutover resource does at each step of `pulumi up`: when
// `cutover` flips, the ordered steps of cutover-steps.ts over the cluster
// (app-workloads.ts) and the data (cutover-data.ts; pod-file.ts for pod: sources).
// Loaded at run time by the dynamic provider (cutover.ts).
import type * as pulumi from "@pulumi/pulumi";
import { isAbsolute } from "node:path";
import { fingerprintSqlite } from "../engine";
import { AppWorkloads, type HealthCheck, type KubeAccess, type Workload } from "../kube/app-workloads";
import { parsePodSource } from "../kube/pod-sqlite";
import { engineData, type DataSettings } from "./cutover-data";
import { podFile } from "./pod-file";
import { cutOver, rollBack, workloadKey, type AppSide, type Backend, type DataSide, type StepsResult } from "./cutover-steps";

export interface CutoverInputs {
  cutover: boolean;
  /** the cluster the app runs in (secret); null: manifests are only rendered, there is no app to drive */
  kube: KubeAccess | null;
  workloads: Workload[];
  secretName: string;
  /** the app Secret's keys while it uses SQLite */
  sqliteData: Record<string, string>;
  /** …and while it uses PostgreSQL (secret: the app role's password is in the URLs) */
  postgresData: Record<string, string>;
  /** this resource writes the app Secret's URLs (the Pulumi-managed Secret then leaves them alone) */
  manageSecret: boolean;
  /** migration.source as configured: an absolute path, or pod:<workload>/<path> */
  source: string;
  /** the SQLite file the data steps read and write: the source itself, or where pod snapshots go */
  data: DataSettings;
  healthCheck: HealthCheck | null;
  timeoutSeconds: number;
  discardPostgresWrites: boolean;
  /** image of the reader pod for a pod: source's final snapshot ("" = the app's own image) */
  readerImage: string;
}

export interface CutoverOutputs extends CutoverInputs {
  /** what the app uses now */
  backend: Backend;
  /** the workloads' replicas before the last switch stopped them */
  replicas: Record<string, number>;
  status: string;
  /** writers stopped → app Ready (and healthy) at the last switch */
  writeDowntimeSeconds: number;
  /** rows the last switch copied (SQLite → PostgreSQL at cutover, back at a rollback) */
  rowsSynced: number;
  switchedAt: string;
  steps: string[];
  /** fingerprint of the SQLite file as the last cutover's final sync left it ("" before any) */
  finalFingerprint: string;
}

const desired = (i: CutoverInputs): Backend => (i.cutover ? "postgresql" : "sqlite");

export async function check(_olds: CutoverInputs, news: CutoverInputs): Promise<pulumi.dynamic.CheckResult> {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const pod = parsePodSource(news.source);
  if (!pod && !isAbsolute(news.source)) failures.push({ property: "source", reason: `the SQLite path must be absolute, got "${news.source}"` });
  if (pod && !news.kube) failures.push({ property: "source", reason: `${news.source} needs the cluster the app runs in; manifests are only rendered here` });
  if (news.healthCheck && !news.kube)
    failures.push({ property: "healthCheck", reason: "cutover.healthCheck needs the cluster the app runs in; manifests are only rendered here" });
  if (!(news.timeoutSeconds > 0)) failures.push({ property: "timeoutSeconds", reason: `must be a positive number of seconds, got ${news.timeoutSeconds}` });
  return { inputs: news, failures };
}

/** JSON with keys sorted: state comes back from the engine with its keys in another order. */
export function json(v: unknown): string {
  const sorted = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sorted)
      : x && typeof x === "object"
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, sorted((x as Record<string, unknown>)[k])]),
          )
        : x;
  return JSON.stringify(sorted(v ?? null));
}

export async function diff(_id: string, olds: CutoverOutputs, news: CutoverInputs): Promise<pulumi.dynamic.DiffResult> {
  // The cluster connection and the tunnel are how to get there, not what to do.
  const what = (i: CutoverInputs) => [
    i.cutover,
    i.workloads,
    i.secretName,
    i.sqliteData,
    i.postgresData,
    i.manageSecret,
    i.source,
    { ...i.data, tunnel: null },
    i.healthCheck,
    i.timeoutSeconds,
    i.discardPostgresWrites,
    i.readerImage,
  ];
  const changed = olds.backend !== desired(news) || json(what(olds)) !== json(what(news));
  return { changes: changed, replaces: [], deleteBeforeReplace: false };
}

/** The app on the cluster (or, for rendered manifests, nothing to drive: no workloads, the Secret rendered by Pulumi). */
export function clusterApp(i: CutoverInputs): AppSide & { workloads: Workload[] } {
  if (!i.kube) {
    return {
      workloads: [],
      replicas: async () => 0,
      scale: async () => undefined,
      waitStopped: async () => undefined,
      waitReady: async () => undefined,
      switchTo: async () => undefined,
      probe: async () => {
        throw new Error("no cluster to run the health check in");
      },
    };
  }
  const kube = i.kube;
  const w = new AppWorkloads(kube);
  return {
    workloads: i.workloads,
    replicas: (x) => w.replicas(x),
    scale: (x, n) => w.scale(x, n),
    waitStopped: (x, ms) => w.waitStopped(x, ms),
    waitReady: (x, n, ms) => w.waitReady(x, n, ms),
    switchTo: async (b) => {
      if (i.manageSecret) await w.writeSecret(i.secretName, b === "postgresql" ? i.postgresData : i.sqliteData);
    },
    probe: (check) => w.probe(check, kube),
  };
}

/** Where the data steps read (and a rollback writes) the app's SQLite database: the local file, or a pod: source's through pods (pod-file.ts). */
export function sqliteData(i: CutoverInputs, timeoutMs: number, note: (s: string) => void): DataSide {
  const pod = parsePodSource(i.source);
  if (!pod) return engineData(i.data, async () => i.data.sqlitePath);
  const remote = podFile(
    { kube: i.kube!, workloads: i.workloads, source: pod, spec: i.source, localPath: i.data.sqlitePath, image: i.readerImage, timeoutMs },
    note,
  );
  return engineData(i.data, () => remote.finalSnapshot(), remote);
}

/**
 * Where the replica counts are kept while the app is stopped: an annotation of
 * the app's Secret, written before anything is scaled and removed once the app
 * runs again, so an update interrupted in between (Ctrl-C, a lost connection)
 * is followed by one that restores them instead of reading 0.
 */
export const REPLICAS_ANNOTATION = "pgshift.io/replicas-before-switch";

async function replicaRecord(i: CutoverInputs) {
  if (!i.kube || !i.manageSecret || i.workloads.length === 0) return undefined;
  const w = new AppWorkloads(i.kube);
  const raw = await w.secretAnnotation(i.secretName, REPLICAS_ANNOTATION);
  let recorded: Record<string, number> | undefined;
  try {
    recorded = raw ? (JSON.parse(raw) as Record<string, number>) : undefined;
  } catch {
    recorded = undefined;
  }
  return {
    recorded,
    onRecorded: (r: Record<string, number>) => w.annotateSecret(i.secretName, REPLICAS_ANNOTATION, JSON.stringify(r)),
    done: () => w.annotateSecret(i.secretName, REPLICAS_ANNOTATION, null),
  };
}

/** Runs the steps from the resource's last backend to the one asked for. */
export async function switchApp(
  i: CutoverInputs,
  from: Backend,
  deps: { app?: AppSide & { workloads: Workload[] }; data?: DataSide; log?: (s: string) => void } = {},
): Promise<StepsResult> {
  const timeoutMs = i.timeoutSeconds * 1000;
  // One list: the data side's lines (which pod read or wrote the file) come in the order they happened.
  const steps: string[] = [];
  const app = deps.app ?? clusterApp(i);
  const data = deps.data ?? sqliteData(i, timeoutMs, (s) => steps.push(s));
  const record = deps.app ? undefined : await replicaRecord(i);
  const o = {
    workloads: app.workloads,
    healthCheck: i.healthCheck,
    timeoutMs,
    log: deps.log,
    recorded: record?.recorded,
    onRecorded: record?.onRecorded,
    steps,
  };
  const to = desired(i);
  if (to === from) throw new Error(`internal: nothing to switch (${from})`);
  let r: StepsResult;
  try {
    r = to === "postgresql" ? await cutOver(app, data, o) : await rollBack(app, data, { ...o, discardPostgresWrites: i.discardPostgresWrites });
  } catch (e) {
    // Put back (or stopped before anything was scaled): the app runs with its replicas again.
    if (!/putting the app back failed too/.test((e as Error).message)) await record?.done().catch(() => undefined);
    throw e;
  }
  await record?.done();
  return r;
}

async function outputs(i: CutoverInputs, r: StepsResult): Promise<CutoverOutputs> {
  const what = r.backend === "postgresql" ? "cut over to PostgreSQL" : "rolled back to SQLite";
  return {
    ...i,
    backend: r.backend,
    replicas: r.replicas,
    status: `${what}: ${r.steps.join("; ")}`,
    writeDowntimeSeconds: Math.round(r.writeDowntimeMs / 100) / 10,
    rowsSynced: r.rowsSynced,
    switchedAt: new Date().toISOString(),
    steps: r.steps,
    // The app has left the file: later changes to it are someone else's (the warning in AppCutover).
    finalFingerprint: r.backend === "postgresql" ? await fingerprintSqlite(i.data.sqlitePath) : "",
  };
}

function unchanged(i: CutoverInputs, olds: Partial<CutoverOutputs>, backend: Backend, status: string): CutoverOutputs {
  return {
    ...i,
    backend,
    replicas: olds.replicas ?? {},
    status,
    writeDowntimeSeconds: olds.writeDowntimeSeconds ?? 0,
    rowsSynced: olds.rowsSynced ?? 0,
    switchedAt: olds.switchedAt ?? "",
    steps: olds.steps ?? [],
    finalFingerprint: olds.finalFingerprint ?? "",
  };
}

/** The backend the app's Secret names on the cluster, if this resource writes it. */
async function liveBackend(i: CutoverInputs): Promise<Backend | undefined> {
  if (!i.kube || !i.manageSecret) return undefined;
  const data = await new AppWorkloads(i.kube).secretData(i.secretName);
  const url = data?.DATABASE_URL;
  if (!url) return undefined;
  return url.startsWith("postgresql") ? "postgresql" : "sqlite";
}

export async function create(inputs: CutoverInputs): Promise<pulumi.dynamic.CreateResult> {
  const id = `${inputs.kube?.namespace ?? "rendered"}/${inputs.secretName}`;
  // A stack that cut over before this resource existed: the app already uses PostgreSQL; adopt, do not sync over its writes.
  // Otherwise the Secret was just created for SQLite, or was switched by the AppCutover of an older pgshift.
  // Not writing the Secret, there is nothing to read: created together with the
  // migration (which just copied everything), or added to a stack cut over
  // before this resource existed, whose PostgreSQL a sync must not overwrite.
  const live = (await liveBackend(inputs)) ?? desired(inputs);
  if (live === desired(inputs)) return { id, outs: unchanged(inputs, {}, live, `the app uses ${live === "postgresql" ? "PostgreSQL" : "SQLite"}`) };
  return { id, outs: await outputs(inputs, await switchApp(inputs, live)) };
}

export async function update(_id: string, olds: CutoverOutputs, news: CutoverInputs): Promise<pulumi.dynamic.UpdateResult> {
  const to = desired(news);
  if (olds.backend === to) {
    // Same backend: only the URLs may have changed (a new app password); the app sees them at its next restart.
    if (news.manageSecret && json(olds.postgresData) !== json(news.postgresData) && to === "postgresql") await clusterApp(news).switchTo(to);
    return { outs: unchanged(news, olds, to, olds.status) };
  }
  return { outs: await outputs(news, await switchApp(news, olds.backend)) };
}

export { workloadKey };

// AppCutover: the seed's "Update K8s Secrets" and "Restart API and workers",
// and its rollback. The app's Secret carries DATABASE_URL — SQLite before
// cutover, PostgreSQL (as the restricted app role) after.
//
// With a cluster and app.workloads, the switch is the Cutover resource's
// (src/provider/cutover.ts): it stops the workloads, brings the data level,
// writes the Secret's URLs, starts them again and checks them, in that order.
// The Secret stays a Pulumi resource (created with the SQLite URLs, its data
// then left to Cutover through ignoreChanges): no perpetual diff between the
// two, and the PostgreSQL URLs live only in Cutover's secret inputs.
// Without workloads to stop (or when manifests are only rendered), the Secret
// is rendered for the backend asked for and the workloads restarted by a
// pod-template annotation; Cutover then only moves the data, before the Secret.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AppWorkloads } from "../src/kube/app-workloads";
import { Cutover, type CutoverArgs } from "../src/provider/cutover";
import { describeSteps, workloadKey } from "../src/provider/cutover-steps";
import { POSTGRES_PORT, recommendedLabels } from "./defaults";

export interface AppCutoverArgs {
  namespace: pulumi.Input<string>;
  databaseInstance: string;
  secretName: string;
  cutover: boolean;
  sqliteUrl: string;
  host: pulumi.Input<string>;
  database: string;
  appRole: pulumi.Input<string>;
  appPassword: pulumi.Input<string>;
  tls: boolean;
  /** PEM of the CA that signed the server certificate, put in the app's Secret as DATABASE_CA_CERT */
  caCert?: pulumi.Input<string>;
  /** where the app's pods mount DATABASE_CA_CERT; with it the URLs verify the server */
  caCertPath?: string;
  workloads: { kind: "Deployment" | "StatefulSet"; name: string }[];
  /** the ordered switch with its data (a migration source is configured); omitted: only the Secret flips */
  steps?: AppCutoverSteps;
}

/** What the Cutover resource needs beyond the Secret: the cluster (omitted when manifests are only rendered), the data, the checks. */
export type AppCutoverSteps = Pick<CutoverArgs, "kube" | "source" | "data" | "healthCheck" | "timeoutSeconds" | "discardPostgresWrites" | "readerImage"> & {
  /** the SQLite file's fingerprint now, and when the DataMigration last copied it: to warn of a file changed while cut over */
  sourceFingerprint?: pulumi.Input<string>;
  migratedFingerprint?: pulumi.Input<string>;
};

export const RESTART_ANNOTATION = "pgshift.io/database";

/**
 * The seed's URL formats: SQLAlchemy with psycopg, and the asyncpg variant.
 * With TLS the app must know it talks to this server, not to whoever answers
 * on its address: with the CA mounted (caCertPath) both verify the certificate
 * and its name (verify-full; asyncpg reads the CA from PGSSLROOTCERT, which
 * the Secret also sets). Without it, psycopg (libpq) still requires SCRAM
 * channel binding, which only a server holding the role's verifier can
 * complete over this very TLS session; asyncpg cannot do channel binding, so
 * its URL then only encrypts (docs/security.md).
 */
export function databaseUrls(a: { role: string; password: string; host: string; database: string; tls: boolean; caCertPath?: string }): {
  sync: string;
  async: string;
} {
  const pw = encodeURIComponent(a.password);
  const base = `${a.role}:${pw}@${a.host}:${POSTGRES_PORT}/${a.database}`;
  if (!a.tls) return { sync: `postgresql+psycopg://${base}`, async: `postgresql+asyncpg://${base}` };
  if (a.caCertPath) {
    const ca = encodeURIComponent(a.caCertPath);
    return { sync: `postgresql+psycopg://${base}?sslmode=verify-full&sslrootcert=${ca}`, async: `postgresql+asyncpg://${base}?ssl=verify-full` };
  }
  return { sync: `postgresql+psycopg://${base}?sslmode=require&channel_binding=require`, async: `postgresql+asyncpg://${base}?ssl=require` };
}

/** What the app uses: "sqlite" before cutover, "postgresql" after. */
export type Backend = "sqlite" | "postgresql";

/** The SQLite URLs the app's Secret carries before cutover and after a rollback. */
export function sqliteUrls(sqliteUrl: string): { DATABASE_URL: string; DATABASE_URL_ASYNC: string } {
  return { DATABASE_URL: sqliteUrl, DATABASE_URL_ASYNC: sqliteUrl.replace(/^sqlite:/, "sqlite+aiosqlite:") };
}

/** The Cutover resource drives the switch: a cluster to drive and workloads to stop. */
export function drivenByCutover(args: AppCutoverArgs): boolean {
  return !!args.steps?.kube && args.workloads.length > 0;
}

/**
 * The app's Secret and the restart patches as plain manifests; `urls` are the PostgreSQL URLs (databaseUrls).
 * Driven by the Cutover resource, the Secret is written with the SQLite URLs only (Cutover switches them) and nothing is patched.
 */
export function appCutoverManifests(instance: string, args: AppCutoverArgs, urls: pulumi.Input<{ sync: string; async: string }>) {
  const u = pulumi.output(urls);
  const driven = drivenByCutover(args);
  const ca: Record<string, pulumi.Input<string>> = {
    ...(args.tls && args.caCert ? { DATABASE_CA_CERT: args.caCert } : {}),
    ...(args.tls && args.caCertPath ? { PGSSLROOTCERT: args.caCertPath } : {}),
  };
  const stringData =
    args.cutover && !driven
      ? { DATABASE_URL: pulumi.secret(u.sync), DATABASE_URL_ASYNC: pulumi.secret(u.async), ...ca }
      : { ...sqliteUrls(args.sqliteUrl), ...ca };
  const secret = {
    metadata: { name: args.secretName, namespace: args.namespace, labels: recommendedLabels("app-database-url", "cutover", args.databaseInstance) },
    type: "Opaque",
    stringData,
  };
  const backend: Backend = args.cutover ? "postgresql" : "sqlite";
  // Changing a pod-template annotation is what `kubectl rollout restart` does.
  const restarts = (driven ? [] : args.workloads).map((w) => ({
    resourceName: `${instance}-${w.name}-restart`,
    kind: w.kind,
    patch: {
      metadata: { name: w.name, namespace: args.namespace, annotations: { "pulumi.com/patchForce": "true" } },
      spec: { template: { metadata: { annotations: { [RESTART_ANNOTATION]: backend } } } },
    },
  }));
  return { secret, backend, restarts, driven };
}

export class AppCutover extends pulumi.ComponentResource {
  /** what the app uses now: "sqlite" or "postgresql" (never the URL itself) */
  public readonly backend: pulumi.Output<string>;
  /** what the last switch did, step by step */
  public readonly status: pulumi.Output<string>;
  /** writers stopped → app Ready (and healthy) at the last switch */
  public readonly writeDowntimeSeconds: pulumi.Output<number>;
  /** rows the last switch copied */
  public readonly rowsSynced: pulumi.Output<number>;

  constructor(name: string, args: AppCutoverArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:AppCutover", name, {}, opts);
    const parent = { parent: this };
    const urls = pulumi
      .all([args.appRole, args.appPassword, args.host])
      .apply(([role, password, host]) => databaseUrls({ role, password, host, database: args.database, tls: args.tls, caCertPath: args.caCertPath }));
    const m = appCutoverManifests(name, args, urls);
    const steps = args.steps;
    const cutover = (deps: pulumi.Resource[]) =>
      new Cutover(
        name,
        {
          cutover: args.cutover,
          kube: steps!.kube,
          workloads: m.driven ? args.workloads : [],
          secretName: args.secretName,
          sqliteData: sqliteUrls(args.sqliteUrl),
          postgresData: urls.apply((x) => ({ DATABASE_URL: x.sync, DATABASE_URL_ASYNC: x.async })),
          manageSecret: m.driven,
          source: steps!.source,
          data: steps!.data,
          healthCheck: steps!.healthCheck,
          timeoutSeconds: steps!.timeoutSeconds,
          discardPostgresWrites: steps!.discardPostgresWrites,
          readerImage: steps!.readerImage,
        },
        { ...parent, dependsOn: deps },
      );
    let moved: Cutover | undefined;
    if (m.driven) {
      // The Secret's URLs are Cutover's from creation on.
      const secret = new k8s.core.v1.Secret(`${name}-secret`, m.secret, { ...parent, ignoreChanges: ["stringData", "data"] });
      const switched = (moved = cutover([secret]));
      this.backend = switched.backend;
      this.status = switched.status;
      this.writeDowntimeSeconds = switched.writeDowntimeSeconds;
      this.rowsSynced = switched.rowsSynced;
      announceSteps(this, args, steps!);
    } else {
      // Data first (cutover: PostgreSQL level; rollback: PostgreSQL's writes back), then the Secret.
      moved = steps ? cutover([]) : undefined;
      const secret = new k8s.core.v1.Secret(`${name}-secret`, m.secret, { ...parent, dependsOn: moved ? [moved] : [] });
      for (const r of m.restarts) {
        // After the Secret: pods restarted before it is written would start with the old DATABASE_URL
        // (or none, while a replaced Secret is briefly absent) — found on the node, where pods really restart.
        const after = { ...parent, dependsOn: [secret] };
        if (r.kind === "Deployment") new k8s.apps.v1.DeploymentPatch(r.resourceName, r.patch, after);
        else new k8s.apps.v1.StatefulSetPatch(r.resourceName, r.patch, after);
      }
      this.backend = pulumi.output(m.backend);
      this.status = moved?.status ?? pulumi.output(`the app uses ${m.backend}`);
      this.writeDowntimeSeconds = moved?.writeDowntimeSeconds ?? pulumi.output(0);
      this.rowsSynced = moved?.rowsSynced ?? pulumi.output(0);
    }
    if (steps?.sourceFingerprint && moved) warnIfWrittenWhileCutOver(this, args, steps, moved);
    this.registerOutputs({ backend: this.backend, status: this.status, writeDowntimeSeconds: this.writeDowntimeSeconds, rowsSynced: this.rowsSynced });
  }
}

/**
 * While cut over the app writes to PostgreSQL; a SQLite file that still
 * changes (something else writes to it) is not copied, and the person running
 * `up` should hear about it. Changes the cutover's own final sync copied are not
 * news: the file is compared with what that sync left, too.
 */
function warnIfWrittenWhileCutOver(parent: pulumi.Resource, args: AppCutoverArgs, steps: AppCutoverSteps, moved: Cutover): void {
  if (!args.cutover) return;
  pulumi.all([steps.sourceFingerprint, steps.migratedFingerprint, moved.finalFingerprint]).apply(([current, copied, final]) => {
    if (!current || current === copied || current === final) return;
    pulumi.log.warn(
      `${steps.source} changed after cutover. It was NOT copied: the app has written to PostgreSQL since. ` +
        "A rollback (cutover false) refuses until the file is as the cutover left it (its backup is beside it); " +
        "to overwrite PostgreSQL with it instead, set a new runId: pulumi config set pgshift:migration.runId <anything-new>.",
      parent,
    );
  });
}

/**
 * What `pulumi preview` (and `up`) says before a switch: the steps, with the
 * workloads and their replica counts as they are now. Read from the cluster:
 * the app's Secret says which database it uses today.
 */
function announceSteps(parent: pulumi.Resource, args: AppCutoverArgs, steps: AppCutoverSteps): void {
  const to = args.cutover ? "postgresql" : "sqlite";
  pulumi.output(steps.kube!).apply(async (kube) => {
    try {
      const w = new AppWorkloads(kube);
      const url = (await w.secretData(args.secretName))?.DATABASE_URL ?? "";
      const now = url.startsWith("postgresql") ? "postgresql" : "sqlite";
      if (now === to) return;
      const replicas: Record<string, number> = {};
      for (const x of args.workloads) replicas[workloadKey(x)] = await w.replicas(x);
      const lines = describeSteps(to, args.workloads, replicas, {
        source: steps.source,
        timeoutMs: steps.timeoutSeconds * 1000,
        healthCheck: steps.healthCheck,
        discardPostgresWrites: steps.discardPostgresWrites,
      });
      pulumi.log.info(
        `${to === "postgresql" ? "Cutover" : "Rollback"} (the app's writes stop from step 1 until its pods are Ready again):\n${lines.join("\n")}`,
        parent,
      );
    } catch (e) {
      pulumi.log.warn(`Could not read the app's workloads to list the cutover steps: ${(e as Error).message}`, parent);
    }
  });
}

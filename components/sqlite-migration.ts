// The SQLite → PostgreSQL move as one component: the migration plan (printed by
// `pulumi preview` and exported), and the DataMigration resource that copies
// and verifies during `pulumi up`.
import * as pulumi from "@pulumi/pulumi";
import { basename, resolve } from "node:path";
import { fingerprintSqlite, formatPlan, planMigration } from "../src/engine";
import { settingNames, withDefaults, type MigrationSettings } from "../src/engine/options";
import { fetchPodSqlite, parsePodSource } from "../src/kube/pod-sqlite";
import { DataMigration } from "../src/provider/data-migration";
import type { TunnelTarget } from "../src/provider/tunnel";

/** The engine's settings (src/engine/options.ts), each defaulted there when absent; and what only Pulumi needs. */
export interface SqliteMigrationArgs extends Partial<MigrationSettings> {
  /**
   * the app's SQLite database: a local path (relative to the project directory), or
   * pod:<Deployment or StatefulSet name>/<path in the container> to snapshot it inside the app's pod
   */
  source: string;
  /** how to reach the app's pod for a pod: source (the kubernetes provider's kubeconfig) */
  kube?: { kubeconfig: () => string; context?: string; namespace: string };
  /** PostgreSQL URL for the owner role; secret */
  targetUrl: pulumi.Input<string>;
  /** reach PostgreSQL through this port-forward to the database pod; omitted: targetUrl directly */
  tunnel?: pulumi.Input<TunnelTarget>;
  cutover?: boolean;
  runId?: string;
  backupDir?: string;
  /**
   * how messages name the settings: STACK_PREFIX ("pgshift:migration.") when they came from the stack
   * (pgshift:migration.excludeTables names "x", …); default "": as this component's args
   */
  settingsPrefix?: string;
}

export interface PlanSummary {
  tables: { source: string; target: string; rows: number; columns: { name: string; type: string }[] }[];
  loadOrder: string[];
  skipped: { name: string; kind: string; reason: string }[];
}

export class SqliteMigration extends pulumi.ComponentResource {
  public readonly plan: pulumi.Output<PlanSummary>;
  public readonly report: pulumi.Output<unknown>;
  public readonly status: pulumi.Output<string>;
  public readonly backupFile: pulumi.Output<string>;
  /** the SQLite file's fingerprint now, and when DataMigration last copied it */
  public readonly fingerprint: pulumi.Output<string>;
  public readonly migratedFingerprint: pulumi.Output<string>;
  /** migration.source as given, resolved: an absolute path, or the pod: spec */
  public readonly source: string;
  /** the local SQLite file the data is read from: the source itself, or where pod snapshots are written */
  public readonly sqlitePath: string;

  constructor(name: string, args: SqliteMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:SqliteMigration", name, {}, opts);
    // The one place this component's settings take their defaults.
    const settings = withDefaults(args);
    const inPod = parsePodSource(args.source);
    // A pod: source is snapshotted into the project (in preview too: the plan
    // needs the tables); a local path is used as it is.
    const source = inPod ? resolve(".pgshift", "pod-snapshots", pulumi.getStack(), `${inPod.workload}-${basename(inPod.path)}`) : resolve(args.source);
    this.source = inPod ? args.source : source;
    this.sqlitePath = source;
    const sourceReady: Promise<string> = inPod
      ? (async () => {
          if (!args.kube) throw new Error(`migration.source ${args.source} needs a Kubernetes connection to the app's pod.`);
          const got = await fetchPodSqlite(args.kube.kubeconfig(), args.kube.context, args.kube.namespace, inPod, source);
          pulumi.log.info(`SQLite snapshot of ${inPod.path} taken in pod ${got.pod} (online backup, ${got.bytes} bytes) → ${source}`, this);
          return source;
        })()
      : Promise.resolve(source);

    // Reading the SQLite catalog is harmless, so the plan is made in preview
    // and up alike; nothing in PostgreSQL is touched here.
    const planned = sourceReady
      .then((src) =>
        planMigration({
          ...settings,
          optionNames: settingNames(args.settingsPrefix ?? ""),
          source: src,
          // In existing mode the target's tables come from schemaCommand, which runs
          // after this plan (and not at all in preview): plan from SQLite alone.
          allowUnknownTarget: true,
        }),
      )
      .then((plan) => {
        pulumi.log.info(`Migration plan for ${source}:\n${formatPlan(plan)}`, this);
        return summarise(plan);
      });
    this.plan = pulumi.output(planned);

    const fingerprint = sourceReady.then(fingerprintSqlite);
    const migration = new DataMigration(
      name,
      {
        source: sourceReady,
        sourceFingerprint: fingerprint,
        targetUrl: args.targetUrl,
        tunnel: args.tunnel,
        ...settings,
        cutover: args.cutover ?? false,
        runId: args.runId ?? "",
        backupDir: args.backupDir ? resolve(args.backupDir) : "",
        settingsPrefix: args.settingsPrefix ?? "",
      },
      { parent: this },
    );

    this.fingerprint = pulumi.output(fingerprint);
    this.migratedFingerprint = migration.migratedFingerprint;
    this.report = migration.report;
    this.status = migration.status;
    this.backupFile = migration.backupFile;
    this.registerOutputs({ plan: this.plan, report: this.report, status: this.status, backupFile: this.backupFile });
  }
}

function summarise(plan: Awaited<ReturnType<typeof planMigration>>): PlanSummary {
  return {
    tables: plan.tables.map((t) => ({
      source: t.source,
      target: t.target,
      rows: t.rows,
      columns: t.columns.map((c) => ({ name: c.target, type: c.targetType })),
    })),
    loadOrder: plan.loadOrder,
    skipped: plan.skipped.map((s) => ({ name: s.name, kind: s.kind, reason: s.reason })),
  };
}

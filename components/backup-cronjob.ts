// BackupCronJob: the seed's daily/weekly/monthly pg_dump rotation as a
// CronJob. The script is components/backup/backup.sh, mounted from a
// ConfigMap: a dump counts once it restores in full and its checksum is
// stored; retention is by calendar; any failure fails the Job.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BACKUP_MOUNT, CA_MOUNT, caVolume, recommendedLabels, restrictedContainerSecurity } from "./defaults";
import { databaseChildName } from "./names";

export interface BackupCronJobArgs {
  namespace: pulumi.Input<string>;
  namePrefix: string;
  databaseInstance: string;
  image: string;
  schedule: string;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  storageSize: string;
  storageClass?: string;
  /** Secret with PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD for the backup role */
  credentialsSecretName: pulumi.Input<string>;
  /** the database's TLS Secret: its ca.crt verifies the server (TLS on) */
  caSecretName?: pulumi.Input<string>;
  /** keep the backup volume when the stack is destroyed */
  protect: boolean;
}

export const backupScript = () => readFileSync(join(__dirname, "backup", "backup.sh"), "utf8");
export const restoreScript = () => readFileSync(join(__dirname, "backup", "restore.sh"), "utf8");

/** What the backup job's pods are selected by (the NetworkPolicy lets these in). */
export function backupSelector(databaseInstance: string): Record<string, string> {
  return { "app.kubernetes.io/component": "backup", "app.kubernetes.io/instance": databaseInstance };
}

/** The backup's objects as plain manifests. */
export function backupManifests(args: BackupCronJobArgs) {
  const labels = { ...recommendedLabels("postgres-backup", "backup", args.databaseInstance), ...backupSelector(args.databaseInstance) };
  const name = databaseChildName(args.namePrefix, "backup");
  const meta = (suffix: string) => ({ name: `${name}${suffix}`, namespace: args.namespace, labels });
  const scripts = { metadata: meta("-scripts"), data: { "backup.sh": backupScript(), "restore.sh": restoreScript() } };
  const claim = {
    metadata: meta(""),
    spec: {
      accessModes: ["ReadWriteOnce"],
      ...(args.storageClass ? { storageClassName: args.storageClass } : {}),
      resources: { requests: { storage: args.storageSize } },
    },
  };
  const env: k8s.types.input.core.v1.EnvVar[] = [
    { name: "BACKUP_DIR", value: BACKUP_MOUNT },
    { name: "KEEP_DAILY", value: String(args.keepDaily) },
    { name: "KEEP_WEEKLY", value: String(args.keepWeekly) },
    { name: "KEEP_MONTHLY", value: String(args.keepMonthly) },
  ];
  // Its own account, without an API token: the job never talks to Kubernetes.
  const serviceAccount = { metadata: meta(""), automountServiceAccountToken: false };
  const cronJob: k8s.types.input.batch.v1.CronJob = {
    metadata: meta(""),
    spec: {
      schedule: args.schedule,
      timeZone: "Etc/UTC",
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: 6 * 3600,
          ttlSecondsAfterFinished: 7 * 24 * 3600,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              serviceAccountName: serviceAccount.metadata.name,
              automountServiceAccountToken: false,
              securityContext: { runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "backup",
                  image: args.image,
                  command: ["/bin/sh", "/scripts/backup.sh"],
                  envFrom: [{ secretRef: { name: args.credentialsSecretName } }],
                  env,
                  resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "1", memory: "512Mi" } },
                  securityContext: restrictedContainerSecurity,
                  volumeMounts: [
                    { name: "backups", mountPath: BACKUP_MOUNT },
                    { name: "scripts", mountPath: "/scripts", readOnly: true },
                    ...(args.caSecretName ? [{ name: "ca", mountPath: CA_MOUNT, readOnly: true }] : []),
                  ],
                },
              ],
              volumes: [
                { name: "backups", persistentVolumeClaim: { claimName: claim.metadata.name } },
                { name: "scripts", configMap: { name: scripts.metadata.name, defaultMode: 0o555 } },
                ...(args.caSecretName ? [caVolume(args.caSecretName)] : []),
              ],
            },
          },
        },
      },
    },
  };
  return { scripts, claim, serviceAccount, cronJob };
}

export class BackupCronJob extends pulumi.ComponentResource {
  public readonly cronJobName: pulumi.Output<string>;

  constructor(name: string, args: BackupCronJobArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgshift:index:BackupCronJob", name, {}, opts);
    const parent = { parent: this };
    const m = backupManifests(args);
    const scripts = new k8s.core.v1.ConfigMap(`${name}-scripts`, m.scripts, parent);
    const pvc = new k8s.core.v1.PersistentVolumeClaim(`${name}-pvc`, m.claim, { ...parent, protect: args.protect, retainOnDelete: args.protect });
    const serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-serviceaccount`, m.serviceAccount, parent);
    // The job's pods use all three by name: created first.
    const cron = new k8s.batch.v1.CronJob(`${name}-cronjob`, m.cronJob, { ...parent, dependsOn: [scripts, pvc, serviceAccount] });
    this.cronJobName = cron.metadata.name;
    this.registerOutputs({ cronJobName: this.cronJobName });
  }
}

// The CronJob's shape (mocks). The scripts it runs are tested for real in
// test/components/backup/backup.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { captureOptions, captureResources, one, settle } from "../helpers/mocks";
import { BackupCronJob, backupManifests } from "../../components/backup-cronjob";

const scripts = join(__dirname, "..", "..", "components", "backup");

test("CronJob: Forbid concurrency, history limits, TTL, the repo's script from a ConfigMap, the backup role's credentials", async () => {
  const resources = captureResources();
  new BackupCronJob(
    "backup",
    {
      namespace: "ns",
      namePrefix: "dev-",
      databaseInstance: "postgres",
      image: "postgres:16-alpine",
      schedule: "0 2 * * *",
      keepDaily: 7,
      keepWeekly: 4,
      keepMonthly: 6,
      storageSize: "20Gi",
      credentialsSecretName: "dev-postgres-backup",
      protect: true,
    },
    { transformations: [captureOptions] },
  );
  await settle();
  const cj = one(resources, "kubernetes:batch/v1:CronJob").inputs.spec;
  assert.equal(cj.schedule, "0 2 * * *");
  assert.equal(cj.concurrencyPolicy, "Forbid");
  assert.equal(cj.successfulJobsHistoryLimit, 3);
  assert.equal(cj.failedJobsHistoryLimit, 3);
  assert.ok(cj.jobTemplate.spec.ttlSecondsAfterFinished > 0);
  const c = cj.jobTemplate.spec.template.spec.containers[0];
  assert.deepEqual(c.command, ["/bin/sh", "/scripts/backup.sh"]);
  assert.deepEqual(c.envFrom, [{ secretRef: { name: "dev-postgres-backup" } }]);
  const env = Object.fromEntries(c.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  assert.deepEqual([env.KEEP_DAILY, env.KEEP_WEEKLY, env.KEEP_MONTHLY], ["7", "4", "6"]);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  const cm = one(resources, "kubernetes:core/v1:ConfigMap").inputs.data;
  assert.equal(cm["backup.sh"], readFileSync(join(scripts, "backup.sh"), "utf8"));
  assert.equal(cm["restore.sh"], readFileSync(join(scripts, "restore.sh"), "utf8"));
  const pvc = one(resources, "kubernetes:core/v1:PersistentVolumeClaim");
  assert.equal(pvc.opts.retainOnDelete, true, "the backups outlive the stack in prod");
});

test("the backup job's pods carry the labels the NetworkPolicy lets in; the CronJob mounts its claim, scripts and account by name", () => {
  const m = backupManifests({
    namespace: "ns",
    namePrefix: "dev-",
    databaseInstance: "postgres",
    image: "postgres:16-alpine",
    schedule: "0 2 * * *",
    keepDaily: 7,
    keepWeekly: 4,
    keepMonthly: 6,
    storageSize: "20Gi",
    credentialsSecretName: "dev-postgres-backup",
    protect: false,
  }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const labels = m.cronJob.spec.jobTemplate.spec.template.metadata.labels;
  assert.equal(labels["app.kubernetes.io/component"], "backup");
  assert.equal(labels["app.kubernetes.io/instance"], "postgres");
  const pod = m.cronJob.spec.jobTemplate.spec.template.spec;
  assert.deepEqual(pod.volumes.slice(0, 2), [
    { name: "backups", persistentVolumeClaim: { claimName: "dev-postgres-backup" } },
    { name: "scripts", configMap: { name: "dev-postgres-backup-scripts", defaultMode: 0o555 } },
  ]);
  assert.equal(pod.serviceAccountName, "dev-postgres-backup");
  assert.equal(m.claim.metadata.name, "dev-postgres-backup");
  assert.equal(m.scripts.metadata.name, "dev-postgres-backup-scripts");
  assert.equal(m.cronJob.spec.timeZone, "Etc/UTC");
});

// The CronJob's shape (mocks). The scripts it runs are tested for real in
// test/components/backup/backup.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { captureOptions, captureResources, one, settle } from "../helpers/mocks";
import { BackupCronJob } from "../../components/backup-cronjob";

const scripts = join(__dirname, "..", "..", "components", "backup");

test("CronJob: Forbid concurrency, history limits, TTL, the repo's script from a ConfigMap, the backup role's credentials", async () => {
  const resources = captureResources();
  new BackupCronJob(
    "backup",
    { namespace: "ns", namePrefix: "dev-", databaseInstance: "postgres", image: "postgres:16-alpine", schedule: "0 2 * * *", keepDaily: 7, keepWeekly: 4, keepMonthly: 6, storageSize: "20Gi", credentialsSecretName: "dev-postgres-backup", protect: true },
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

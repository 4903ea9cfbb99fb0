// The CronJob's shape (mocks), and the backup and restore scripts run for real:
// dump a PostgreSQL database with data, restore it into a fresh one, compare;
// a corrupted dump makes the job fail.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, truncateSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureOptions, captureResources, one, settle } from "../helpers/mocks";
import { BackupCronJob } from "../../components/backup-cronjob";
import { startDebianPostgres, type DebianPostgres } from "../helpers/debian-postgres";

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

let server: DebianPostgres;
before(async () => {
  server = await startDebianPostgres();
});
after(async () => server?.stop());

function runScript(script: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  return spawnSync("sh", [join(scripts, script), ...args], { env: { ...process.env, ...server.env, ...env }, encoding: "utf8" });
}

test("backup.sh dumps, checks and rotates; restore.sh brings the data back exactly", async () => {
  server.psql("postgres", "CREATE DATABASE shop");
  server.psql("shop", `CREATE TABLE orders (id bigserial PRIMARY KEY, note text, amount numeric(10,2), at timestamptz DEFAULT now());
    INSERT INTO orders (note, amount) SELECT 'sipariş ' || g || ' 🚀', g * 1.5 FROM generate_series(1, 5000) g;`);
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  // Three days of backups, the second one a Sunday and the first of a month.
  const days = [
    { now: "20251130_020000", dow: "7", dom: "30" },
    { now: "20251201_020000", dow: "1", dom: "01" },
    { now: "20251202_020000", dow: "2", dom: "02" },
  ];
  for (const d of days) {
    const r = runScript("backup.sh", { PGDATABASE: "shop", BACKUP_DIR: dir, KEEP_DAILY: "2", BACKUP_NOW: d.now, BACKUP_DAY_OF_WEEK: d.dow, BACKUP_DAY_OF_MONTH: d.dom });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  }
  assert.deepEqual(readdirSync(join(dir, "daily")).filter((f) => f.endsWith(".dump")).sort(), ["shop_20251201_020000.dump", "shop_20251202_020000.dump"], "oldest daily rotated out");
  assert.deepEqual(readdirSync(join(dir, "weekly")), ["shop_20251130_020000.dump"]);
  assert.deepEqual(readdirSync(join(dir, "monthly")), ["shop_20251201_020000.dump"]);
  assert.ok(existsSync(join(dir, "latest.dump")));

  server.psql("postgres", "CREATE DATABASE shop_restored");
  const r = runScript("restore.sh", { PGDATABASE: "shop_restored", BACKUP_DIR: dir }, ["latest"]);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const digest = (db: string) => server.psql(db, "SELECT count(*) || ':' || md5(string_agg(id || note || amount || at, ',' ORDER BY id)) FROM orders").trim();
  assert.equal(digest("shop_restored"), digest("shop"));
});

test("a corrupted dump fails the check: backup.sh and restore.sh exit non-zero", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backups-"));
  // pg_dump writing garbage (a full disk, a broken pipe) is simulated by a pg_dump that truncates its output.
  const fake = mkdtempSync(join(tmpdir(), "pgshift-fakebin-"));
  writeFileSync(
    join(fake, "pg_dump"),
    `#!/bin/sh\n"${server.bin}/pg_dump" "$@" || exit $?\nfor a in "$@"; do case "$a" in --file=*) f="\${a#--file=}";; esac; done\nhead -c 200 "$f" > "$f.cut" && mv "$f.cut" "$f"\n`,
    { mode: 0o755 },
  );
  const r = runScript("backup.sh", { PGDATABASE: "postgres", BACKUP_DIR: dir, PATH: `${fake}:${server.bin}:${process.env.PATH}` });
  assert.notEqual(r.status, 0, "the job fails");
  assert.match(r.stdout + r.stderr, /not a readable dump/);
  assert.deepEqual(readdirSync(join(dir, "daily")).filter((f) => f.endsWith(".dump")), [], "a bad dump is never rotated in");
  const broken = join(dir, "broken.dump");
  writeFileSync(broken, "PGDMP garbage");
  truncateSync(broken, statSync(broken).size);
  const rr = runScript("restore.sh", { PGDATABASE: "postgres" }, [broken]);
  assert.notEqual(rr.status, 0);
});

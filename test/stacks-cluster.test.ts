// The committed `cluster` stack on a node that runs pods (src/cluster): the
// real Pulumi engine with readiness waits on, from an empty cluster to a
// running database with the app's data, then what only running pods can show
// — the security settings in effect, data surviving a pod deletion, a backup
// Job whose dump is readable, the exporter's pg_up, and the app's pods restarted
// onto PostgreSQL at cutover and back onto SQLite at rollback.
// The database image is Debian's PostgreSQL 15 (Debian has no 16), built by
// toolchain/images/build.sh; production uses postgres:16-alpine.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pulumiWorkspace, readsSettings, repoRoot, type PulumiRun } from "./helpers/pulumi";
import { startTestCluster, type TestCluster } from "./helpers/kube";
import { createSampleAppDb } from "../scripts/sample-app-db";
import { moveEncryptionSalt } from "../scripts/stack-file";
import { sampleAppManifest, SAMPLE_APP } from "../src/cluster/sample-app";
import { POSTGRES_UID } from "../components/defaults";

const ns = SAMPLE_APP.namespace;
const dbPod = "cluster-postgres-0";
const MESSAGES = 500;
let cluster: TestCluster;
const work = mkdtempSync(join(tmpdir(), "pgshift-cluster-stack-"));
const stackFile = join(repoRoot, "Pulumi.cluster.yaml");
const committed = readFileSync(stackFile, "utf8");
const configFile = join(work, "Pulumi.cluster.yaml");
let ws: ReturnType<typeof pulumiWorkspace>;

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string; volumes?: { name: string; persistentVolumeClaim?: { claimName: string } }[] };
  status: { phase: string; conditions?: { type: string; status: string }[]; podIP?: string };
}

const pulumi = (args: string[], allowFailure = false): Promise<PulumiRun> =>
  ws.run(readsSettings(args) ? [...args, "--config-file", configFile, "--stack", "cluster"] : args, { allowFailure });
const set = (path: string, value: string) => pulumi(["config", "set", "--path", path, value]);
const exec = async (pod: string, script: string, container?: string) =>
  (await cluster.kubectl(["exec", "-n", ns, pod, ...(container ? ["-c", container] : []), "--", "sh", "-c", script])).stdout.trim();
/** SQL in the database pod, as the superuser (its password is a mounted file), over TCP inside the pod (pg_hba wants a password everywhere). */
const psql = (sql: string, db = "piyasa_db") => exec(dbPod, `PGPASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")" psql -X -q -h 127.0.0.1 -U "$POSTGRES_USER" -d ${db} -tA -c "${sql}"`);
const ready = (p: Pod | undefined) => !!p && !p.metadata.deletionTimestamp && !!p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
const podsOf = async (app: string) =>
  (JSON.parse((await cluster.kubectl(["get", "pods", "-n", ns, "-l", `app=${app}`, "-o", "json"])).stdout) as { items: Pod[] }).items.filter((p) => !p.metadata.deletionTimestamp);

before(async () => {
  const t0 = Date.now();
  cluster = await startTestCluster({ node: true });
  console.log(`node cluster up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  await cluster.kubectl(["apply", "-f", "-"], { input: sampleAppManifest() });
  const source = join(work, "app.db");
  createSampleAppDb(source, { messages: MESSAGES });
  ws = pulumiWorkspace(repoRoot, cluster.env);
  await ws.run(["stack", "init", "cluster", "--secrets-provider", "passphrase"]);
  moveEncryptionSalt(stackFile, configFile, committed, committed);
  await set("pgshift:migration.source", source);
});

after(async () => {
  if (ws) await ws.run(["stack", "rm", "--yes", "--force", "--preserve-config", "cluster"], { allowFailure: true });
  if (!existsSync(stackFile) || readFileSync(stackFile, "utf8") !== committed) writeFileSync(stackFile, committed);
  if (ws) rmSync(ws.backendDir, { recursive: true, force: true });
  const left = await cluster?.stop();
  rmSync(work, { recursive: true, force: true });
  assert.deepEqual(left ?? [], [], "the node left nothing behind");
});

describe("cluster stack on a node", () => {
  test("up from an empty cluster: the database pod becomes Ready and holds the app's data", async () => {
    const t0 = Date.now();
    await pulumi(["up", "--yes", "--skip-preview"]);
    console.log(`pulumi up (cluster stack, readiness waits on) took ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    assert.ok(ready(await cluster.get<Pod>("pod", dbPod, ns)), "the database pod is Ready");
    assert.equal(await psql("SELECT count(*) FROM public.messages"), String(MESSAGES), "the copy went through the program's own port-forward");
    assert.match(await psql("SHOW server_version"), /^15\./, "Debian's PostgreSQL 15 (the local image)");
  });

  test("the database runs as the configured non-root uid, without capabilities, its data on the volume", async () => {
    assert.equal(await exec(dbPod, "id -u"), String(POSTGRES_UID));
    const status = await exec(dbPod, "cat /proc/1/status");
    assert.match(status, new RegExp(`^Uid:\\s+${POSTGRES_UID}\\s+${POSTGRES_UID}\\s+${POSTGRES_UID}\\s+${POSTGRES_UID}$`, "m"), "the server process runs as the uid");
    assert.match(status, /^CapEff:\s+0000000000000000$/m, "no capabilities (drop ALL)");
    assert.match(status, /^NoNewPrivs:\s+1$/m, "allowPrivilegeEscalation false");
    assert.equal(await exec(dbPod, 'cat "$PGDATA/PG_VERSION"'), "15");
    assert.equal(await exec(dbPod, 'stat -c %u "$PGDATA"'), String(POSTGRES_UID), "PGDATA belongs to the database's uid");
    const mounts = await exec(dbPod, "cat /proc/mounts");
    assert.match(mounts, / \/var\/lib\/postgresql\/data /, "the data directory is a mounted volume, not the container's filesystem");
  });

  test("deleting the pod brings it back with the data intact", async () => {
    const old = (await cluster.get<Pod>("pod", dbPod, ns))!;
    await psql("CREATE TABLE public.survives (x int); INSERT INTO public.survives VALUES (42)");
    await cluster.kubectl(["delete", "pod", "-n", ns, dbPod, "--wait=true"]);
    const back = await cluster.waitFor(
      "the database pod to come back Ready",
      async () => {
        const p = await cluster.get<Pod>("pod", dbPod, ns);
        return p && p.metadata.uid !== old.metadata.uid && ready(p) ? p : undefined;
      },
      180_000,
    );
    assert.notEqual(back.metadata.uid, old.metadata.uid, "a new pod");
    assert.equal(await psql("SELECT x FROM public.survives"), "42");
    assert.equal(await psql("SELECT count(*) FROM public.messages"), String(MESSAGES));
  });

  test("a Job from the backup CronJob writes a dump on the backup volume that pg_restore reads, with every table's data", async () => {
    const runJob = async (name: string) => {
      await cluster.kubectl(["create", "job", "-n", ns, `--from=cronjob/cluster-postgres-backup`, name]);
      await cluster.waitFor(
        `backup Job ${name} to complete`,
        async () => {
          const j = await cluster.get<{ status: { succeeded?: number; failed?: number } }>("job", name, ns);
          if (j?.status.failed) throw new Error(`backup Job ${name} failed: ${(await cluster.kubectl(["logs", "-n", ns, `job/${name}`], { allowFailure: true })).stdout}`);
          return j?.status.succeeded === 1;
        },
        180_000,
      );
      return (await cluster.kubectl(["logs", "-n", ns, `job/${name}`])).stdout;
    };
    const first = await runJob("backup-1");
    assert.match(first, /wrote \/backups\/dumps\/piyasa_db_\d{8}T\d{6}Z\.dump/);
    // Retention is by calendar day (components/backup/backup.sh), so it is exercised by the component tests'
    // fixed clocks, not by two Jobs a second apart here.

    // The dump, read in a pod of its own from the backup volume: every app table's data is in it. (Restoring it
    // into a scratch database from another pod is refused by design since the prod hardening: pg_hba lets the
    // superuser in over loopback only and the roles into piyasa_db only; test/components restores it for real.)
    const listPod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "dump-check", namespace: ns, labels: { "app.kubernetes.io/component": "backup", "app.kubernetes.io/instance": "postgres" } },
      spec: {
        restartPolicy: "Never",
        securityContext: { runAsNonRoot: true, runAsUser: POSTGRES_UID, runAsGroup: POSTGRES_UID, fsGroup: POSTGRES_UID },
        containers: [{ name: "list", image: "pgshift.local/postgres:15", command: ["pg_restore", "--list", "/backups/latest.dump"], volumeMounts: [{ name: "backups", mountPath: "/backups", readOnly: true }] }],
        volumes: [{ name: "backups", persistentVolumeClaim: { claimName: "cluster-postgres-backup" } }],
      },
    };
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(listPod) });
    const done = await cluster.waitFor("the dump-check pod to finish", async () => {
      const p = await cluster.get<Pod>("pod", "dump-check", ns);
      return p && ["Succeeded", "Failed"].includes(p.status.phase) ? p.status.phase : undefined;
    }, 180_000);
    const list = (await cluster.kubectl(["logs", "-n", ns, "dump-check"])).stdout;
    assert.equal(done, "Succeeded", `pg_restore --list read the dump:\n${list}`);
    const tables = (await psql("SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")).split(" ");
    assert.ok(tables.length >= 7, `the app's tables: ${tables.join(", ")}`);
    for (const t of tables) assert.match(list, new RegExp(`TABLE DATA public ${t} `), `the dump holds ${t}'s rows`);
  });

  test("the exporter reaches the database as the monitor role: /metrics says pg_up 1", async () => {
    const metrics = await cluster.waitFor("the exporter to report pg_up 1", async () => {
      const r = await cluster.kubectl(["get", "--raw", `/api/v1/namespaces/${ns}/services/cluster-postgres-exporter:9187/proxy/metrics`], { allowFailure: true });
      return r.code === 0 && /^pg_up 1$/m.test(r.stdout) ? r.stdout : undefined;
    }, 120_000);
    assert.match(metrics, /^pg_up 1$/m);
    assert.match(await psql("SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity WHERE datname = 'piyasa_db' AND usename IS NOT NULL"), /piyasa_monitor/, "the exporter is logged in as the monitor role");
  });

  test("cutover replaces the app's pods, which see the PostgreSQL DATABASE_URL; rollback brings back SQLite", async () => {
    const before = [...(await podsOf("piyasa-api")), ...(await podsOf("piyasa-worker"))].map((p) => p.metadata.uid);
    assert.equal(before.length, 2);
    const switchTo = async (cutover: boolean, scheme: RegExp, old: string[]) => {
      await set("pgshift:cutover", String(cutover));
      await pulumi(["up", "--yes", "--skip-preview"]);
      const fresh = await cluster.waitFor(`new app pods (cutover ${cutover})`, async () => {
        const pods = [...(await podsOf("piyasa-api")), ...(await podsOf("piyasa-worker"))];
        return pods.length === 2 && pods.every((p) => !old.includes(p.metadata.uid) && ready(p)) ? pods : undefined;
      }, 180_000);
      for (const p of fresh) {
        const url = await exec(p.metadata.name, 'printf %s "$DATABASE_URL"');
        assert.match(url, scheme, `${p.metadata.name} was started with the new DATABASE_URL`);
      }
      return fresh.map((p) => p.metadata.uid);
    };
    const cut = await switchTo(true, new RegExp(`^postgresql\\+psycopg://piyasa_app:[^@]+@cluster-postgres\\.${ns}\\.svc\\.cluster\\.local:5432/piyasa_db$`), before);
    await switchTo(false, /^sqlite:\/\/\/\.\/app\.db$/, cut);
  });
});

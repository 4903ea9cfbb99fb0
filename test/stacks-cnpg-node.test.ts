// The committed cluster-ha stack (pgshift:database.engine cloudnative-pg) on a
// node that runs pods, with CloudNativePG's operator installed as `npm run
// cluster -- up --cnpg` does: one `pulumi up` from an empty cluster, then what
// only a running primary/replica cluster can show — three instances Ready with
// the app's data copied and verified, the primary's pod deleted while the app
// writes (a replica promoted, every acknowledged write still there), and a
// backup Job's dump restored into a fresh database with the same rows.
// One node, one `up`, the cases in order (each uses what the one before left).
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { type PulumiRun } from "./helpers/pulumi";
import { type TestCluster } from "./helpers/kube";
import { NodeStack } from "./helpers/node-stack";
import { assertEveryAck, readAcks, type Pod } from "./helpers/sample-app";
import { pgRestoreLatestDump } from "./helpers/backup-dump";
import { sampleAppManifest, SAMPLE_APP } from "../src/cluster/sample-app";

const ns = SAMPLE_APP.namespace;
const clusterName = "cluster-postgres";
const MESSAGES = 500;
const stack = new NodeStack("cluster-ha", { messages: MESSAGES, cloudnativePg: true });
const { appDir, source } = stack;
let cluster: TestCluster;
let ws: NodeStack["ws"];

interface CnpgCluster {
  status?: {
    instances?: number;
    readyInstances?: number;
    phase?: string;
    currentPrimary?: string;
    targetPrimary?: string;
    conditions?: { type: string; status: string }[];
    instancesStatus?: Record<string, string[]>;
  };
}

const pulumi = (args: string[], allowFailure = false): Promise<PulumiRun> => stack.pulumi(args, allowFailure);
const cnpg = async () => (await cluster.get<CnpgCluster>("clusters.postgresql.cnpg.io", clusterName, ns))?.status ?? {};
const healthy = (s: CnpgCluster["status"] & object) =>
  s.readyInstances === 3 && s.currentPrimary === s.targetPrimary && !!s.conditions?.some((c) => c.type === "Ready" && c.status === "True");
/** SQL as the superuser on an instance, over its local socket (CloudNativePG's pg_hba maps the pod's postgres user by peer) */
const psqlOn = async (pod: string, sql: string, db = "piyasa_db", input?: string) =>
  (
    await cluster.kubectl(
      [
        "exec",
        "-n",
        ns,
        ...(input !== undefined ? ["-i"] : []),
        pod,
        "-c",
        "postgres",
        "--",
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "/controller/run",
        "-U",
        "postgres",
        "-d",
        db,
        "-tA",
        ...(sql ? ["-c", sql] : []),
      ],
      input !== undefined ? { input } : {},
    )
  ).stdout.trim();
const primary = async () => (await cnpg()).currentPrimary!;
const psql = async (sql: string, db?: string) => psqlOn(await primary(), sql, db);
/** the pod the read-write Service sends connections to */
const rwEndpoint = async () => {
  const ep = await cluster.get<{ subsets?: { addresses?: { targetRef?: { name: string } }[] }[] }>("endpoints", `${clusterName}-rw`, ns);
  return ep?.subsets?.flatMap((s) => s.addresses ?? []).map((a) => a.targetRef?.name) ?? [];
};
const sqliteCounts = (): Record<string, number> => {
  const db = new Database(source, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
    return Object.fromEntries(tables.map((t) => [t, Number(db.prepare(`SELECT count(*) FROM "${t}"`).pluck().get())]));
  } finally {
    db.close();
  }
};
const pgCounts = async (pod: string, tables: string[], db = "piyasa_db"): Promise<Record<string, number>> =>
  Object.fromEntries(
    (await psqlOn(pod, tables.map((t) => `SELECT '${t}', count(*) FROM public."${t}"`).join(" UNION ALL "), db))
      .split("\n")
      .map((l) => l.split("|"))
      .map(([t, n]) => [t!, Number(n)]),
  );

before(async () => {
  await stack.start();
  cluster = stack.cluster;
  ws = stack.ws;
});

after(() => stack.stop());

const stopApp = async () => {
  await cluster.kubectl(["scale", "-n", ns, "deployment/cluster-api", "statefulset/cluster-worker", "--replicas=0"]);
  await cluster.waitFor(
    "the app's pods to be gone",
    async () =>
      (JSON.parse((await cluster.kubectl(["get", "pods", "-n", ns, "-l", "app in (piyasa-api,piyasa-worker)", "-o", "json"])).stdout) as { items: Pod[] }).items
        .length === 0,
    120_000,
  );
};

describe("cluster-ha stack (CloudNativePG) on a node", () => {
  test("up from an empty cluster: three instances Ready, one synchronous standby, the app's data copied and verified", async () => {
    const t0 = Date.now();
    await pulumi(["up", "--yes", "--skip-preview"]);
    console.log(`pulumi up (cluster-ha, 3 CloudNativePG instances) took ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const s = await cnpg();
    assert.ok(healthy(s), `the Cluster is healthy with 3 ready instances: ${JSON.stringify(s)}`);
    assert.deepEqual(await rwEndpoint(), [s.currentPrimary], "the read-write Service points at the primary");
    const out = JSON.parse((await ws.run(["stack", "output", "--json", "--stack", "cluster-ha"])).stdout) as Record<string, unknown>;
    const expected = sqliteCounts();
    const tables = Object.keys(expected);
    const rows = Object.values(expected).reduce((a, b) => a + b, 0);
    assert.match(String(out["migrationStatus"]), new RegExp(`^copied and verified ${tables.length} tables, ${rows} rows`));
    assert.equal(out["databaseService"], `${clusterName}-rw.${ns}.svc.cluster.local`);
    assert.deepEqual(await pgCounts(s.currentPrimary!, tables), expected, "the primary holds every table's rows");
    // Streaming, and commits wait for a standby: ANY 1 makes both replicas quorum candidates.
    assert.deepEqual(
      (await psqlOn(s.currentPrimary!, "SELECT sync_state FROM pg_stat_replication WHERE application_name LIKE 'cluster-postgres-%' ORDER BY 1")).split("\n"),
      ["quorum", "quorum"],
    );
    assert.match(await psqlOn(s.currentPrimary!, "SHOW synchronous_standby_names"), /^ANY 1 \(/);
    const replica = [1, 2, 3].map((n) => `${clusterName}-${n}`).find((p) => p !== s.currentPrimary)!;
    assert.equal(await psqlOn(replica, "SELECT pg_is_in_recovery()"), "t");
    assert.deepEqual(await pgCounts(replica, tables), expected, "a replica holds the same rows");
  });

  test("deleting the primary while the app writes: a replica is promoted, the Service follows, and no acknowledged write is lost", async () => {
    const before = await cnpg();
    const oldPrimary = before.currentPrimary!;
    // The app writes to the read-write Service as the app role, one message every ~20 ms from each of its two pods.
    const appPassword = JSON.parse((await ws.run(["stack", "output", "--json", "--show-secrets", "appPassword", "--stack", "cluster-ha"])).stdout) as string;
    const url = `postgresql+psycopg://piyasa_app:${encodeURIComponent(appPassword)}@${clusterName}-rw.${ns}.svc.cluster.local:5432/piyasa_db`;
    await cluster.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: SAMPLE_APP.secretName, namespace: ns }, stringData: { DATABASE_URL: url } }),
    });
    await cluster.kubectl(["apply", "-f", "-"], { input: sampleAppManifest({ dataDir: appDir }) });
    const acked = () => readAcks(appDir).filter((a) => a.backend === "postgresql");
    const ackers = () => new Set(acked().map((a) => a.tag.split(" ")[1]));
    await cluster.waitFor("both app pods to write to PostgreSQL", async () => ackers().size >= 2 && acked().length >= 50, 180_000);

    // The replicas fall behind first: their WAL receivers are paused (SIGSTOP) for a while before the primary goes.
    // Asynchronous replication would go on acknowledging commits the replicas never get, and the one promoted would
    // lack them; with a synchronous standby required, commits wait instead and none of those is acknowledged.
    // (A graceful shutdown alone hands the primary's last WAL over, so without the pause asynchronous replication
    // would pass too.)
    const replicas = [1, 2, 3].map((n) => `${clusterName}-${n}`).filter((p) => p !== oldPrimary);
    const receivers = await Promise.all(replicas.map(async (r) => [r, await psqlOn(r, "SELECT pid FROM pg_stat_wal_receiver")] as const));
    const signal = (sig: string) =>
      Promise.all(receivers.map(([r, pid]) => cluster.kubectl(["exec", "-n", ns, r, "-c", "postgres", "--", "sh", "-c", `kill -${sig} ${pid}`])));
    await signal("STOP");
    const beforeStall = acked().length;
    await new Promise((r) => setTimeout(r, 3000));
    const duringStall = acked().length - beforeStall;
    // The pod goes at once (no graceful shutdown in which the primary could hand its last WAL over).
    const t0 = Date.now();
    const before0 = acked().length;
    await cluster.kubectl(["delete", "pod", "-n", ns, oldPrimary, "--grace-period=0", "--force", "--wait=false"]);
    await signal("CONT");
    const promoted = await cluster.waitFor(
      "a replica to be promoted",
      async () => {
        const s = await cnpg();
        return s.currentPrimary && s.currentPrimary !== oldPrimary && s.currentPrimary === s.targetPrimary ? s.currentPrimary : undefined;
      },
      180_000,
    );
    const promotedAfter = (Date.now() - t0) / 1000;
    await cluster.waitFor("the read-write Service to point at the new primary", async () => (await rwEndpoint()).join() === promoted, 120_000);
    const serviceAfter = (Date.now() - t0) / 1000;
    await cluster.waitFor("the app to write again", async () => acked().length > before0 + 50, 180_000);
    // The instance that was deleted comes back as a replica of the new primary.
    await cluster.waitFor("the Cluster to be healthy with 3 ready instances again", async () => healthy(await cnpg()), 300_000);
    const rejoined = (Date.now() - t0) / 1000;

    // Stopped, so the log and the database can be compared with no writer between.
    await stopApp();
    const list = acked();
    const rows = new Map(
      (await psql("SELECT id::text || ' ' || text FROM public.messages WHERE text LIKE 'ack %'"))
        .split("\n")
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]),
    );
    assertEveryAck(rows, list, "PostgreSQL after the failover");
    // The error window as the database saw it: the longest pause between two committed app rows (their
    // created_at is the server's clock at the INSERT), against the app's ~20 ms between writes.
    const gap = Number(
      await psql(
        "SELECT coalesce(max(g), 0) FROM (SELECT extract(epoch FROM created_at - lag(created_at) OVER (ORDER BY created_at)) AS g FROM public.messages WHERE text LIKE 'ack %') x",
      ),
    );
    console.log(
      `failover on the node: ${oldPrimary} deleted, ${promoted} promoted after ${promotedAfter.toFixed(1)} s, the -rw Service on it after ${serviceAfter.toFixed(1)} s, ` +
        `3 instances Ready again after ${rejoined.toFixed(1)} s; the app's longest pause between committed writes ${gap.toFixed(1)} s; ` +
        `${list.length} acknowledged writes, all in PostgreSQL (${duringStall} acknowledged while the replicas' WAL receivers were paused for 3 s)`,
    );
    assert.ok(gap < 60, `the app's error window (${gap.toFixed(1)} s) is short`);
    assert.equal(await psqlOn(promoted, "SELECT pg_is_in_recovery()"), "f", "the new primary takes writes");
  });

  test("a Job from the backup CronJob writes a dump that restores into a fresh database with the same rows", async () => {
    await stopApp(); // the app's rows stay as they are from the dump to the comparison
    const job = "backup-1";
    await cluster.kubectl(["create", "job", "-n", ns, `--from=cronjob/${clusterName}-backup`, job]);
    await cluster.waitFor(
      `backup Job ${job} to complete`,
      async () => {
        const j = await cluster.get<{ status: { succeeded?: number; failed?: number } }>("job", job, ns);
        if (j?.status.failed)
          throw new Error(`backup Job ${job} failed: ${(await cluster.kubectl(["logs", "-n", ns, `job/${job}`], { allowFailure: true })).stdout}`);
        return j?.status.succeeded === 1;
      },
      180_000,
    );
    assert.match((await cluster.kubectl(["logs", "-n", ns, `job/${job}`])).stdout, /wrote \/backups\/dumps\/piyasa_db_\d{8}T\d{6}Z\.dump/);
    // The dump as SQL, read from the backup volume in a pod of its own, then replayed into a new database on the
    // primary by the superuser (pg_hba lets it in over the instance's socket only).
    const { phase, output: sql } = await pgRestoreLatestDump(cluster, ns, "dump-read", `${clusterName}-backup`, ["--no-owner", "--no-acl", "-f", "-"]);
    assert.equal(phase, "Succeeded", `pg_restore read the dump:\n${sql.slice(0, 2000)}`);
    const p = await primary();
    await psqlOn(p, "CREATE DATABASE restored", "postgres");
    await psqlOn(p, "", "restored", sql);
    const tables = Object.keys(sqliteCounts());
    const checksum = (db: string) =>
      psqlOn(
        p,
        tables.map((t) => `SELECT '${t}', count(*), md5(coalesce(string_agg(r::text, ',' ORDER BY r::text), '')) FROM public."${t}" r`).join(" UNION ALL "),
        db,
      );
    const original = await checksum("piyasa_db");
    assert.equal(await checksum("restored"), original, "every table's rows, restored");
    assert.ok(Number((await pgCounts(p, ["messages"], "restored"))["messages"]) > MESSAGES, "with the rows the app wrote during the failover");
  });
});

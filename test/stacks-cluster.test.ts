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
import Database from "better-sqlite3";
import { type PulumiRun } from "./helpers/pulumi";
import { type TestCluster } from "./helpers/kube";
import { NodeStack } from "./helpers/node-stack";
import { assertEveryAck, podReady, readAcks, type Ack, type Pod } from "./helpers/sample-app";
import { pgRestoreLatestDump } from "./helpers/backup-dump";
import { sampleAppManifest, SAMPLE_APP } from "../src/cluster/sample-app";
import { POSTGRES_UID } from "../components/defaults";

const ns = SAMPLE_APP.namespace;
const dbPod = "cluster-postgres-0";
// docs/benchmarks.md measures the cutover's write downtime on the node with PGSHIFT_CLUSTER_MESSAGES=1000000 (not a timed test: the number is printed).
const MESSAGES = Number(process.env["PGSHIFT_CLUSTER_MESSAGES"] ?? 500);
const stack = new NodeStack("cluster", { messages: MESSAGES });
const { appDir, source } = stack;
let cluster: TestCluster;
let ws: NodeStack["ws"];

const pulumi = (args: string[], allowFailure = false): Promise<PulumiRun> => stack.pulumi(args, allowFailure);
const exec = async (pod: string, script: string, container?: string) =>
  (await cluster.kubectl(["exec", "-n", ns, pod, ...(container ? ["-c", container] : []), "--", "sh", "-c", script])).stdout.trim();
/** SQL in the database pod, as the superuser (its password is a mounted file), over TCP inside the pod (pg_hba wants a password everywhere). */
const psql = (sql: string, db = "piyasa_db") =>
  exec(dbPod, `PGPASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")" psql -X -q -h 127.0.0.1 -U "$POSTGRES_USER" -d ${db} -tA -c "${sql}"`);
const ready = podReady;
const podsOf = async (app: string) =>
  (JSON.parse((await cluster.kubectl(["get", "pods", "-n", ns, "-l", `app=${app}`, "-o", "json"])).stdout) as { items: Pod[] }).items.filter(
    (p) => !p.metadata.deletionTimestamp,
  );

before(async () => {
  await stack.start();
  cluster = stack.cluster;
  ws = stack.ws;
});

after(() => stack.stop());

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
    assert.match(
      status,
      new RegExp(`^Uid:\\s+${POSTGRES_UID}\\s+${POSTGRES_UID}\\s+${POSTGRES_UID}\\s+${POSTGRES_UID}$`, "m"),
      "the server process runs as the uid",
    );
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
    // A table of the superuser's in the app's schema: a rollback refuses it (the migration's role cannot read it,
    // src/engine/sync-back/), so it goes before the cutover cases.
    await psql("DROP TABLE public.survives");
    assert.equal(await psql("SELECT count(*) FROM public.messages"), String(MESSAGES));
  });

  test("a Job from the backup CronJob writes a dump on the backup volume that pg_restore reads, with every table's data", async () => {
    const runJob = async (name: string) => {
      await cluster.kubectl(["create", "job", "-n", ns, `--from=cronjob/cluster-postgres-backup`, name]);
      await cluster.waitFor(
        `backup Job ${name} to complete`,
        async () => {
          const j = await cluster.get<{ status: { succeeded?: number; failed?: number } }>("job", name, ns);
          if (j?.status.failed)
            throw new Error(`backup Job ${name} failed: ${(await cluster.kubectl(["logs", "-n", ns, `job/${name}`], { allowFailure: true })).stdout}`);
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
    const { phase: done, output: list } = await pgRestoreLatestDump(cluster, ns, "dump-check", "cluster-postgres-backup", ["--list"]);
    assert.equal(done, "Succeeded", `pg_restore --list read the dump:\n${list}`);
    const tables = (await psql("SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")).split(" ");
    assert.ok(tables.length >= 7, `the app's tables: ${tables.join(", ")}`);
    for (const t of tables) assert.match(list, new RegExp(`TABLE DATA public ${t} `), `the dump holds ${t}'s rows`);
  });

  test("the exporter reaches the database as the monitor role: /metrics says pg_up 1", async () => {
    const metrics = await cluster.waitFor(
      "the exporter to report pg_up 1",
      async () => {
        const r = await cluster.kubectl(["get", "--raw", `/api/v1/namespaces/${ns}/services/cluster-postgres-exporter:9187/proxy/metrics`], {
          allowFailure: true,
        });
        return r.code === 0 && /^pg_up 1$/m.test(r.stdout) ? r.stdout : undefined;
      },
      120_000,
    );
    assert.match(metrics, /^pg_up 1$/m);
    assert.match(
      await psql("SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity WHERE datname = 'piyasa_db' AND usename IS NOT NULL"),
      /piyasa_monitor/,
      "the exporter is logged in as the monitor role",
    );
  });

  // From here on the sample app writes as the real one does (sampleAppManifest's writer): one message every ~20 ms,
  // each id the database acknowledged logged in appDir. Every logged id must be on the side the app uses next.
  const acks = () => readAcks(appDir);
  /** the app's rows as id → text, from SQLite (the file the app writes) or PostgreSQL */
  const sqliteRows = (): Map<string, string> => {
    const db = new Database(source, { readonly: true, timeout: 15_000 });
    try {
      return new Map((db.prepare("SELECT CAST(id AS TEXT) AS id, text FROM messages").all() as { id: string; text: string }[]).map((r) => [r.id, r.text]));
    } finally {
      db.close();
    }
  };
  const pgRows = async (): Promise<Map<string, string>> =>
    new Map(
      (await psql("SELECT id::text || ' ' || text FROM public.messages"))
        .split("\n")
        .filter(Boolean)
        .map((l) => [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)]),
    );
  const appPods = async () => [...(await podsOf("piyasa-api")), ...(await podsOf("piyasa-worker"))];
  /** new app pods (none of `old`), Ready, each having acknowledged a row on `backend` */
  const writingOn = async (backend: Ack["backend"], old: string[]) =>
    cluster.waitFor(
      `the app's new pods to write to ${backend}`,
      async () => {
        const pods = await appPods();
        if (pods.length !== 2 || !pods.every((p) => !old.includes(p.metadata.uid) && ready(p))) return undefined;
        const seen = new Set(
          acks()
            .filter((a) => a.backend === backend)
            .map((a) => a.tag.split(" ")[1]),
        );
        return pods.every((p) => seen.has(p.metadata.name)) ? pods.map((p) => p.metadata.uid) : undefined;
      },
      180_000,
    );
  const replicas = async () =>
    Promise.all(
      [
        ["deployment", "cluster-api"],
        ["statefulset", "cluster-worker"],
      ].map(async ([kind, name]) => (await cluster.get<{ spec: { replicas: number } }>(kind!, name!, ns))!.spec.replicas),
    );
  const secretUrl = async () => {
    const s = await cluster.get<{ data: Record<string, string> }>("secret", "piyasa-secrets", ns);
    return Buffer.from(s!.data["DATABASE_URL"]!, "base64").toString("utf8");
  };
  /** pgshift:cutover as an object, each leaf set by path with its type */
  const setCutover = async (value: Record<string, unknown>) => {
    await pulumi(["config", "rm", "pgshift:cutover"]);
    const leaves = (o: Record<string, unknown>, at: string): [string, unknown][] =>
      Object.entries(o).flatMap(([k, v]) =>
        typeof v === "object" && v ? leaves(v as Record<string, unknown>, `${at}.${k}`) : [[`${at}.${k}`, v] as [string, unknown]],
      );
    for (const [path, v] of leaves(value, "pgshift:cutover")) {
      await pulumi(["config", "set", "--path", path, String(v), "--type", typeof v === "number" ? "int" : typeof v === "boolean" ? "bool" : "string"]);
    }
  };
  const outputs = async () => JSON.parse((await ws.run(["stack", "output", "--json", "--stack", "cluster"])).stdout) as Record<string, unknown>;
  let lastUpAcks: Ack[] = [];
  let pods: string[] = [];

  test("the app writes to SQLite all along; an up while it writes brings PostgreSQL level", async () => {
    const old = (await appPods()).map((p) => p.metadata.uid);
    await cluster.kubectl(["apply", "-f", "-"], { input: sampleAppManifest({ dataDir: appDir }) });
    pods = await writingOn("sqlite", old);
    await pulumi(["up", "--yes", "--skip-preview"]);
    lastUpAcks = acks();
    assert.ok(lastUpAcks.length > 0);
    assert.match(await secretUrl(), /^sqlite:/);
  });

  test("a health check that never passes puts the app back on SQLite with what it wrote to PostgreSQL meanwhile", async () => {
    // A Service whose port nothing listens on: the health check can only fail.
    await cluster.kubectl(["apply", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "cluster-api", namespace: ns },
        spec: { selector: { app: "piyasa-api" }, ports: [{ port: 8000 }] },
      }),
    });
    await setCutover({ enabled: true, timeout: 15, healthCheck: { service: "cluster-api", port: 8000, path: "/healthz" } });
    const failed = await pulumi(["up", "--yes", "--skip-preview"], true);
    assert.notEqual(failed.code, 0, "the update fails");
    assert.match(failed.stdout + failed.stderr, /health check GET \/healthz .* did not answer 2xx/);
    assert.match(failed.stdout + failed.stderr, /The app runs on SQLite; nothing was lost/);
    assert.match(await secretUrl(), /^sqlite:/, "the Secret points at SQLite again");
    const during = acks().filter((a) => a.backend === "postgresql");
    assert.ok(during.length > 0, "the app wrote to PostgreSQL while its health check failed");
    pods = await writingOn("sqlite", pods);
    // The acknowledgements first: a row acknowledged after the file is read is not in what was read.
    const acked = acks();
    assertEveryAck(sqliteRows(), acked, "SQLite");
  });

  test("cutover: every row the app acknowledged, on SQLite before and PostgreSQL after, is in PostgreSQL once", async () => {
    await setCutover({ enabled: true, timeout: 120 });
    await pulumi(["up", "--yes", "--skip-preview"]);
    assert.match(await secretUrl(), new RegExp(`^postgresql\\+psycopg://piyasa_app:[^@]+@cluster-postgres\\.${ns}\\.svc\\.cluster\\.local:5432/piyasa_db$`));
    pods = await writingOn("postgresql", pods);
    const all = acks();
    const between = all.filter((a) => a.backend === "sqlite" && !lastUpAcks.some((b) => b.tag === a.tag));
    assert.ok(between.length > 0, "rows were written to SQLite between the last up and the cutover up");
    const rows = await pgRows();
    assertEveryAck(rows, between, "PostgreSQL (rows written since the last up)");
    assertEveryAck(rows, all, "PostgreSQL");
    const out = await outputs();
    console.log(
      `cutover on the node: write downtime ${String(out["writeDowntimeSeconds"])} s, ${String(out["rowsSynced"])} rows synced in the final sync; ${String(out["cutoverStatus"])}`,
    );
    assert.ok(Number(out["writeDowntimeSeconds"]) > 0, "the update reports its write downtime");
    assert.match(
      String(out["cutoverStatus"]),
      /write downtime [\d.]+ s \(stopping the writers [\d.]+ s, final snapshot and sync [\d.]+ s, switch and restart until Ready [\d.]+ s(, health check [\d.]+ s)?\)/,
      "and where it went",
    );
  });

  test("a value SQLite's column cannot take back refuses the rollback before any workload is stopped", async () => {
    await psql("UPDATE public.bot_stances SET confidence = 'NaN' WHERE id = 1");
    const before = { replicas: await replicas(), pods: (await appPods()).map((p) => p.metadata.uid).sort() };
    await setCutover({ enabled: false, timeout: 120 });
    const refused = await pulumi(["up", "--yes", "--skip-preview"], true);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /table "bot_stances", row id="1", column "confidence"/);
    assert.deepEqual(await replicas(), before.replicas, "replicas unchanged");
    assert.deepEqual((await appPods()).map((p) => p.metadata.uid).sort(), before.pods, "the same pods run: none was stopped");
    assert.match(await secretUrl(), /^postgresql/, "still on PostgreSQL");
    await psql("UPDATE public.bot_stances SET confidence = 0.25 WHERE id = 1");
  });

  test("rollback: every acknowledged row is in SQLite once, and both sides were equal at the switch", async () => {
    await pulumi(["up", "--yes", "--skip-preview"]);
    assert.match(await secretUrl(), /^sqlite:\/\/\/\.\/app\.db$/);
    const out = await outputs();
    console.log(
      `rollback on the node: write downtime ${String(out["writeDowntimeSeconds"])} s, ${String(out["rowsSynced"])} rows copied back; ${String(out["cutoverStatus"])}`,
    );
    pods = await writingOn("sqlite", pods);
    // Stopped, so the file and PostgreSQL can be compared with no writer between.
    await cluster.kubectl(["scale", "-n", ns, "deployment/cluster-api", "statefulset/cluster-worker", "--replicas=0"]);
    await cluster.waitFor("the app's pods to be gone", async () => (await appPods()).length === 0, 120_000);
    const inSqlite = sqliteRows();
    assertEveryAck(inSqlite, acks(), "SQLite");
    // What PostgreSQL holds is what the file held at the switch: the rows after it are the app's on SQLite since.
    const inPg = await pgRows();
    const maxPg = [...inPg.keys()].reduce((m, id) => Math.max(m, Number(id)), 0);
    const sqliteAtSwitch = new Map([...inSqlite].filter(([id]) => Number(id) <= maxPg));
    assert.deepEqual(sqliteAtSwitch, inPg, "messages: both sides equal up to the rollback");
    assert.ok(
      [...inSqlite.keys()].some((id) => Number(id) > maxPg),
      "the app wrote to SQLite after the rollback, with ids PostgreSQL never handed out",
    );
    const db = new Database(source, { readonly: true });
    try {
      assert.equal(db.prepare("SELECT confidence FROM bot_stances WHERE id = 1").pluck().get(), 0.25, "PostgreSQL's update went back");
      for (const t of ["bots", "chats", "settings", "bot_stances", "bot_holdings", "api_users"]) {
        assert.equal(String(db.prepare(`SELECT count(*) FROM ${t}`).pluck().get()), await psql(`SELECT count(*) FROM public.${t}`), `${t}: same row count`);
      }
    } finally {
      db.close();
    }
  });
});

// Cutover and rollback for migration.source pod:<workload>/<path> on a node
// that runs pods, through the Cutover resource's own switch (switchApp) with a
// real PostgreSQL 16: the final snapshot through a reader pod on the app's
// claim, and the rollback that puts PostgreSQL's writes back into the file in
// the app's volume through a writer pod, keeping the original beside it. The
// app stand-in (busybox + sqlite3) runs as uid 1000 with its file on a claim.
// PGSHIFT_PODBACK_ROWS sets the file's size (the rollback's time is printed, not asserted).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { startTestCluster, type TestCluster } from "../helpers/kube";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { migrate } from "../../src/engine";
import { fetchPodSqlite } from "../../src/kube/pod-sqlite";
import { switchApp, type CutoverInputs } from "../../src/provider/cutover-handler";
import { CutoverError } from "../../src/provider/cutover-steps";

const ROWS = Number(process.env["PGSHIFT_PODBACK_ROWS"] ?? 20_000);
const ns = "podback";
const work = mkdtempSync(join(tmpdir(), "pgshift-podback-"));
let cluster: TestCluster;
let pgs: TestPostgres;
let url: string;
let db: string;
let kubeconfig: string;

// The app: its SQLite file (WAL mode) on a claim, created at the first start; Ready once it is there.
const app = `apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: api-data }
spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
---
apiVersion: v1
kind: Secret
metadata: { name: api-secrets }
stringData: { DATABASE_URL: "sqlite:////data/app.db" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: api }
spec:
  replicas: 1
  strategy: { type: Recreate }
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: api } }
    spec:
      terminationGracePeriodSeconds: 1
      securityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, runAsNonRoot: true }
      containers:
      - name: app
        image: pgshift.local/app:busybox
        imagePullPolicy: Never
        command: ["sh", "-c", ${JSON.stringify(
          "[ -f /data/app.db ] || sqlite3 /data/app.db " +
            `"PRAGMA journal_mode=WAL; CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL); ` +
            `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) INSERT INTO notes (body, score) SELECT 'note ' || i || ' ' || hex(randomblob(40)), i / 4.0 FROM n;"; ` +
            "touch /tmp/ready; exec sleep 100000",
        )}]
        readinessProbe: { exec: { command: ["test", "-f", "/tmp/ready"] }, periodSeconds: 1 }
        volumeMounts: [{ name: data, mountPath: /data }]
      volumes: [{ name: data, persistentVolumeClaim: { claimName: api-data } }]
`;

const inApp = async (script: string) => (await cluster.kubectl(["exec", "-n", ns, "deploy/api", "--", "sh", "-c", script])).stdout.trim();

const inputs = (cutover: boolean): CutoverInputs => ({
  cutover,
  kube: { kubeconfig, namespace: ns },
  workloads: [{ kind: "Deployment", name: "api" }],
  secretName: "api-secrets",
  sqliteData: { DATABASE_URL: "sqlite:////data/app.db" },
  postgresData: { DATABASE_URL: "postgresql://app@db/app" },
  manageSecret: true,
  source: "pod:api/data/app.db",
  data: {
    // The working copy: deleted before the rollback, as on another operator's machine.
    sqlitePath: join(work, "copy", "app.db"),
    targetUrl: url,
    tunnel: null,
    schema: "create",
    tables: [],
    identifiers: "downcase",
    casts: {},
    jobs: 2,
    backupDir: "",
  },
  healthCheck: null,
  timeoutSeconds: 120,
  discardPostgresWrites: false,
  readerImage: "",
});

type Row = { id: number; body: string; score: number | null };
const pgRows = async (): Promise<Row[]> =>
  (await pgs.query<{ id: string; body: string; score: number | null }>("SELECT id, body, score FROM notes ORDER BY id", [], db)).map((r) => ({
    id: Number(r.id),
    body: r.body,
    score: r.score === null ? null : Number(r.score),
  }));
/** The file in the app's volume, read back through a snapshot in the app's pod. */
const volumeRows = async (as: string): Promise<{ rows: Row[]; journal: string }> => {
  const local = join(work, `${as}.db`);
  await fetchPodSqlite(kubeconfig, undefined, ns, { workload: "api", path: "/data/app.db" }, local);
  const d = new Database(local, { readonly: true });
  try {
    return {
      rows: d.prepare("SELECT id, body, score FROM notes ORDER BY id").all() as Row[],
      journal: await inApp("sqlite3 /data/app.db 'PRAGMA journal_mode'"),
    };
  } finally {
    d.close();
  }
};
const secretUrl = async () => {
  const s = await cluster.get<{ data: Record<string, string> }>("secret", "api-secrets", ns);
  return Buffer.from(s!.data["DATABASE_URL"]!, "base64").toString("utf8");
};

before(async () => {
  pgs = await startPostgres();
  url = await pgs.createDatabase();
  db = url.split("/").pop()!;
  cluster = await startTestCluster({ node: true });
  kubeconfig = readFileSync(cluster.kubeconfig, "utf8");
  await cluster.kubectl(["create", "namespace", ns]);
  await cluster.kubectl(["apply", "-n", ns, "-f", "-"], { input: app });
  await cluster.kubectl(["rollout", "status", "deployment/api", "-n", ns, "--timeout=180s"]);
  // The migration's first copy, from a snapshot of the running app's file.
  const first = join(work, "first.db");
  await fetchPodSqlite(kubeconfig, undefined, ns, { workload: "api", path: "/data/app.db" }, first);
  await migrate({ source: first, target: url, schema: "create" });
});

after(async () => {
  await cluster?.stop();
  await pgs?.stop();
  rmSync(work, { recursive: true, force: true });
});

test("pod: source: the cutover's final snapshot through a reader pod; the rollback puts PostgreSQL's inserts, updates and deletes into the file in the volume, the original kept beside it", async () => {
  // Written to SQLite after the first copy: the final snapshot (app stopped, reader pod) brings it over.
  await inApp(`sqlite3 /data/app.db "INSERT INTO notes (id, body, score) VALUES (${ROWS + 1}, 'written before the cutover', 1.5)"`);
  const cut = await switchApp(inputs(true), "sqlite");
  assert.equal(cut.backend, "postgresql");
  assert.match(cut.steps.join("; "), /snapshot through reader pod api-pgshift-reader-[0-9a-f]{6} \(\d+ bytes\)/);
  assert.equal((await pgRows()).at(-1)?.body, "written before the cutover");
  assert.equal(await secretUrl(), "postgresql://app@db/app");

  // The app on PostgreSQL: an insert, an update, a delete.
  await pgs.query("INSERT INTO notes (id, body, score) VALUES ($1, 'written to PostgreSQL', NULL)", [ROWS + 2], db);
  await pgs.query("UPDATE notes SET body = 'updated in PostgreSQL', score = 0.5 WHERE id = 2", [], db);
  await pgs.query("DELETE FROM notes WHERE id = 3", [], db);
  rmSync(join(work, "copy"), { recursive: true, force: true });

  const t0 = Date.now();
  const back = await switchApp(inputs(false), "postgresql");
  const ms = Date.now() - t0;
  const steps = back.steps.join("; ");
  console.log(`rollback of pod:api/data/app.db with ${ROWS} rows: ${(ms / 1000).toFixed(1)} s in all; ${steps}`);
  assert.equal(back.backend, "sqlite");
  assert.equal(back.rowsSynced, 3);
  assert.match(steps, /read pod:api\/data\/app\.db in the running pod api-\S+ \(\d+ bytes\)/, "planned against the file as it is in the volume");
  const backup =
    /stopped Deployment\/api \(1\); put the copied-back file in place of pod:api\/data\/app\.db through writer pod api-pgshift-writer-[0-9a-f]{6} \(writer pod start [\d.]+ s, snapshot [\d.]+ s, copy back and verify [\d.]+ s, upload and check [\d.]+ s, renames [\d.]+ s\); the file before is (\/data\/app\.db\.pgshift-backup-\d{8}T\d{6}Z) in the same volume/.exec(
      steps,
    )?.[1];
  assert.ok(backup, `the step list names the backup in the volume: ${steps}`);
  assert.equal(back.backupFile, backup);
  assert.match(steps, /copied 3 rows back to SQLite \(notes: 3\), verified; SQLite backed up to \/data\/app\.db\.pgshift-backup-/);
  assert.equal(await secretUrl(), "sqlite:////data/app.db", "the app's Secret points at SQLite");

  // The file in the volume holds exactly PostgreSQL's rows, in WAL mode as before; the original is beside it, untouched.
  const now = await volumeRows("after-rollback");
  assert.deepEqual(now.rows, await pgRows());
  assert.equal(now.rows.length, ROWS + 1);
  assert.equal(now.journal, "wal", "the journal mode the app's file had");
  assert.equal(
    await inApp(`sqlite3 ${backup} "SELECT count(*) FROM notes; SELECT count(*) FROM notes WHERE id = 3; SELECT body LIKE 'note 2 %' FROM notes WHERE id = 2"`),
    `${ROWS + 1}\n1\n1`,
    "the backup is the file as the cutover left it",
  );
  assert.doesNotMatch(await inApp("ls -a /data"), /pgshift-upload/, "no temporary file is left");
  await cluster.waitFor(
    "the writer pod to be gone",
    async () => (await cluster.kubectl(["get", "pods", "-n", ns, "-l", "app.kubernetes.io/part-of=pgshift", "-o", "name"])).stdout.trim() === "",
    60_000,
  );
  // The restarted app writes to the new file as its own user.
  assert.equal(await inApp(`sqlite3 /data/app.db "INSERT INTO notes (body) VALUES ('after the rollback'); SELECT max(id) FROM notes"`), String(ROWS + 3));
});

test("pod: source: a rollback whose writer pod cannot snapshot the file stops before the switch, saying where; the app runs on PostgreSQL again and the volume is as it was", async () => {
  const cut = await switchApp(inputs(true), "sqlite");
  assert.equal(cut.backend, "postgresql");
  await pgs.query("INSERT INTO notes (id, body) VALUES ($1, 'taken by PostgreSQL')", [ROWS + 10], db);
  const before = await inApp("ls -a /data; sha256sum /data/app.db");
  // An image with sh but neither sqlite3 nor python3 (the database's) for the writer pod: the plan, in the app's pod, passes.
  let failure: unknown;
  await switchApp({ ...inputs(false), readerImage: "pgshift.local/postgres:15" }, "postgresql").catch((e: unknown) => (failure = e));
  assert.ok(failure instanceof CutoverError, String(failure));
  assert.match(
    failure.message,
    /^Rollback stopped before the switch: Could not take a SQLite snapshot of \/data\/app\.db in pod podback\/api-pgshift-writer-[0-9a-f]{6} \(container writer\): PGSHIFT: neither the sqlite3 CLI nor python3 is in this container \(exit 3\)/,
  );
  assert.match(
    failure.message,
    /The app was started again on PostgreSQL \(read pod:api\/data\/app\.db in the running pod api-\S+ \(\d+ bytes\); stopped Deployment\/api \(1\); started Deployment\/api \(1\), Ready\); nothing was lost\./,
  );
  assert.equal(await secretUrl(), "postgresql://app@db/app", "still on PostgreSQL");
  assert.equal(await inApp("ls -a /data; sha256sum /data/app.db"), before, "the volume is as it was");
  await cluster.waitFor(
    "the writer pod to be gone",
    async () => (await cluster.kubectl(["get", "pods", "-n", ns, "-l", "app.kubernetes.io/part-of=pgshift", "-o", "name"])).stdout.trim() === "",
    60_000,
  );
});

// migration.source pod:<workload>/<path>: the snapshot is taken inside the
// app's pod with SQLite's online backup and brought over the Kubernetes API,
// on the test cluster's node with the app stand-in image (busybox + sqlite3).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { startTestCluster, type TestCluster } from "../helpers/kube";
import { fetchPodSqlite, parsePodSource, PodSourceError } from "../../src/kube/pod-sqlite";

let cluster: TestCluster;
let kubeconfig: string;
const ns = "app-test";
const work = mkdtempSync(join(tmpdir(), "pgshift-podsrc-"));

function workload(name: string, image: string, command: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      containers:
      - name: app
        image: ${image}
        imagePullPolicy: Never
        command: ["sh", "-c", ${JSON.stringify(command)}]
        readinessProbe: { exec: { command: ["test", "-f", "/data/ready"] }, periodSeconds: 1 }
        volumeMounts: [{ name: data, mountPath: /data }]
      volumes: [{ name: data, emptyDir: {} }]
`;
}

before(async () => {
  cluster = await startTestCluster({ node: true });
  kubeconfig = readFileSync(cluster.kubeconfig, "utf8");
  await cluster.kubectl(["create", "namespace", ns]);
  // The app stand-in: its SQLite database in WAL mode, written to all the time.
  const app = [
    "sqlite3 /data/app.db 'PRAGMA journal_mode=WAL; CREATE TABLE bots(id INTEGER PRIMARY KEY, name TEXT NOT NULL);'",
    "i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo \"INSERT INTO bots(name) VALUES('bot $i');\"; done | sqlite3 /data/app.db",
    "touch /data/ready",
    "while true; do sqlite3 /data/app.db \"INSERT INTO bots(name) VALUES('late');\"; sleep 0.05; done",
  ].join("; ");
  await cluster.kubectl(["apply", "-n", ns, "-f", "-"], { input: workload("writer", "pgshift.local/app:busybox", app) });
  await cluster.kubectl(["rollout", "status", "deployment/writer", "-n", ns, "--timeout=120s"]);
});

after(async () => {
  await cluster?.stop();
  rmSync(work, { recursive: true, force: true });
});

test("pod: sources are parsed, and a malformed one is explained", () => {
  assert.deepEqual(parsePodSource("pod:dev-api/app/data/app.db"), { workload: "dev-api", path: "/app/data/app.db" });
  assert.equal(parsePodSource("./app.db"), null);
  assert.throws(
    () => parsePodSource("pod:Not_A_Name"),
    (e: unknown) => e instanceof PodSourceError && /pod:<Deployment or StatefulSet name>\/<path in the container>/.test(e.message),
  );
});

test("a consistent snapshot is taken in the pod while the app writes, and arrives whole", async () => {
  const local = join(work, "snap.db");
  const got = await fetchPodSqlite(kubeconfig, undefined, ns, { workload: "writer", path: "/data/app.db" }, local);
  assert.match(got.pod, /^writer-/);
  assert.ok(got.bytes > 0);
  const db = new Database(local, { readonly: true });
  try {
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    const { n } = db.prepare("SELECT count(*) AS n FROM bots").get() as { n: number };
    assert.ok(n >= 200, `all 200 rows written before the snapshot are in it (and the later ones up to it): ${n}`);
    // One consistent state: ids are 1..n without a gap.
    const { max } = db.prepare("SELECT max(id) AS max FROM bots").get() as { max: number };
    assert.equal(max, n);
  } finally {
    db.close();
  }
  assert.equal(existsSync(`${local}.partial`), false);
  // The snapshot's temporary file in the pod is removed.
  const ls = await cluster.kubectl(["exec", "-n", ns, `deploy/writer`, "--", "sh", "-c", "ls -a /tmp /data"]);
  assert.doesNotMatch(ls.stdout, /pgshift-snapshot/);
});

test("a snapshot of a large file finishes while the app commits every few ms (one read, not 100 pages a step)", async () => {
  // ~64 MB in rollback-journal mode and a writer committing as fast as sqlite3 starts: the CLI's `.backup`
  // restarted at every commit between two of its 100-page steps and never finished.
  const app = [
    "sqlite3 /data/big.db 'CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB NOT NULL); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64000) INSERT INTO blobs(b) SELECT randomblob(1000) FROM n;'",
    "touch /data/ready",
    "while true; do sqlite3 -cmd '.timeout 10000' /data/big.db 'INSERT INTO blobs(b) VALUES (randomblob(100));'; usleep 10000; done",
  ].join("; ");
  await cluster.kubectl(["apply", "-n", ns, "-f", "-"], { input: workload("busy", "pgshift.local/app:busybox", app) });
  await cluster.kubectl(["rollout", "status", "deployment/busy", "-n", ns, "--timeout=180s"]);
  const local = join(work, "big.db");
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the snapshot did not finish within 120 s under a busy writer")), 120_000);
  });
  try {
    await Promise.race([fetchPodSqlite(kubeconfig, undefined, ns, { workload: "busy", path: "/data/big.db" }, local), limit]);
  } finally {
    clearTimeout(timer);
  }
  const db = new Database(local, { readonly: true });
  try {
    const { n, max } = db.prepare("SELECT count(*) AS n, max(id) AS max FROM blobs").get() as { n: number; max: number };
    assert.ok(n >= 64000, `every row written before the snapshot is in it: ${n}`);
    assert.equal(max, n, "one consistent state: ids 1..n without a gap");
  } finally {
    db.close();
  }
  await cluster.kubectl(["delete", "deployment/busy", "-n", ns, "--wait=false"]);
});

test("a missing workload, a missing file and an image without sqlite3 or python3 are each explained", async () => {
  const local = join(work, "never.db");
  await assert.rejects(
    fetchPodSqlite(kubeconfig, undefined, ns, { workload: "nobody", path: "/data/app.db" }, local),
    /No Deployment or StatefulSet named "nobody" in namespace app-test/,
  );
  await assert.rejects(
    fetchPodSqlite(kubeconfig, undefined, ns, { workload: "writer", path: "/data/missing.db" }, local),
    /\/data\/missing\.db does not exist or is not readable in this container/,
  );
  // The same image with sqlite3 out of PATH stands in for an app image that has neither.
  await cluster.kubectl(["apply", "-n", ns, "-f", "-"], {
    input: workload(
      "bare",
      "pgshift.local/app:busybox",
      "mkdir -p /tmp/bin && ln -sf /bin/busybox /tmp/bin/sh && echo x > /data/app.db && touch /data/ready && sleep 3600",
    ).replace("imagePullPolicy: Never", "imagePullPolicy: Never\n        env: [{ name: PATH, value: /bin }]"),
  });
  await cluster.kubectl(["rollout", "status", "deployment/bare", "-n", ns, "--timeout=120s"]);
  const hasSqlite = await cluster.kubectl(["exec", "-n", ns, "deploy/bare", "--", "sh", "-c", "command -v sqlite3 || command -v python3 || echo none"]);
  assert.equal(hasSqlite.stdout.trim(), "none", "the stand-in for an image without SQLite tools has none on PATH");
  await assert.rejects(fetchPodSqlite(kubeconfig, undefined, ns, { workload: "bare", path: "/data/app.db" }, local), (e: unknown) => {
    assert.ok(e instanceof PodSourceError);
    assert.match(e.message, /neither the sqlite3 CLI nor python3 is in this container/);
    assert.match(e.message, /Add the sqlite3 CLI or python3 to the app's image, or copy a snapshot out yourself/);
    return true;
  });
  assert.equal(existsSync(local), false, "nothing is left where the snapshot would have gone");
});

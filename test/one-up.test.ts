// One `pulumi up` does the whole job (issue "one pulumi up"): on an empty
// cluster with a node, the program waits for the database pod, opens its own
// port-forward for the roles, grants and copy, and closes it — no hand-made
// kubectl port-forward, no second phase. Then what can go wrong on the way:
// a bad row, the tunnel dropping mid-copy; each fails the update with a
// message that says what and where, leaves nothing half-copied, and the next
// `up` completes exactly once. No credential reaches the state in plaintext.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import yaml from "js-yaml";
import pg from "pg";
import { pulumiWorkspace, readsSettings, repoRoot, type PulumiRun, type PulumiWorkspace } from "./helpers/pulumi";
import { startTestCluster, type TestCluster } from "./helpers/kube";
import { createSampleAppDb } from "../scripts/sample-app-db";
import { moveEncryptionSalt } from "../scripts/stack-file";
import { openTunnel } from "../src/kube/port-forward";

const ns = "oneup";
const dbPod = "oneup-postgres-0";
const work = mkdtempSync(join(tmpdir(), "pgshift-oneup-"));
const configFile = join(work, "Pulumi.oneup.yaml");
const source = join(work, "app.db");
let cluster: TestCluster;
let ws: PulumiWorkspace;

const pulumi = (args: string[], allowFailure = false): Promise<PulumiRun> =>
  ws.run(readsSettings(args) ? [...args, "--config-file", configFile, "--stack", "oneup"] : args[0] === "stack" ? [...args, "--stack", "oneup"] : args, {
    allowFailure,
  });
const set = (path: string, value: string) => pulumi(["config", "set", "--path", path, value]);

const asApp1 = async <T extends pg.QueryResultRow>(sql: string): Promise<T> => (await asApp<T>(sql))[0]!;

/** A query as the app role, through a port-forward of the test's own. */
async function asApp<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
  const password = (await pulumi(["stack", "output", "--show-secrets", "appPassword"])).stdout.trim();
  const tunnel = await openTunnel({ kubeconfig: readFileSync(cluster.kubeconfig, "utf8"), namespace: ns, pod: dbPod, port: 5432 });
  const client = new pg.Client({ host: tunnel.host, port: tunnel.port, user: "piyasa_app", database: "piyasa_db", password });
  try {
    await client.connect();
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
    await tunnel.close();
  }
}

before(async () => {
  cluster = await startTestCluster({ node: true });
  ws = pulumiWorkspace(repoRoot, cluster.env);
  await cluster.kubectl(["create", "namespace", ns]);
  createSampleAppDb(source, { messages: 300 });
  await ws.run(["stack", "init", "oneup", "--secrets-provider", "passphrase"]);
  const dev = readFileSync(join(repoRoot, "Pulumi.dev.yaml"), "utf8");
  moveEncryptionSalt(join(repoRoot, "Pulumi.oneup.yaml"), configFile, dev, undefined);
  for (const [k, v] of Object.entries({
    "pgshift:namespace": ns,
    "pgshift:namePrefix": "oneup-",
    // The namespace is the app's (the seed's overlays have it already), so destroy leaves it.
    "pgshift:createNamespace": "false",
    "pgshift:database.image": "pgshift.local/postgres:15",
    "pgshift:database.storageSize": "1Gi",
    "pgshift:database.requests.cpu": "100m",
    "pgshift:database.requests.memory": "256Mi",
    "pgshift:database.keepVolumeOnDelete": "true",
    "pgshift:backup.enabled": "false",
    "pgshift:exporter.enabled": "false",
    "pgshift:migration.source": source,
  })) {
    await set(k, v);
  }
  // No app workloads to restart here (the cluster stack's test covers the app's pods).
  const doc = yaml.load(readFileSync(configFile, "utf8")) as { config: Record<string, { workloads?: unknown[] }> };
  doc.config["pgshift:app"]!.workloads = [];
  writeFileSync(configFile, yaml.dump(doc));
});

after(async () => {
  if (ws) {
    await ws.run(["stack", "rm", "--yes", "--force", "oneup"], { allowFailure: true });
    rmSync(ws.backendDir, { recursive: true, force: true });
  }
  await cluster?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("one pulumi up through the program's own port-forward", () => {
  test("preview on an empty cluster shows the database, the roles and the migration plan, and creates nothing", async () => {
    const preview = await pulumi(["preview"]);
    for (const t of ["StatefulSet", "pulumi-nodejs:dynamic:Resource", "pgshift:index:DatabaseRoles", "pgshift:index:SqliteMigration"]) {
      assert.match(preview.stdout, new RegExp(t), `preview lists ${t}`);
    }
    assert.match(preview.stdout, /Migration plan for .*app\.db/);
    assert.equal(await cluster.get("statefulset", "oneup-postgres", ns), undefined, "preview created nothing");
  });

  test("up from an empty cluster: pod Ready, roles granted, data copied and verified, in one run", async () => {
    const up = await pulumi(["up", "--yes", "--skip-preview"], true);
    if (up.code !== 0) {
      const logs = await cluster.kubectl(["logs", dbPod, "-n", ns, "--previous"], { allowFailure: true });
      const now = await cluster.kubectl(["logs", dbPod, "-n", ns], { allowFailure: true });
      assert.fail(`up failed:\n${up.stdout.slice(-3000)}\n--- database pod log (previous)\n${logs.stdout}${logs.stderr}\n--- now\n${now.stdout}${now.stderr}`);
    }
    assert.match(up.stdout, /created/);
    const pod = await cluster.get<{ status: { conditions: { type: string; status: string }[] } }>("pod", dbPod, ns);
    assert.ok(
      pod?.status.conditions.some((c) => c.type === "Ready" && c.status === "True"),
      "the database pod is Ready",
    );
    const status = (await pulumi(["stack", "output", "migrationStatus"])).stdout;
    assert.match(status, /copied and verified 7 tables/);
    const { n } = await asApp1<{ n: string }>("SELECT count(*) AS n FROM messages");
    assert.equal(Number(n), 300);
  });

  test("a second up changes nothing", async () => {
    const again = await pulumi(["preview", "--expect-no-changes"], true);
    assert.equal(again.code, 0, `a second preview has no changes:\n${again.stdout}\n${again.stderr}`);
  });

  test("a bad row fails the update naming table, key and column; nothing of it is written; fixed, the next up copies once", async () => {
    const db = new Database(source);
    db.exec("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)");
    db.prepare("INSERT INTO ledger VALUES (?, ?)").run(1, 10);
    db.prepare("INSERT INTO ledger VALUES (?, ?)").run(2, "twelve");
    db.close();
    const failed = await pulumi(["up", "--yes", "--skip-preview"], true);
    assert.notEqual(failed.code, 0);
    const out = failed.stdout + failed.stderr;
    assert.match(out, /ledger/);
    assert.match(out, /\bid\b.*\b2\b|key.*2/);
    assert.match(out, /amount/);
    const tables = await asApp<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE tablename = 'ledger'");
    const rows = Number(tables[0]!.n) === 0 ? 0 : Number((await asApp<{ n: string }>("SELECT count(*) AS n FROM ledger"))[0]!.n);
    assert.equal(rows, 0, "no row of the failed table is in PostgreSQL");
    const fix = new Database(source);
    fix.prepare("UPDATE ledger SET amount = 12 WHERE id = 2").run();
    fix.close();
    await pulumi(["up", "--yes", "--skip-preview"]);
    const { n, s } = await asApp1<{ n: string; s: string }>("SELECT count(*) AS n, sum(amount) AS s FROM ledger");
    assert.deepEqual([Number(n), Number(s)], [2, 22]);
    const { m } = await asApp1<{ m: string }>("SELECT count(*) AS m FROM messages");
    assert.equal(Number(m), 300, "the other tables still hold every row exactly once");
  });

  test("the tunnel dropping mid-copy fails the update; the next up completes exactly once", async () => {
    // Enough rows that the copy is still running when the database pod goes away.
    const db = new Database(source);
    db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    const insert = db.prepare("INSERT INTO events (body) VALUES (?)");
    db.transaction(() => {
      for (let i = 0; i < 300_000; i++) insert.run(`event ${i} ${"x".repeat(60)}`);
    })();
    db.close();
    const running = pulumi(["up", "--yes", "--skip-preview"], true);
    // The copy of `events` has started when its COPY shows in pg_stat_activity.
    await cluster.waitFor(
      "the copy to start",
      async () => {
        const r = await cluster.kubectl(
          [
            "exec",
            "-n",
            ns,
            dbPod,
            "--",
            "sh",
            "-c",
            `PGPASSWORD="$(cat /run/secrets/postgres/password)" psql -X -h 127.0.0.1 -U "$POSTGRES_USER" -d piyasa_db -tAc "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY%events%'"`,
          ],
          { allowFailure: true },
        );
        return r.stdout.trim() !== "" && r.stdout.trim() !== "0";
      },
      120_000,
    );
    await cluster.kubectl(["delete", "pod", dbPod, "-n", ns, "--grace-period=0", "--force"]);
    const failed = await running;
    assert.notEqual(failed.code, 0, "the update fails when the tunnel drops");
    assert.match(failed.stdout + failed.stderr, /events|connection|terminat/i);
    // The StatefulSet brings the pod back on the same volume; the next up finishes the job.
    await cluster.waitFor(
      "the database pod to come back",
      async () =>
        (await cluster.get<{ status: { conditions?: { type: string; status: string }[] } }>("pod", dbPod, ns))?.status.conditions?.some(
          (c) => c.type === "Ready" && c.status === "True",
        ),
      180_000,
    );
    await pulumi(["up", "--yes", "--skip-preview"]);
    const { n, d } = await asApp1<{ n: string; d: string }>("SELECT count(*) AS n, count(DISTINCT id) AS d FROM events");
    assert.deepEqual([Number(n), Number(d)], [300_000, 300_000], "every row exactly once");
  });

  test("no credential is in the state in plaintext: passwords, the kubeconfig's key", async () => {
    const state = (await pulumi(["stack", "export"])).stdout;
    const kubeKey = /client-key-data: (\S+)/.exec(readFileSync(cluster.kubeconfig, "utf8"))![1]!;
    assert.ok(!state.includes(kubeKey), "the kubeconfig's client key is not in the state");
    const appPassword = (await pulumi(["stack", "output", "--show-secrets", "appPassword"])).stdout.trim();
    assert.ok(appPassword.length >= 16);
    assert.ok(!state.includes(appPassword), "the app role's password is not in the state in plaintext");
    assert.match(state, /"secure":|ciphertext/, "secrets are stored encrypted");
  });

  test("destroy keeps the data volume as configured", async () => {
    await pulumi(["destroy", "--yes", "--skip-preview"]);
    const pvcs = JSON.parse((await cluster.kubectl(["get", "pvc", "-n", ns, "-o", "json"], { allowFailure: true })).stdout || '{"items":[]}') as {
      items: { metadata: { name: string } }[];
    };
    assert.ok(
      pvcs.items.some((p) => p.metadata.name === `data-${dbPod}`),
      "the data claim outlives the stack (keepVolumeOnDelete)",
    );
  });
});

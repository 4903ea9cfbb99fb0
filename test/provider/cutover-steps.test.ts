// The cutover's ordered steps over the real engine (a SQLite file, embedded
// PostgreSQL 16) and a stand-in for the app on the cluster that writes a row
// every few milliseconds to whichever database its Secret named when its pods
// started, logging each acknowledged id, and stops writing only when scaled to 0.
// (The same steps against real pods: test/stacks-cluster.test.ts.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { copyFileSync, existsSync, readdirSync, renameSync } from "node:fs";
import { basename, dirname } from "node:path";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import { migrate } from "../../src/engine";
import { engineData } from "../../src/provider/cutover-data";
import { CutoverError, cutOver, describeSteps, rollBack, type Backend, type DataSide } from "../../src/provider/cutover-steps";
import type { Workload } from "../../src/kube/app-workloads";
import { StandInApp } from "../helpers/stand-in-app";

let pgs: TestPostgres;
before(async () => {
  pgs = await startPostgres();
});
after(async () => pgs?.stop());

const api: Workload = { kind: "Deployment", name: "api" };
const worker: Workload = { kind: "StatefulSet", name: "worker" };

async function setUp(rows = 200) {
  const file = sqliteFile((db) => {
    db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, note TEXT NOT NULL)");
    const ins = db.prepare("INSERT INTO events (id, note) VALUES (?, ?)");
    for (let i = 1; i <= rows; i++) ins.run(i, `seed ${i}`);
  });
  const url = await pgs.createDatabase();
  await migrate({ source: file, target: url, schema: "create" });
  const data = engineData(
    { sqlitePath: file, targetUrl: url, tunnel: null, schema: "create", tables: [], identifiers: "downcase", casts: {}, jobs: 2, backupDir: "" },
    async () => file,
  );
  return { file, url, data, db: url.split("/").pop()! };
}

const pgIds = async (db: string) => (await pgs.query<{ id: string }>("SELECT id FROM events ORDER BY id", [], db)).map((r) => Number(r.id));
const sqliteIds = (file: string) => {
  const d = new Database(file, { readonly: true });
  try {
    return (d.prepare("SELECT id FROM events ORDER BY id").all() as { id: number }[]).map((r) => r.id);
  } finally {
    d.close();
  }
};
/** Waits until the app has acknowledged `n` more rows on `on` (a busy machine writes slower than every few ms). */
async function writes(app: StandInApp, on: Backend, n: number): Promise<void> {
  const until = Date.now() + 30_000;
  const start = app.acknowledged.filter((a) => a.on === on).length;
  while (app.acknowledged.filter((a) => a.on === on).length < start + n) {
    assert.ok(Date.now() < until, `the app wrote fewer than ${n} rows to ${on} in 30 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const exactlyOnce = (ids: number[], acknowledged: number[], where: string) => {
  assert.equal(new Set(ids).size, ids.length, `${where}: an id twice`);
  const have = new Set(ids);
  const missing = acknowledged.filter((id) => !have.has(id));
  assert.deepEqual(missing, [], `${where}: acknowledged rows missing`);
};

test("cutover while the app writes: every row acknowledged on SQLite is in PostgreSQL once, the app then writes there; downtime and rows reported", async () => {
  const { file, url, data, db } = await setUp();
  const app = new StandInApp(file, url);
  app.start();
  let r;
  try {
    await writes(app, "sqlite", 20);
    r = await cutOver(app, data, { workloads: [api, worker], healthCheck: { service: "api", port: 80, path: "/healthz" }, timeoutMs: 10_000 });
    await writes(app, "postgresql", 20);
  } finally {
    await app.stop();
  }
  const onSqlite = app.acknowledged.filter((a) => a.on === "sqlite").map((a) => a.id);
  const onPg = app.acknowledged.filter((a) => a.on === "postgresql").map((a) => a.id);
  assert.ok(onSqlite.length > 5 && onPg.length > 5, `the app wrote on both sides (${onSqlite.length}, ${onPg.length})`);
  exactlyOnce(await pgIds(db), [...onSqlite, ...onPg], "PostgreSQL");
  assert.equal((await pgIds(db)).length, 200 + app.acknowledged.length);
  // In order: stop both, then the Secret, then start both and check health.
  assert.deepEqual(app.calls, [
    "scale api 0",
    "scale worker 0",
    "stopped api",
    "stopped worker",
    "secret postgresql",
    "scale api 2",
    "scale worker 1",
    "ready api",
    "ready worker",
    "probe",
  ]);
  assert.deepEqual(r.replicas, { "Deployment/api": 2, "StatefulSet/worker": 1 });
  assert.equal(r.backend, "postgresql");
  assert.equal(r.rowsSynced >= onSqlite.length, true, `synced ${r.rowsSynced} rows, the app wrote ${onSqlite.length} to SQLite`);
  assert.ok(r.writeDowntimeMs > 0 && r.writeDowntimeMs < 10_000, `downtime ${r.writeDowntimeMs} ms`);
  assert.match(
    r.steps.join("; "),
    /^stopped Deployment\/api \(2\), StatefulSet\/worker \(1\); final snapshot .*; synced \d+ rows to PostgreSQL \(events: \d+\), verified; the app's Secret points at PostgreSQL; started .*, Ready; health check \/healthz: 200; write downtime \d+\.\d s \(stopping the writers \d+\.\d s, final snapshot and sync \d+\.\d s, switch and restart until Ready \d+\.\d s, health check \d+\.\d s\)$/,
  );
  // The parts account for the whole downtime, so a slow cutover says where its time went.
  assert.deepEqual(
    r.downtimeParts.map((p) => p.part),
    ["stopping the writers", "final snapshot and sync", "switch and restart until Ready", "health check"],
  );
  assert.equal(
    r.downtimeParts.reduce((n, p) => n + p.ms, 0),
    r.writeDowntimeMs,
  );
});

test("a sync that fails verification never switches: the app starts again on SQLite and nothing is lost", async () => {
  const { file, url, data } = await setUp(10);
  const app = new StandInApp(file, url);
  app.replicasOf = { "Deployment/api": 2 };
  app.start();
  const failing: DataSide = {
    ...data,
    syncForward: async () => ({ ok: false, rowsChanged: 3, tables: [{ source: "events", target: "events", changed: 3, match: false }] }),
  };
  let failure: unknown;
  try {
    await writes(app, "sqlite", 5);
    await cutOver(app, failing, { workloads: [api], timeoutMs: 5000 }).catch((e: unknown) => (failure = e));
    await writes(app, "sqlite", 5);
  } finally {
    await app.stop();
  }
  assert.ok(failure instanceof CutoverError, String(failure));
  assert.match(
    failure.message,
    /^Cutover stopped before the switch: verification found differences after the final sync in events\. The app was started again on SQLite \(stopped Deployment\/api \(2\); final snapshot [^;]+; started Deployment\/api \(2\), Ready\); nothing was lost\./,
  );
  assert.equal(app.secret, "sqlite");
  assert.ok(!app.calls.includes("secret postgresql"));
  assert.deepEqual(app.calls.slice(-2), ["scale api 2", "ready api"]);
  exactlyOnce(
    sqliteIds(file),
    app.acknowledged.map((a) => a.id),
    "SQLite",
  );
});

test("a rollback whose data cannot go back refuses before any workload is stopped", async () => {
  const { file, url, data } = await setUp(5);
  const app = new StandInApp(file, url);
  app.secret = "postgresql";
  const refusing: DataSide = {
    ...data,
    planBack: async () => {
      throw new Error('table "events", row id=7, column "note": a value SQLite\'s column cannot hold');
    },
  };
  await assert.rejects(rollBack(app, refusing, { workloads: [api, worker], timeoutMs: 5000, discardPostgresWrites: false }), /row id=7, column "note"/);
  assert.deepEqual(app.calls, [], "nothing was scaled or switched");
});

test("a discarding rollback copies nothing back and says how many rows it leaves behind", async () => {
  const { file, url, data, db } = await setUp(5);
  await pgs.query("INSERT INTO events (id, note) VALUES (100, 'pg only'), (101, 'pg only')", [], db);
  const app = new StandInApp(file, url);
  app.replicasOf = { "Deployment/api": 1 };
  app.secret = "postgresql";
  const r = await rollBack(app, data, { workloads: [api], timeoutMs: 5000, discardPostgresWrites: true });
  await app.stop();
  assert.equal(r.backend, "sqlite");
  assert.equal(r.rowsSynced, 0);
  assert.deepEqual(r.leftBehind, { rows: 2, atLeast: false, tables: ["events"] });
  assert.match(r.steps.join("; "), /rollback\.discardPostgresWrites: 2 rows PostgreSQL took are left behind \(events\)/);
  const restarted = app.acknowledged.map((a) => a.id);
  assert.ok(
    app.acknowledged.every((a) => a.on === "sqlite"),
    "restarted on SQLite",
  );
  assert.deepEqual(sqliteIds(file), [1, 2, 3, 4, 5, ...restarted], "nothing copied back into SQLite");
  assert.equal(app.secret, "sqlite");
});

test("describeSteps: what preview prints for each direction, with workloads and replica counts", () => {
  const cut = describeSteps(
    "postgresql",
    [api, worker],
    { "Deployment/api": 2, "StatefulSet/worker": 1 },
    { source: "/data/app.db", timeoutMs: 120_000, healthCheck: { service: "api", port: 8000, path: "/healthz" } },
  );
  assert.match(cut[0]!, /^1\. stop the writers: scale Deployment\/api \(2 → 0\), StatefulSet\/worker \(1 → 0\)/);
  assert.match(cut[4]!, /scale back Deployment\/api → 2, StatefulSet\/worker → 1; wait Ready; GET \/healthz on Service api:8000 until 2xx \(within 120 s\)/);
  const back = describeSteps("sqlite", [api], { "Deployment/api": 3 }, { source: "/data/app.db", timeoutMs: 60_000, discardPostgresWrites: true });
  assert.match(back[0]!, /nothing is copied back/);
  const podBack = describeSteps("sqlite", [api], { "Deployment/api": 1 }, { source: "pod:api/data/app.db", timeoutMs: 60_000 });
  assert.match(podBack[0]!, /^0\. read pod:api\/data\/app\.db as it is now \(in the app's running pod\); check every PostgreSQL value/);
  assert.match(
    podBack[2]!,
    /^2\. in a writer pod on the app's volume claim: snapshot pod:api\/data\/app\.db, .* put it in place \(the file before kept beside it as <file>\.pgshift-backup-<UTC time>\)$/,
  );
});

test("a file that lives elsewhere (a pod: source's): the rollback plans against it as it is now, copies back into a local copy, and replaces it (kept as a backup) only once that verified", async () => {
  const { file: volume, url, db } = await setUp(5);
  // The file in the app's volume, and the working copy on this machine (absent: another operator's machine).
  const local = `${volume}.local-copy`;
  const settings = {
    sqlitePath: local,
    targetUrl: url,
    tunnel: null,
    schema: "create" as const,
    tables: [],
    identifiers: "downcase" as const,
    casts: {},
    jobs: 2,
    backupDir: "",
  };
  const calls: string[] = [];
  const remote = {
    async refresh() {
      calls.push("refresh");
      copyFileSync(volume, local);
    },
    async writeBack<T extends { ok: boolean }>(copyBack: () => Promise<T>) {
      calls.push("writeBack");
      copyFileSync(volume, local);
      const result = await copyBack();
      if (!result.ok) return { result };
      renameSync(volume, `${volume}.pgshift-backup-test`);
      copyFileSync(local, volume);
      return { result, backupFile: `${volume}.pgshift-backup-test` };
    },
  };
  const data = engineData(settings, async () => local, remote);
  await pgs.query("INSERT INTO events (id, note) VALUES (50, 'taken by PostgreSQL')", [], db);
  await pgs.query("UPDATE events SET note = 'changed by PostgreSQL' WHERE id = 2", [], db);
  await pgs.query("DELETE FROM events WHERE id = 3", [], db);
  const app = new StandInApp(volume, url);
  app.secret = "postgresql";
  assert.equal(existsSync(local), false);
  const r = await rollBack(app, data, { workloads: [api], timeoutMs: 5000, discardPostgresWrites: false });
  await app.stop();
  assert.deepEqual(calls, ["refresh", "writeBack"], "read as it is before the plan; written back once the app was stopped");
  assert.equal(r.backupFile, `${volume}.pgshift-backup-test`, "the backup reported is the one beside the file, not the local copy's");
  assert.match(r.steps.join("; "), /copied 3 rows back to SQLite \(events: 3\), verified; SQLite backed up to \S+\.pgshift-backup-test/);
  const appWrote = new Set(app.acknowledged.map((a) => a.id));
  assert.deepEqual(
    sqliteIds(volume).filter((id) => !appWrote.has(id)),
    await pgIds(db),
    "the file in place holds PostgreSQL's rows (and what the restarted app wrote since)",
  );
  assert.deepEqual(sqliteIds(`${volume}.pgshift-backup-test`), [1, 2, 3, 4, 5], "the original is kept as it was");
  assert.deepEqual(
    readdirSync(dirname(local)).filter((f) => f.startsWith(basename(local)) && f !== basename(local)),
    [],
    "no backup of the local copy is left on this machine",
  );
  assert.equal(app.secret, "sqlite");
});

test("after an interrupted update left the app at 0 replicas, the recorded counts are restored, and recorded before anything is scaled", async () => {
  const { file, url, data } = await setUp(5);
  const app = new StandInApp(file, url);
  app.replicasOf = { "Deployment/api": 0, "StatefulSet/worker": 1 };
  const recordedAt: string[] = [];
  const r = await cutOver(app, data, {
    workloads: [api, worker],
    timeoutMs: 5000,
    recorded: { "Deployment/api": 3, "StatefulSet/worker": 1 },
    onRecorded: (x) => {
      recordedAt.push(`${JSON.stringify(x)} after ${app.calls.length} calls`);
    },
  });
  await app.stop();
  assert.deepEqual(r.replicas, { "Deployment/api": 3, "StatefulSet/worker": 1 });
  assert.deepEqual(app.replicasOf, { "Deployment/api": 3, "StatefulSet/worker": 1 });
  assert.deepEqual(recordedAt, ['{"Deployment/api":3,"StatefulSet/worker":1} after 0 calls']);
});

test("a health check that never passes puts the app back on SQLite with what it wrote to PostgreSQL meanwhile: nothing lost", async () => {
  const { file, url, data, db } = await setUp();
  const app = new StandInApp(file, url);
  app.health = 503;
  app.start();
  let failure: unknown;
  try {
    await writes(app, "sqlite", 20);
    await cutOver(app, data, { workloads: [api, worker], healthCheck: { service: "api", port: 80, path: "/healthz" }, timeoutMs: 1500 }).catch(
      (e: unknown) => (failure = e),
    );
    await writes(app, "sqlite", 10);
  } finally {
    await app.stop();
  }
  assert.ok(failure instanceof CutoverError, String(failure));
  assert.match(
    failure.message,
    /^Cutover failed: health check GET \/healthz on Service api:80 did not answer 2xx within 2 s \(last: HTTP 503\)\. Put back: stopped .*; copied \d+ rows PostgreSQL took back to SQLite \(SQLite backed up to [^)]+\); the app's Secret points at SQLite again; started .*\. The app runs on SQLite; nothing was lost\.$/,
  );
  assert.equal(app.secret, "sqlite");
  assert.deepEqual(app.replicasOf, { "Deployment/api": 2, "StatefulSet/worker": 1 }, "replicas restored");
  const onPg = app.acknowledged.filter((a) => a.on === "postgresql");
  assert.ok(onPg.length > 0, "the app wrote to PostgreSQL while the health check failed");
  exactlyOnce(
    sqliteIds(file),
    app.acknowledged.map((a) => a.id),
    "SQLite",
  );
  // PostgreSQL holds everything but what the app wrote to SQLite after it was put back.
  const after = new Set(app.acknowledged.filter((a) => a.run === 3).map((a) => a.id));
  assert.deepEqual(
    sqliteIds(file).filter((id) => !after.has(id)),
    await pgIds(db),
  );
});

test("cutover then rollback while the app writes: every acknowledged row is on the side the app uses next, exactly once, and both sides are equal at the rollback", async () => {
  const { file, url, data, db } = await setUp();
  const app = new StandInApp(file, url);
  app.start();
  let back;
  try {
    await writes(app, "sqlite", 20);
    await cutOver(app, data, { workloads: [api, worker], timeoutMs: 10_000 });
    await writes(app, "postgresql", 20);
    back = await rollBack(app, data, { workloads: [api, worker], timeoutMs: 10_000, discardPostgresWrites: false });
    await writes(app, "sqlite", 10);
  } finally {
    await app.stop();
  }
  assert.equal(back.backend, "sqlite");
  assert.equal(app.secret, "sqlite");
  assert.ok(back.rowsSynced >= 20, `copied back ${back.rowsSynced}`);
  assert.match(back.backupFile ?? "", /\.backup\.\d{8}_\d{6}/);
  assert.match(
    back.steps.join("; "),
    /^stopped .*; copied \d+ rows back to SQLite \(events: \d+\), verified; SQLite backed up to .*; the app's Secret points at SQLite; started .*, Ready; write downtime \d+\.\d s \(stopping the writers \d+\.\d s, backup and copy back \d+\.\d s, switch and restart until Ready \d+\.\d s\)$/,
  );
  assert.equal(
    back.downtimeParts.reduce((n, p) => n + p.ms, 0),
    back.writeDowntimeMs,
  );
  exactlyOnce(
    sqliteIds(file),
    app.acknowledged.map((a) => a.id),
    "SQLite",
  );
  const last = new Set(app.acknowledged.filter((a) => a.run === 3).map((a) => a.id));
  assert.deepEqual(
    sqliteIds(file).filter((id) => !last.has(id)),
    await pgIds(db),
    "SQLite equals PostgreSQL as it was at the rollback",
  );
});

test("the real refusal: a PostgreSQL value the SQLite column cannot hold stops the rollback before any workload is stopped, naming table, key and column", async () => {
  const { file, url, data, db } = await setUp(5);
  await pgs.query("ALTER TABLE events ALTER COLUMN note DROP NOT NULL", [], db).catch(() => undefined);
  await pgs.query("INSERT INTO events (id, note) VALUES (6, NULL)", [], db);
  const app = new StandInApp(file, url);
  app.secret = "postgresql";
  await assert.rejects(rollBack(app, data, { workloads: [api, worker], timeoutMs: 5000, discardPostgresWrites: false }), (e: Error) => {
    assert.match(e.message, /table "events", row id="?6"?, column "note"/);
    return true;
  });
  assert.deepEqual(app.calls, [], "nothing was scaled or switched");
});

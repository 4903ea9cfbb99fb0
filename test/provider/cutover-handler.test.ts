// The Cutover resource's decisions, over a real SQLite file and a real
// PostgreSQL 16: what check refuses, when an update switches, and what a
// switch without a cluster (rendered manifests) does with the data. The steps
// themselves, with an app writing throughout: cutover-steps.test.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import { fingerprintSqlite, migrate } from "../../src/engine";
import { check, create, diff, update, type CutoverInputs, type CutoverOutputs } from "../../src/provider/cutover-handler";

let pgs: TestPostgres;
before(async () => {
  pgs = await startPostgres();
});
after(async () => pgs?.stop());

const inputs = (o: Partial<CutoverInputs> = {}): CutoverInputs => ({
  cutover: false,
  kube: null,
  workloads: [],
  secretName: "piyasa-secrets",
  sqliteData: { DATABASE_URL: "sqlite:///./app.db", DATABASE_URL_ASYNC: "sqlite+aiosqlite:///./app.db" },
  postgresData: {
    DATABASE_URL: "postgresql+psycopg://piyasa_app:pw@db:5432/piyasa_db",
    DATABASE_URL_ASYNC: "postgresql+asyncpg://piyasa_app:pw@db:5432/piyasa_db",
  },
  manageSecret: false,
  source: "/data/app.db",
  data: {
    sqlitePath: "/data/app.db",
    targetUrl: "postgresql://u:p@127.0.0.1:1/none",
    tunnel: null,
    schema: "create",
    tables: [],
    identifiers: "downcase",
    casts: {},
    jobs: 2,
    backupDir: "",
  },
  healthCheck: null,
  timeoutSeconds: 300,
  discardPostgresWrites: false,
  readerImage: "",
  ...o,
});
const outputs = (o: Partial<CutoverOutputs> = {}): CutoverOutputs => ({
  ...inputs(),
  backend: "sqlite",
  replicas: {},
  status: "the app uses SQLite",
  writeDowntimeSeconds: 0,
  rowsSynced: 0,
  switchedAt: "",
  steps: [],
  finalFingerprint: "",
  ...o,
});

test("check: a relative source, a pod: source or a health check without a cluster, a non-positive timeout are refused by property", async () => {
  const kube = { kubeconfig: "k", namespace: "ns" };
  const cases: [string, Partial<CutoverInputs>, string[]][] = [
    ["valid", {}, []],
    ["relative path", { source: "app.db" }, ["source"]],
    ["pod: source without a cluster", { source: "pod:api/data/app.db" }, ["source"]],
    ["pod: source with a cluster", { source: "pod:api/data/app.db", kube }, []],
    ["health check without a cluster", { healthCheck: { service: "api", port: 80, path: "/healthz" } }, ["healthCheck"]],
    ["timeout 0", { timeoutSeconds: 0 }, ["timeoutSeconds"]],
  ];
  for (const [what, news, failing] of cases) {
    const r = await check(inputs(), inputs(news));
    assert.deepEqual(
      r.failures!.map((f) => f.property),
      failing,
      what,
    );
  }
});

test("diff: a switch when cutover flips or what it does changes; never for how the cluster or database is reached", async () => {
  const cases: [string, Partial<CutoverOutputs>, Partial<CutoverInputs>, boolean][] = [
    ["nothing changed", {}, {}, false],
    ["cutover", {}, { cutover: true }, true],
    ["rollback", { backend: "postgresql", cutover: true }, { cutover: false }, true],
    ["a new app password", {}, { postgresData: { DATABASE_URL: "postgresql+psycopg://piyasa_app:new@db:5432/piyasa_db", DATABASE_URL_ASYNC: "x" } }, true],
    ["another kubeconfig", {}, { kube: { kubeconfig: "other", namespace: "ns" } }, false],
    ["a tunnel to another pod", {}, { data: { ...inputs().data, tunnel: { kubeconfig: "k", namespace: "ns", pod: "db-1", port: 5432 } } }, false],
    ["a health check", {}, { healthCheck: { service: "api", port: 80, path: "/healthz" } }, true],
  ];
  for (const [what, olds, news, changes] of cases) {
    assert.equal((await diff("id", outputs(olds), inputs(news))).changes, changes, what);
  }
});

test("without a cluster: create adopts what is asked for; cutover brings PostgreSQL level with the file; an update without a switch touches nothing; a rollback copies back, or says what it discards", async () => {
  const file = sqliteFile((db) =>
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL); INSERT INTO notes (body) VALUES ('a'), ('b'), ('c');"),
  );
  const url = await pgs.createDatabase();
  await migrate({ source: file, target: url, schema: "create" });
  const data = { ...inputs().data, sqlitePath: file, targetUrl: url };
  const created = await create(inputs({ source: file, data }));
  const outs = created.outs as CutoverOutputs;
  assert.equal(outs.backend, "sqlite");
  // Rows the app writes to SQLite right up to the switch.
  const db = new Database(file);
  db.exec("INSERT INTO notes (body) VALUES ('d'), ('e'); UPDATE notes SET body = 'B' WHERE id = 2; DELETE FROM notes WHERE id = 1");
  db.close();
  const cut = (await update(created.id, outs, inputs({ source: file, data, cutover: true }))).outs as CutoverOutputs;
  assert.equal(cut.backend, "postgresql");
  assert.equal(cut.finalFingerprint, await fingerprintSqlite(file), "what the final sync left, so a later change to the file is noticed");
  assert.equal(cut.rowsSynced >= 3, true, `synced ${cut.rowsSynced}`);
  assert.match(
    cut.status,
    /^cut over to PostgreSQL: final snapshot .*; synced \d+ rows to PostgreSQL \(notes: \d+\), verified; the app's Secret points at PostgreSQL; write downtime 0\.0 s$/,
  );
  const rows = await pgs.query<{ id: string; body: string }>("SELECT id, body FROM notes ORDER BY id", [], url.split("/").pop());
  assert.deepEqual(
    rows.map((r) => [Number(r.id), r.body]),
    [
      [2, "B"],
      [3, "c"],
      [4, "d"],
      [5, "e"],
    ],
  );
  // Cut over: the app writes to PostgreSQL; a later update with nothing to switch copies nothing over it.
  await pgs.query("INSERT INTO notes (id, body) VALUES (6, 'from the app')", [], url.split("/").pop());
  const again = (await update(created.id, cut, inputs({ source: file, data, cutover: true, timeoutSeconds: 60 }))).outs as CutoverOutputs;
  assert.equal(again.status, cut.status);
  assert.equal(again.finalFingerprint, cut.finalFingerprint);
  const [n] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM notes", [], url.split("/").pop());
  assert.equal(Number(n!.n), 5);
  // The rollback copies PostgreSQL's write back into the file (backed up first).
  const back = (await update(created.id, again, inputs({ source: file, data, cutover: false }))).outs as CutoverOutputs;
  assert.equal(back.backend, "sqlite");
  assert.equal(back.rowsSynced, 1);
  assert.match(
    back.status,
    /^rolled back to SQLite: copied 1 rows back to SQLite \(notes: 1\), verified; SQLite backed up to \S+\.backup\.\d{8}_\d{6}; the app's Secret points at SQLite; write downtime 0\.0 s$/,
  );
  const lite = new Database(file, { readonly: true });
  assert.equal(lite.prepare("SELECT body FROM notes WHERE id = 6").pluck().get(), "from the app");
  lite.close();
  // Once more over, and a discarding rollback: nothing copied, and it says what it leaves behind.
  const over = (await update(created.id, back, inputs({ source: file, data, cutover: true }))).outs as CutoverOutputs;
  assert.equal(over.rowsSynced, 0, "both sides were equal after the rollback");
  await pgs.query("INSERT INTO notes (id, body) VALUES (7, 'left behind')", [], url.split("/").pop());
  const dropped = (await update(created.id, over, inputs({ source: file, data, cutover: false, discardPostgresWrites: true }))).outs as CutoverOutputs;
  assert.equal(dropped.backend, "sqlite");
  assert.match(dropped.status, /^rolled back to SQLite: rollback\.discardPostgresWrites: 1 rows PostgreSQL took are left behind \(notes\)/);
});

test("diff: the same inputs with their keys in another order (as state comes back) are no change", async () => {
  const reordered = Object.fromEntries(Object.entries(inputs()).reverse()) as unknown as CutoverInputs;
  reordered.data = Object.fromEntries(Object.entries(inputs().data).reverse()) as CutoverInputs["data"];
  assert.equal((await diff("id", outputs(), reordered)).changes, false);
});

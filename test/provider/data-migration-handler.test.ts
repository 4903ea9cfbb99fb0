// The migration handler's decisions, table by table: why an update copies (or
// must not, once the app has written to PostgreSQL), when the resource moves,
// what check refuses; create and a runId update copy a real SQLite file into a
// real PostgreSQL 16, and the no-copy updates touch neither.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import { check, copyReasons, create, diff, update, type MigrationInputs, type MigrationOutputs } from "../../src/provider/data-migration-handler";

let pgs: TestPostgres;
let target: string;
let source: string;
before(async () => {
  pgs = await startPostgres();
  target = await pgs.createDatabase();
  source = sqliteFile((db) => db.exec("CREATE TABLE bots (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO bots VALUES (1, 'a'), (2, 'b'), (3, 'c');"));
});
after(async () => pgs?.stop());

const inputs = (o: Partial<MigrationInputs> = {}): MigrationInputs => ({
  source: "/data/app.db",
  sourceFingerprint: "fp1",
  targetUrl: "postgresql://piyasa_user:pw@db:5432/piyasa_db",
  tunnel: null,
  schema: "create",
  tables: [],
  identifiers: "downcase",
  jobs: 2,
  casts: {},
  cutover: false,
  runId: "",
  backupDir: "",
  ...o,
});
const outputs = (o: Partial<MigrationOutputs> = {}): MigrationOutputs => ({
  ...inputs(),
  report: { ok: true, tables: [] },
  backupFile: "/data/app.db.backup.1",
  status: "copied and verified 1 tables, 3 rows",
  migratedFingerprint: "fp1",
  copiedAt: "2026-01-01T00:00:00.000Z",
  everCutover: false,
  ...o,
});

test("copyReasons: what makes an update copy again, and what never does after cutover", () => {
  const cases: [string, Partial<MigrationOutputs>, Partial<MigrationInputs>, RegExp[]][] = [
    ["nothing changed", {}, {}, []],
    ["the SQLite file changed", {}, { sourceFingerprint: "fp2" }, [/source changed/]],
    ["schema mode", {}, { schema: "existing" }, [/schema mode changed to existing/]],
    ["identifiers", {}, { identifiers: "preserve" }, [/identifiers changed to preserve/]],
    ["table selection", {}, { tables: ["bots"] }, [/table selection changed/]],
    ["casts", {}, { casts: { "bots.name": "text" } }, [/column casts changed/]],
    ["only jobs (how, not what)", {}, { jobs: 4 }, []],
    ["file changed before the cutover update", {}, { sourceFingerprint: "fp2", cutover: true }, [/cutover: bringing PostgreSQL level/]],
    ["cutover, file unchanged since the last copy", {}, { cutover: true }, []],
    ["file changed while cut over", { cutover: true, everCutover: true }, { sourceFingerprint: "fp2", cutover: true }, []],
    ["a second cutover after a rollback", { everCutover: true }, { sourceFingerprint: "fp2", cutover: true }, []],
    ["file changed after a rollback", { everCutover: true }, { sourceFingerprint: "fp2" }, []],
    ["a new runId after cutover", { everCutover: true }, { runId: "again", sourceFingerprint: "fp2" }, [/runId changed to "again"/]],
  ];
  for (const [what, olds, news, expected] of cases) {
    const reasons = copyReasons(outputs(olds), inputs(news));
    assert.equal(reasons.length, expected.length, `${what}: ${reasons.join("; ")}`);
    expected.forEach((re, i) => assert.match(reasons[i]!, re, what));
  }
});

test("diff: an update when anything that matters changed; the resource moves (never deleting) for another target or file", async () => {
  const cases: [string, Partial<MigrationInputs>, { changes: boolean; replaces: string[] }][] = [
    ["nothing changed", {}, { changes: false, replaces: [] }],
    ["another password in the URL", { targetUrl: "postgresql://piyasa_user:new@db:5432/piyasa_db" }, { changes: true, replaces: [] }],
    ["another database", { targetUrl: "postgresql://piyasa_user:pw@db:5432/other" }, { changes: true, replaces: ["targetUrl"] }],
    ["another SQLite path", { source: "/data/other.db" }, { changes: true, replaces: ["targetUrl"] }],
    ["cutover", { cutover: true }, { changes: true, replaces: [] }],
    ["jobs", { jobs: 4 }, { changes: true, replaces: [] }],
    ["backupDir", { backupDir: "/backups" }, { changes: true, replaces: [] }],
    ["a tunnel (how to get there only)", { tunnel: { kubeconfig: "k", context: "", namespace: "ns", pod: "p", port: 5432 } }, { changes: false, replaces: [] }],
  ];
  for (const [what, news, expected] of cases) {
    const r = await diff("id", outputs(), inputs(news));
    assert.deepEqual({ changes: r.changes, replaces: r.replaces }, expected, what);
    assert.equal(r.deleteBeforeReplace, false, what);
  }
});

test("check: a relative or missing source, a bad mode, cast or jobs are refused by property", async () => {
  const cases: [string, Partial<MigrationInputs>, string[]][] = [
    ["valid", { source }, []],
    ["relative path", { source: "app.db" }, ["source"]],
    ["missing file", { source: "/nonexistent/app.db" }, ["source"]],
    ["schema mode", { source, schema: "replace" as never }, ["schema"]],
    ["identifiers", { source, identifiers: "upcase" as never }, ["identifiers"]],
    ["a cast that does not exist", { source, casts: { "bots.name": "bigbig" } }, ["casts"]],
    ["jobs 0", { source, jobs: 0 }, ["jobs"]],
    ["jobs 65", { source, jobs: 65 }, ["jobs"]],
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

test("a table setting naming no table is named as the person wrote it: the stack's key from the stack, the input's name otherwise", async () => {
  for (const [prefix, tables, excluded] of [
    ["pgshift:migration.", "pgshift:migration.tables", "pgshift:migration.excludeTables"],
    ["", "tables", "excludeTables"],
  ] as const) {
    const base = inputs({ source, targetUrl: target, settingsPrefix: prefix });
    await assert.rejects(create({ ...base, tables: ["bot"] }), (err: Error) => {
      assert.match(err.message, new RegExp(`^${tables.replace(/\./g, "\\.")} names "bot", which is not a table`));
      assert.doesNotMatch(err.message, /--tables/);
      return true;
    });
    await assert.rejects(create({ ...base, excludeTables: ["bot"] }), (err: Error) => {
      assert.match(err.message, new RegExp(`^${excluded.replace(/\./g, "\\.")} names "bot", which is not a table`));
      assert.doesNotMatch(err.message, /--exclude-tables/);
      return true;
    });
    // The resource's check names the stack's key too.
    const r = await check(base, { ...base, excludeTables: [""] });
    assert.deepEqual(
      r.failures!.map((f) => [f.property, f.reason.split(" must ")[0]]),
      [["excludeTables", excluded]],
    );
  }
});

test("update without a reason to copy: the status says why nothing was copied, PostgreSQL untouched", async () => {
  // The target URL points nowhere: a copy attempt would fail.
  const nowhere = { targetUrl: "postgresql://u:p@127.0.0.1:1/none" };
  const cases: [string, Partial<MigrationOutputs>, Partial<MigrationInputs>, RegExp, boolean][] = [
    ["nothing changed", {}, {}, /^copied and verified 1 tables, 3 rows$/, false],
    ["cutover", {}, { cutover: true }, /^cutover: the app uses PostgreSQL; nothing copied here \(the final sync is in cutoverStatus\)$/, true],
    ["rolled back", { everCutover: true, cutover: true }, { cutover: false }, /^rolled back to SQLite: nothing copied from SQLite/, true],
    [
      "file changed after cutover",
      { everCutover: true, cutover: true },
      { cutover: true, sourceFingerprint: "fp2" },
      /SQLite file changed since this resource.s last copy and was NOT copied/,
      true,
    ],
  ];
  for (const [what, olds, news, status, everCutover] of cases) {
    const r = await update("id", outputs({ ...nowhere, ...olds }), inputs({ ...nowhere, ...news }));
    assert.match(r.outs!.status, status, what);
    assert.equal(r.outs!.everCutover, everCutover, what);
    assert.equal(r.outs!.migratedFingerprint, "fp1", `${what}: still the fingerprint last copied`);
  }
});

test("create copies and verifies; an update with a new runId copies again; both back up the SQLite file first", async () => {
  const news = inputs({ source, targetUrl: target, sourceFingerprint: "fp-real" });
  const created = await create(news);
  const outs = created.outs as MigrationOutputs;
  assert.equal(outs.status, "copied and verified 1 tables, 3 rows");
  assert.deepEqual(
    outs.report.tables.map((t) => [t.source, t.sourceRows, t.targetRows, t.match]),
    [["bots", 3, 3, true]],
  );
  assert.equal(outs.migratedFingerprint, "fp-real");
  assert.match(outs.backupFile, /app|db\d+\.db\.backup\.\d{8}_\d{6}/);
  // After a cutover and a rollback, SQLite took writes: a new runId is the order to copy them over PostgreSQL's.
  const db = new Database(source);
  db.exec("INSERT INTO bots VALUES (4, 'd')");
  db.close();
  const cutOver = (await update(created.id, outs, { ...news, cutover: true })).outs as MigrationOutputs;
  const again = await update(created.id, { ...cutOver, cutover: false }, { ...news, sourceFingerprint: "fp-real-2", runId: "r2" });
  // (After the reason, the delta sync says how many rows it re-copied.)
  assert.match(again.outs!.status, /^copied and verified 1 tables, 4 rows \(runId changed to "r2": copying again as asked(; [^)]*\))?\)$/);
  assert.equal(again.outs!.everCutover, false, "a new runId starts a new era");
  assert.notEqual(again.outs!.backupFile, outs.backupFile, "a backup per copy");
  const [n] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM bots", [], target.split("/").pop());
  assert.equal(Number(n!.n), 4);
});

test("the cutover update brings PostgreSQL level with the SQLite file before the switch: 25 rows written since the last copy arrive", async () => {
  const file = sqliteFile((db) =>
    db.exec("CREATE TABLE messages (id INTEGER PRIMARY KEY, text TEXT NOT NULL); INSERT INTO messages (text) VALUES ('one'), ('two');"),
  );
  const url = await pgs.createDatabase();
  const news = inputs({ source: file, targetUrl: url, sourceFingerprint: "fp-before" });
  const created = await create(news);
  // The app keeps writing to SQLite until it is switched.
  const db = new Database(file);
  const insert = db.prepare("INSERT INTO messages (text) VALUES (?)");
  for (let i = 0; i < 25; i++) insert.run(`written after the last up ${i}`);
  db.close();
  const cut = (await update(created.id, created.outs as MigrationOutputs, { ...news, cutover: true, sourceFingerprint: "fp-at-cutover" }))
    .outs as MigrationOutputs;
  const [n] = await pgs.query<{ n: string }>("SELECT count(*) AS n FROM messages", [], url.split("/").pop());
  assert.equal(Number(n!.n), 27, "every row the app wrote to SQLite before the switch is in PostgreSQL");
  assert.match(cut.status, /^copied and verified 1 tables, 27 rows \(cutover: bringing PostgreSQL level/);
  assert.equal(cut.migratedFingerprint, "fp-at-cutover");
  assert.equal(cut.everCutover, true);
  assert.equal(cut.report.tables[0]!.copiedRows! >= 25, true, `re-copied ${cut.report.tables[0]!.copiedRows}`);
});

// The pgshift CLI as a user runs it: exit codes, --json reports, and crashes
// mid-copy (kill -9, PostgreSQL restart) followed by a re-run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import Database from "better-sqlite3";
import { generateBenchDb } from "../../bench/generate";
import { migrate } from "../../src/engine";
import { LoadError } from "../../src/engine/errors";

const bin = resolve(__dirname, "..", "..", "bin", "pgshift.js");
let pg: TestPostgres;
let big: string;
before(async () => {
  pg = await startPostgres();
  big = join(mkdtempSync(join(tmpdir(), "pgshift-big-")), "big.db");
  generateBenchDb(big, 300_000);
});
after(async () => pg?.stop());

const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const small = () =>
  sqliteFile((db) => db.exec('CREATE TABLE "Order Details" (id INTEGER PRIMARY KEY, qty INTEGER); INSERT INTO "Order Details" VALUES (1, 2), (2, 3);'));

test("migrate --json: exit 0 and only the report on stdout", async () => {
  const url = await pg.createDatabase();
  const r = run(["migrate", "--from", small(), "--to", url, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.tables.map((t: Record<string, unknown>) => ({
      source: t.source,
      target: t.target,
      sourceRows: t.sourceRows,
      targetRows: t.targetRows,
      match: t.match,
    })),
    [{ source: "Order Details", target: "order details", sourceRows: 2, targetRows: 2, match: true }],
  );
  assert.ok(!r.stdout.includes(pg.password) && !r.stderr.includes(pg.password), "the password is never printed");
  const rows = await pg.query(`SELECT id::int, qty::int FROM "order details" ORDER BY id`, [], url.split("/").pop());
  assert.deepEqual(rows, [
    { id: 1, qty: 2 },
    { id: 2, qty: 3 },
  ]);
});

test("verify: exit 1 with the differing row when PostgreSQL differs", async () => {
  const src = small();
  const url = await pg.createDatabase();
  assert.equal(run(["migrate", "--from", src, "--to", url]).status, 0);
  await pg.query(`UPDATE "order details" SET qty = 99 WHERE id = 2`, [], url.split("/").pop());
  const r = run(["verify", "--from", src, "--to", url, "--json"]);
  assert.equal(r.status, 1, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, false);
  assert.deepEqual(report.tables[0].differences[0], { key: { id: "2" }, problem: "values differ", columns: [{ column: "qty", source: "3", target: "99" }] });
});

test("migrate --refresh says per table how many rows it copied again (text and --json)", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE TABLE tags (name TEXT PRIMARY KEY)");
    for (let i = 1; i <= 500; i++) db.prepare("INSERT INTO items VALUES (?, ?)").run(i, `item ${i}`);
    db.exec("INSERT INTO tags VALUES ('a'), ('b')");
  });
  const url = await pg.createDatabase();
  assert.equal(run(["migrate", "--from", src, "--to", url]).status, 0);
  const w = new Database(src);
  w.exec("UPDATE items SET name = 'renamed' WHERE id = 250; INSERT INTO tags VALUES ('c')");
  w.close();
  const text = run(["migrate", "--from", src, "--to", url, "--refresh"]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(
    text.stdout,
    /items → items: 500 rows in SQLite, 500 in PostgreSQL \(synced\)\n\s+synced by recorded digests: 1 of \d+ key ranges differed; (\d+) rows deleted, \1 copied again/,
  );
  assert.match(text.stdout, /tags +→ tags: 3 rows in SQLite, 3 in PostgreSQL \(reloaded\)\n\s+reloaded whole: key is not a single integer column/);
  const w2 = new Database(src);
  w2.exec("DELETE FROM items WHERE id = 3");
  w2.close();
  const json = run(["migrate", "--from", src, "--to", url, "--refresh", "--json"]);
  assert.equal(json.status, 0, json.stderr);
  const items = (JSON.parse(json.stdout) as { tables: { source: string; action: string; copiedRows: number; refresh: string }[] }).tables.find(
    (t) => t.source === "items",
  )!;
  assert.equal(items.action, "synced");
  assert.equal(items.copiedRows, 0, "a deleted row: nothing to copy, only the row to delete");
  assert.match(items.refresh, /1 of \d+ key ranges differed; 1 rows deleted, 0 copied again/);
});

test("bad input: exit 2 with the cause named", async () => {
  let r = run(["migrate", "--from", "/no/such.db", "--to", "postgres://u:p@127.0.0.1:1/x"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/no\/such\.db does not exist/);
  r = run(["migrate", "--from", small(), "--to", "postgres://u:hunter2hunter2@127.0.0.1:1/x"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /Cannot connect to PostgreSQL at postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x/);
  assert.ok(!r.stderr.includes("hunter2hunter2"));
  r = run(["migrate", "--from", small()]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--to <postgres URL> is required/);
  r = run(["frobnicate"]);
  assert.equal(r.status, 2);
  const hostile = sqliteFile((db) => db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO t VALUES (7, 'seven')"));
  r = run(["migrate", "--from", hostile, "--to", await pg.createDatabase()]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /table "t", row id=7, column "n": text in an integer column/);
});

test("kill -9 mid-copy, then a re-run: exactly one copy of every row", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  const child = spawn(process.execPath, [bin, "migrate", "--from", big, "--to", url, "--jobs", "1"], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, PGSHIFT_PROGRESS_INTERVAL_MS: "0" },
  });
  await new Promise<void>((resolvePromise, reject) => {
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
      // Kill once the big table is part-way through its COPY.
      if (/messages: copy [1-9]\d*\//.test(err)) {
        child.kill("SIGKILL");
        resolvePromise();
      }
    });
    child.on("exit", () => reject(new Error(`migrate ended before it could be killed:\n${err}`)));
  });
  await new Promise((r) => child.once("close", r));
  // Whatever was in flight was rolled back: messages is absent or complete, never partial.
  const partial = await pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_tables WHERE tablename = 'messages'", [], db);
  assert.equal(Number(partial[0]!.n), 0, "the interrupted table left nothing behind");
  const r = run(["migrate", "--from", big, "--to", url, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const [n] = await pg.query<{ n: string; d: string }>("SELECT count(*) AS n, count(DISTINCT id) AS d FROM messages", [], db);
  assert.equal(Number(n!.n), 300_000);
  assert.equal(Number(n!.d), 300_000);
});

test("PostgreSQL restarted mid-copy: the run fails clearly, the next one completes exactly once", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  let restarted: Promise<void> | undefined;
  const first = migrate({
    source: big,
    target: url,
    jobs: 1,
    onProgress: (e) => {
      if (!restarted && e.table === "messages" && e.phase === "copy" && e.rows > 0) restarted = pg.restart();
    },
  });
  // Clearly: the table, what happened, that it was rolled back, and what to do.
  await assert.rejects(first, (e: Error) => {
    assert.ok(e instanceof LoadError, `a LoadError, not ${e.constructor.name}: ${e.message}`);
    assert.equal(e.table, "messages");
    assert.match(e.message, /^The connection to PostgreSQL was lost while copying table "messages": /);
    assert.match(e.message, /The table's load was rolled back\. Once PostgreSQL is back, run the same command again/);
    return true;
  });
  await restarted;
  const r = await migrate({ source: big, target: url });
  assert.equal(r.ok, true);
  const [n] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM messages", [], db);
  assert.equal(Number(n!.n), 300_000);
});

test("usage problems, a bad --cast among them: exit 2 and one line naming the problem, never a stack trace", async () => {
  const src = small();
  const cases: [string[], RegExp][] = [
    [
      ["migrate", "--from", src, "--to", "postgres://u:p@127.0.0.1:1/x", "--cast", "Order Details.qty=bigbig"],
      /^pgshift: --cast "Order Details\.qty=bigbig": unknown cast "bigbig"; use one of: text, /,
    ],
    [["plan", "--from", src, "--cast", "qty=text"], /^pgshift: --cast "qty=text" must look like table\.column=type/],
    [["plan", "--from", src, "--cast", "Order Details.qty=text:epoch-ms"], /only timestamp, timestamptz and date take a reading for numbers/],
    [["plan", "--from", src, "--cast", "Order Details.nope=text"], /--cast names "Order Details\.nope", which is not a column being migrated/],
    [["plan", "--from", src, "--bogus"], /^pgshift: Unknown option '--bogus'.*Run `pgshift --help` for usage\.$/],
    [["migrate", "--from", src, "--to", "postgres://u:p@127.0.0.1:1/x", "--jobs", "many"], /--jobs must be a whole number/],
    [
      ["migrate", "--from", src, "--to", "postgres://u:p@127.0.0.1:1/x", "--schema", "replace"],
      /^pgshift: --schema must be create or existing, not "replace"\.$/,
    ],
    [
      ["verify", "--from", src, "--to", "postgres://u:p@127.0.0.1:1/x", "--identifiers", "upcase"],
      /^pgshift: --identifiers must be downcase or preserve, not "upcase"\.$/,
    ],
    [["frobnicate"], /^pgshift: Unknown command "frobnicate"; use plan, migrate, verify or sync-back\./],
  ];
  for (const [args, message] of cases) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line for ${args.join(" ")}:\n${r.stderr}`);
    assert.match(lines[0]!, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});

test("a plain verify after migrate --identifiers preserve --cast … compares the way the migration loaded", async () => {
  const src = sqliteFile((db) => {
    db.exec(
      'CREATE TABLE "Events" (id INTEGER PRIMARY KEY, "At" DATETIME, "Payload" JSON); INSERT INTO "Events" VALUES (1, 40000000000, \'not json\'), (2, 1700000000000, \'{"a": 1}\')',
    );
  });
  const url = await pg.createDatabase();
  const m = run([
    "migrate",
    "--from",
    src,
    "--to",
    url,
    "--identifiers",
    "preserve",
    "--cast",
    "Events.At=timestamp:epoch-ms",
    "--cast",
    "Events.Payload=text",
  ]);
  assert.equal(m.status, 0, m.stderr);
  const v = run(["verify", "--from", src, "--to", url, "--json"]);
  assert.equal(v.status, 0, v.stderr + v.stdout);
  const report = JSON.parse(v.stdout);
  assert.deepEqual(
    report.tables.map((t: Record<string, unknown>) => [t.target, t.match, t.verifiedBy]),
    [["Events", true, "key order"]],
  );
  // Told otherwise on the command line, verify does as told (and finds the table missing under its downcased name).
  const other = run(["verify", "--from", src, "--to", url, "--identifiers", "downcase", "--json"]);
  assert.equal(other.status, 1, other.stderr);
});

test("the CLI runs from a bundle of src/ built on first use; with PGSHIFT_BUNDLE=off from the sources through tsx, with the same results", async () => {
  const cache = resolve(__dirname, "..", "..", "node_modules", ".cache", "pgshift");
  const src = sqliteFile((db) =>
    db.exec(
      `CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME, doc JSON); INSERT INTO t VALUES (1, '2025-01-02 03:04:05.123456', '{"b": 1, "a": [2]}'), (2, 1735787045000, NULL);`,
    ),
  );
  const bundled = run(["plan", "--from", src, "--json"]);
  assert.equal(bundled.status, 0, bundled.stderr);
  const bundles = readdirSync(cache).filter((f) => /^cli-\w+\.js$/.test(f));
  assert.equal(bundles.length, 1, `one bundle, the current one: ${bundles.join(", ")}`);
  assert.match(readFileSync(join(cache, bundles[0]!), "utf8"), /^\/\/ Built by scripts\/bundle-cli\.js from src\//);
  const plain = spawnSync(process.execPath, [bin, "plan", "--from", src, "--json"], { encoding: "utf8", env: { ...process.env, PGSHIFT_BUNDLE: "off" } });
  assert.equal(plain.status, 0, plain.stderr);
  assert.equal(bundled.stdout, plain.stdout, "the plan (its SQL files read from src/engine/sql, numbers in a date column counted) is the same");
  assert.match(bundled.stdout, /epoch milliseconds/);
  // The bundle's copy path reads its C sources from src/engine/sqlite/native and its worker from src/engine.
  const url = await pg.createDatabase();
  const r = run(["migrate", "--from", src, "--to", url, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).ok, true);
});

test("sync-back: PostgreSQL's writes back into the SQLite file (exit 0), --dry-run writes nothing, a value that cannot go back is exit 2, a mismatch exit 1", async () => {
  const { createHash } = await import("node:crypto");
  const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, at DATETIME, done BOOLEAN)");
    for (let i = 1; i <= 20; i++)
      db.prepare("INSERT INTO items (name, at, done) VALUES (?, ?, ?)").run(`item ${i}`, `2024-01-02T03:04:${String(i).padStart(2, "0")}`, i % 2);
  });
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  assert.equal(run(["migrate", "--from", src, "--to", url]).status, 0);
  await pg.query("INSERT INTO items (name, at, done) VALUES ('new', '2025-01-01 00:00:00', true)", [], db);
  await pg.query("UPDATE items SET done = NOT done WHERE id = 2", [], db);
  await pg.query("DELETE FROM items WHERE id = 3", [], db);
  const before = sha(src);

  const dry = run(["sync-back", "--from", url, "--to", src, "--dry-run", "--json"]);
  assert.equal(dry.status, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout);
  assert.deepEqual([plan.dryRun, plan.rowsChanged, plan.backupFile], [true, 3, null]);
  assert.deepEqual(
    plan.tables.map((t: Record<string, unknown>) => [t.source, t.inserted, t.updated, t.deleted]),
    [["items", 1, 1, 1]],
  );
  assert.equal(sha(src), before, "a dry run writes nothing");
  assert.ok(!dry.stdout.includes(pg.password) && !dry.stderr.includes(pg.password));

  const r = run(["sync-back", "--from", url, "--to", src]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /ok {3}items\s+→ items: 1 inserted, 1 updated, 1 deleted; 20 rows in PostgreSQL, 20 in SQLite/);
  assert.match(r.stdout, /items\.at: written as text 'YYYY-MM-DDTHH:MM:SS'/);
  assert.match(r.stdout, /Backup of the SQLite file before writing: .*\.backup\./);
  assert.match(r.stderr, /items: 3 rows differ/, "progress lines");
  const sqlite = new Database(src, { readonly: true });
  assert.deepEqual(sqlite.prepare("SELECT at, done FROM items WHERE id = 21").get(), { at: "2025-01-01T00:00:00", done: 1 });
  sqlite.close();

  // A value the column's form cannot hold: exit 2, naming table, row and column; the file untouched.
  await pg.query("UPDATE items SET at = '2025-01-01 00:00:00.25' WHERE id = 5", [], db);
  const afterSync = sha(src);
  const refused = run(["sync-back", "--from", url, "--to", src]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /pgshift sync-back failed: .*\n {2}table "items", row id="5", column "at": it has fractions of a second/);
  assert.equal(sha(src), afterSync);

  // An app trigger that rewrites what is copied back: the sides still differ after writing, exit 1, rolled back.
  await pg.query("UPDATE items SET at = '2025-01-01 00:00:00' WHERE id = 5", [], db);
  await pg.query("UPDATE items SET name = 'renamed' WHERE id = 6", [], db);
  const w = new Database(src);
  w.exec("CREATE TRIGGER shout AFTER UPDATE OF name ON items BEGIN UPDATE items SET name = upper(NEW.name) WHERE id = NEW.id; END");
  w.close();
  const withTrigger = sha(src);
  const mismatch = run(["sync-back", "--from", url, "--to", src]);
  assert.equal(mismatch.status, 1, mismatch.stderr);
  assert.match(mismatch.stderr, /still differ; the SQLite transaction was rolled back/);
  assert.equal(sha(src), withTrigger);

  const usage = run(["sync-back", "--from", src, "--to", url]);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--from <postgres URL> is required/);
});

// The snapshot while the app keeps writing: a writer process commits a small
// transaction every 10 ms (in WAL and in rollback-journal mode) while pgshift
// migrates. The copy must finish in bounded time without stopping the writer
// for long, and hold exactly one consistent state of the database.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { freemem, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { migrate } from "../../../src/engine";
import { IN_PLACE_MAX_BYTES, MEMORY_DIR, snapshotDir, takeSnapshot } from "../../../src/engine/sqlite/snapshot";
import { rangeDigestsExtension } from "../../../src/engine/sqlite/range-digests";

let pg: TestPostgres;
before(async () => (pg = await startPostgres()));
after(async () => pg?.stop());

/** PGSHIFT_LIVE_ROWS=1000000 measures the bound docs/benchmarks.md states for a refresh at 1M rows. */
const ROWS = Number(process.env.PGSHIFT_LIVE_ROWS ?? 400_000);

/** An app database: a big table to copy, and an events table plus a counter the writer keeps equal to count(events). */
function appDb(journal: "wal" | "delete"): string {
  const path = join(mkdtempSync(join(tmpdir(), "pgshift-live-")), "app.db");
  const db = new Database(path);
  db.pragma(`journal_mode = ${journal}`);
  db.exec(`CREATE TABLE big (id INTEGER PRIMARY KEY, body TEXT, n INTEGER);
           CREATE TABLE events (id INTEGER PRIMARY KEY, at TEXT NOT NULL);
           CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0);`);
  const ins = db.prepare("INSERT INTO big VALUES (?, ?, ?)");
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) ins.run(i, `row ${i} ${"x".repeat(40)}`, i * 7);
  })();
  db.close();
  return path;
}

/** A separate process committing one event (and the counter) every 10 ms; reports each commit's wait. */
/** the writer processes load the same better-sqlite3 as this test */
const BETTER_SQLITE3 = resolve(__dirname, "..", "..", "..", "node_modules", "better-sqlite3");

/** A process committing one small transaction every `everyMs` (plus the `also` statement in it), as an app would. */
function startWriter(
  path: string,
  opts: { also?: string; everyMs?: number } = {},
): { child: ChildProcess; stats: () => Promise<{ commits: number; maxWaitMs: number }> } {
  const script = `
    const Database = require(${JSON.stringify(BETTER_SQLITE3)});
    const db = new Database(${JSON.stringify(path)}, { timeout: 30000 });
    const add = db.transaction(() => {
      db.prepare("INSERT INTO events (at) VALUES (datetime('now'))").run();
      db.prepare("UPDATE counter SET n = n + 1 WHERE id = 1").run();${
        opts.also
          ? `
      db.prepare(${JSON.stringify(opts.also)}).run();`
          : ""
      }
    });
    let commits = 0, maxWaitMs = 0, stop = false;
    process.on("message", () => (stop = true));
    const tick = () => {
      if (stop) { process.send({ commits, maxWaitMs }); db.close(); return; }
      const t = Date.now(); add(); maxWaitMs = Math.max(maxWaitMs, Date.now() - t); commits++;
      setTimeout(tick, ${opts.everyMs ?? 10});
    };
    tick();`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  return {
    child,
    stats: () =>
      new Promise((res) => {
        child.once("message", (m) => res(m as { commits: number; maxWaitMs: number }));
        child.send("stop");
      }),
  };
}

for (const journal of ["wal", "delete"] as const) {
  test(`${journal} mode: migrate finishes in bounded time under a writer committing every 10 ms, with one consistent state`, async () => {
    const path = appDb(journal);
    const writer = startWriter(path);
    try {
      await new Promise((r) => setTimeout(r, 300)); // the writer is busy before the copy starts
      const url = await pg.createDatabase();
      const started = Date.now();
      const report = await Promise.race([
        migrate({ source: path, target: url }),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("migrate did not finish within 60 s while the app wrote")), 60_000)),
      ]);
      const took = Date.now() - started;
      const stats = await writer.stats();
      assert.equal(report.ok, true);
      const db = url.split("/").pop();
      const [state] = await pg.query<{ n: string; events: string; maxid: string }>(
        "SELECT (SELECT n FROM counter) AS n, (SELECT count(*) FROM events) AS events, (SELECT coalesce(max(id), 0) FROM events) AS maxid",
        [],
        db,
      );
      assert.equal(state!.events, state!.n, "the events and the counter come from the same moment");
      assert.equal(state!.maxid, state!.n, "no event from before that moment is missing");
      assert.ok(Number(state!.n) > 0, "the writer had committed before the snapshot");
      assert.ok(stats.commits > Number(state!.n), "the writer kept committing after the snapshot");
      assert.ok(report.snapshot && Date.parse(report.snapshot.takenAt) >= started && report.snapshot.ms >= 0, JSON.stringify(report.snapshot));
      // The bound: the snapshot is one pass over the file; the writer waits at most that long (rollback journal) or not at all (WAL).
      assert.ok(report.snapshot.ms < 10_000, `snapshot took ${report.snapshot.ms} ms`);
      assert.ok(stats.maxWaitMs <= report.snapshot.ms + 1000, `a commit waited ${stats.maxWaitMs} ms; the snapshot took ${report.snapshot.ms} ms`);
      // The app wrote while the file was hashed and copied: this copy is never taken for the file's later state.
      assert.match(report.fingerprint, /:written-during-snapshot$/);
      const again = migrate({ source: path, target: url });
      await assert.rejects(again, /--refresh/, "the writes after the snapshot are not silently taken as copied");
      const refreshed = await migrate({ source: path, target: url, refresh: true });
      assert.equal(refreshed.ok, true);
      const [final] = await pg.query<{ n: string; events: string }>("SELECT (SELECT n FROM counter) AS n, (SELECT count(*) FROM events) AS events", [], db);
      assert.deepEqual([Number(final!.n), Number(final!.events)], [stats.commits, stats.commits], "after the writer stopped, a refresh holds every commit");
      assert.doesNotMatch(refreshed.fingerprint, /written-during-snapshot/);
      console.log(
        `[${journal}] migrate ${took} ms, snapshot ${report.snapshot.ms} ms (${report.snapshot.method}), writer: ${stats.commits} commits, longest commit ${stats.maxWaitMs} ms; copied state n=${state!.n}`,
      );
    } finally {
      writer.child.kill();
    }
  });
}

test("delete mode: a refresh of a file too big to read in place copies it under the lock and lets go, so the writer waits only for the copy", async () => {
  const path = appDb("delete");
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: path, target: url })).ok, true);
  const writer = startWriter(path);
  try {
    // The writer is busy before the refresh starts (node takes a while to start on a loaded machine).
    const peek = new Database(path, { readonly: true });
    for (let i = 0; Number(peek.prepare("SELECT n FROM counter").pluck().get()) < 20; i++) {
      if (i > 1500) throw new Error("the writer never started committing");
      await new Promise((r) => setTimeout(r, 20));
    }
    peek.close();
    const report = await migrate({ source: path, target: url, refresh: true });
    const stats = await writer.stats();
    assert.equal(report.ok, true, JSON.stringify(report.tables));
    // Read in place, the lock would last the whole refresh (3 s at 400,000 rows): the file is copied instead.
    assert.ok(statSync(path).size > IN_PLACE_MAX_BYTES, "the test's file is past the in-place limit");
    assert.equal(report.snapshot!.method, "file copy under a read lock (delete journal)");
    const db = url.split("/").pop();
    const [state] = await pg.query<{ n: string; events: string; maxid: string }>(
      "SELECT (SELECT n FROM counter) AS n, (SELECT count(*) FROM events) AS events, (SELECT coalesce(max(id), 0) FROM events) AS maxid",
      [],
      db,
    );
    assert.equal(state!.events, state!.n, "the events and the counter come from the same moment");
    assert.equal(state!.maxid, state!.n, "no event from before that moment is missing");
    assert.ok(stats.commits > Number(state!.n), "the writer kept committing after the refresh");
    assert.ok(stats.maxWaitMs <= report.snapshot!.ms + 1000, `a commit waited ${stats.maxWaitMs} ms; the lock was held ${report.snapshot!.ms} ms`);
    assert.ok(report.snapshot!.ms < report.durationMs, "the lock is let go before the refresh ends");
    assert.equal(report.tables.find((t) => t.source === "big")!.copiedRows, 0, "the big table did not change: nothing re-copied");
    console.log(
      `[refresh, ${ROWS} rows] refresh ${report.durationMs} ms: lock held ${report.snapshot!.ms} ms (${report.snapshot!.method}), writer: ${stats.commits} commits, longest commit ${stats.maxWaitMs} ms`,
    );
  } finally {
    writer.child.kill();
  }
});

test("in place: a reader opened while another process waits to commit joins the lock and reads the same state; the writer commits once the snapshot goes", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "pgshift-inplace-")), "app.db");
  const setup = new Database(path);
  setup.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('before');");
  setup.close();
  const source = new Database(path, { readonly: true });
  const snapshot = await takeSnapshot(source, { inPlace: true });
  assert.equal(snapshot.inPlace, true);
  assert.equal(snapshot.path, path, "nothing copied yet");
  // A writer that has written and now waits (PENDING) for this process's read lock to go.
  const script = `
    const Database = require(${JSON.stringify(BETTER_SQLITE3)});
    const db = new Database(${JSON.stringify(path)}, { timeout: 20000 });
    db.exec("BEGIN IMMEDIATE"); db.prepare("INSERT INTO t (v) VALUES ('after')").run();
    process.stdout.write("waiting\\n");
    db.exec("COMMIT"); process.stdout.write("committed\\n"); db.close();`;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  try {
    for (let i = 0; !out.includes("waiting"); i++) {
      if (i > 500) throw new Error(`the writer never started: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 200)); // its COMMIT is now waiting for the lock
    const reader = snapshot.open();
    assert.equal(snapshot.inPlace, true);
    assert.deepEqual(reader.prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before"], "the reader sees the locked state");
    assert.ok(!out.includes("committed"), "the writer still waits while the lock is held");
    // Copying (a refresh that turns out to need whole tables) keeps the state; the lock goes with the last in-place reader.
    assert.equal(source.inTransaction, true, "the source connection holds the lock");
    const copy = (await snapshot.materialize(reader))!;
    assert.equal(reader.open, false, "the in-place reader was closed");
    assert.equal(source.inTransaction, false, "and the lock let go");
    assert.match(snapshot.method, /then copied/);
    assert.notEqual(snapshot.path, path);
    assert.deepEqual(copy.prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before"], "the copy holds the locked state");
    for (let i = 0; !out.includes("committed"); i++) {
      if (i > 500) throw new Error("the writer never committed after the lock went");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(snapshot.ms >= 200, `the lock was held ${snapshot.ms} ms`);
    assert.deepEqual(copy.prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before"], "the copy is not the live file");
    snapshot.dispose();
    assert.equal(copy.open, false, "dispose closed the reader of the copy");
  } finally {
    child.kill();
    source.close();
  }
  const after = new Database(path, { readonly: true });
  assert.deepEqual(after.prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before", "after"]);
  after.close();
});

test("WAL mode, in place: the snapshot pins one state in a read transaction; the app commits meanwhile without waiting; readers and the copy hold the pinned state", async () => {
  const path = join(mkdtempSync(join(tmpdir(), "pgshift-walinplace-")), "app.db");
  const setup = new Database(path);
  setup.pragma("journal_mode = wal");
  setup.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('before');");
  setup.close();
  const source = new Database(path, { readonly: true });
  const snapshot = await takeSnapshot(source, { inPlace: true });
  try {
    assert.equal(snapshot.inPlace, true, "nothing copied: a WAL reader does not hold the app's writers");
    assert.match(snapshot.method, /^read in place under a read transaction \(wal journal\)$/);
    const reader = snapshot.open();
    // Another process commits while the snapshot is held: in WAL mode it does not wait.
    const script = `
      const Database = require(${JSON.stringify(BETTER_SQLITE3)});
      const db = new Database(${JSON.stringify(path)}, { timeout: 0 });
      db.prepare("INSERT INTO t (v) VALUES ('after')").run(); db.close(); process.stdout.write("committed");`;
    const written = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    written.stdout!.on("data", (d) => (out += d));
    const code = await new Promise((r) => written.once("exit", r));
    assert.equal(code, 0, "the writer committed at once (busy timeout 0)");
    assert.equal(out, "committed");
    assert.deepEqual(reader.prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before"], "a reader sees the pinned state");
    const second = snapshot.open();
    assert.deepEqual(second.prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before"], "so does one opened after the commit");
    second.close();
    assert.equal(source.open, true, "closing a reader leaves the pinned connection open");
    assert.throws(() => snapshot.path, /until materialize\(\)/, "no file another thread could open holds this state yet");
    const copy = (await snapshot.materialize(reader))!;
    assert.match(snapshot.method, /then copied/);
    assert.equal(snapshot.inPlace, false);
    assert.deepEqual(copy.prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before"], "the copy holds the pinned state, not the live file");
    assert.deepEqual(new Database(snapshot.path, { readonly: true }).prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before"]);
    assert.throws(() => reader.prepare("SELECT 1"), /replaced by a reader of its copy/, "the old reader would now read the live file: it refuses");
    assert.equal(source.inTransaction, false, "the read transaction is let go once copied");
  } finally {
    snapshot.dispose();
    source.close();
  }
  const after = new Database(path, { readonly: true });
  assert.deepEqual(after.prepare("SELECT v FROM t ORDER BY id").pluck().all(), ["before", "after"]);
  after.close();
});

test("WAL mode: a refresh reads the file in place while the app keeps writing, also into the table it hashes in halves; the result is one state, and the next refresh catches up exactly", async () => {
  const path = appDb("wal");
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: path, target: url })).ok, true);
  // Each commit adds an event, bumps the counter and bumps `n` of one row in the upper half of `big`
  // (the half a split digest scan would hash on another thread), all in one transaction.
  const { child, stats } = startWriter(path, { also: `UPDATE big SET n = n + 1 WHERE id = ${ROWS} - (SELECT n FROM counter) % 5000`, everyMs: 5 });
  const db = url.split("/").pop();
  const state = async () => {
    const [s] = await pg.query<{ n: string; events: string; maxid: string; bumped: string }>(
      `SELECT (SELECT n FROM counter) AS n, (SELECT count(*) FROM events) AS events, (SELECT coalesce(max(id), 0) FROM events) AS maxid,
              (SELECT sum(n) - ${(7 * ROWS * (ROWS + 1)) / 2} FROM big) AS bumped`,
      [],
      db,
    );
    return s!;
  };
  try {
    // The writer is busy before the refresh starts (node takes a while to start on a loaded machine).
    const peek = new Database(path, { readonly: true });
    for (let i = 0; Number(peek.prepare("SELECT n FROM counter").pluck().get()) < 20; i++) {
      if (i > 1500) throw new Error("the writer never started committing");
      await new Promise((r) => setTimeout(r, 20));
    }
    peek.close();
    const report = await migrate({ source: path, target: url, refresh: true });
    const written = await stats();
    assert.equal(report.ok, true, JSON.stringify(report.tables));
    // With the range digests' JavaScript path (PGSHIFT_NATIVE=off: CI's second engine run) the sync compares whole
    // tables by content, which re-reads more than 1/32 of `big`: the pinned state is then copied, inside the same read transaction.
    const byContent = "unavailable" in rangeDigestsExtension();
    assert.equal(
      report.snapshot!.method,
      `read in place under a read transaction${byContent ? ", then copied with the backup API" : ""} (wal journal)`,
      JSON.stringify(report.tables),
    );
    const s = await state();
    assert.ok(Number(s.n) > 0 && written.commits > Number(s.n), `the writer committed before and after the refresh's state (${s.n} of ${written.commits})`);
    assert.equal(s.events, s.n, "the events and the counter come from the same moment");
    assert.equal(s.maxid, s.n, "no event from before that moment is missing");
    assert.equal(s.bumped, s.n, "big's rows come from that same moment too, both halves");
    assert.ok(written.maxWaitMs <= 1000, `the writer never waited for the refresh: longest commit ${written.maxWaitMs} ms`);
    // The file was hashed while the app wrote (the pinned connection's data_version stands still: another one is asked).
    assert.match(report.fingerprint, /:written-during-snapshot$/);
    // The record of this refresh describes the state it copied: the next one finds every later commit.
    const again = await migrate({ source: path, target: url, refresh: true });
    assert.equal(again.ok, true);
    const f = await state();
    assert.deepEqual(
      [Number(f.n), Number(f.events), Number(f.bumped)],
      [written.commits, written.commits, written.commits],
      "after the writer stopped, a refresh holds every commit",
    );
    console.log(
      `[wal refresh, ${ROWS} rows] refresh ${report.durationMs} ms (${report.snapshot!.method}, ${report.snapshot!.ms} ms), writer: ${written.commits} commits, longest commit ${written.maxWaitMs} ms`,
    );
  } finally {
    child.kill();
  }
});

test("a copy goes to memory when it has four times the room, to TMPDIR or /tmp otherwise; the copy's path says where", async () => {
  const small = appDb("delete");
  const memory = mkdtempSync(join(tmpdir(), "pgshift-memory-")); // stands in for /dev/shm: on disk here, but a directory of its own
  const given = process.env.TMPDIR;
  delete process.env.TMPDIR;
  try {
    const dir = snapshotDir(small, memory);
    assert.ok(dir.startsWith(memory + "/pgshift-snapshot-"), dir);
    assert.ok(snapshotDir(small, join(memory, "missing")).startsWith(tmpdir()), "no such directory: on disk");
    assert.ok(!snapshotDir(small, "/proc/self").startsWith("/proc"), "a file system with no free blocks: on disk");
    process.env.TMPDIR = mkdtempSync(join(tmpdir(), "pgshift-tmpdir-"));
    assert.ok(snapshotDir(small, memory).startsWith(process.env.TMPDIR), "TMPDIR set: the person's choice");
    // The snapshot itself: a refresh of a file too big to read in place copies it under the lock, into that directory.
    delete process.env.TMPDIR;
    const db = new Database(small, { readonly: true });
    const s = await takeSnapshot(db);
    try {
      assert.ok(s.path.startsWith(existsSync(MEMORY_DIR) && statSync(small).size * 4 < freemem() ? MEMORY_DIR : tmpdir()), s.path);
    } finally {
      s.dispose();
      db.close();
    }
  } finally {
    if (given === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = given;
  }
});

// The fingerprint hashes the SQLite file while pgshift holds a read lock on it
// (the snapshot, source.ts). SQLite's locks are POSIX record locks: closing any
// descriptor of the file drops every lock the process holds on it, so the hash
// must not close its descriptors before the lock is let go. A second process
// tries to commit to find out whether the lock is still held.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import Database from "better-sqlite3";
import { sqliteFile } from "../helpers/sqlite";
import { fingerprintSqlite } from "../../src/engine/fingerprint";

/** Whether another process can commit to the file right now (no waiting). */
function otherProcessCanWrite(path: string): boolean {
  const script = `
    const Database = require(${JSON.stringify(resolve(__dirname, "..", "..", "node_modules", "better-sqlite3"))});
    const db = new Database(${JSON.stringify(path)}, { timeout: 0 });
    try { db.prepare("INSERT INTO t (v) VALUES ('other')").run(); process.stdout.write("wrote"); }
    catch (err) { process.stdout.write(err.code); }`;
  return execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }) === "wrote";
}

test("the hash keeps the file's descriptors open until the lock is let go, so the read lock holds", async () => {
  const path = sqliteFile((db) => {
    db.pragma("journal_mode = delete");
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const ins = db.prepare("INSERT INTO t (v) VALUES (?)");
    for (let i = 0; i < 2000; i++) ins.run("x".repeat(200));
  });
  const expected = "sha256:" + createHash("sha256").update(readFileSync(path)).digest("hex");
  const reader = new Database(path, { readonly: true });
  reader.exec("BEGIN");
  reader.prepare("SELECT count(*) FROM t").get(); // SHARED lock, as the snapshot takes it
  assert.equal(otherProcessCanWrite(path), false, "a read transaction keeps other processes from committing");
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  assert.equal(await fingerprintSqlite(path, released), expected);
  await new Promise((r) => setTimeout(r, 50)); // anything the hash would close is closed by now
  assert.equal(otherProcessCanWrite(path), false, "the lock is still held after the hash is done");
  reader.exec("COMMIT");
  release();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(otherProcessCanWrite(path), true, "once let go, the app can write again");
  reader.close();
});

test("a missing file is refused, and a WAL file is hashed with its log", async () => {
  await assert.rejects(fingerprintSqlite("/nonexistent/app.db"), /ENOENT/);
  const path = sqliteFile((db) => {
    db.pragma("journal_mode = wal");
    db.pragma("wal_autocheckpoint = 0");
    db.exec("CREATE TABLE t (v TEXT)");
  });
  const before = await fingerprintSqlite(path);
  const w = new Database(path);
  w.pragma("wal_autocheckpoint = 0");
  w.prepare("INSERT INTO t VALUES ('in the log only')").run();
  const after = await fingerprintSqlite(path);
  w.close();
  assert.notEqual(after, before, "a commit still in the write-ahead log changes the fingerprint");
});

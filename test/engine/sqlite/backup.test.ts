// The backup taken before a copy or a sync-back (src/engine/sqlite/backup.ts)
// while the app keeps writing: SQLite restarts an online backup whenever another
// connection writes the file between two of its steps, so a backup taken a few
// pages at a time never finishes under a busy writer (on the node, 1M rows with
// an app writing every 20 ms: 55 of 177 MB after 11 minutes).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { backupSqlite } from "../../../src/engine/sqlite/backup";

test("a backup finishes, consistent, while another connection writes between every step", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-backup-"));
  const file = join(dir, "app.db");
  const db = new Database(file);
  db.exec("CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL)");
  const insert = db.prepare("INSERT INTO messages (text) VALUES (?)");
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) insert.run(`message ${i} `.padEnd(500, "x"));
  })();
  // The app: a write on every turn of the event loop, so one lands between any two backup steps.
  let writing = true;
  let written = 0;
  const write = () => {
    if (!writing) return;
    insert.run(`written during the backup ${++written}`);
    setImmediate(write);
  };
  setImmediate(write);
  try {
    let timer: NodeJS.Timeout | undefined;
    // Liveness, not speed: the copy takes well under a second; without the fix it never ends.
    const gaveUp = new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error("the backup did not finish within 60 s while the app wrote")), 60_000)),
    );
    const backup = await Promise.race([backupSqlite(file, dir), gaveUp]).finally(() => clearTimeout(timer));
    writing = false;
    assert.ok(written > 0, "the app wrote while the backup ran");
    const copy = new Database(backup, { readonly: true });
    try {
      assert.equal(copy.pragma("integrity_check", { simple: true }), "ok");
      const n = Number(copy.prepare("SELECT count(*) FROM messages").pluck().get());
      assert.ok(n >= 20_000 && n <= 20_000 + written, `a consistent copy: ${n} rows`);
    } finally {
      copy.close();
    }
  } finally {
    writing = false;
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

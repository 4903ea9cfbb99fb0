// Sync-back (src/engine/sync-back/) against a real PostgreSQL 16 and real
// SQLite files: migrate, let "the app" write to PostgreSQL, copy its writes back
// into the file, and check the file equals PostgreSQL with every value in the
// form the app wrote its SQLite values in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { createSampleAppDb } from "../../../scripts/sample-app-db";
import { migrate, verifyMigration, planSyncBack, syncBack, SyncBackRefusal } from "../../../src/engine";

let pg: TestPostgres;
before(async () => {
  pg = await startPostgres();
});
after(async () => pg?.stop());

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Every row of every table (sqlite_sequence included), with each value's storage class: a file's contents, not its bytes. */
function contents(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    return JSON.stringify(
      tables.map((t) => [
        t,
        db
          .prepare(`SELECT * FROM "${t}" ORDER BY rowid`)
          .raw(true)
          .safeIntegers(true)
          .all()
          .map((r) => (r as unknown[]).map((v) => `${typeof v}:${Buffer.isBuffer(v) ? v.toString("hex") : String(v)}`)),
      ]),
    );
  } finally {
    db.close();
  }
}

/** The seed-shaped sample app, migrated; returns the file and the database's URL. */
async function migratedSample(messages = 300): Promise<{ file: string; url: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-syncback-"));
  const file = join(dir, "app.db");
  createSampleAppDb(file, { messages });
  const url = await pg.createDatabase();
  const r = await migrate({ source: file, target: url });
  assert.equal(r.ok, true);
  return { file, url, dir };
}

/** What the app does after the cutover, as the app's SQL would: ids from the sequences, timestamps from its clock. */
async function appWrites(url: string): Promise<void> {
  const db = url.slice(url.lastIndexOf("/") + 1);
  const q = (sql: string, params: unknown[] = []) => pg.query(sql, params, db);
  // A new bot and messages that refer to it (the parent must be in SQLite before the children).
  const [bot] = await q(
    "INSERT INTO bots (name, username, persona_profile, is_enabled, created_at) VALUES ('Yeni Bot', '@yeni', '{\"tone\": \"resmi\", \"risk\": 0.5}', true, '2025-12-01 10:00:00.123456') RETURNING id",
  );
  for (let i = 0; i < 5; i++) {
    await q("INSERT INTO messages (bot_id, chat_id, telegram_message_id, text, msg_metadata, created_at) VALUES ($1, 1, $2, $3, $4, $5)", [
      bot!.id,
      90000 + i,
      `yeni mesaj ${i} 🚀 \t tab`,
      i % 2 ? '{"sentiment": 0.25}' : null,
      `2025-12-01 10:0${i}:00${i === 0 ? "" : "." + String(i * 111111)}`,
    ]);
  }
  // Updates: a boolean, a JSON value, a timestamp, a NUMERIC.
  await q("UPDATE bots SET is_enabled = NOT is_enabled, emotion_profile = '{\"energy\": 3}' WHERE id = 2");
  await q("UPDATE messages SET text = 'düzeltildi', created_at = '2025-12-02 08:00:00.5' WHERE id = 7");
  await q("UPDATE bot_holdings SET avg_price = 12.345678 WHERE id = 1");
  await q("UPDATE settings SET value = '42' WHERE key = 'max_msgs_per_min'");
  await q("UPDATE settings SET value = '{\"faiz\": 0.5}' WHERE key = 'topic_weights'");
  await q("INSERT INTO settings (key, value, updated_at) VALUES ('new_flag', 'true', '2025-12-01 11:00:00')");
  // Deletes, children first as PostgreSQL's cascade would have it.
  await q("DELETE FROM messages WHERE id IN (3, 4)");
  await q("UPDATE messages SET reply_to_message_id = NULL WHERE reply_to_message_id IN (3, 4)");
  // An api user inserted and deleted again: the sequence moved on, no row shows it.
  await q("INSERT INTO api_users (username, api_key_hash, is_active, created_at) VALUES ('temp', 'x', true, now())");
  await q("DELETE FROM api_users WHERE username = 'temp'");
}

test("sync-back copies PostgreSQL's inserts, updates and deletes into the seed-shaped file, in the app's own forms", async () => {
  const { file, url, dir } = await migratedSample();
  await appWrites(url);
  const before = sha(file);
  const rowsBefore = contents(file);
  const plan = await planSyncBack({ from: url, to: file });
  assert.equal(sha(file), before, "the plan writes nothing");
  assert.equal(plan.backupFile, null);
  const byTable = Object.fromEntries(plan.tables.map((t) => [t.source, t]));
  assert.deepEqual([byTable.bots!.inserted, byTable.bots!.updated, byTable.bots!.deleted], [1, 1, 0]);
  assert.deepEqual([byTable.messages!.inserted, byTable.messages!.deleted], [5, 2]);
  assert.ok(byTable.messages!.updated >= 1);

  const lines: string[] = [];
  const report = await syncBack({ from: url, to: file, onProgress: (l) => lines.push(l) });
  assert.equal(report.ok, true);
  assert.equal(report.rowsChanged, plan.rowsChanged);
  assert.ok(report.tables.every((t) => t.match && t.sourceRows === t.targetRows));
  assert.ok(
    lines.some((l) => /messages: .*rows differ/.test(l)),
    lines.join("\n"),
  );
  // Only the key ranges that changed since the last sync were read (pgshift.loads' record), not the whole table.
  assert.ok(
    lines.some((l) => /^messages: by the record of the last sync, \d+ of \d+ key ranges changed since \(\+\d+\.\ds\)$/.test(l)),
    lines.join("\n"),
  );
  // The backup is the file as it was, beside it.
  assert.ok(report.backupFile && existsSync(report.backupFile));
  assert.equal(contents(report.backupFile), rowsBefore);
  assert.ok(readdirSync(dir).some((f) => f.startsWith("app.db.backup.")));

  // Both sides are equal, by pgshift's own verification.
  const v = await verifyMigration({ source: file, target: url });
  assert.equal(v.ok, true, JSON.stringify(v.tables.filter((t) => !t.match)));

  // The values are in the forms the app wrote: typeof and text exactly.
  const db = new Database(file, { readonly: true });
  try {
    const row = (sql: string, ...p: unknown[]) => db.prepare(sql).get(...p) as Record<string, unknown>;
    const bot = row("SELECT id, typeof(is_enabled) AS t, is_enabled, created_at, typeof(created_at) AS tc, persona_profile FROM bots WHERE name = 'Yeni Bot'");
    assert.deepEqual([bot.t, bot.is_enabled, bot.tc, bot.created_at], ["integer", 1, "text", "2025-12-01 10:00:00.123456"]);
    assert.equal(typeof bot.persona_profile, "string");
    assert.deepEqual(JSON.parse(bot.persona_profile as string), { tone: "resmi", risk: 0.5 });
    // JSON.stringify's form (the sample app's): no spaces.
    assert.doesNotMatch(bot.persona_profile as string, /[:,] /);
    const msgs = db.prepare("SELECT created_at FROM messages WHERE telegram_message_id >= 90000 ORDER BY telegram_message_id").pluck().all();
    // The column's values have six digits, none when zero (as SQLAlchemy and Python write them).
    assert.deepEqual(msgs, [
      "2025-12-01 10:00:00",
      "2025-12-01 10:01:00.111111",
      "2025-12-01 10:02:00.222222",
      "2025-12-01 10:03:00.333333",
      "2025-12-01 10:04:00.444444",
    ]);
    assert.equal(row("SELECT created_at FROM messages WHERE id = 7").created_at, "2025-12-02 08:00:00.500000");
    const b2 = row("SELECT is_enabled, typeof(is_enabled) AS t, emotion_profile FROM bots WHERE id = 2");
    assert.equal(b2.t, "integer");
    assert.equal(b2.emotion_profile, '{"energy":3}');
    assert.equal(row("SELECT count(*) AS n FROM messages WHERE id IN (3, 4)").n, 0);
    // settings.value holds numbers and JSON text: an updated row keeps its old value's form.
    const s = row("SELECT value, typeof(value) AS t FROM settings WHERE key = 'max_msgs_per_min'");
    assert.deepEqual([s.value, s.t], [42, "integer"]);
    const tw = row("SELECT value, typeof(value) AS t FROM settings WHERE key = 'topic_weights'");
    assert.deepEqual([tw.value, tw.t], ['{"faiz": 0.5}', "text"]);
    assert.equal(row("SELECT avg_price FROM bot_holdings WHERE id = 1").avg_price, 12.345678);
    // AUTOINCREMENT: the id PostgreSQL handed out and deleted is not handed out again by SQLite.
    const [seq] = await pg.query<{ last: string }>("SELECT last_value::text AS last FROM api_users_id_seq", [], url.slice(url.lastIndexOf("/") + 1));
    assert.equal(seq!.last, "2");
    assert.equal(String(row("SELECT seq FROM sqlite_sequence WHERE name = 'api_users'").seq), "2");
    // Foreign keys hold in SQLite.
    assert.deepEqual(db.prepare("PRAGMA foreign_key_check").all(), []);
  } finally {
    db.close();
  }

  // The two sides are level: a refresh copies nothing back into PostgreSQL, and a second sync-back writes nothing.
  const refresh = await migrate({ source: file, target: url, refresh: true });
  assert.equal(refresh.ok, true);
  for (const t of refresh.tables.filter((x) => x.action === "synced")) assert.equal(t.copiedRows, 0, `${t.source}: ${t.refresh}`);
  assert.ok(refresh.tables.some((t) => t.source === "messages" && t.action === "synced"));
  const again = await syncBack({ from: url, to: file });
  assert.equal(again.rowsChanged, 0);
  assert.equal(again.backupFile, null);
});

test("timestamps, booleans, UUIDs and epoch numbers go back in the column's own layout", async () => {
  const file = sqliteFile((db) => {
    db.exec(`CREATE TABLE ev (id INTEGER PRIMARY KEY, at_iso DATETIME, at_ms DATETIME, at_epoch TIMESTAMP, at_min DATETIME,
      flag BOOLEAN, uid UUID, day DATE, zoned DATETIME)`);
    const ins = db.prepare("INSERT INTO ev VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (let i = 1; i <= 20; i++) {
      ins.run(
        i,
        `2024-01-0${(i % 9) + 1}T03:04:05Z`,
        `2024-01-02 03:04:05.${String(100 + i).padStart(3, "0")}`,
        1704164645 + i,
        `2024-01-02 03:${String(i).padStart(2, "0")}`,
        i % 2 ? "True" : "False",
        `A0EEBC99-9C0B-4EF8-BB6D-6BB9BD38${String(1000 + i)}`,
        `2024-02-${String(i).padStart(2, "0")}`,
        `2024-01-02 05:04:05+02:00`,
      );
    }
  });
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: file, target: url })).ok, true);
  const db = url.slice(url.lastIndexOf("/") + 1);
  await pg.query(
    `UPDATE ev SET at_iso = '2025-06-07 08:09:10', at_ms = '2025-06-07 08:09:10.5', at_epoch = '2025-06-07 08:09:10', at_min = '2025-06-07 08:09',
       flag = NOT flag, uid = 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', day = '2025-06-07', zoned = '2025-06-07 08:00:00' WHERE id = 3`,
    [],
    db,
  );
  await pg.query("INSERT INTO ev (id, at_iso, flag) VALUES (21, '2025-01-01 00:00:00', false)", [], db);
  const r = await syncBack({ from: url, to: file });
  assert.equal(r.ok, true);
  const sqlite = new Database(file, { readonly: true });
  try {
    const row = sqlite.prepare("SELECT at_iso, at_ms, at_epoch, typeof(at_epoch) AS te, at_min, flag, uid, day, zoned FROM ev WHERE id = 3").get();
    assert.deepEqual(row, {
      at_iso: "2025-06-07T08:09:10Z",
      at_ms: "2025-06-07 08:09:10.500",
      at_epoch: 1749283750,
      te: "integer",
      at_min: "2025-06-07 08:09",
      flag: "False", // was "True" (row 3): flipped, in the column's spelling
      uid: "B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
      day: "2025-06-07",
      zoned: "2025-06-07 10:00:00+02:00",
    });
    assert.deepEqual(sqlite.prepare("SELECT at_iso, flag, typeof(at_ms) AS t FROM ev WHERE id = 21").get(), {
      at_iso: "2025-01-01T00:00:00Z",
      flag: "False",
      t: "null",
    });
  } finally {
    sqlite.close();
  }
  assert.equal((await verifyMigration({ source: file, target: url })).ok, true);
});

test("a value the SQLite column cannot take back refuses before anything is written, naming table, key and column", async () => {
  const file = sqliteFile((db) => {
    db.exec(
      `CREATE TABLE readings (id INTEGER PRIMARY KEY, at DATETIME NOT NULL, value REAL, label TEXT CHECK (typeof(label) = 'text' AND length(label) > 0));`,
    );
    const ins = db.prepare("INSERT INTO readings VALUES (?, ?, ?, ?)");
    for (let i = 1; i <= 10; i++) ins.run(i, `2024-03-0${(i % 9) + 1} 10:00:00`, i / 2, `r${i}`);
  });
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: file, target: url })).ok, true);
  const db = url.slice(url.lastIndexOf("/") + 1);
  const before = sha(file);
  const dir = join(file, "..");
  const backups = () => readdirSync(dir).filter((f) => f.includes(".backup.")).length;
  const backupsBefore = backups();

  // The column's timestamps have no fractions of a second: one with microseconds cannot go back as the app wrote them.
  await pg.query("UPDATE readings SET at = '2024-05-01 10:00:00.123456' WHERE id = 4", [], db);
  await pg.query("UPDATE readings SET value = 'NaN' WHERE id = 5", [], db);
  await pg.query("INSERT INTO readings (id, at, value, label) VALUES (11, '2024-05-02 10:00:00', 1, 'ok')", [], db);
  for (const run of [planSyncBack, syncBack]) {
    await assert.rejects(run({ from: url, to: file }), (err: unknown) => {
      assert.ok(err instanceof SyncBackRefusal, String(err));
      assert.equal(err.exitCode, 2);
      assert.equal(err.table, "readings");
      assert.deepEqual(err.key, { id: "4" });
      assert.equal(err.column, "at");
      assert.match(err.message, /fractions of a second/);
      assert.match(err.message, /row id="5", column "value": NaN/);
      return true;
    });
  }
  assert.equal(sha(file), before, "nothing written");
  assert.equal(backups(), backupsBefore, "refused before the backup: nothing to keep");

  // A row the SQLite table's CHECK refuses (PostgreSQL could not enforce typeof()): refused, naming the row.
  await pg.query("UPDATE readings SET at = '2024-05-01 10:00:00', value = 2 WHERE id IN (4, 5)", [], db);
  await pg.query("UPDATE readings SET label = '' WHERE id = 6", [], db);
  await assert.rejects(planSyncBack({ from: url, to: file }), (err: unknown) => {
    assert.ok(err instanceof SyncBackRefusal, String(err));
    assert.equal(err.table, "readings");
    assert.deepEqual(err.key, { id: "6" });
    assert.match(err.message, /CHECK constraint failed/);
    return true;
  });
  await assert.rejects(syncBack({ from: url, to: file }), SyncBackRefusal);
  assert.equal(sha(file), before, "nothing written");

  // Fixed in PostgreSQL: it goes back.
  await pg.query("UPDATE readings SET label = 'r6' WHERE id = 6", [], db);
  const r = await syncBack({ from: url, to: file });
  assert.equal(r.rowsChanged, 3); // 4 and 5 updated, 11 inserted
  assert.notEqual(sha(file), before);
});

test("--schema existing, a key column PostgreSQL lets hold NULL: a row the app wrote with a NULL key refuses up front, naming table and column", async () => {
  const file = sqliteFile((db) => {
    db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT)");
    for (let i = 1; i <= 100; i++) db.prepare("INSERT INTO items VALUES (?, ?)").run(i, `v${i}`);
  });
  const url = await pg.createDatabase();
  const db = url.slice(url.lastIndexOf("/") + 1);
  await pg.query("CREATE TABLE items (id bigint UNIQUE, v text)", [], db);
  assert.equal((await migrate({ source: file, target: url, schema: "existing" })).ok, true);
  await pg.query("INSERT INTO items VALUES (NULL, 'by the app'); UPDATE items SET v = 'app' WHERE id = 3", [], db);
  const before = sha(file);
  for (const run of [planSyncBack, syncBack]) {
    await assert.rejects(run({ from: url, to: file }), (err: unknown) => {
      assert.ok(err instanceof SyncBackRefusal, String(err));
      assert.equal(err.exitCode, 2);
      assert.equal(err.table, "items");
      assert.equal(err.column, "id");
      assert.deepEqual(err.key, { id: null });
      assert.match(err.message, /holds a row whose key column "id" is NULL/);
      assert.doesNotMatch(err.message, /after writing/);
      return true;
    });
  }
  assert.equal(sha(file), before, "nothing written");
  // Given a key in PostgreSQL, it goes back.
  await pg.query("UPDATE items SET id = 101 WHERE id IS NULL", [], db);
  const r = await syncBack({ from: url, to: file });
  assert.equal(r.rowsChanged, 2);
  const back = new Database(file, { readonly: true });
  assert.deepEqual(back.prepare("SELECT id, v FROM items WHERE id IN (3, 101) ORDER BY id").all(), [
    { id: 3, v: "app" },
    { id: 101, v: "by the app" },
  ]);
  back.close();
});

test("rows the app wrote to SQLite after the last sync are never overwritten: refused, naming the table and keys", async () => {
  const file = sqliteFile((db) => {
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    for (let i = 1; i <= 200; i++) db.prepare("INSERT INTO notes VALUES (?, ?)").run(i, `note ${i}`);
  });
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: file, target: url })).ok, true);
  const db = url.slice(url.lastIndexOf("/") + 1);
  await pg.query("UPDATE notes SET body = 'from PostgreSQL' WHERE id = 10", [], db);
  // The app kept writing to SQLite after the final sync (its writers were not stopped).
  const w = new Database(file);
  w.prepare("UPDATE notes SET body = 'late SQLite write' WHERE id = 150").run();
  w.close();
  const before = sha(file);
  await assert.rejects(syncBack({ from: url, to: file }), (err: unknown) => {
    assert.ok(err instanceof SyncBackRefusal, String(err));
    assert.equal(err.table, "notes");
    assert.match(err.message, /SQLite's rows with id in \d+–\d+ changed after pgshift last brought PostgreSQL level with the file/);
    return true;
  });
  assert.equal(sha(file), before, "nothing written");

  // Without the record (no C extension) the whole tables are compared: the same rows go back.
  const w2 = new Database(file);
  w2.prepare("UPDATE notes SET body = 'note 150' WHERE id = 150").run();
  w2.close();
  process.env.PGSHIFT_RANGE_DIGESTS = "off";
  try {
    const lines: string[] = [];
    const r = await syncBack({ from: url, to: file, onProgress: (l) => lines.push(l) });
    assert.equal(r.rowsChanged, 1);
    assert.ok(!lines.some((l) => /by the record/.test(l)), lines.join("\n"));
  } finally {
    delete process.env.PGSHIFT_RANGE_DIGESTS;
  }
  const sqlite = new Database(file, { readonly: true });
  assert.equal(sqlite.prepare("SELECT body FROM notes WHERE id = 10").pluck().get(), "from PostgreSQL");
  sqlite.close();
  assert.equal((await verifyMigration({ source: file, target: url })).ok, true);
});

test("a column PostgreSQL gained after the cutover refuses only when it holds values; a column it lost refuses", async () => {
  const file = sqliteFile((db) => {
    db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, tag TEXT)");
    for (let i = 1; i <= 20; i++) db.prepare("INSERT INTO notes VALUES (?, ?, ?)").run(i, `note ${i}`, null);
  });
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: file, target: url })).ok, true);
  const db = url.slice(url.lastIndexOf("/") + 1);
  await pg.query("ALTER TABLE notes ADD COLUMN priority integer; UPDATE notes SET body = 'changed' WHERE id = 1", [], db);
  assert.equal((await planSyncBack({ from: url, to: file })).rowsChanged, 1, "an empty new column loses nothing");
  await pg.query("UPDATE notes SET priority = 3 WHERE id = 2", [], db);
  await assert.rejects(planSyncBack({ from: url, to: file }), /has a column "priority" that the SQLite table lacks .* rows hold values in it/);
  await pg.query("ALTER TABLE notes DROP COLUMN priority; ALTER TABLE notes DROP COLUMN tag", [], db);
  await assert.rejects(
    planSyncBack({ from: url, to: file }),
    (err: unknown) => err instanceof SyncBackRefusal && err.column === "tag" && /no column "tag" any more/.test(err.message),
  );
});

test("hostile table and column names reach SQL only quoted: sync-back through them", async () => {
  const table = `we"ird $' tbl; DROP TABLE x`;
  const col = `o'k "at" $&`;
  const q = (n: string) => `"${n.replace(/"/g, '""')}"`;
  const file = sqliteFile((db) => {
    db.exec(`CREATE TABLE ${q(table)} (id INTEGER PRIMARY KEY AUTOINCREMENT, ${q(col)} DATETIME NOT NULL, flag BOOLEAN)`);
    for (let i = 1; i <= 10; i++) db.prepare(`INSERT INTO ${q(table)} (${q(col)}, flag) VALUES (?, ?)`).run(`2024-01-0${(i % 9) + 1} 10:00:00`, i % 2);
  });
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source: file, target: url })).ok, true);
  const db = url.slice(url.lastIndexOf("/") + 1);
  const target = q(table.toLowerCase());
  await pg.query(`UPDATE ${target} SET ${q(col.toLowerCase())} = '2025-01-01 00:00:00', flag = NOT flag WHERE id = 2`, [], db);
  await pg.query(`INSERT INTO ${target} (${q(col.toLowerCase())}, flag) VALUES ('2025-02-02 00:00:00', true)`, [], db);
  await pg.query(`DELETE FROM ${target} WHERE id = 5`, [], db);
  const r = await syncBack({ from: url, to: file });
  assert.equal(r.rowsChanged, 3);
  const sqlite = new Database(file, { readonly: true });
  try {
    assert.deepEqual(sqlite.prepare(`SELECT ${q(col)} AS at, flag FROM ${q(table)} WHERE id IN (2, 11) ORDER BY id`).all(), [
      { at: "2025-01-01 00:00:00", flag: 1 },
      { at: "2025-02-02 00:00:00", flag: 1 },
    ]);
    assert.equal(sqlite.prepare("SELECT seq FROM sqlite_sequence").pluck().get(), 11);
  } finally {
    sqlite.close();
  }
  assert.equal((await verifyMigration({ source: file, target: url })).ok, true);
});

test("a table that exists only in PostgreSQL refuses the sync-back, naming it, while it holds rows; empty, it is listed as skipped", async () => {
  const { file, url } = await migratedSample(50);
  const db = url.slice(url.lastIndexOf("/") + 1);
  await pg.query("CREATE TABLE public.audit_log (id bigint PRIMARY KEY, what text NOT NULL)", [], db);
  await pg.query("UPDATE messages SET text = 'after cutover' WHERE id = 1", [], db);
  const empty = await planSyncBack({ from: url, to: file });
  assert.equal(empty.rowsChanged, 1);
  assert.ok(
    empty.skipped.some((s) => s.table === "audit_log" && /only in PostgreSQL/.test(s.reason)),
    JSON.stringify(empty.skipped),
  );
  await pg.query("INSERT INTO public.audit_log VALUES (1, 'created after the cutover')", [], db);
  const before = sha(file);
  for (const run of [planSyncBack, syncBack]) {
    await assert.rejects(run({ from: url, to: file }), (err: unknown) => {
      assert.ok(err instanceof SyncBackRefusal, String(err));
      assert.equal(err.table, "audit_log");
      assert.match(err.message, /"public\.audit_log" has no table in the SQLite file .* holds rows/);
      return true;
    });
  }
  assert.equal(sha(file), before, "nothing was written");
  // With --tables the person chose what goes back: the other table is not theirs to refuse.
  assert.equal((await syncBack({ from: url, to: file, tables: ["messages"] })).rowsChanged, 1);
});

test("a PostgreSQL-only table the sync-back's role may not read refuses it, naming the table, not 'permission denied' halfway", async () => {
  const { file, url } = await migratedSample(50);
  const db = url.slice(url.lastIndexOf("/") + 1);
  const role = `rollback_reader_${db}`.slice(0, 63);
  // A role that reads what pgshift migrated and its own records, and nothing created after that.
  await pg.query(`CREATE ROLE "${role}" LOGIN PASSWORD 'reader-test-pw'`, [], db);
  for (const schema of ["public", "pgshift"]) {
    await pg.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`, [], db);
    await pg.query(`GRANT SELECT ON ALL TABLES IN SCHEMA "${schema}" TO "${role}"`, [], db);
  }
  await pg.query("CREATE TABLE public.dba_notes (id bigint PRIMARY KEY, note text)", [], db);
  const asReader = new URL(url);
  asReader.username = role;
  asReader.password = "reader-test-pw";
  const before = sha(file);
  await assert.rejects(planSyncBack({ from: asReader.toString(), to: file }), (err: unknown) => {
    assert.ok(err instanceof SyncBackRefusal, String(err));
    assert.equal(err.table, "dba_notes");
    assert.match(err.message, new RegExp(`"public\\.dba_notes" has no table in the SQLite file, and role "${role}" may not read it`));
    return true;
  });
  assert.equal(sha(file), before, "nothing was written");
});

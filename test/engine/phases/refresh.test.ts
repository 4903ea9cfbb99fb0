// A refresh's foreign keys (src/engine/phases/refresh.ts) against a real
// PostgreSQL 16: a key is dropped and added back (which re-validates every row
// of its table) only when the sync deletes rows its ON DELETE action would act
// on; otherwise it is deferred and checked on the changed rows. Either way the
// keys end as they were and the rows as SQLite has them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { migrate, type MigrationReport } from "../../../src/engine";

let pg: TestPostgres;
before(async () => {
  pg = await startPostgres();
});
after(async () => pg?.stop());

const MESSAGES = 20_000;

/** The sample app's shape: every key has an ON DELETE action, one refers to its own table. */
function chatDb(): string {
  return sqliteFile((db) => {
    db.exec(`
      CREATE TABLE bots (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
      CREATE TABLE chats (id INTEGER PRIMARY KEY, title TEXT);
      CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        bot_id INTEGER NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
        chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        reply_to_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
        text TEXT NOT NULL);`);
    const bot = db.prepare("INSERT INTO bots VALUES (?, ?)");
    const chat = db.prepare("INSERT INTO chats VALUES (?, ?)");
    const message = db.prepare("INSERT INTO messages (bot_id, chat_id, reply_to_message_id, text) VALUES (?, ?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= 10; i++) bot.run(i, `bot ${i}`);
      for (let i = 1; i <= 20; i++) chat.run(i, `chat ${i}`);
      for (let i = 1; i <= MESSAGES; i++) message.run(1 + (i % 10), 1 + (i % 20), i > 1 && i % 3 === 0 ? i - 1 : null, `message ${i} ğüş 🚀`);
    })();
  });
}

function editSqlite(source: string, sql: string): void {
  const w = new Database(source);
  w.exec(sql);
  w.close();
}

const table = (r: MigrationReport, name: string) => r.tables.find((t) => t.source === name)!;

/** Every row of bots, chats and messages, in key order, as PostgreSQL prints it. */
async function dump(db: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of ["bots", "chats", "messages"])
    out[t] = (await pg.query<{ r: string }>(`SELECT t::text AS r FROM ${t} t ORDER BY id`, [], db)).map((x) => x.r);
  return out;
}

async function freshLoad(source: string): Promise<Record<string, string[]>> {
  const url = await pg.createDatabase();
  assert.equal((await migrate({ source, target: url })).ok, true);
  return dump(url.split("/").pop()!);
}

interface Key {
  oid: string;
  tbl: string;
  name: string;
  def: string;
  convalidated: boolean;
  condeferrable: boolean;
  condeferred: boolean;
}

/** Every foreign key: its definition, whether validated and deferrable, and its oid (a key dropped and added again gets a new one). */
async function keys(db: string): Promise<Key[]> {
  return pg.query<Key>(
    `SELECT oid::text, conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def, convalidated, condeferrable, condeferred
       FROM pg_constraint WHERE contype = 'f' ORDER BY 2, 3`,
    [],
    db,
  );
}

/** Rows PostgreSQL read from `messages` so far (seq scans and index scans), once the finished sessions' counts are in. */
async function rowsRead(db: string): Promise<number> {
  await new Promise((r) => setTimeout(r, 300)); // a backend reports its counts as it exits, just after the client's end()
  const [r] = await pg.query<{ n: string }>(
    `SELECT (SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relid = 'messages'::regclass)
          + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes WHERE relid = 'messages'::regclass) AS n`,
    [],
    db,
  );
  return Number(r!.n);
}

const withoutOid = (ks: Key[]) => ks.map(({ oid: _oid, ...k }) => k);

test("a refresh whose referenced tables lose no rows keeps their keys in place: no key is re-validated", async () => {
  const source = chatDb();
  const url = await pg.createDatabase();
  const db = url.split("/").pop()!;
  assert.equal((await migrate({ source, target: url })).ok, true);
  // The first refresh after a load sets hint bits and records ranges (a sync by content): not the one measured.
  assert.equal((await migrate({ source, target: url, refresh: true })).ok, true);
  const before = await keys(db);
  assert.equal(before.length, 3);
  assert.ok(before.every((k) => /ON DELETE (CASCADE|SET NULL)/.test(k.def) && k.convalidated && !k.condeferrable));
  // What the app does between runs: new messages (one replying to an old one) and a new bot; nothing deleted or changed.
  editSqlite(
    source,
    `INSERT INTO bots VALUES (11, 'bot 11');
     INSERT INTO messages (bot_id, chat_id, reply_to_message_id, text) VALUES (11, 4, 17, 'new'), (2, 5, NULL, 'newer'), (3, 6, ${MESSAGES + 1}, 'newest');`,
  );
  const read = await rowsRead(db);
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(table(r, "messages").action, "synced");
  assert.match(table(r, "messages").refresh!, /0 rows deleted, 3 copied again/);
  assert.deepEqual(await keys(db), before, "every key as it was, the same constraint (never dropped and added again)");
  // The sync reads the table once (its xmin pass); adding a key back would read all of it again for each key.
  const readNow = (await rowsRead(db)) - read;
  assert.ok(readNow < 1.5 * MESSAGES, `the refresh read ${readNow} rows of messages' ${MESSAGES}: a key was re-validated`);
  assert.deepEqual(await dump(db), await freshLoad(source));
});

test("a refresh that deletes referenced rows keeps every row SQLite has (no ON DELETE action fires) and the keys as they were", async () => {
  const source = chatDb();
  const url = await pg.createDatabase();
  const db = url.split("/").pop()!;
  assert.equal((await migrate({ source, target: url })).ok, true);
  const before = await keys(db);
  // A bot renamed (deleted and copied again by the sync: CASCADE would take its 2,000 messages), a chat deleted with
  // its messages, and a message replied to edited (SET NULL would clear the reply's reference).
  editSqlite(
    source,
    `UPDATE bots SET name = 'renamed' WHERE id = 2;
     DELETE FROM messages WHERE chat_id = 3; DELETE FROM chats WHERE id = 3;
     UPDATE messages SET text = 'edited' WHERE id = 110;`,
  );
  const r = await migrate({ source, target: url, refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  for (const t of ["bots", "chats", "messages"]) assert.equal(table(r, t).action, "synced", t);
  const got = await dump(db);
  assert.deepEqual(got, await freshLoad(source), "PostgreSQL holds exactly SQLite's rows");
  assert.equal(got.messages!.length, MESSAGES - MESSAGES / 20);
  assert.ok(
    got.messages!.some((m) => m.startsWith("(111,") && m.includes(",110,")),
    "the reply still refers to the edited message",
  );
  assert.deepEqual(withoutOid(await keys(db)), withoutOid(before), "every key back as it was: same definition, validated, not deferrable");
});

test("--schema existing: the app's DEFERRABLE keys stay as declared, and are not dropped when nothing could fire them", async () => {
  const source = sqliteFile((s) => {
    s.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), editor_id INTEGER REFERENCES users(id), body TEXT NOT NULL);`);
    for (let i = 1; i <= 100; i++) s.prepare("INSERT INTO users VALUES (?, ?)").run(i, `user ${i}`);
    for (let i = 1; i <= 2000; i++) s.prepare("INSERT INTO posts VALUES (?, ?, ?, ?)").run(i, 1 + (i % 100), i % 2 ? 1 + (i % 7) : null, `post ${i}`);
  });
  const url = await pg.createDatabase();
  const db = url.split("/").pop()!;
  await pg.query(
    `CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);
     CREATE TABLE posts (id bigint PRIMARY KEY,
       user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
       editor_id bigint REFERENCES users(id) DEFERRABLE INITIALLY DEFERRED, body text NOT NULL);`,
    [],
    db,
  );
  assert.equal((await migrate({ source, target: url, schema: "existing" })).ok, true);
  const before = await keys(db);
  assert.deepEqual(
    before.map((k) => [k.condeferrable, k.condeferred]),
    [
      [true, true],
      [true, false],
    ],
  );
  // A new post by a new user: users loses no row, so the CASCADE key stays; the new post refers to a user copied in the same sync.
  editSqlite(
    source,
    "INSERT INTO users VALUES (101, 'new'); INSERT INTO posts VALUES (2001, 101, 101, 'new post'); UPDATE posts SET body = 'edited' WHERE id = 5;",
  );
  const r = await migrate({ source, target: url, schema: "existing", refresh: true });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.deepEqual(await keys(db), before, "the same keys, deferrable as declared, never dropped");
  // Users loses a row: the CASCADE key is dropped for the sync (the posts of user 100 stay) and comes back as declared.
  editSqlite(source, "UPDATE users SET name = 'renamed' WHERE id = 100;");
  const again = await migrate({ source, target: url, schema: "existing", refresh: true });
  assert.equal(again.ok, true, JSON.stringify(again.tables));
  const [n] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM posts WHERE user_id = 100", [], db);
  assert.equal(Number(n!.n), 20, "no post was cascaded away");
  assert.deepEqual(withoutOid(await keys(db)), withoutOid(before));
});

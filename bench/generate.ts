// The benchmark's source databases, deterministic for a given row count.
// `messages` is shaped like a real app's hot table rather than a friendly one:
// 11 columns, three nullable BIGINTs (mostly NULL in one), text from a few words
// to a few hundred characters with Turkish letters and emoji, DATETIME text with
// 6 fractional digits, a rarely set second DATETIME, a JSON object with nested
// arrays whose size varies row to row (NULL in a third of the rows), and a
// foreign key to `bots`. `documents` is the wide case: ~10 KB of text and a
// 1–4 KB BLOB per row.
import Database from "better-sqlite3";
import { copyFileSync, existsSync, renameSync } from "node:fs";

const WORDS = ["piyasa", "dolar", "altın", "faiz", "şirket", "hisse", "yükseliş", "düşüş", "güçlü", "çok", "🚀", "📈", "💰", "İstanbul", "öğle", "ürün"];
const LANGS = ["tr", "en", "de"];

export const MESSAGES_DDL = `
  CREATE TABLE bots (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(100) NOT NULL, is_enabled BOOLEAN NOT NULL DEFAULT 1);
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bot_id INTEGER NOT NULL REFERENCES bots(id),
    chat_id BIGINT,
    reply_to_id BIGINT,
    telegram_message_id BIGINT,
    text TEXT NOT NULL,
    is_reply BOOLEAN NOT NULL DEFAULT 0,
    score REAL,
    created_at DATETIME NOT NULL,
    edited_at DATETIME,
    meta JSON
  );
  CREATE INDEX ix_messages_bot_created ON messages (bot_id, created_at);`;

/** The columns of messages in table order (the floor's CSV export and its CREATE TABLE follow it). */
export const MESSAGES_COLUMNS = [
  "id",
  "bot_id",
  "chat_id",
  "reply_to_id",
  "telegram_message_id",
  "text",
  "is_reply",
  "score",
  "created_at",
  "edited_at",
  "meta",
];

function random(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

const stamp = (ms: number, micros: number) =>
  new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "") +
  "." +
  String(micros).padStart(6, "0");

/** One messages row's values after `id`, for row number i. */
export function messageRow(i: number, rand: () => number): unknown[] {
  const base = Date.UTC(2025, 0, 1);
  // Mostly short chat lines, some paragraphs: 20 to ~400 characters.
  const len = rand() < 0.85 ? 20 + Math.floor(rand() * 120) : 200 + Math.floor(rand() * 200);
  let text = "";
  while (text.length < len) text += WORDS[Math.floor(rand() * WORDS.length)] + " ";
  const created = stamp(base + i * 1000, Math.floor(rand() * 1_000_000));
  const edited = rand() < 0.1 ? stamp(base + i * 1000 + 60_000, Math.floor(rand() * 1_000_000)) : null;
  // JSON objects only (pgloader cannot load bare numbers into jsonb: it writes 0.35d0); nested, of varying size.
  let meta: string | null = null;
  if (i % 3 !== 0) {
    const tags = Array.from({ length: Math.floor(rand() * 6) }, () => WORDS[Math.floor(rand() * WORDS.length)]);
    const entities = Array.from({ length: Math.floor(rand() * 4) }, (_, k) => ({
      type: k % 2 ? "mention" : "hashtag",
      offset: Math.floor(rand() * 50),
      length: 1 + Math.floor(rand() * 10),
    }));
    meta = JSON.stringify({
      sentiment: Math.round(rand() * 1000) / 1000,
      lang: LANGS[i % 3],
      tags,
      ...(entities.length ? { entities } : {}),
      ...(rand() < 0.2 ? { model: { name: "gpt", temperature: 0.7, tokens: [Math.floor(rand() * 900), Math.floor(rand() * 300)] } } : {}),
    });
  }
  return [
    1 + Math.floor(rand() * 100),
    rand() < 0.9 ? -1001000000000 - Math.floor(rand() * 1000) : null,
    rand() < 0.3 ? Math.max(1, i - Math.floor(rand() * 100)) : null,
    rand() < 0.7 ? 100000 + i : null,
    text.trimEnd(),
    rand() < 0.3 ? 1 : 0,
    rand() < 0.8 ? rand() * 100 : null,
    created,
    edited,
    meta,
  ];
}

export function generateBenchDb(path: string, rows: number, log: (m: string) => void = () => {}): void {
  if (existsSync(path)) return;
  const tmp = `${path}.partial`;
  const db = new Database(tmp);
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.exec(MESSAGES_DDL);
  const rand = random(42);
  const insBot = db.prepare("INSERT INTO bots (name, is_enabled) VALUES (?, ?)");
  const insMsg = db.prepare(
    "INSERT INTO messages (bot_id, chat_id, reply_to_id, telegram_message_id, text, is_reply, score, created_at, edited_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  db.transaction(() => {
    for (let i = 1; i <= 100; i++) insBot.run(`bot ${i} 🤖`, i % 10 === 0 ? 0 : 1);
  })();
  const batch = 50_000;
  for (let start = 0; start < rows; start += batch) {
    db.transaction(() => {
      for (let i = start; i < Math.min(rows, start + batch); i++) insMsg.run(...messageRow(i, rand));
    })();
    log(`[bench] generated ${Math.min(rows, start + batch)}/${rows} rows`);
  }
  db.close();
  renameSync(tmp, path);
}

/**
 * The same database after an app kept writing: `changes` rows touched in
 * messages, half updated, a quarter deleted, a quarter inserted (new ids at the
 * end), spread over the whole table.
 */
export function generateChangedDb(source: string, path: string, changes: number): void {
  if (existsSync(path)) return;
  const tmp = `${path}.partial`;
  copyFileSync(source, tmp);
  const db = new Database(tmp);
  db.pragma("foreign_keys = OFF");
  const rand = random(7);
  const max = Number((db.prepare("SELECT max(id) AS m FROM messages").get() as { m: number }).m);
  const pick = () => 1 + Math.floor(rand() * max);
  const update = db.prepare(
    "UPDATE messages SET text = text || ' (düzenlendi)', edited_at = ?, meta = json_set(coalesce(meta, '{}'), '$.edited', 1) WHERE id = ?",
  );
  const del = db.prepare("DELETE FROM messages WHERE id = ?");
  const ins = db.prepare(
    "INSERT INTO messages (bot_id, chat_id, reply_to_id, telegram_message_id, text, is_reply, score, created_at, edited_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  db.transaction(() => {
    for (let i = 0; i < changes / 2; i++) update.run(stamp(Date.UTC(2026, 0, 1) + i, i % 1_000_000), pick());
    for (let i = 0; i < changes / 4; i++) del.run(pick());
    for (let i = 0; i < changes / 4; i++) ins.run(...messageRow(max + i + 1, rand));
  })();
  db.close();
  renameSync(tmp, path);
}

/** Many mid-sized tables (copies of the messages shape), to measure parallelism across tables. */
export function generateManyTablesDb(path: string, tables: number, rowsEach: number, log: (m: string) => void = () => {}): void {
  if (existsSync(path)) return;
  const seed = `${path}.seed.db`;
  generateBenchDb(seed, rowsEach, log);
  const tmp = `${path}.partial`;
  const db = new Database(tmp);
  db.pragma("journal_mode = OFF");
  db.exec(`ATTACH DATABASE '${seed.replace(/'/g, "''")}' AS seed`);
  for (let i = 1; i <= tables; i++) {
    db.exec(`CREATE TABLE t${i} (id INTEGER PRIMARY KEY, bot_id INTEGER NOT NULL, chat_id BIGINT, reply_to_id BIGINT, telegram_message_id BIGINT, text TEXT NOT NULL,
               is_reply BOOLEAN NOT NULL, score REAL, created_at DATETIME NOT NULL, edited_at DATETIME, meta JSON);
             INSERT INTO t${i} SELECT ${MESSAGES_COLUMNS.join(", ")} FROM seed.messages;`);
  }
  db.exec("DETACH DATABASE seed");
  db.close();
  renameSync(tmp, path);
}

/** The wide case: ~10 KB of text and a 1–4 KB BLOB per row. */
export function generateWideDb(path: string, rows: number, log: (m: string) => void = () => {}): void {
  if (existsSync(path)) return;
  const tmp = `${path}.partial`;
  const db = new Database(tmp);
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.exec("CREATE TABLE documents (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, attachment BLOB, updated_at DATETIME NOT NULL)");
  const rand = random(99);
  const ins = db.prepare("INSERT INTO documents VALUES (?, ?, ?, ?, ?)");
  const batch = 5_000;
  for (let start = 0; start < rows; start += batch) {
    db.transaction(() => {
      for (let i = start; i < Math.min(rows, start + batch); i++) {
        const parts: string[] = [];
        let n = 0;
        const target = 8_000 + Math.floor(rand() * 4_000);
        while (n < target) {
          const w = WORDS[Math.floor(rand() * WORDS.length)]!;
          parts.push(w);
          n += w.length + 1;
          if (rand() < 0.02) parts.push("\n");
        }
        const blob = Buffer.alloc(1024 + Math.floor(rand() * 3072));
        for (let b = 0; b < blob.length; b += 4) blob.writeUInt32LE(Math.floor(rand() * 0xffffffff) >>> 0, Math.min(b, blob.length - 4));
        ins.run(
          i + 1,
          `document ${i + 1}`,
          parts.join(" "),
          i % 10 === 0 ? null : blob,
          stamp(Date.UTC(2025, 5, 1) + i * 1000, Math.floor(rand() * 1_000_000)),
        );
      }
    })();
    log(`[bench] generated ${Math.min(rows, start + batch)}/${rows} documents`);
  }
  db.close();
  renameSync(tmp, path);
}

/** The same change set's JSON-only cousin: `changes` rows whose `meta` alone was edited, spread over the table. */
export function generateJsonChangedDb(source: string, path: string, changes: number): void {
  if (existsSync(path)) return;
  const tmp = `${path}.partial`;
  copyFileSync(source, tmp);
  const db = new Database(tmp);
  const rand = random(11);
  const max = Number((db.prepare("SELECT max(id) AS m FROM messages").get() as { m: number }).m);
  const update = db.prepare("UPDATE messages SET meta = json_set(coalesce(meta, '{}'), '$.reviewed', json('true'), '$.score', ?) WHERE id = ?");
  db.transaction(() => {
    for (let i = 0; i < changes; i++) update.run(Math.round(rand() * 1000) / 1000, 1 + Math.floor(rand() * max));
  })();
  db.close();
  renameSync(tmp, path);
}

/** A copy of `source` switched to WAL mode: what an app that set `journal_mode = WAL` leaves on disk. */
export function generateWalCopy(source: string, path: string): void {
  if (existsSync(path)) return;
  const tmp = `${path}.partial`;
  copyFileSync(source, tmp);
  const db = new Database(tmp);
  db.pragma("journal_mode = WAL");
  db.close();
  renameSync(tmp, path);
}

const LONG_WORDS = [...WORDS, "müşteri", "sipariş", "teşekkürler", "görüşürüz", "ğüşıöç", "🙏", "😂", "👍🏽", "❤️", "🇹🇷", "naïve", "日本語", "ελληνικά"];

/** Rows of each table of the chat-bot case at scale 1. */
export const CHAT_ROWS = { users: 40_000, chats: 40_000, messages: 150_000, settings: 40_000, audit: 60_000 };

/**
 * The RSS case: a chat bot's database across several tables — long messages
 * (200–2,000 characters of Turkish text with emoji), JSON settings per user,
 * BLOB audit rows of 0.5–6 KB — where big rows make every batch of rows big.
 */
export function generateChatDb(path: string, scale: number, log: (m: string) => void = () => {}): void {
  if (existsSync(path)) return;
  const tmp = `${path}.partial`;
  const db = new Database(tmp);
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.exec(`
    CREATE TABLE users (id INTEGER PRIMARY KEY, handle TEXT NOT NULL, display_name TEXT, created_at DATETIME NOT NULL);
    CREATE TABLE chats (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), title TEXT, started_at DATETIME NOT NULL);
    CREATE TABLE chat_messages (id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL REFERENCES chats(id), role TEXT NOT NULL, body TEXT NOT NULL, tokens INTEGER, sent_at DATETIME NOT NULL);
    CREATE TABLE user_settings (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), settings JSON NOT NULL);
    CREATE TABLE audit_log (id INTEGER PRIMARY KEY, user_id INTEGER, action TEXT NOT NULL, payload BLOB, at DATETIME NOT NULL);`);
  const rand = random(2024);
  const n = (k: keyof typeof CHAT_ROWS) => Math.max(10, Math.round(CHAT_ROWS[k] * scale));
  const text = (min: number, max: number) => {
    const len = min + Math.floor(rand() * (max - min));
    let s = "";
    while (s.length < len) s += LONG_WORDS[Math.floor(rand() * LONG_WORDS.length)] + (rand() < 0.05 ? "\n" : " ");
    return s.trimEnd();
  };
  const base = Date.UTC(2025, 2, 1);
  const fill = (name: string, count: number, row: (i: number) => unknown[]) => {
    const ins = db.prepare(
      `INSERT INTO ${name} VALUES (${row(0)
        .map(() => "?")
        .join(", ")})`,
    );
    for (let start = 0; start < count; start += 10_000) {
      db.transaction(() => {
        for (let i = start; i < Math.min(count, start + 10_000); i++) ins.run(...row(i));
      })();
      log(`[bench] generated ${Math.min(count, start + 10_000)}/${count} ${name}`);
    }
  };
  const users = n("users");
  const chats = n("chats");
  fill("users", users, (i) => [i + 1, `kullanici_${i + 1}`, rand() < 0.8 ? text(5, 30) : null, stamp(base + i * 60_000, Math.floor(rand() * 1e6))]);
  fill("chats", chats, (i) => [i + 1, 1 + Math.floor(rand() * users), rand() < 0.5 ? text(10, 60) : null, stamp(base + i * 30_000, Math.floor(rand() * 1e6))]);
  fill("chat_messages", n("messages"), (i) => [
    i + 1,
    1 + Math.floor(rand() * chats),
    i % 2 ? "assistant" : "user",
    text(200, 2000),
    rand() < 0.7 ? Math.floor(rand() * 4000) : null,
    stamp(base + i * 1000, Math.floor(rand() * 1e6)),
  ]);
  fill("user_settings", n("settings"), (i) => [
    i + 1,
    1 + (i % users),
    JSON.stringify({
      dil: LANGS[i % 3],
      bildirimler: rand() < 0.5,
      tema: rand() < 0.5 ? "koyu" : "açık",
      kısayollar: Array.from({ length: Math.floor(rand() * 8) }, () => text(3, 20)),
      model: { ad: "gpt", sıcaklık: Math.round(rand() * 100) / 100 },
    }),
  ]);
  fill("audit_log", n("audit"), (i) => {
    const blob = Buffer.alloc(512 + Math.floor(rand() * 5632));
    for (let b = 0; b + 4 <= blob.length; b += 4) blob.writeUInt32LE(Math.floor(rand() * 0xffffffff) >>> 0, b);
    return [
      i + 1,
      rand() < 0.9 ? 1 + Math.floor(rand() * users) : null,
      ["login", "export", "upload", "delete"][i % 4],
      i % 17 === 0 ? null : blob,
      stamp(base + i * 2000, Math.floor(rand() * 1e6)),
    ];
  });
  db.close();
  renameSync(tmp, path);
}

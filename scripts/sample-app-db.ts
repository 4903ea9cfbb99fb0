// Generates a SQLite database shaped like the seed guide's chat-bot app (bots,
// chats, messages, settings, bot_stances, bot_holdings, api_users), with the
// habits real SQLite apps have: booleans stored as 0/1, DATETIME as text, JSON
// settings holding bare numbers as well as strings, emoji and Turkish text.
// Deterministic: the same arguments always give the same rows.
//
//   npx tsx scripts/sample-app-db.ts <path> [--messages N]
import Database from "better-sqlite3";
import { existsSync } from "node:fs";
import { seededRandom } from "./seeded-random";

export interface SampleOptions {
  messages?: number;
}

const SCHEMA = `
CREATE TABLE api_users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  username VARCHAR(64) NOT NULL UNIQUE,
  api_key_hash VARCHAR(128) NOT NULL,
  is_active BOOLEAN NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE bots (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name VARCHAR(100) NOT NULL UNIQUE,
  username VARCHAR(100),
  persona_profile JSON,
  emotion_profile JSON,
  is_enabled BOOLEAN NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE chats (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  chat_id VARCHAR(64) NOT NULL UNIQUE,
  title VARCHAR(200),
  is_enabled BOOLEAN NOT NULL DEFAULT 1,
  topics JSON,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  bot_id INTEGER NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
  chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
  telegram_message_id INTEGER,
  text TEXT NOT NULL,
  reply_to_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
  msg_metadata JSON,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX ix_messages_bot_created ON messages (bot_id, created_at);
CREATE INDEX ix_messages_chat ON messages (chat_id);
CREATE TABLE settings (
  key VARCHAR(100) PRIMARY KEY,
  value JSON NOT NULL,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE bot_stances (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  bot_id INTEGER NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
  topic VARCHAR(100) NOT NULL,
  stance_text TEXT NOT NULL,
  confidence REAL,
  cooldown_until DATETIME,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE (bot_id, topic)
);
CREATE TABLE bot_holdings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  bot_id INTEGER NOT NULL REFERENCES bots(id) ON DELETE CASCADE,
  symbol VARCHAR(20) NOT NULL,
  avg_price NUMERIC(18,6),
  size NUMERIC(18,6),
  note TEXT,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE (bot_id, symbol)
);
`;

const NAMES = ["Ayşe", "Mehmet", "Çağrı", "Gülşen", "İsmail", "Öykü", "Şule", "Ümit", "Barış", "Doğa", "Ece", "Tolga"];
const WORDS = [
  "borsa",
  "dolar",
  "altın",
  "faiz",
  "enflasyon",
  "BIST100",
  "kripto",
  "yükseliş",
  "düşüş",
  "şirket",
  "hisse",
  "piyasa",
  "bugün",
  "çok",
  "güçlü",
  "zayıf",
  "bence",
  "haber",
  "🚀",
  "📉",
  "📈",
  "💰",
  "🤔",
  "👍",
  "😅",
];
const SYMBOLS = ["THYAO", "ASELS", "GARAN", "AKBNK", "BIMAS", "EREGL", "KCHOL", "SISE", "TUPRS", "XAUUSD", "BTCUSD"];
const TOPICS = ["faiz", "enflasyon", "altın", "kripto", "borsa", "döviz"];

function timestamp(base: number, offsetSeconds: number, rand: () => number): string {
  const d = new Date(base + offsetSeconds * 1000);
  const iso = d.toISOString().replace("T", " ").replace("Z", "");
  // SQLAlchemy writes microseconds; some rows in real apps have none.
  return rand() < 0.8 ? iso + String(Math.floor(rand() * 1000)).padStart(3, "0") : iso.slice(0, 19);
}

export function createSampleAppDb(path: string, opts: SampleOptions = {}): { tables: Record<string, number> } {
  if (existsSync(path)) throw new Error(`${path} already exists; not overwriting it`);
  const rand = seededRandom(20251104);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const base = Date.UTC(2025, 9, 1, 8, 0, 0);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(SCHEMA);
  const counts: Record<string, number> = {};
  const tx = db.transaction(() => {
    const user = db.prepare("INSERT INTO api_users (username, api_key_hash, is_active, created_at) VALUES (?, ?, ?, ?)");
    user.run("admin", "sha256$" + "ab".repeat(32), 1, timestamp(base, 0, rand));
    counts.api_users = 1;

    const bot = db.prepare("INSERT INTO bots (name, username, persona_profile, emotion_profile, is_enabled, created_at) VALUES (?, ?, ?, ?, ?, ?)");
    const botCount = 54;
    for (let i = 1; i <= botCount; i++) {
      const name = `${pick(NAMES)} ${i}`;
      const persona = JSON.stringify({ tone: pick(["samimi", "resmi", "esprili"]), risk: Math.round(rand() * 100) / 100 });
      const emotion = rand() < 0.3 ? null : JSON.stringify({ energy: Math.round(rand() * 10), emoji: pick(["🚀", "🤔", "😅"]) });
      bot.run(name, `@bot_${i}`, persona, emotion, rand() < 0.9 ? 1 : 0, timestamp(base, i * 60, rand));
    }
    counts.bots = botCount;

    const chat = db.prepare("INSERT INTO chats (chat_id, title, is_enabled, topics, created_at) VALUES (?, ?, ?, ?, ?)");
    const chatCount = 6;
    for (let i = 1; i <= chatCount; i++) {
      chat.run(`-100${1000000 + i}`, `Piyasa Sohbet ${i} 💬`, 1, JSON.stringify([pick(TOPICS), pick(TOPICS)]), timestamp(base, i, rand));
    }
    counts.chats = chatCount;

    const message = db.prepare(
      "INSERT INTO messages (bot_id, chat_id, telegram_message_id, text, reply_to_message_id, msg_metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    const messageCount = opts.messages ?? 3000;
    for (let i = 1; i <= messageCount; i++) {
      const words = Array.from({ length: 4 + Math.floor(rand() * 14) }, () => pick(WORDS)).join(" ");
      const reply = i > 10 && rand() < 0.25 ? 1 + Math.floor(rand() * (i - 1)) : null;
      const meta = rand() < 0.5 ? JSON.stringify({ sentiment: Math.round((rand() * 2 - 1) * 100) / 100 }) : null;
      message.run(1 + Math.floor(rand() * botCount), 1 + Math.floor(rand() * chatCount), 10000 + i, words, reply, meta, timestamp(base, 3600 + i * 17, rand));
    }
    counts.messages = messageCount;

    // The settings table is where SQLite's per-value typing shows: the app
    // stored bare numbers, booleans and strings in a JSON column.
    const setting = db.prepare("INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)");
    const settings: [string, unknown][] = [
      ["max_msgs_per_min", 12],
      ["typing_delay_factor", 0.35],
      ["scale_factor", 1.5],
      ["simulation_active", 0],
      ["bot_hourly_msg_limit", 20],
      ["prime_hours_boost", 1.2],
      ["reply_probability", 0.35],
      ["mention_probability", 0.1],
      ["short_reaction_probability", 0.12],
      ["new_message_max_retries", 2],
      ["message_length_profile", '"medium"'],
      ["dedup_enabled", "true"],
      ["topic_weights", '{"faiz": 0.3, "altın": 0.25, "kripto": 0.45}'],
      ["active_hours", '["09:00-12:00", "14:00-18:00"]'],
      ["news_feed_url", '"https://example.org/rss?lang=tr"'],
      ["ui_greeting", '"Merhaba! 👋 Piyasalar açık"'],
      ["burst_mode", "false"],
      ["rate_limit_window", 60],
      ["min_words", 3],
      ["max_words", 40],
      ["llm_temperature", 0.7],
      ["llm_model", '"gpt-4o-mini"'],
      ["stance_cooldown_hours", 6],
      ["last_restart", '"2025-11-04T12:00:00Z"'],
    ];
    for (const [k, v] of settings) setting.run(k, v, timestamp(base, 5, rand));
    counts.settings = settings.length;

    const stance = db.prepare("INSERT INTO bot_stances (bot_id, topic, stance_text, confidence, cooldown_until, updated_at) VALUES (?, ?, ?, ?, ?, ?)");
    let stances = 0;
    for (let b = 1; b <= botCount; b++) {
      for (const topic of TOPICS) {
        if (rand() < 0.5) continue;
        stance.run(
          b,
          topic,
          `${topic} konusunda ${pick(["iyimserim", "kötümserim", "kararsızım"])} ${pick(WORDS)}`,
          Math.round(rand() * 100) / 100,
          rand() < 0.3 ? timestamp(base, 86400, rand) : null,
          timestamp(base, 7200, rand),
        );
        stances++;
      }
    }
    counts.bot_stances = stances;

    const holding = db.prepare("INSERT INTO bot_holdings (bot_id, symbol, avg_price, size, note, updated_at) VALUES (?, ?, ?, ?, ?, ?)");
    let holdings = 0;
    for (let b = 1; b <= botCount; b++) {
      const owned = new Set<string>();
      for (let k = 0; k < 3; k++) {
        const s = pick(SYMBOLS);
        if (owned.has(s)) continue;
        owned.add(s);
        holding.run(b, s, Math.round(rand() * 1e6) / 1e4, Math.round(rand() * 1e5) / 100, rand() < 0.2 ? "uzun vade 📈" : null, timestamp(base, 9000, rand));
        holdings++;
      }
    }
    counts.bot_holdings = holdings;
  });
  tx();
  db.pragma("journal_mode = DELETE");
  db.close();
  return { tables: counts };
}

if (require.main === module) {
  const [path, ...rest] = process.argv.slice(2);
  if (!path) {
    console.error("usage: tsx scripts/sample-app-db.ts <path> [--messages N]");
    process.exit(2);
  }
  const i = rest.indexOf("--messages");
  const messages = i >= 0 ? Number(rest[i + 1]) : undefined;
  const { tables } = createSampleAppDb(path, { messages });
  console.log(
    `created ${path}: ` +
      Object.entries(tables)
        .map(([t, n]) => `${t} ${n}`)
        .join(", "),
  );
}

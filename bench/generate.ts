// The benchmark's source database: a small `bots` table and a `messages` table
// referencing it, shaped like the seed app's hot table — integer keys,
// ~100-character Unicode text with emoji, a boolean, a float, DATETIME text, a
// JSON text column and one secondary index. Deterministic for a given row count.
import Database from "better-sqlite3";
import { existsSync, renameSync } from "node:fs";

const WORDS = ["piyasa", "dolar", "altın", "faiz", "şirket", "hisse", "yükseliş", "düşüş", "güçlü", "çok", "🚀", "📈", "💰", "İstanbul", "öğle", "ürün"];

export function generateBenchDb(path: string, rows: number, log: (m: string) => void = () => {}): void {
  if (existsSync(path)) return;
  const tmp = `${path}.partial`;
  const db = new Database(tmp);
  db.pragma("journal_mode = OFF");
  db.pragma("synchronous = OFF");
  db.exec(`
    CREATE TABLE bots (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(100) NOT NULL, is_enabled BOOLEAN NOT NULL DEFAULT 1);
    CREATE TABLE messages (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      bot_id INTEGER NOT NULL REFERENCES bots(id),
      text TEXT NOT NULL,
      is_reply BOOLEAN NOT NULL DEFAULT 0,
      score REAL,
      created_at DATETIME NOT NULL,
      meta JSON
    );
    CREATE INDEX ix_messages_bot_created ON messages (bot_id, created_at);
  `);
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const insBot = db.prepare("INSERT INTO bots (name, is_enabled) VALUES (?, ?)");
  const insMsg = db.prepare("INSERT INTO messages (bot_id, text, is_reply, score, created_at, meta) VALUES (?, ?, ?, ?, ?, ?)");
  const base = Date.UTC(2025, 0, 1);
  db.transaction(() => {
    for (let i = 1; i <= 100; i++) insBot.run(`bot ${i} 🤖`, i % 10 === 0 ? 0 : 1);
  })();
  const batch = 50_000;
  for (let start = 0; start < rows; start += batch) {
    db.transaction(() => {
      for (let i = start; i < Math.min(rows, start + batch); i++) {
        let text = "";
        while (text.length < 95) text += WORDS[Math.floor(rand() * WORDS.length)] + " ";
        const created = new Date(base + i * 1000 + Math.floor(rand() * 1000)).toISOString().replace("T", " ").replace("Z", "");
        // JSON text objects only: pgloader cannot load bare numbers into jsonb
        // (it writes 0.35d0), and a benchmark needs a run that succeeds.
        const meta = i % 3 === 0 ? null : `{"sentiment": ${Math.round(rand() * 100) / 100}, "lang": "tr"}`;
        insMsg.run(1 + Math.floor(rand() * 100), text.trimEnd(), rand() < 0.3 ? 1 : 0, rand() * 100, created, meta);
      }
    })();
    log(`[bench] generated ${Math.min(rows, start + batch)}/${rows} rows`);
  }
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
    db.exec(`CREATE TABLE t${i} (id INTEGER PRIMARY KEY, bot_id INTEGER NOT NULL, text TEXT NOT NULL, is_reply BOOLEAN NOT NULL, score REAL, created_at DATETIME NOT NULL, meta JSON);
             INSERT INTO t${i} SELECT id, bot_id, text, is_reply, score, created_at, meta FROM seed.messages;`);
  }
  db.exec("DETACH DATABASE seed");
  db.close();
  renameSync(tmp, path);
}

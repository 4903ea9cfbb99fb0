// Hostile SQLite files: each a small, realistic table with one unusual value
// or name, the kind a new user's app database holds and a migration tool
// either copies exactly, refuses by name, or (the bug) changes silently.
// Every case of issue 27 ("engine fidelity, round 3") is one entry; the tests
// (test/engine/migrate.hostile.test.ts) say what pgshift must do with each.
import type Database from "better-sqlite3";
import { sqliteFile } from "./sqlite";

export interface HostileCase {
  /** what is unusual about the file */
  about: string;
  build(db: Database.Database): void;
}

/** A plain table beside the hostile one, so "nothing committed" covers other tables too. */
const bystanders = (db: Database.Database) => {
  db.exec("CREATE TABLE bots (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
  db.exec("INSERT INTO bots (name) VALUES ('ayşe'), ('mehmet')");
  db.exec("CREATE TABLE chats (id INTEGER PRIMARY KEY, title TEXT)");
  db.exec("INSERT INTO chats (title) VALUES ('genel')");
};

export const HOSTILE = {
  // ---- values and tables that used to change silently ----
  shadowLookalikes: {
    about: "an FTS5 table docs, and the app's own tables docs_archive and docs_data_old beside it",
    build(db) {
      db.exec("CREATE VIRTUAL TABLE docs USING fts5(body)");
      db.exec("INSERT INTO docs (body) VALUES ('hello world'), ('merhaba dünya')");
      db.exec("CREATE TABLE docs_archive (id INTEGER PRIMARY KEY, body TEXT, archived_at TEXT)");
      db.exec("INSERT INTO docs_archive (body, archived_at) VALUES ('old one', '2023-01-01 00:00:00'), ('older', '2022-06-01 12:00:00')");
      db.exec("CREATE TABLE docs_data_old (id INTEGER PRIMARY KEY, payload BLOB)");
      db.exec("INSERT INTO docs_data_old (payload) VALUES (x'00ff10')");
    },
  },
  generatedColumns: {
    about: "a VIRTUAL b AS (a*2) and a STORED c AS (upper(s))",
    build(db) {
      db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, a INTEGER, s TEXT, b AS (a*2), c TEXT GENERATED ALWAYS AS (upper(s)) STORED)");
      db.exec("INSERT INTO items (a, s) VALUES (1, 'abc'), (21, 'xyz'), (NULL, NULL)");
    },
  },
  generatedUntranslatable: {
    about: "a generated column whose expression (typeof) has no same-meaning PostgreSQL form",
    build(db) {
      bystanders(db);
      db.exec("CREATE TABLE facts (id INTEGER PRIMARY KEY, v, kind TEXT AS (typeof(v)))");
      db.exec("INSERT INTO facts (v) VALUES (1), ('x'), (2.5)");
    },
  },
  jsonDuplicateKeys: {
    about: 'a JSON column holding {"a":1,"a":2}',
    build(db) {
      bystanders(db);
      db.exec("CREATE TABLE settings (id INTEGER PRIMARY KEY, value JSON)");
      db.exec(`INSERT INTO settings (value) VALUES ('{"x": 1}'), ('{"a":1,"a":2}'), ('[1, {"b": 2, "b": 3}]')`);
    },
  },
  blobNumbers: {
    about: "numbers (5, 1.5) in a BLOB column",
    build(db) {
      bystanders(db);
      db.exec("CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB)");
      db.exec("INSERT INTO files (data) VALUES (x'cafe'), ('text as bytes'), (5), (1.5)");
    },
  },
  untypedReals: {
    about: "an untyped column holding REAL -0.0 and 2.0 beside integers and text",
    build(db) {
      db.exec("CREATE TABLE readings (id INTEGER PRIMARY KEY, v)");
      const ins = db.prepare("INSERT INTO readings (id, v) VALUES (?, ?)");
      ins.run(1, -0.0);
      ins.run(2, 2.0);
      ins.run(3, 2n); // a BigInt binds as INTEGER, a number as REAL
      ins.run(4, "2");
      ins.run(5, 0.1);
      ins.run(6, 1e20);
      ins.run(7, 2 ** 63);
    },
  },
  yyyymmddDates: {
    about: "YYYYMMDD integers (20240101) in a DATETIME column",
    build(db) {
      bystanders(db);
      db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME, on_day DATE)");
      db.exec("INSERT INTO events (at, on_day) VALUES (20240101, 20240229), (20231231, 19991231), (NULL, NULL)");
    },
  },

  // ---- refusals that must name table, row and column ----
  systemColumnNames: {
    about: "columns named xmin and ctid (PostgreSQL system column names)",
    build(db) {
      bystanders(db);
      db.exec("CREATE TABLE versions (id INTEGER PRIMARY KEY, xmin INTEGER, ctid TEXT)");
      db.exec("INSERT INTO versions (xmin, ctid) VALUES (1, 'a')");
    },
  },
  emptyColumnName: {
    about: 'a column named "" (empty)',
    build(db) {
      bystanders(db);
      db.exec('CREATE TABLE blank (id INTEGER PRIMARY KEY, "" TEXT)');
      db.exec("INSERT INTO blank VALUES (1, 'x')");
    },
  },
  longColumnNames: {
    about: "two column names equal in their first 63 bytes",
    build(db) {
      bystanders(db);
      const stem = "c".repeat(63);
      db.exec(`CREATE TABLE wide (id INTEGER PRIMARY KEY, "${stem}_one" TEXT, "${stem}_two" TEXT)`);
      db.exec("INSERT INTO wide VALUES (1, 'a', 'b')");
    },
  },
  longIndexNames: {
    about: "two index names equal in their first 63 bytes",
    build(db) {
      bystanders(db);
      const stem = "ix_".padEnd(63, "x");
      db.exec("CREATE TABLE tagged (id INTEGER PRIMARY KEY, a TEXT, b TEXT)");
      db.exec(`CREATE INDEX "${stem}_a" ON tagged (a)`);
      db.exec(`CREATE INDEX "${stem}_b" ON tagged (b)`);
      db.exec("INSERT INTO tagged VALUES (1, 'a', 'b')");
    },
  },
  unicodeCaseColumns: {
    about: "columns Ä and ä (differ by case outside ASCII; SQLite folds only A–Z, so it allows both)",
    build(db) {
      bystanders(db);
      db.exec('CREATE TABLE umlauts (id INTEGER PRIMARY KEY, "Ä" TEXT, "ä" TEXT)');
      db.exec("INSERT INTO umlauts VALUES (1, 'upper', 'lower')");
    },
  },
  nonAsciiNames: {
    about: "a table ÇAĞRI with a column İSİM: PostgreSQL folds only A–Z",
    build(db) {
      db.exec('CREATE TABLE "ÇAĞRI" (id INTEGER PRIMARY KEY, "İSİM" TEXT, "Durum" TEXT)');
      db.exec("INSERT INTO \"ÇAĞRI\" VALUES (1, 'x', 'açık')");
    },
  },
  invalidUtf8Key: {
    about: "invalid UTF-8 in a TEXT primary key",
    build(db) {
      bystanders(db);
      db.exec("CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT) WITHOUT ROWID");
      db.exec("INSERT INTO codes VALUES ('ok', 'fine'), (CAST(x'61ff62' AS TEXT), 'broken')");
    },
  },
  deepJson: {
    about: "100,000-deep JSON in a JSON column",
    build(db) {
      bystanders(db);
      db.exec("CREATE TABLE docs (id INTEGER PRIMARY KEY, body JSON)");
      db.prepare("INSERT INTO docs (id, body) VALUES (?, ?)").run(7, "[".repeat(100_000) + "]".repeat(100_000));
    },
  },
  orphanForeignKey: {
    about: "a message whose bot_id points at no bot (FK enforcement off)",
    build(db) {
      db.pragma("foreign_keys = OFF"); // SQLite's default; better-sqlite3 turns enforcement on
      db.exec("CREATE TABLE bots (id INTEGER PRIMARY KEY, name TEXT)");
      db.exec("CREATE TABLE messages (id INTEGER PRIMARY KEY, bot_id INTEGER REFERENCES bots(id), text TEXT)");
      db.exec("INSERT INTO bots VALUES (1, 'a')");
      db.exec("INSERT INTO messages VALUES (10, 1, 'hi'), (11, 99, 'orphan')");
    },
  },
  realTwoToThe63: {
    about: "2^63 as a REAL in an INTEGER column",
    build(db) {
      db.exec("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER)");
      db.prepare("INSERT INTO counters VALUES (?, ?)").run(1, 2 ** 63);
    },
  },
  strictAny: {
    about: "a STRICT table with an ANY column holding text, integers and reals",
    build(db) {
      db.exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v ANY) STRICT");
      db.exec("INSERT INTO kv VALUES ('a', 'text'), ('b', 1), ('c', 2.5)");
    },
  },

  // ---- files that are not an app database ----
  empty: {
    about: "a SQLite database with no tables",
    build() {},
  },
} satisfies Record<string, HostileCase>;

export type HostileName = keyof typeof HOSTILE;

/** The case's file, made fresh. */
export function hostileFile(name: HostileName): string {
  return sqliteFile((db) => HOSTILE[name].build(db), `hostile-${name}-${Math.random().toString(36).slice(2, 8)}.db`);
}

// Defaults, CHECK constraints, partial and expression indexes and COLLATE
// NOCASE, translated: each is tested by doing the same thing to the SQLite
// table and to the table pgshift made in PostgreSQL 16 and comparing — which
// INSERTs succeed, what a lookup finds, what a default fills in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import pg from "pg";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { formatPlan, migrate, planMigration } from "../../../src/engine";

let pgs: TestPostgres;
before(async () => (pgs = await startPostgres()));
after(async () => pgs?.stop());

/** Runs the same statements on both sides; returns what each did. */
async function bothSides(
  sqlitePath: string,
  url: string,
  run: (side: "sqlite" | "pg", exec: (sql: string, params?: unknown[]) => Promise<unknown[] | Error>) => Promise<void>,
) {
  const lite = new Database(sqlitePath);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await run("sqlite", async (sql, params = []) => {
      try {
        return /^\s*SELECT/i.test(sql)
          ? lite
              .prepare(sql)
              .raw(true)
              .all(...params)
          : (lite.prepare(sql).run(...params), []);
      } catch (e) {
        return e as Error;
      }
    });
    await run("pg", async (sql, params = []) => {
      let n = 0;
      try {
        return (await client.query({ text: sql.replace(/\?/g, () => `$${++n}`), values: params, rowMode: "array" })).rows;
      } catch (e) {
        return e as Error;
      }
    });
  } finally {
    lite.close();
    await client.end();
  }
}

const accounts = () =>
  sqliteFile((db) =>
    db.exec(`
      CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL COLLATE NOCASE UNIQUE,
        handle VARCHAR(8) COLLATE NOCASE,
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'banned')),
        is_admin BOOLEAN NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
        age INTEGER CHECK (age IS NULL OR age BETWEEN 13 AND 130),
        nick TEXT,
        code TEXT,
        deleted_at DATETIME,
        CONSTRAINT nick_len CHECK (length(nick) <= 5),
        CHECK (code IS NULL OR typeof(code) = 'text')
      );
      CREATE UNIQUE INDEX ux_live_nick ON accounts (nick) WHERE deleted_at IS NULL;
      CREATE UNIQUE INDEX ux_code_ci ON accounts (lower(code));
      CREATE UNIQUE INDEX ux_nick_status ON accounts (nick COLLATE NOCASE, status) WHERE is_admin = 1;
      CREATE INDEX ix_code_instr ON accounts (instr(code, 'x'));
      INSERT INTO accounts (id, email, handle, nick, code) VALUES (1, 'Ayse@Example.com', 'AyseH', 'ay', 'AbC');
    `),
  );

test("CHECK constraints, partial and expression unique indexes and COLLATE NOCASE refuse and accept the same INSERTs on both sides", async () => {
  const src = accounts();
  const plan = formatPlan(await planMigration({ source: src }));
  assert.match(plan, /email: COLLATE NOCASE → citext/);
  assert.match(plan, /\+ check constraint accounts_status_check\d: CHECK \("status" IN \('active', 'banned'\)\)/);
  assert.match(plan, /\+ check constraint nick_len: CHECK \(length\("nick"\) <= 5\)/);
  assert.match(plan, /\+ index ux_code_ci: ON "accounts" \(lower\("code"\)\)/);
  assert.match(plan, /! CHECK \(code IS NULL OR typeof\(code\) = 'text'\) is not created: it uses typeof\(\)/);
  assert.match(plan, /! index "ix_code_instr" is not created: its key instr\(code, 'x'\) uses instr\(\)/);
  const url = await pgs.createDatabase();
  const r = await migrate({ source: src, target: url });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(r.tables[0]!.warnings, undefined);

  const attempts: [string, unknown[]][] = [
    ["INSERT INTO accounts (id, email) VALUES (2, ?)", ["ayse@EXAMPLE.COM"]], // NOCASE unique
    ["INSERT INTO accounts (id, email, status) VALUES (3, ?, ?)", ["b@x", "weird"]],
    ["INSERT INTO accounts (id, email, status) VALUES (4, ?, ?)", ["c@x", "banned"]],
    ["INSERT INTO accounts (id, email, age) VALUES (5, ?, ?)", ["d@x", 5]],
    ["INSERT INTO accounts (id, email, age) VALUES (6, ?, ?)", ["e@x", 30]],
    ["INSERT INTO accounts (id, email, nick) VALUES (7, ?, ?)", ["f@x", "toolong"]],
    ["INSERT INTO accounts (id, email, nick) VALUES (8, ?, ?)", ["g@x", "ay"]], // partial unique: a live 'ay' exists
    ["INSERT INTO accounts (id, email, nick, deleted_at) VALUES (9, ?, ?, ?)", ["h@x", "ay", "2025-01-01 00:00:00"]],
    ["INSERT INTO accounts (id, email, code) VALUES (10, ?, ?)", ["i@x", "abc"]], // unique lower(code)
    ["INSERT INTO accounts (id, email, handle) VALUES (11, ?, ?)", ["j@x", "waytoolonghandle"]], // varchar(8) kept as a length check
    ["INSERT INTO accounts (id, email, nick, status, is_admin) VALUES (12, ?, 'Zed', 'active', 1)", ["k@x"]],
    ["INSERT INTO accounts (id, email, nick, status, is_admin) VALUES (13, ?, 'zED', 'active', 1)", ["l@x"]], // NOCASE key of a partial unique index
  ];
  const outcome: Record<string, boolean[]> = { sqlite: [], pg: [] };
  const lookups: Record<string, unknown[]> = { sqlite: [], pg: [] };
  await bothSides(src, url, async (side, exec) => {
    for (const [sql, params] of attempts) {
      // SQLite takes 1 for a boolean; PostgreSQL's boolean column takes the same text.
      const res = await exec(side === "pg" ? sql.replace(/, 1\)$/, ", true)") : sql, params);
      outcome[side]!.push(!(res instanceof Error));
    }
    lookups[side]!.push(await exec("SELECT id FROM accounts WHERE email = 'AYSE@example.COM'"));
    lookups[side]!.push(await exec("SELECT id FROM accounts WHERE email LIKE 'ayse%'"));
    lookups[side]!.push(await exec("SELECT id FROM accounts WHERE handle = 'ayseh'"));
  });
  // The one intended difference: SQLite does not enforce VARCHAR(8); PostgreSQL does, as pgshift's cast rule says.
  assert.deepEqual([outcome.sqlite![9], outcome.pg![9]], [true, false]);
  const except9 = (xs: boolean[]) => xs.filter((_, i) => i !== 9);
  assert.deepEqual(except9(outcome.pg!), except9(outcome.sqlite!), "the same INSERTs succeed on both sides");
  assert.deepEqual(outcome.pg, [false, false, true, false, true, false, false, true, false, false, true, false]);
  assert.deepEqual(lookups.pg!.map(String), lookups.sqlite!.map(String), "case-insensitive lookups find the same rows");
  assert.deepEqual(lookups.pg!.map(String), ["1", "1", "1"]);
});

test("CHECKs and partial-index WHEREs comparing a COLLATE NOCASE column with strings ignore case in PostgreSQL too (citext's operators are outside the engine's search_path)", async () => {
  const src = sqliteFile((db) =>
    db.exec(`
      CREATE TABLE tags (
        id INTEGER PRIMARY KEY,
        kind TEXT COLLATE NOCASE CHECK (kind IN ('red', 'blue') OR 'x' = kind OR kind BETWEEN 'm' AND 'n'),
        label TEXT COLLATE NOCASE CHECK (label <> 'forbidden'),
        live INTEGER
      );
      CREATE UNIQUE INDEX ux_live_red ON tags (live) WHERE kind = 'red';
      INSERT INTO tags VALUES (1, 'RED', 'a', 1), (2, 'X', 'b', 2), (3, 'Mo', 'c', 3);`),
  );
  const url = await pgs.createDatabase();
  const r = await migrate({ source: src, target: url });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(r.tables[0]!.warnings, undefined);
  const attempts: [string, unknown[]][] = [
    ["INSERT INTO tags VALUES (10, ?, 'z', 10)", ["Blue"]],
    ["INSERT INTO tags VALUES (11, ?, 'z', 11)", ["green"]],
    ["INSERT INTO tags VALUES (12, 'blue', ?, 12)", ["FORBIDDEN"]],
    ["INSERT INTO tags VALUES (13, ?, 'z', 1)", ["rEd"]], // the partial unique index: a red row with live = 1 exists
    ["INSERT INTO tags VALUES (14, ?, 'z', 1)", ["blue"]],
  ];
  const outcome: Record<string, boolean[]> = { sqlite: [], pg: [] };
  await bothSides(src, url, async (side, exec) => {
    for (const [sql, params] of attempts) outcome[side]!.push(!((await exec(sql, params)) instanceof Error));
  });
  assert.deepEqual(outcome.sqlite, [true, false, false, false, true]);
  assert.deepEqual(outcome.pg, outcome.sqlite, "the same INSERTs succeed on both sides");
});

test("a translated expression PostgreSQL cannot type is left out with a warning, not a failed table", async () => {
  const src = sqliteFile((db) =>
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, at DATETIME CHECK (at > 0)); INSERT INTO t VALUES (1, '2025-01-01 00:00:00')"),
  );
  const r = await migrate({ source: src, target: await pgs.createDatabase() });
  assert.equal(r.ok, true);
  assert.match(
    r.tables[0]!.warnings!.join(""),
    /CHECK \(at > 0\) was not created: PostgreSQL did not accept the translation \(operator does not exist: timestamp without time zone > integer\)/,
  );
});

test("a row that violates a translated CHECK fails its table, naming the constraint", async () => {
  const src = sqliteFile((db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0))");
    db.pragma("ignore_check_constraints = ON");
    db.exec("INSERT INTO t VALUES (1, -5)");
  });
  await assert.rejects(migrate({ source: src, target: await pgs.createDatabase() }), /The translated CHECK \(n > 0\) of "t" refuses rows SQLite holds/);
});

test("SQLite's common defaults fill in the same kind of value on both sides", async () => {
  const src = sqliteFile((db) =>
    db.exec(`CREATE TABLE d (
      id INTEGER PRIMARY KEY,
      created TEXT DEFAULT (datetime('now')),
      iso TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
      day TEXT DEFAULT (date('now')),
      epoch INTEGER DEFAULT (strftime('%s','now')),
      token TEXT DEFAULT (lower(hex(randomblob(16)))),
      upper_token TEXT DEFAULT (hex(randomblob(16))),
      ts DATETIME DEFAULT CURRENT_TIMESTAMP,
      flag BOOLEAN DEFAULT 1,
      ratio REAL DEFAULT -0.5,
      label TEXT DEFAULT 'it''s',
      doc JSON DEFAULT '{}',
      raw BLOB DEFAULT X'00FF',
      epoch_cast INTEGER DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
    )`),
  );
  const plan = await planMigration({ source: src });
  assert.deepEqual(
    plan.tables[0]!.notes.filter((n) => /default/.test(n)),
    [],
    "every default kept",
  );
  const url = await pgs.createDatabase();
  await migrate({ source: src, target: url });
  const rows: Record<string, unknown[]> = {};
  const select = "SELECT created, iso, day, epoch, token, upper_token, ts, flag, ratio, label, doc, raw, epoch_cast FROM d";
  await bothSides(src, url, async (side, exec) => {
    await exec("INSERT INTO d (id) VALUES (1)");
    const got = (await exec(
      side === "pg"
        ? select
            .replace("ts,", "to_char(ts, 'YYYY-MM-DD HH24:MI:SS') AS ts,")
            .replace("flag,", "flag::int,")
            .replace("doc,", "doc::text,")
            .replace("raw", "encode(raw, 'hex')")
        : select.replace("raw", "hex(raw)"),
    )) as unknown[][];
    rows[side] = got[0]!;
  });
  const [l, p] = [rows.sqlite!, rows.pg!];
  const close = (a: unknown, b: unknown) =>
    Math.abs(
      Date.parse(String(a).replace(" ", "T") + (String(a).endsWith("Z") ? "" : "Z")) -
        Date.parse(String(b).replace(" ", "T") + (String(b).endsWith("Z") ? "" : "Z")),
    ) < 5000;
  const shapes = [/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, /^\d{4}-\d\d-\d\d$/];
  shapes.forEach((re, i) => {
    assert.match(String(l[i]), re, `SQLite column ${i}`);
    assert.match(String(p[i]), re, `PostgreSQL column ${i}: ${p[i]}`);
  });
  assert.ok(close(l[0], p[0]) && close(l[1], p[1]) && close(l[6], p[6]), `the same moment: ${l} / ${p}`);
  assert.equal(l[2], p[2]);
  assert.ok(Math.abs(Number(l[3]) - Number(p[3])) <= 5, `epoch seconds: ${l[3]} / ${p[3]}`);
  assert.match(String(l[4]), /^[0-9a-f]{32}$/);
  assert.match(String(p[4]), /^[0-9a-f]{32}$/);
  assert.notEqual(p[4], l[4]);
  assert.match(String(p[5]), /^[0-9A-F]{32}$/);
  assert.deepEqual(p.slice(7, 12).map(String), ["1", "-0.5", "it's", "{}", "00ff"]);
  assert.deepEqual(l.slice(7, 12).map(String), ["1", "-0.5", "it's", "{}", "00FF"]);
  assert.ok(p[12] !== null && Math.abs(Number(l[12]) - Number(p[12])) <= 5, `CAST(strftime('%s','now') AS INTEGER): ${l[12]} / ${p[12]}`);
});

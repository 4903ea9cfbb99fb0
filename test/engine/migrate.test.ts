// migrate() against a real PostgreSQL 16, on a chat-app database like the seed
// guide's: every value read back, re-runs, refresh, conflicts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { createSampleAppDb } from "../../scripts/sample-app-db";
import { migrate, LoadError, TargetConflictError } from "../../src/engine";
import { sqliteFile } from "../helpers/sqlite";

let pg: TestPostgres;
let app: string;
before(async () => {
  pg = await startPostgres();
  app = join(mkdtempSync(join(tmpdir(), "pgshift-app-")), "app.db");
  createSampleAppDb(app, { messages: 2000 });
});
after(async () => pg?.stop());

test("the chat app's data arrives exactly, with types, keys, indexes and foreign keys", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  const report = await migrate({ source: app, target: url });
  assert.equal(report.ok, true);
  assert.ok(typeof report.verifyMs === "number" && report.verifyMs >= 0 && report.verifyMs <= report.durationMs, "the report says how long verification took");
  const steps = report.steps!.map((s) => s.step);
  assert.deepEqual(steps, ["connect and plan", "snapshot", "decide", "load", "foreign keys", "verify", "fingerprint"], "the report says where the time went");
  assert.ok(report.steps!.reduce((n, s) => n + s.ms, 0) <= report.durationMs);
  const analyzed = await pg.query<{ relname: string }>("SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'public' AND last_analyze IS NULL", [], db);
  assert.deepEqual(analyzed, [], "every loaded table was analyzed");
  const src = new Database(app, { readonly: true });
  for (const t of report.tables) {
    const n = (src.prepare(`SELECT count(*) AS n FROM "${t.source}"`).get() as { n: number }).n;
    const [row] = await pg.query<{ n: string }>(`SELECT count(*) AS n FROM "${t.target}"`, [], db);
    assert.equal(Number(row!.n), n, `row count of ${t.source}`);
    assert.equal(t.action, "loaded");
    assert.equal(t.verifiedBy, "copy digest", `${t.source} reads back byte for byte as sent`);
  }
  // JSON column holding bare numbers and strings (what broke pgloader) → jsonb values
  const settings = await pg.query<{ key: string; value: unknown; t: string }>("SELECT key, value, jsonb_typeof(value) AS t FROM settings ORDER BY key", [], db);
  const byKey = new Map(settings.map((s) => [s.key, s]));
  assert.equal(byKey.get("typing_delay_factor")!.value, 0.35);
  assert.equal(byKey.get("typing_delay_factor")!.t, "number");
  assert.equal(byKey.get("message_length_profile")!.value, "medium");
  assert.deepEqual(byKey.get("topic_weights")!.value, { faiz: 0.3, altın: 0.25, kripto: 0.45 });
  // booleans 0/1 → boolean, DATETIME text → timestamp with microseconds kept
  const types = await pg.query<{ column_name: string; data_type: string }>(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'bots' ORDER BY ordinal_position",
    [],
    db,
  );
  assert.deepEqual(Object.fromEntries(types.map((r) => [r.column_name, r.data_type])), {
    id: "bigint",
    name: "character varying",
    username: "character varying",
    persona_profile: "jsonb",
    emotion_profile: "jsonb",
    is_enabled: "boolean",
    created_at: "timestamp without time zone",
  });
  const srcMsg = src.prepare("SELECT id, text, created_at FROM messages WHERE id = 777").get() as { id: number; text: string; created_at: string };
  const [m] = await pg.query<{ text: string; ts: string }>(
    "SELECT text, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US') AS ts FROM messages WHERE id = 777",
    [],
    db,
  );
  assert.equal(m!.text, srcMsg.text, "emoji and Turkish text survive");
  assert.ok(srcMsg.created_at.startsWith(m!.ts.replace(/0+$/, "").replace(/\.$/, "")), `${srcMsg.created_at} vs ${m!.ts}`);
  // keys and constraints
  const cons = await pg.query<{ conname: string; contype: string; def: string }>(
    "SELECT conname, contype, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'messages'::regclass ORDER BY conname",
    [],
    db,
  );
  const defs = cons.map((c) => `${c.contype} ${c.def}`);
  assert.ok(defs.includes("p PRIMARY KEY (id)"), defs.join("; "));
  assert.ok(
    defs.some((d) => d === "f FOREIGN KEY (bot_id) REFERENCES bots(id) ON DELETE CASCADE"),
    defs.join("; "),
  );
  assert.ok(
    defs.some((d) => d === "f FOREIGN KEY (reply_to_message_id) REFERENCES messages(id) ON DELETE SET NULL"),
    defs.join("; "),
  );
  const idx = await pg.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'messages'", [], db);
  assert.ok(idx.some((i) => i.indexname === "ix_messages_bot_created"));
  const uq = await pg.query("SELECT 1 FROM pg_constraint WHERE conrelid = 'bot_stances'::regclass AND contype = 'u'", [], db);
  assert.equal(uq.length, 1, "composite UNIQUE (bot_id, topic) kept");
  // NOT NULL and defaults kept
  const [nn] = await pg.query<{ is_nullable: string; column_default: string }>(
    "SELECT is_nullable, column_default FROM information_schema.columns WHERE table_name = 'bots' AND column_name = 'is_enabled'",
    [],
    db,
  );
  assert.equal(nn!.is_nullable, "NO");
  assert.equal(nn!.column_default, "true");
  // sequences continue after the highest id: the app's next INSERT works
  const max = (src.prepare("SELECT max(id) AS m FROM messages").get() as { m: number }).m;
  const [ins] = await pg.query<{ id: string }>("INSERT INTO messages (bot_id, chat_id, text) VALUES (1, 1, 'yeni mesaj 🚀') RETURNING id", [], db);
  assert.equal(Number(ins!.id), max + 1);
  src.close();
});

test("a re-run after success verifies and changes nothing", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  await migrate({ source: app, target: url });
  const before = await pg.query<{ loaded_at: string }>("SELECT loaded_at::text FROM pgshift.loads ORDER BY target_table", [], db);
  const again = await migrate({ source: app, target: url });
  assert.equal(again.ok, true);
  assert.deepEqual(
    again.tables.map((t) => t.action),
    again.tables.map(() => "kept"),
  );
  const after = await pg.query<{ loaded_at: string }>("SELECT loaded_at::text FROM pgshift.loads ORDER BY target_table", [], db);
  assert.deepEqual(after, before);
  const [n] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM messages", [], db);
  assert.equal(Number(n!.n), 2000);
});

test("a changed source is refused without --refresh, and reloaded exactly once with it", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  const copy = join(mkdtempSync(join(tmpdir(), "pgshift-app-")), "app.db");
  createSampleAppDb(copy, { messages: 300 });
  await migrate({ source: copy, target: url });
  const w = new Database(copy);
  w.prepare("INSERT INTO messages (bot_id, chat_id, text, created_at) VALUES (2, 2, 'sonradan eklendi', '2025-11-05 10:00:00')").run();
  w.prepare("UPDATE bots SET name = 'Yeni İsim' WHERE id = 3").run();
  w.close();
  await assert.rejects(migrate({ source: copy, target: url }), (e: unknown) => e instanceof TargetConflictError && /--refresh/.test((e as Error).message));
  const r = await migrate({ source: copy, target: url, refresh: true });
  assert.equal(r.ok, true);
  // Tables with an integer key are synced (only changed ranges copied again, test/engine/delta.test.ts); others reloaded whole.
  assert.ok(
    r.tables.every((t) => (t.action === "synced" && t.copiedRows! < t.sourceRows) || (t.action === "reloaded" && t.copiedRows === t.sourceRows)),
    JSON.stringify(r.tables.map((t) => [t.source, t.action, t.copiedRows])),
  );
  assert.ok(r.tables.some((t) => t.action === "synced"));
  const steps = r.steps!.map((s) => s.step);
  for (const step of [
    "refresh: decide",
    "refresh: SQLite digest scan",
    "refresh: compare with PostgreSQL and re-copy",
    "refresh: foreign keys restored",
    "verify",
  ])
    assert.ok(steps.includes(step), `the refresh's report times "${step}": ${steps.join(", ")}`);
  const [n] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM messages", [], db);
  assert.equal(Number(n!.n), 301);
  const [b] = await pg.query<{ name: string }>("SELECT name FROM bots WHERE id = 3", [], db);
  assert.equal(b!.name, "Yeni İsim");
  const again = await migrate({ source: copy, target: url, refresh: true });
  // A refresh always brings PostgreSQL level, also from an unchanged file: keyed tables find no differing range.
  assert.ok(
    again.tables.every((t) => (t.action === "synced" && t.copiedRows === 0) || (t.action === "reloaded" && /key/.test(t.refresh!))),
    JSON.stringify(again.tables.map((t) => [t.source, t.action, t.copiedRows, t.refresh])),
  );
  const fks = await pg.query("SELECT 1 FROM pg_constraint WHERE contype = 'f' AND conrelid = 'messages'::regclass", [], db);
  assert.equal(fks.length, 3, "foreign keys restored after the reload");
});

test("a target table pgshift did not create is never overwritten unless asked", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  await pg.query("CREATE TABLE settings (key text PRIMARY KEY, value text); INSERT INTO settings VALUES ('mine', 'keep me')", [], db);
  await assert.rejects(migrate({ source: app, target: url }), (e: unknown) => e instanceof TargetConflictError && /settings/.test((e as Error).message));
  const rows = await pg.query<{ key: string }>("SELECT key FROM settings", [], db);
  assert.deepEqual(
    rows.map((r) => r.key),
    ["mine"],
  );
  const tables = await pg.query("SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = 'messages'", [], db);
  assert.equal(tables.length, 0, "nothing else was written either");
  const r = await migrate({ source: app, target: url, overwrite: true });
  assert.equal(r.ok, true);
  const [n] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM settings", [], db);
  assert.equal(Number(n!.n), 24);
});

test("--schema existing loads into tables the app's migrations made, converting to their types", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  await pg.query(
    `
    CREATE TABLE bots (id serial PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, username varchar(100), persona_profile json,
      emotion_profile jsonb, is_enabled boolean NOT NULL DEFAULT true, created_at timestamptz NOT NULL DEFAULT now(), extra text);
    CREATE TABLE bot_holdings (id serial PRIMARY KEY, bot_id integer NOT NULL REFERENCES bots(id), symbol varchar(20) NOT NULL,
      avg_price numeric(18,6), size numeric(18,6), note text, updated_at timestamp NOT NULL);`,
    [],
    db,
  );
  const r = await migrate({ source: app, target: url, schema: "existing", tables: ["bots", "bot_holdings"] });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  const [b] = await pg.query<{ n: string; extra: string | null }>("SELECT count(*) AS n, max(extra) AS extra FROM bots", [], db);
  assert.equal(Number(b!.n), 54);
  const [ins] = await pg.query<{ id: number }>("INSERT INTO bots (name) VALUES ('after cutover') RETURNING id", [], db);
  assert.equal(ins!.id, 55, "serial sequence moved past the copied ids");
});

test("a row changed on its way in (an app trigger) fails the digest; the rows are compared and the changed one is named", async () => {
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  await pg.query(
    `
    CREATE TABLE bots (id serial PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, username varchar(100), persona_profile jsonb,
      emotion_profile jsonb, is_enabled boolean NOT NULL DEFAULT true, created_at timestamp NOT NULL DEFAULT now());
    CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.id = 7 THEN NEW.username := upper(NEW.username) || '!'; END IF; RETURN NEW; END $$;
    CREATE TRIGGER shout BEFORE INSERT ON bots FOR EACH ROW EXECUTE FUNCTION shout();`,
    [],
    db,
  );
  const r = await migrate({ source: app, target: url, schema: "existing", tables: ["bots"] });
  const bots = r.tables.find((t) => t.source === "bots")!;
  assert.equal(r.ok, false);
  assert.equal(bots.verifiedBy, "key order", "fell back to comparing rows with SQLite");
  assert.equal(bots.differences.length, 1);
  assert.deepEqual(bots.differences[0]!.key, { id: "7" });
  assert.equal(bots.differences[0]!.problem, "values differ");
  assert.deepEqual(
    bots.differences[0]!.columns!.map((c) => c.column),
    ["username"],
  );
});

test("a row an app trigger rejects (RAISE) is named with the trigger's function, the table and the key, not as a cast to override", async () => {
  const source = sqliteFile((db) => {
    db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, note TEXT)");
    const ins = db.prepare("INSERT INTO orders VALUES (?, ?, ?)");
    for (let i = 1; i <= 50; i++) ins.run(i, i === 37 ? -5 : i * 10, `order ${i}`);
  });
  for (const [timing, code, raise] of [
    ["BEFORE", "P0001", "RAISE EXCEPTION 'amount must be positive, got %', NEW.amount"],
    ["BEFORE", "23514", "RAISE EXCEPTION 'amount must be positive' USING ERRCODE = 'check_violation'"],
    ["AFTER", "P0001", "RAISE EXCEPTION 'amount must be positive, got %', NEW.amount"],
  ] as const) {
    const url = await pg.createDatabase();
    const db = url.split("/").pop();
    await pg.query(
      `CREATE TABLE orders (id bigint PRIMARY KEY, amount bigint NOT NULL, note text);
       CREATE FUNCTION orders_guard() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.amount < 0 THEN ${raise}; END IF; RETURN NEW; END $$;
       CREATE TRIGGER orders_guard ${timing} INSERT ON orders FOR EACH ROW EXECUTE FUNCTION orders_guard();`,
      [],
      db,
    );
    await assert.rejects(migrate({ source, target: url, schema: "existing" }), (err: unknown) => {
      assert.ok(err instanceof LoadError, String(err));
      assert.equal(err.exitCode, 2);
      assert.equal(err.table, "orders");
      // An AFTER trigger fires once every row is in: PostgreSQL names no line then, and no row is guessed.
      const row = timing === "BEFORE" ? ", row id=37" : " \\(PostgreSQL names no row: an AFTER trigger";
      assert.match(
        err.message,
        new RegExp(
          `PostgreSQL's own code rejected a row of table "orders"${row}.*: the PL/pgSQL function public\\.orders_guard\\(\\) raised "amount must be positive`,
        ),
      );
      assert.match(err.message, new RegExp(`\\(${code}\\)`));
      assert.match(err.message, /fix the row in SQLite, or the trigger or function in PostgreSQL/);
      assert.doesNotMatch(err.message, /override the column's cast, then/);
      return true;
    });
    const [n] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM orders", [], db);
    assert.equal(Number(n!.n), 0, "nothing written");
  }
});

test("--schema existing, a key that allows NULL on both sides: rows with a NULL key verify (SQLite sorts them first, PostgreSQL last), and a changed one is named", async () => {
  // SQLite lets a PRIMARY KEY that is not INTEGER PRIMARY KEY hold NULL; the app's PostgreSQL table lets it too.
  const source = sqliteFile((db) => {
    db.exec("CREATE TABLE codes (id INT PRIMARY KEY, v TEXT)");
    db.exec("INSERT INTO codes VALUES (NULL, 'first null'), (-3, 'minus'), (1, 'a'), (NULL, 'second null'), (2, 'b')");
  });
  const url = await pg.createDatabase();
  const db = url.split("/").pop();
  await pg.query("CREATE TABLE codes (id bigint UNIQUE, v text)", [], db);
  const r = await migrate({ source, target: url, schema: "existing" });
  const codes = r.tables.find((t) => t.source === "codes")!;
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(codes.targetRows, 5);
  await pg.query("UPDATE codes SET v = 'changed' WHERE v = 'second null'", [], db);
  const again = await migrate({ source, target: url, schema: "existing" });
  const diffs = again.tables.find((t) => t.source === "codes")!.differences;
  assert.equal(again.ok, false);
  assert.deepEqual(
    diffs.map((d) => [d.key, d.problem]),
    [
      [{ id: "NULL" }, "extra in PostgreSQL"],
      [{ id: "NULL" }, "missing in PostgreSQL"],
    ],
  );
});

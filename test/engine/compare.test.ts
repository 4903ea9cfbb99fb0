// Verification by digest of what was sent: a big table's digest comes in key
// ranges read back over several connections, and together they still prove
// every byte, so any row changed, added or removed in any range is caught.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import { migrate, LoadError } from "../../src/engine";
import { copyTable, MIN_PART_ROWS, type CopyResult } from "../../src/engine/postgres/copy";
import { session } from "../../src/engine/migrate";
import { planMigration, type TablePlan } from "../../src/engine/plan";
import { createTableSql } from "../../src/engine/postgres/schema";
import { tableReader } from "../../src/engine/sqlite/source";
import { verifyPart } from "../../src/engine/compare";

let pg: TestPostgres;
// Room past two parts for a chunk of rows (thousands of these short rows) on either side of the split.
const ROWS = 2 * MIN_PART_ROWS + 20_000;
let src: string;
before(async () => {
  pg = await startPostgres();
  src = sqliteFile((db) => {
    db.exec("CREATE TABLE m (id INTEGER PRIMARY KEY, body TEXT NOT NULL, n REAL)");
    const ins = db.prepare("INSERT INTO m VALUES (?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) ins.run(i * 3, `row ${i}\twith a tab`, i % 7 === 0 ? null : i / 8);
    })();
  });
});
after(async () => pg?.stop());

/** Loads the table into a fresh database with the digest split into `parts`; returns what was sent and a client on it. */
async function load(parts: number, binary = false): Promise<{ sent: CopyResult; t: TablePlan; client: Awaited<ReturnType<typeof session>> }> {
  const url = await pg.createDatabase();
  const plan = await planMigration({ source: src });
  const t = plan.tables[0]!;
  const client = await session(url);
  const db = new Database(src, { readonly: true });
  try {
    await client.query(createTableSql("public", t));
    const sent = await copyTable(client, "public", t, tableReader(db, t), undefined, undefined, parts, binary);
    return { sent, t, client };
  } finally {
    db.close();
  }
}

const allParts = async (client: Awaited<ReturnType<typeof session>>, t: TablePlan, sent: CopyResult) =>
  Promise.all(sent.parts.map((_, i) => verifyPart(client, "public", t, sent, i)));

test("a big table's digest is split at integer keys into consecutive parts, each proven by reading its key range back", async () => {
  const { sent, t, client } = await load(2);
  try {
    assert.equal(sent.rows, ROWS);
    assert.equal(sent.parts.length, 2, "two parts for two connections");
    assert.equal(sent.parts[0]!.from, undefined);
    assert.match(sent.parts[1]!.from!, /^\d+$/);
    assert.equal(sent.parts[0]!.rows + sent.parts[1]!.rows, ROWS);
    assert.ok(sent.parts[0]!.rows >= MIN_PART_ROWS && sent.parts[1]!.rows >= MIN_PART_ROWS, JSON.stringify(sent.parts));
    const first = Number(sent.parts[1]!.from);
    const [below] = await client.query<{ n: string }>(`SELECT count(*) AS n FROM public.m WHERE id < ${first}`).then((r) => r.rows);
    assert.equal(Number(below!.n), sent.parts[0]!.rows, "the second part starts at the key of the row after the first part's last");
    assert.deepEqual(await allParts(client, t, sent), [true, true]);
  } finally {
    await client.end();
  }
});

test("binary tuples are split at the same kind of key and each part reads back in binary; a changed value fails its part", async () => {
  const { sent, t, client } = await load(2, true);
  try {
    assert.equal(sent.format, "binary");
    assert.equal(sent.parts.length, 2);
    assert.equal(sent.parts[0]!.rows + sent.parts[1]!.rows, ROWS);
    const first = Number(sent.parts[1]!.from);
    const [below] = await client.query<{ n: string }>(`SELECT count(*) AS n FROM public.m WHERE id < ${first}`).then((r) => r.rows);
    assert.equal(Number(below!.n), sent.parts[0]!.rows, "the second part starts at the first binary tuple's key");
    assert.deepEqual(await allParts(client, t, sent), [true, true]);
    await client.query(`UPDATE public.m SET n = n + 1 WHERE id = ${first + 3}`);
    assert.deepEqual(await allParts(client, t, sent), [true, false]);
  } finally {
    await client.end();
  }
});

test("one part when asked for one (--jobs 1)", async () => {
  const { sent, t, client } = await load(1);
  try {
    assert.equal(sent.parts.length, 1);
    assert.equal(sent.parts[0]!.rows, ROWS);
    assert.deepEqual(await allParts(client, t, sent), [true]);
  } finally {
    await client.end();
  }
});

test("a changed, an extra, a missing row or a NULL key in any part fails that part only", async () => {
  const { sent, t, client } = await load(2);
  try {
    // No key or NOT NULL in the way: PostgreSQL holding such rows must still be caught.
    await client.query("ALTER TABLE public.m DROP CONSTRAINT IF EXISTS m_pkey, ALTER COLUMN id DROP IDENTITY IF EXISTS, ALTER COLUMN id DROP NOT NULL");
    const from = Number(sent.parts[1]!.from);
    const cases: [string, string, boolean[]][] = [
      ["a value changed in the second part", `UPDATE public.m SET body = body || '!' WHERE id = ${from + 30}`, [true, false]],
      ["a value changed in the first part", `UPDATE public.m SET n = n + 1 WHERE id = 300`, [false, true]],
      ["an extra row between two keys of the first part", `INSERT INTO public.m VALUES (301, 'x', 1)`, [false, true]],
      ["an extra row past the last key", `INSERT INTO public.m VALUES (${ROWS * 3 + 1}, 'x', 1)`, [true, false]],
      ["a row whose key is NULL", `INSERT INTO public.m VALUES (NULL, 'x', 1)`, [true, false]],
      ["the first row of the second part missing", `DELETE FROM public.m WHERE id = ${from}`, [true, false]],
      ["the first part's last row moved into the second", `UPDATE public.m SET id = ${from + 1} WHERE id = ${from - 3}`, [false, false]],
    ];
    for (const [what, change, expected] of cases) {
      await client.query("BEGIN");
      await client.query(change);
      assert.deepEqual(await Promise.all(sent.parts.map((_, i) => verifyPart(client, "public", t, sent, i))), expected, what);
      await client.query("ROLLBACK");
    }
    assert.deepEqual(await allParts(client, t, sent), [true, true], "unchanged again");
  } finally {
    await client.end();
  }
});

test("migrate proves a big table by its parts; a row changed in PostgreSQL falls back to comparing rows and names it", async () => {
  const url = await pg.createDatabase();
  const r = await migrate({ source: src, target: url, jobs: 2 });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.equal(r.tables[0]!.verifiedBy, "copy digest");
  assert.equal(r.tables[0]!.targetRows, ROWS);
  // An app trigger changing one row of the second half on its way in.
  const url2 = await pg.createDatabase();
  const db = url2.split("/").pop();
  const last = ROWS * 3;
  await pg.query(
    `CREATE TABLE m (id bigint PRIMARY KEY, body text NOT NULL, n double precision);
     CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = ${last - 30} THEN NEW.body := NEW.body || '!'; END IF; RETURN NEW; END $$;
     CREATE TRIGGER bump BEFORE INSERT ON m FOR EACH ROW EXECUTE FUNCTION bump();`,
    [],
    db,
  );
  const r2 = await migrate({ source: src, target: url2, schema: "existing", jobs: 2 });
  assert.equal(r2.ok, false);
  assert.equal(r2.tables[0]!.verifiedBy, "key order");
  assert.deepEqual(
    r2.tables[0]!.differences.map((d) => [d.key, d.problem]),
    [[{ id: String(last - 30) }, "values differ"]],
  );
});

test("a table's read-back starts as soon as its load commits, while the next table loads; a later table failing still ends every read", async () => {
  const two = sqliteFile((db) => {
    db.exec(
      "CREATE TABLE a (id INTEGER PRIMARY KEY, body TEXT NOT NULL); CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id), p NUMERIC(4,2))",
    );
    const ins = db.prepare("INSERT INTO a VALUES (?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= 5000; i++) ins.run(i, `row ${i}`);
    })();
    db.exec("INSERT INTO b VALUES (1, 1, 1.5), (2, 2, 2.5)");
  });
  const events: string[] = [];
  const url = await pg.createDatabase();
  const r = await migrate({ source: two, target: url, jobs: 1, onProgress: (e) => events.push(`${e.table} ${e.phase}`) });
  assert.equal(r.ok, true, JSON.stringify(r.tables));
  assert.deepEqual(
    r.tables.map((t) => [t.target, t.verifiedBy]),
    [
      ["a", "copy digest"],
      ["b", "copy digest"],
    ],
  );
  assert.ok(events.indexOf("a verify") >= 0 && events.indexOf("a verify") < events.indexOf("b copy"), events.join(", "));
  assert.ok(events.indexOf("a done") > events.indexOf("b foreign keys"), "the report's order stays: done after the foreign keys");

  // b refuses a value: the run fails, and a's read-back, already under way, has ended with it.
  const bad = sqliteFile((db) => {
    db.exec("CREATE TABLE a (id INTEGER PRIMARY KEY, body TEXT NOT NULL); CREATE TABLE b (id INTEGER PRIMARY KEY, p NUMERIC(4,2))");
    const ins = db.prepare("INSERT INTO a VALUES (?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= 5000; i++) ins.run(i, `row ${i}`);
    })();
    db.exec("INSERT INTO b VALUES (1, 1.5), (2, 12345.5)");
  });
  const url2 = await pg.createDatabase();
  const seen: string[] = [];
  await assert.rejects(
    migrate({ source: bad, target: url2, jobs: 1, onProgress: (e) => seen.push(`${e.table} ${e.phase}`) }),
    (e: unknown) => e instanceof LoadError && /row id=2/.test((e as Error).message),
  );
  assert.ok(seen.includes("a verify"), seen.join(", "));
  const db2 = url2.split("/").pop()!;
  const [open] = await pg.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [db2]);
  assert.equal(Number(open!.n), 0, "no session of the failed run is left reading");
});

// Tables loading in parallel are read and converted in worker threads
// (src/engine/read-workers.ts): the rows arrive exactly as from the main
// thread, and a refused value still stops its table with the same error class,
// naming table, key and column, with nothing of the table written.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { sqliteFile } from "../helpers/sqlite";
import { migrate, ValueConversionError } from "../../src/engine";
import { ReadWorkers } from "../../src/engine/read-workers";

let pg: TestPostgres;
before(async () => (pg = await startPostgres()));
after(async () => pg?.stop());

/** Counts the tables handed to read workers (the decision is the engine's: several big tables at once). */
function countWorkerTables(): { n: number; restore: () => void } {
  const original = ReadWorkers.prototype.chunks;
  const counter = { n: 0, restore: () => void (ReadWorkers.prototype.chunks = original) };
  ReadWorkers.prototype.chunks = function (this: ReadWorkers, ...args: Parameters<typeof original>) {
    counter.n++;
    return original.apply(this, args);
  };
  return counter;
}

function twoBigTables(bad?: { table: string; id: number }): string {
  return sqliteFile((db) => {
    for (const name of ["events", "notes"]) {
      db.exec(`CREATE TABLE ${name} (id INTEGER PRIMARY KEY, at DATETIME NOT NULL, body TEXT, meta JSON, score REAL)`);
      const ins = db.prepare(`INSERT INTO ${name} VALUES (?, ?, ?, ?, ?)`);
      db.transaction(() => {
        for (let i = 1; i <= 25_000; i++) {
          const at = bad?.table === name && bad.id === i ? "2025-13-01 00:00:00" : `2025-01-${String((i % 28) + 1).padStart(2, "0")} 10:00:00.${i % 1000}`;
          ins.run(i, at, `${name} #${i} ✓ çğ 😀\ttab`, i % 2 ? `{"n": ${i}, "a": [1.50, "x"]}` : null, i / 7);
        }
      })();
    }
  });
}

test("two big tables convert in read workers and arrive exactly (proven by the copy digest)", async () => {
  const counter = countWorkerTables();
  try {
    const url = await pg.createDatabase();
    const r = await migrate({ source: twoBigTables(), target: url, jobs: 2 });
    assert.equal(counter.n, 2, "both tables went through read workers");
    assert.equal(r.ok, true);
    for (const t of r.tables) {
      assert.equal(t.targetRows, 25_000);
      assert.equal(t.verifiedBy, "copy digest");
    }
    const [row] = await pg.query<{ body: string; meta: unknown }>("SELECT body, meta FROM notes WHERE id = 7", [], url.split("/").pop());
    assert.deepEqual(row, { body: "notes #7 ✓ çğ 😀\ttab", meta: { n: 7, a: [1.5, "x"] } });
  } finally {
    counter.restore();
  }
});

test("a value refused inside a read worker names table, key and column, and writes nothing of that table", async () => {
  const counter = countWorkerTables();
  try {
    const url = await pg.createDatabase();
    await assert.rejects(migrate({ source: twoBigTables({ table: "notes", id: 24_321 }), target: url, jobs: 2 }), (err: unknown) => {
      assert.ok(err instanceof ValueConversionError, String(err));
      assert.equal(err.exitCode, 2);
      assert.match(err.message, /table "notes", row id=24321, column "at": an impossible date/);
      return true;
    });
    assert.ok(counter.n >= 1);
    const tables = await pg.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = 'notes'", [], url.split("/").pop());
    assert.deepEqual(tables, [], "nothing of notes was written");
  } finally {
    counter.restore();
  }
});

test("rows lost on the way (a chunk dropped between worker and COPY) fail verification, naming missing keys", async () => {
  const original = ReadWorkers.prototype.chunks;
  ReadWorkers.prototype.chunks = async function* (this: ReadWorkers, ...args: Parameters<typeof original>) {
    let k = 0;
    for await (const c of original.apply(this, args)) if (k++ !== 1) yield c; // the second chunk never reaches PostgreSQL
  };
  try {
    const url = await pg.createDatabase();
    const r = await migrate({ source: twoBigTables(), target: url, jobs: 2 });
    assert.equal(r.ok, false, "a copy missing rows is never reported as a success");
    for (const t of r.tables) {
      assert.equal(t.verifiedBy, "key order", "the digest of what was sent is not trusted when fewer rows were sent than the snapshot holds");
      assert.equal(t.sourceRows, 25_000);
      assert.ok(t.targetRows < 25_000);
      assert.equal(t.differences[0]!.problem, "missing in PostgreSQL");
    }
  } finally {
    ReadWorkers.prototype.chunks = original;
  }
});

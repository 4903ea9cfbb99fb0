// Tables loading in parallel are read and converted in worker threads
// (src/engine/sqlite/read-workers.ts): the rows arrive exactly as from the main
// thread, and a refused value still stops its table with the same error class,
// naming table, key and column, with nothing of the table written. Memory
// stays bounded: at most WINDOW chunks of a table in flight however slow
// PostgreSQL is, workers on a small young generation, and none left running
// while tables are verified.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";
import { sqliteFile } from "../../helpers/sqlite";
import { migrate, ValueConversionError } from "../../../src/engine";
import os from "node:os";
import type { Worker } from "node:worker_threads";
import { CHUNK } from "../../../src/engine/postgres/copy";
import { ReadWorkers, WINDOW, WORKER_YOUNG_GENERATION_MB } from "../../../src/engine/sqlite/read-workers";

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

function twoBigTables(bad?: { table: string; id: number }, names = ["events", "notes"]): string {
  return sqliteFile((db) => {
    for (const name of names) {
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
    const tables = await pg.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename = 'notes'",
      [],
      url.split("/").pop(),
    );
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

/**
 * Every ReadWorkers the engine starts, through the chunks it is asked for.
 * `pauseMs`: the writer stalls that long before taking each table's first
 * chunk (PostgreSQL busy), ample time for a worker to convert far more than
 * its window if nothing held it back.
 */
function watchReaders(pauseMs = 0): { seen: Set<ReadWorkers>; chunks: number; restore: () => void } {
  const original = ReadWorkers.prototype.chunks;
  const watch = { seen: new Set<ReadWorkers>(), chunks: 0, restore: () => void (ReadWorkers.prototype.chunks = original) };
  ReadWorkers.prototype.chunks = async function* (this: ReadWorkers, ...args: Parameters<typeof original>) {
    watch.seen.add(this);
    let first = true;
    for await (const c of original.apply(this, args)) {
      if (first && pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      first = false;
      watch.chunks++;
      yield c;
    }
  };
  return watch;
}

test("a slow writer holds the read workers back: at most WINDOW chunks of a table are in flight", async () => {
  const watch = watchReaders(1500);
  try {
    const url = await pg.createDatabase();
    const r = await migrate({ source: twoBigTables(), target: url, jobs: 2 });
    assert.equal(r.ok, true);
    assert.equal(watch.seen.size, 1);
    const [readers] = [...watch.seen];
    assert.ok(watch.chunks >= 4 * WINDOW, `each table is several windows long (${watch.chunks} chunks in all)`);
    assert.equal(readers!.peak.chunks, WINDOW, `the workers filled their window and no more (peak ${readers!.peak.chunks} chunks of one table)`);
    // A chunk ends at the first row past CHUNK characters; this data is mostly ASCII, so well under 2 bytes a character.
    assert.ok(readers!.peak.bytes > CHUNK, "both tables had chunks in flight");
    assert.ok(readers!.peak.bytes <= 2 * WINDOW * 2 * CHUNK, `at most two tables' windows in flight (peak ${readers!.peak.bytes} bytes)`);
  } finally {
    watch.restore();
  }
});

// A table's read-back starts as soon as its load commits (verify.ts proveEarly), while the other table may still be
// read by the workers; once the load ends they are stopped, so the run waits for verification without their heaps.
test("read workers run on a small young generation, and are stopped once the load ends, before the run waits for verification", async () => {
  const watch = watchReaders();
  const limits: (number | undefined)[] = [];
  const threadsWhenVerified: number[] = [];
  try {
    const url = await pg.createDatabase();
    const r = await migrate({
      source: twoBigTables(),
      target: url,
      jobs: 2,
      onProgress: (e) => {
        for (const readers of watch.seen) {
          if (e.phase === "copy") for (const w of (readers as unknown as { all: Worker[] }).all) limits.push(w.resourceLimits?.maxYoungGenerationSizeMb);
          if (e.phase === "done") threadsWhenVerified.push(readers.threads);
        }
      },
    });
    assert.equal(r.ok, true);
    assert.ok(limits.length > 0, "workers were running during the copy");
    assert.deepEqual([...new Set(limits)], [WORKER_YOUNG_GENERATION_MB]);
    assert.equal(threadsWhenVerified.length, 2, "both tables were verified");
    assert.deepEqual(threadsWhenVerified, [0, 0], "no read worker (nor its heap) was left running while the run waited for verification");
  } finally {
    watch.restore();
  }
});

test("more jobs than cores: at most one read worker per core, the other tables wait for one and arrive exactly", async () => {
  const watch = watchReaders();
  const cores = os.availableParallelism;
  os.availableParallelism = () => 2;
  try {
    const url = await pg.createDatabase();
    const r = await migrate({ source: twoBigTables(undefined, ["events", "notes", "posts"]), target: url, jobs: 3 });
    assert.equal(r.ok, true);
    const [readers] = [...watch.seen];
    assert.equal(readers!.peak.threads, 2, "two worker threads for three tables loading at once on two cores");
    for (const t of r.tables) {
      assert.equal(t.targetRows, 25_000);
      assert.equal(t.verifiedBy, "copy digest");
    }
  } finally {
    os.availableParallelism = cores;
    watch.restore();
  }
});

// The fingerprint hashes the SQLite file while pgshift holds a read lock on it
// (the snapshot, snapshot.ts). SQLite's locks are POSIX record locks: closing any
// descriptor of the file drops every lock the process holds on it, so the hash
// must not close its descriptors before the lock is let go. A second process
// tries to commit to find out whether the lock is still held.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { sqliteFile } from "../../helpers/sqlite";
import { FINGERPRINT_ENV, fingerprintSqlite } from "../../../src/engine/sqlite/fingerprint";

// The fingerprint worker's JavaScript path (plain JavaScript: the worker has no TypeScript loader).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { murmur256: murmur256Js } = require("../../../src/engine/sqlite/murmur256.js") as { murmur256: (fds: number[]) => string };

/** Whether another process can commit to the file right now (no waiting). */
function otherProcessCanWrite(path: string): boolean {
  const script = `
    const Database = require(${JSON.stringify(resolve(__dirname, "..", "..", "..", "node_modules", "better-sqlite3"))});
    const db = new Database(${JSON.stringify(path)}, { timeout: 0 });
    try { db.prepare("INSERT INTO t (v) VALUES ('other')").run(); process.stdout.write("wrote"); }
    catch (err) { process.stdout.write(err.code); }`;
  return execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }) === "wrote";
}

test("the hash keeps the file's descriptors open until the lock is let go, so the read lock holds", async () => {
  const path = sqliteFile((db) => {
    db.pragma("journal_mode = delete");
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)");
    const ins = db.prepare("INSERT INTO t (v) VALUES (?)");
    for (let i = 0; i < 2000; i++) ins.run("x".repeat(200));
  });
  const expected = murmur256([readFileSync(path)]);
  const reader = new Database(path, { readonly: true });
  reader.exec("BEGIN");
  reader.prepare("SELECT count(*) FROM t").get(); // SHARED lock, as the snapshot takes it
  assert.equal(otherProcessCanWrite(path), false, "a read transaction keeps other processes from committing");
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  assert.equal(await fingerprintSqlite(path, released), expected);
  await new Promise((r) => setTimeout(r, 50)); // anything the hash would close is closed by now
  assert.equal(otherProcessCanWrite(path), false, "the lock is still held after the hash is done");
  reader.exec("COMMIT");
  release();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(otherProcessCanWrite(path), true, "once let go, the app can write again");
  reader.close();
});

test("a missing file is refused, and a WAL file is hashed with its log", async () => {
  await assert.rejects(fingerprintSqlite("/nonexistent/app.db"), /ENOENT/);
  const path = sqliteFile((db) => {
    db.pragma("journal_mode = wal");
    db.pragma("wal_autocheckpoint = 0");
    db.exec("CREATE TABLE t (v TEXT)");
  });
  const before = await fingerprintSqlite(path);
  const w = new Database(path);
  w.pragma("wal_autocheckpoint = 0");
  w.prepare("INSERT INTO t VALUES ('in the log only')").run();
  const after = await fingerprintSqlite(path);
  w.close();
  assert.notEqual(after, before, "a commit still in the write-ahead log changes the fingerprint");
});

// native/fingerprint.c in BigInt arithmetic: four lanes of MurmurHash3's mixing over 32-byte blocks, a zero-padded
// tail, each file closed by its length, the lanes finished with fmix.
const M = (1n << 64n) - 1n;
const rotl = (x: bigint, r: bigint) => ((x << r) | (x >> (64n - r))) & M;
const fmix = (k: bigint) => {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & M;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & M;
  return k ^ (k >> 33n);
};
const mixWord = (h: bigint, k: bigint) => {
  k = rotl((k * 0x87c37b91114253d5n) & M, 31n);
  k = (k * 0x4cf5ad432745937fn) & M;
  return (rotl(h ^ k, 27n) * 5n + 0x52dce729n) & M;
};
function murmur256(files: Buffer[]): string {
  const lane = [0x9e3779b97f4a7c15n, 0xc2b2ae3d27d4eb4fn, 0x165667b19e3779f9n, 0x27d4eb2f165667c5n];
  files.forEach((bytes, f) => {
    let i = 0;
    for (; i + 32 <= bytes.length; i += 32) for (let j = 0; j < 4; j++) lane[j] = mixWord(lane[j]!, bytes.readBigUInt64LE(i + 8 * j));
    if (i < bytes.length) {
      const tail = Buffer.alloc(32);
      bytes.copy(tail, 0, i);
      for (let j = 0; j < 4; j++) lane[j] = mixWord(lane[j]!, tail.readBigUInt64LE(8 * j) ^ 0xa5n);
    }
    for (let j = 0; j < 4; j++) lane[j] = mixWord(lane[j]!, BigInt(bytes.length) ^ (BigInt(f) << 56n) ^ BigInt(j));
  });
  return (
    "murmur256:" +
    lane
      .map((l, j) =>
        fmix(l ^ rotl(lane[(j + 1) & 3]!, 17n))
          .toString(16)
          .padStart(16, "0"),
      )
      .join("")
  );
}

test("the fingerprint is the C hash of the file's bytes and its log's, chunk boundaries and tails included; its JavaScript path gives the same value", async () => {
  const path = sqliteFile((db) => {
    db.pragma("journal_mode = wal");
    db.pragma("wal_autocheckpoint = 0");
    db.exec("CREATE TABLE t (v TEXT)");
    const ins = db.prepare("INSERT INTO t VALUES (?)");
    for (let i = 0; i < 8000; i++) ins.run(`row ${i} ${"y".repeat(i % 300)}`); // over 1 MB: more than one chunk
  });
  const w = new Database(path);
  w.pragma("wal_autocheckpoint = 0");
  w.prepare("INSERT INTO t VALUES ('in the log')").run();
  const main = readFileSync(path);
  const log = readFileSync(`${path}-wal`);
  assert.ok(main.length > 1 << 20 && log.length % 32 !== 0, `main ${main.length} bytes, log ${log.length} bytes (a tail)`);
  assert.equal(await fingerprintSqlite(path), murmur256([main, log]));
  assert.notEqual(murmur256([main, log]), murmur256([Buffer.concat([main, log.subarray(0, 32)]), log.subarray(32)]), "where one file ends counts");
  const before = process.env[FINGERPRINT_ENV];
  process.env[FINGERPRINT_ENV] = "off";
  try {
    assert.equal(await fingerprintSqlite(path), murmur256([main, log]), `${FINGERPRINT_ENV}=off: murmur256.js, the same fingerprint`);
  } finally {
    if (before === undefined) delete process.env[FINGERPRINT_ENV];
    else process.env[FINGERPRINT_ENV] = before;
  }
  w.close();
});

test("PGSHIFT_NATIVE=off fingerprints in JavaScript with the C's value, for files of every length around a block and a chunk", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-fp-"));
  let seed = 7;
  const byte = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) >>> 16;
  try {
    for (const sizes of [[0], [1], [31], [32], [33], [1 << 20], [(1 << 20) + 5], [100, 0], [4096, 77], [3 * (1 << 20) + 31, 1000]]) {
      const files = sizes.map((n, i) => {
        const f = join(dir, `f${i}`);
        writeFileSync(f, Buffer.from(Array.from({ length: n }, byte)));
        return f;
      });
      // fingerprintSqlite takes the file and its -wal: name them so.
      const main = join(dir, "db");
      renameSync(files[0]!, main);
      if (files[1]) renameSync(files[1], `${main}-wal`);
      else rmSync(`${main}-wal`, { force: true });
      const c = await fingerprintSqlite(main);
      const before = process.env.PGSHIFT_NATIVE;
      process.env.PGSHIFT_NATIVE = "off";
      try {
        assert.equal(await fingerprintSqlite(main), c, `files of ${sizes.join(" and ")} bytes`);
      } finally {
        if (before === undefined) delete process.env.PGSHIFT_NATIVE;
        else process.env.PGSHIFT_NATIVE = before;
      }
      assert.equal(c, murmur256(sizes.length > 1 ? [readFileSync(main), readFileSync(`${main}-wal`)] : [readFileSync(main)]));
      // The JavaScript module itself, whatever the environment says.
      const fds = [main, ...(sizes.length > 1 ? [`${main}-wal`] : [])].map((f) => openSync(f, "r"));
      try {
        assert.equal(murmur256Js(fds), c);
      } finally {
        fds.forEach(closeSync);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

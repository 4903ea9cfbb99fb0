// SQLite's side of delta sync by record (src/engine/sqlite/range-digests.ts and its C
// extension, native/range-digests.c), on real SQLite files: a range's digest
// moves with any change of any value — storage class, one bit of a float, one
// byte of a BLOB — and with nothing else.
import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { sqliteFile } from "../../helpers/sqlite";
import { planMigration } from "../../../src/engine";
import {
  DISABLE_ENV,
  parseDigests,
  rangeDigestsExtension,
  serializeDigests,
  sqliteRangeDigests,
  sqliteRangeDigestsSplit,
  totalRows,
  type RawDigests,
} from "../../../src/engine/sqlite/range-digests";

function extension(): string {
  const e = rangeDigestsExtension();
  assert.ok("path" in e, `the range-digests extension is built at install (npm run build:native): ${JSON.stringify(e)}`);
  return e.path;
}

async function digestsOf(path: string, table: string, width: bigint): Promise<RawDigests> {
  const plan = await planMigration({ source: path });
  const t = plan.tables.find((x) => x.source === table)!;
  const db = new Database(path, { readonly: true });
  try {
    return sqliteRangeDigests(db, t, t.sourceKey[0]!, width, extension());
  } finally {
    db.close();
  }
}

const asObject = (d: RawDigests) => Object.fromEntries([...d.ids].map((id, i) => [String(id), [String(d.rows[i]), String(d.digests[i])]]));

test("a range's digest changes with every kind of change to one value, and only that range's", async () => {
  const path = sqliteFile((db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v ANY, w BLOB) STRICT");
    const ins = db.prepare("INSERT INTO t VALUES (?, ?, ?)");
    for (let i = 1; i <= 40; i++) ins.run(i, i % 2 ? `text ${i}` : i * 1.5, Buffer.from([i, 0, 255]));
  });
  const base = asObject(await digestsOf(path, "t", 10n));
  assert.deepEqual(Object.keys(base), ["0", "1", "2", "3", "4"]);
  assert.deepEqual(
    Object.values(base).map((x) => x[0]),
    ["9", "10", "10", "10", "1"],
    "rows per range (range 0 holds keys 1..9)",
  );
  // Range 1 (keys 10..19) as the changes below start from and go back to.
  const restore =
    "UPDATE t SET v = CASE id WHEN 13 THEN 7 WHEN 14 THEN '' WHEN 15 THEN 'text 15' WHEN 16 THEN 0.3 WHEN 17 THEN 'text 17' END, w = CASE id WHEN 15 THEN x'0f00ff' ELSE w END WHERE id BETWEEN 13 AND 17";
  const changes: [string, string][] = [
    ["integer → text of the same digits", "UPDATE t SET v = '7' WHERE id = 13"],
    ["integer → real of the same value", "UPDATE t SET v = 7.0 WHERE id = 13"],
    ["a float's last bit", "UPDATE t SET v = 0.1 + 0.2 WHERE id = 16"],
    ["empty text → NULL", "UPDATE t SET v = NULL WHERE id = 14"],
    ["text → BLOB of the same bytes", "UPDATE t SET v = CAST('text 15' AS BLOB) WHERE id = 15"],
    ["one byte of a BLOB", "UPDATE t SET w = x'0f00fe' WHERE id = 15"],
    ["a trailing space", "UPDATE t SET v = 'text 15 ' WHERE id = 15"],
    ["values swapped between two rows of the range", "UPDATE t SET v = CASE id WHEN 15 THEN 'text 17' ELSE 'text 15' END WHERE id IN (15, 17)"],
  ];
  const run = (sql: string) => {
    const w = new Database(path);
    w.exec(sql);
    w.close();
  };
  run(restore);
  const start = asObject(await digestsOf(path, "t", 10n));
  for (const [what, sql] of changes) {
    run(sql);
    const after = asObject(await digestsOf(path, "t", 10n));
    assert.notEqual(after["1"]![1], start["1"]![1], `${what}: range 1's digest must change`);
    assert.equal(after["1"]![0], "10", `${what}: still 10 rows`);
    for (const id of ["0", "2", "3", "4"]) assert.deepEqual(after[id], start[id], `${what}: range ${id} untouched`);
    run(restore);
    assert.deepEqual(asObject(await digestsOf(path, "t", 10n)), start, `${what}: undone, the digests are as before`);
  }
  assert.notDeepEqual(start, base);
});

test("rows read out of key order give the same digests as in key order; a key that is not an integer is refused", async () => {
  const rows = Array.from({ length: 500 }, (_, i) => [((i * 7919) % 1000) - 300, `v${i}`] as const);
  const make = (order: (typeof rows)[number][]) =>
    sqliteFile((db) => {
      // Not the rowid: SQLite returns rows in insertion order, ranges come in pieces.
      db.exec("CREATE TABLE t (k BIGINT PRIMARY KEY, v TEXT) WITHOUT ROWID");
      db.exec("CREATE TABLE u (k BIGINT NOT NULL PRIMARY KEY, v TEXT)");
      const a = db.prepare("INSERT INTO t VALUES (?, ?)");
      const b = db.prepare("INSERT INTO u VALUES (?, ?)");
      for (const [k, v] of order) {
        a.run(k, v);
        b.run(k, v);
      }
    });
  const sorted = make([...rows].sort((x, y) => x[0] - y[0]));
  const shuffled = make(rows);
  const a = await digestsOf(sorted, "u", 16n);
  assert.deepEqual(asObject(await digestsOf(shuffled, "u", 16n)), asObject(a), "rowid table, rows inserted out of key order");
  assert.deepEqual(asObject(await digestsOf(shuffled, "t", 16n)), asObject(await digestsOf(sorted, "t", 16n)), "WITHOUT ROWID");
  assert.equal(totalRows(a), 500);
  assert.ok(
    a.ids.every((id, i) => i === 0 || id > a.ids[i - 1]!),
    "sorted by range, each once",
  );
  assert.ok(a.ids[0]! < 0n, "negative keys have negative ranges (truncating division)");
  assert.deepEqual(asObject(parseDigests(serializeDigests(a))), asObject(a), "the recorded form reads back the same");
  const odd = new Database(shuffled);
  odd.exec("UPDATE u SET k = 'x12' WHERE k = (SELECT min(k) FROM u)");
  odd.close();
  await assert.rejects(digestsOf(shuffled, "u", 16n), /a key is not an integer/);
});

test(`${DISABLE_ENV}=off turns the extension off`, () => {
  const before = process.env[DISABLE_ENV];
  process.env[DISABLE_ENV] = "off";
  try {
    assert.deepEqual(rangeDigestsExtension(), { unavailable: `${DISABLE_ENV}=off` });
  } finally {
    if (before === undefined) delete process.env[DISABLE_ENV];
    else process.env[DISABLE_ENV] = before;
  }
  assert.ok("path" in rangeDigestsExtension());
});

test("hashed in two halves at once (a big table on a refresh), the digests are the whole table's; a NULL key is refused, not skipped", async () => {
  const path = sqliteFile((db) => {
    db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE u (k BIGINT, v TEXT, PRIMARY KEY (k))");
    const a = db.prepare("INSERT INTO t VALUES (?, ?)");
    const b = db.prepare("INSERT INTO u VALUES (?, ?)");
    db.transaction(() => {
      for (let i = -500; i <= 3000; i += 3) {
        a.run(i, `row ${i}`);
        b.run(i, `row ${i}`);
      }
    })();
  });
  const plan = await planMigration({ source: path });
  const db = new Database(path);
  try {
    for (const name of ["t", "u"]) {
      const t = plan.tables.find((x) => x.source === name)!;
      for (const width of [1n, 7n, 64n, 10_000n]) {
        const whole = sqliteRangeDigests(db, t, t.sourceKey[0]!, width, extension());
        const halves = await sqliteRangeDigestsSplit(db, t, t.sourceKey[0]!, width, extension());
        assert.deepEqual(asObject(halves), asObject(whole), `${name}, width ${width}: a range cut by the halves is added up`);
        assert.ok(halves.ids.every((id, i) => i === 0 || id > halves.ids[i - 1]!));
      }
    }
    // Not the rowid: SQLite allows a NULL key. It lands in neither "below" nor skipped: the upper half refuses it.
    db.exec("INSERT INTO u VALUES (NULL, 'no key')");
    const u = plan.tables.find((x) => x.source === "u")!;
    await assert.rejects(sqliteRangeDigestsSplit(db, u, "k", 7n, extension()), /a key is not an integer/);
  } finally {
    db.close();
  }
});

test("parseDigests: sorted triples (read as 32-bit words) and unsorted ones give what adding them up by range gives", () => {
  const reference = (blob: Uint8Array) => {
    const a = new BigInt64Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength));
    const sums = new Map<bigint, [bigint, bigint]>();
    for (let i = 0; i + 2 < a.length; i += 3) {
      const [rows, digest] = sums.get(a[i]!) ?? [0n, 0n];
      sums.set(a[i]!, [rows + a[i + 1]!, BigInt.asIntN(64, digest + a[i + 2]!)]);
    }
    return [...sums].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([id, [rows, digest]]) => [id, rows, digest]);
  };
  for (const sorted of [true, false]) {
    // Ids across the whole int64 range (negative ones, gaps past 2^32), a range two parts share, digests with the top bit set.
    const ids: bigint[] = [];
    let id = -(2n ** 63n);
    for (let i = 0; i < 20_000; i++) ids.push((id += BigInt(1 + (i % 997 === 0 ? 2 ** 40 : i % 3))));
    ids.splice(10_000, 0, ids[10_000]!);
    if (!sorted) [ids[5], ids[9]] = [ids[9]!, ids[5]!];
    const a = new BigInt64Array(ids.length * 3);
    ids.forEach((x, i) => {
      a[3 * i] = x;
      a[3 * i + 1] = BigInt(1 + (i % 9));
      a[3 * i + 2] = BigInt.asIntN(64, BigInt(i + 1) * 0x9e3779b97f4a7c15n);
    });
    const blob = new Uint8Array(a.buffer);
    const got = parseDigests(Buffer.concat([Buffer.alloc(3), blob]).subarray(3)); // at an odd offset, as a Buffer may be
    assert.deepEqual(
      [...got.ids].map((x, i) => [x, got.rows[i], got.digests[i]]),
      reference(blob),
      sorted ? "sorted" : "unsorted",
    );
  }
});

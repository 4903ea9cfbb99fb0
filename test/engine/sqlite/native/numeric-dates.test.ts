// pgshift_numeric_dates (native/numeric-dates.h, in the range-digests
// extension) against the query it replaces on a refresh
// (sql/sqlite/numeric-dates.sql): the same counts, over random columns full of
// values at every bound the query draws — as integers and as reals, in a column
// without affinity and in a DATETIME column — and through the refresh's scan,
// whole and in two halves.
import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { sqliteFile } from "../../../helpers/sqlite";
import { planFrom } from "../../../../src/engine/plan";
import { loadExtension } from "../../../../src/engine/sqlite/native";
import { countNumericDates, parseNumericDateCounts } from "../../../../src/engine/sqlite/numeric-dates";
import { rangeDigestsExtension, sqliteRangeScan } from "../../../../src/engine/sqlite/range-digests";
import { seededRandom } from "../../../../scripts/seeded-random";

function extension(): string {
  const e = rangeDigestsExtension();
  assert.ok("path" in e, `the extension must build on a machine that built better-sqlite3: ${JSON.stringify(e)}`);
  return e.path;
}

/** The double next to x, towards +∞ (dir 1) or −∞ (dir −1). */
function nextDouble(x: number, dir: 1 | -1): number {
  if (x === 0) return dir * Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 === dir > 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}

// Every bound numeric-dates.sql compares with, and its negative (abs() buckets).
// As the query writes them (as doubles they round: the upper bounds are the doubles nearest to these).
const BOUNDS = [
  0,
  2415020.5,
  5373484.5,
  1e11,
  1e14,
  1e17,
  2208988800,
  2208988800000,
  2208988800000000,
  2 ** 53,
  2 ** 63,
  ...["253402300799.999999", "253402300799999.999", "253402300799999999"].map(Number),
];
const INT_BOUNDS = [
  0n,
  2415020n,
  2415021n,
  5373484n,
  5373485n,
  10n ** 11n,
  10n ** 14n,
  10n ** 17n,
  2208988800n,
  253402300799n,
  253402300800n,
  2208988800000n,
  253402300799999n,
  253402300800000n,
  2208988800000000n,
  253402300799999999n,
  253402300800000000n,
  2n ** 53n,
  2n ** 63n - 1n,
];

function values(rnd: () => number, n: number): unknown[] {
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const sign = () => (rnd() < 0.5 ? -1 : 1);
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.25) {
      const b = pick(BOUNDS);
      const x = sign() * b;
      const near = rnd() < 0.5 ? x : nextDouble(x, rnd() < 0.5 ? 1 : -1);
      out.push(near);
    } else if (r < 0.45) {
      const b = pick(INT_BOUNDS) + BigInt(Math.floor(rnd() * 3) - 1);
      const x = sign() < 0 ? -b : b;
      out.push(x > 2n ** 63n - 1n ? 2n ** 63n - 1n : x < -(2n ** 63n) ? -(2n ** 63n) : x);
    } else if (r < 0.55)
      out.push(2415020.5 + rnd() * 2958464); // julian day numbers, as julianday() writes them
    else if (r < 0.62)
      out.push(BigInt(Math.floor(rnd() * 2 ** 40)) * BigInt(sign())); // any integer
    else if (r < 0.68) out.push(pick([0, -0, 0n, -(2n ** 63n), 2n ** 63n - 1n, Infinity, -Infinity, 0.5, -1e-300]));
    else if (r < 0.78) out.push(pick(["2023-11-15 08:00:00", "1700000000", "", "abc", "2.5e11"]));
    else if (r < 0.88) out.push(null);
    else out.push(Buffer.from([1, 2, 3, Math.floor(rnd() * 256)]));
  }
  return out;
}

test("the C counts equal numeric-dates.sql's over random columns at every bound, as stored in any affinity", async () => {
  const ext = extension();
  for (const seed of [1, 2, 3, 4, 5]) {
    const rnd = seededRandom(seed);
    const path = sqliteFile((db) => {
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, raw, at DATETIME, r REAL)");
      const ins = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?)");
      const [a, b, c] = [values(rnd, 3000), values(rnd, 3000), values(rnd, 3000)];
      db.transaction(() => a.forEach((v, i) => ins.run(i + 1, v, b[i], c[i])))();
    });
    const db = new Database(path, { readonly: true });
    try {
      // The column really holds every storage class, near every bound.
      const classes = db.prepare("SELECT group_concat(DISTINCT typeof(raw)) FROM t").pluck().get() as string;
      for (const k of ["integer", "real", "text", "blob", "null"]) assert.ok(classes.includes(k), `${k} in ${classes}`);
      // Deferred: the plan would refuse these columns (their numbers mix units) before the scan could count them.
      const plan = await planFrom(db, { source: path }, { numericDates: "defer" });
      const t = plan.tables[0]!;
      const columns = ["raw", "at", "r"];
      const whole = await sqliteRangeScan(db, t, "id", 8n, ext, { split: false, dateColumns: columns });
      const halves = await sqliteRangeScan(db, t, "id", 8n, ext, { split: true, dateColumns: columns });
      for (const c of columns) {
        const sql = countNumericDates(db, "t", c);
        assert.deepEqual({ ...whole.dates.get(c) }, { ...sql }, `seed ${seed}, column ${c}`);
        assert.deepEqual({ ...halves.dates.get(c) }, { ...sql }, `seed ${seed}, column ${c}, in two halves`);
      }
    } finally {
      db.close();
    }
  }
});

test("each count sits exactly on the query's bounds: the values either side of every bound, one at a time", () => {
  const path = sqliteFile((db) => db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v)"));
  const db = new Database(path);
  try {
    loadExtension(db, { path: extension(), entry: "sqlite3_rangedigests_init" });
    const one: unknown[] = [];
    for (const b of BOUNDS) for (const x of [b, -b]) one.push(x, nextDouble(x, 1), nextDouble(x, -1));
    for (const b of INT_BOUNDS) for (const x of [b, -b]) one.push(x, x + 1n, x - 1n);
    one.push(-(2n ** 63n), -0, Infinity, -Infinity);
    for (const v of one) {
      if (typeof v === "bigint" && (v > 2n ** 63n - 1n || v < -(2n ** 63n))) continue;
      db.exec("DELETE FROM t");
      db.prepare("INSERT INTO t VALUES (1, ?)").run(v);
      const [c] = parseNumericDateCounts(db.prepare("SELECT pgshift_numeric_dates(v) FROM t").pluck().get() as Buffer, 1);
      assert.deepEqual({ ...c }, { ...countNumericDates(db, "t", "v") }, `value ${String(v)} (${typeof v})`);
    }
    // No rows: nothing counted, for every column named.
    db.exec("DELETE FROM t");
    const none = parseNumericDateCounts(db.prepare("SELECT pgshift_numeric_dates(v, id) FROM t").pluck().get() as Buffer, 2);
    assert.deepEqual(
      none.map((c) => ({ ...c })),
      [{ ...countNumericDates(db, "t", "v") }, { ...countNumericDates(db, "t", "id") }],
    );
    assert.equal(none[0]!.n, 0);
  } finally {
    db.close();
  }
});

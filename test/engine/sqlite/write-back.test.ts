// PostgreSQL's printed values written back into SQLite (src/engine/sqlite/write-back.ts)
// in the form the column's values take (forms.ts) — exactly, or refused. Round trips go
// through the load's own converters (convert.ts): what is written back must
// load as the value PostgreSQL holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { castFor } from "../../../src/engine/types/cast-rules";
import { converterFor } from "../../../src/engine/types/column-types";
import { Reject } from "../../../src/engine/types/convert";
import type { ColumnPlan, TablePlan } from "../../../src/engine/plan";
import { readColumnForms, type ColumnForms } from "../../../src/engine/sqlite/forms";
import { chooseForm, resolveJsonPlain, sqliteValue } from "../../../src/engine/sqlite/write-back";

const column = (declared: string, numbers?: "epoch-s" | "epoch-ms" | "epoch-us" | "julian"): ColumnPlan => {
  const cast = { ...castFor(declared), ...(numbers ? { numbers } : {}) };
  return { source: "c", target: "c", declaredType: declared, cast, targetType: cast.pgType, notNull: false, default: null, identity: false };
};

/** The forms of a column holding `values`, read the way sync-back reads them (from a real SQLite table). */
function formsOf(c: ColumnPlan, values: unknown[]): ColumnForms {
  const db = new Database(":memory:");
  db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, c ${c.declaredType})`);
  const ins = db.prepare("INSERT INTO t (c) VALUES (?)");
  for (const v of values) ins.run(v);
  const t = { source: "t", target: "t", columns: [c], sourceKey: ["id"], withoutRowid: false } as unknown as TablePlan;
  const forms = readColumnForms(db, t, c);
  db.close();
  return forms;
}

/** PostgreSQL's value written back into a new row of a column holding `values`, and the load's reading of it. */
function back(c: ColumnPlan, values: unknown[], pgValue: string): { written: unknown; loads: string } {
  const forms = formsOf(c, values);
  const written = sqliteValue(c, resolveJsonPlain(forms, chooseForm(forms, undefined)), pgValue);
  return { written, loads: converterFor(c.cast)(typeof written === "bigint" && written <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(written) : written) };
}

const refused = (fn: () => unknown, reason: RegExp) => assert.throws(fn, (e: unknown) => e instanceof Reject && reason.test(e.reason));

test("timestamps go back in the column's layout, zone and fraction digits, and load as the same value", () => {
  const dt = column("DATETIME");
  const cases: [unknown[], string, string][] = [
    [["2024-01-02 03:04:05.123456", "2024-01-02 03:04:06"], "2025-06-07 08:09:10.5", "2025-06-07 08:09:10.500000"],
    [["2024-01-02 03:04:05.123456", "2024-01-02 03:04:06"], "2025-06-07 08:09:10", "2025-06-07 08:09:10"],
    [["2024-01-02T03:04:05.120Z", "2024-01-02T03:04:05.000Z"], "2025-06-07 08:09:10", "2025-06-07T08:09:10.000Z"],
    [["2024-01-02 03:04:05.1", "2024-01-02 03:04:05.25", "2024-01-02 03:04:05"], "2025-06-07 08:09:10.125", "2025-06-07 08:09:10.125"],
    [["2024-01-02 03:04:05+02:00"], "2025-06-07 23:30:00", "2025-06-08 01:30:00+02:00"],
    [["2024-01-02T03:04"], "2025-06-07 08:09:00", "2025-06-07T08:09"],
  ];
  for (const [values, pg, expected] of cases) {
    const { written, loads } = back(dt, values, pg);
    assert.equal(written, expected, `${values.join(" | ")} ← ${pg}`);
    assert.equal(loads, pg, "loads as PostgreSQL's value");
  }
  refused(() => back(dt, ["2024-01-02 03:04:05"], "2025-06-07 08:09:10.5"), /fractions of a second .* none of the column's values/);
  refused(() => back(dt, ["2024-01-02 03:04:05.123"], "2025-06-07 08:09:10.1234"), /to 4 digits .* have 3/);
  refused(() => back(dt, ["2024-01-02T03:04"], "2025-06-07 08:09:10"), /seconds/);
  refused(() => back(column("DATE"), ["2024-01-02"], "2025-06-07 08:00:00"), /time of day/);
  refused(() => back(dt, ["2024-01-02 03:04:05"], "infinity"), /no SQLite form/);
  // Fractions of several lengths with trailing zeros: no rule tells how many digits the app writes.
  refused(
    () => back(dt, ["2024-01-02 03:04:05.10", "2024-01-02 03:04:05.125"], "2025-06-07 08:09:10.5"),
    /several lengths \(2, 3 digits\) with trailing zeros/,
  );
  assert.equal(
    back(dt, ["2024-01-02 03:04:05.10", "2024-01-02 03:04:05.125"], "2025-06-07 08:09:10").written,
    "2025-06-07 08:09:10",
    "a whole second needs no fraction",
  );
});

test("numbers in date columns go back in the unit and storage class the column holds", () => {
  const epoch = (unit: "epoch-s" | "epoch-ms" | "epoch-us" | "julian") => column("DATETIME", unit);
  assert.equal(back(epoch("epoch-s"), [1704164645n], "2025-06-07 08:09:10").written, 1749283750n);
  assert.equal(back(epoch("epoch-s"), [1704164645.5], "2025-06-07 08:09:10.25").written, 1749283750.25);
  assert.equal(back(epoch("epoch-ms"), [1704164645123n], "2025-06-07 08:09:10.123").written, 1749283750123n);
  assert.equal(back(epoch("epoch-us"), [1704164645123456n], "2025-06-07 08:09:10.123456").written, 1749283750123456n);
  const julian = back(epoch("julian"), [2460311.5], "2025-06-07 12:00:00");
  assert.equal(julian.written, 2460834);
  assert.equal(julian.loads, "2025-06-07 12:00:00");
  refused(() => back(epoch("epoch-s"), [1704164645n], "2025-06-07 08:09:10.5"), /whole number of seconds/);
  refused(() => back(epoch("julian"), [2460311.5], "2025-06-07 12:00:00.0005"), /julian day numbers keep milliseconds/);
});

test("booleans, UUIDs, JSON and numbers keep their spelling, case and storage class", () => {
  const bool = column("BOOLEAN");
  assert.equal(back(bool, [1n, 0n], "f").written, 0n);
  assert.equal(back(bool, ["TRUE", "FALSE"], "f").written, "FALSE");
  assert.equal(back(bool, ["yes"], "f").written, "no", "the other word of the pair, in the same case");
  const uuid = column("UUID");
  assert.equal(
    back(uuid, ["{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}"], "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12").written,
    "{B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12}",
  );
  assert.equal(back(uuid, ["a0eebc999c0b4ef8bb6d6bb9bd380a11"], "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12").written, "b0eebc999c0b4ef8bb6d6bb9bd380a12");
  assert.deepEqual(back(uuid, [Buffer.alloc(16, 1)], "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12").written, Buffer.from("b0eebc999c0b4ef8bb6d6bb9bd380a12", "hex"));
  const json = column("JSON");
  assert.equal(back(json, ['{"a":1,"b":[1,2]}'], '{"s": "x, y: z", "a": [1, 2]}').written, '{"s":"x, y: z","a":[1,2]}', "spaces inside strings stay");
  assert.equal(back(json, ['{"a": 1}'], '{"a": [1, 2]}').written, '{"a": [1, 2]}');
  assert.equal(back(json, ['"plain"', '{"a":1}'], '{"b": 2}').written, '{"b":2}', "a value without separators says nothing: the column's other values decide");
  assert.equal(back(json, [12n, 0.5], "42").written, 42n);
  refused(() => back(column("REAL"), [1.5], "NaN"), /NaN/);
  refused(() => back(column("NUMERIC(30,10)"), [1.5], "12345678901234567890.1234567891"), /more digits than a SQLite number/);
  assert.equal(back(column("NUMERIC(18,6)"), [1.5], "12.345678").written, 12.345678);
});

test("a column of several forms: an updated row keeps its own, a new row takes the latest value's", () => {
  const dt = column("DATETIME");
  const forms = formsOf(dt, ["2024-01-02T03:04:05", "2024-01-03T03:04:05", "2024-01-04 03:04:05"]);
  assert.equal(forms.families.size, 2);
  const forNew = chooseForm(forms, undefined);
  assert.equal(forNew.why, "the column's latest value");
  assert.equal(sqliteValue(dt, forNew, "2025-01-01 00:00:00"), "2025-01-01 00:00:00");
  const forOld = chooseForm(forms, "2024-01-02T03:04:05");
  assert.equal(forOld.why, "its old value");
  assert.equal(sqliteValue(dt, forOld, "2025-01-01 00:00:00"), "2025-01-01T00:00:00");
  const empty = formsOf(dt, [null]);
  const fallback = chooseForm(empty, undefined);
  assert.equal(fallback.why, "the column has no values: default");
  assert.equal(sqliteValue(dt, fallback, "2025-01-01 00:00:00.25"), "2025-01-01 00:00:00.250000");
});

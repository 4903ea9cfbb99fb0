// The forms of SQLite values (src/engine/sqlite/forms.ts), read from a real
// SQLite table: each value's family, and what a column's values say about
// fractions of a second. Writing values back in them: write-back.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { castFor } from "../../../src/engine/types/cast-rules";
import type { ColumnPlan, TablePlan } from "../../../src/engine/plan";
import { familyOf, fractionPolicy, readColumnForms } from "../../../src/engine/sqlite/forms";

const column = (declared: string): ColumnPlan => {
  const cast = castFor(declared);
  return { source: "c", target: "c", declaredType: declared, cast, targetType: cast.pgType, notNull: false, default: null, identity: false };
};

test("a column's values fall in families by layout, and the latest value names the family new rows take", () => {
  const dt = column("DATETIME");
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, c DATETIME)");
  const ins = db.prepare("INSERT INTO t (c) VALUES (?)");
  for (const v of ["2024-01-02T03:04:05", "2024-01-03T03:04:05.5", "2024-01-04 03:04:05", null]) ins.run(v);
  const t = { source: "t", target: "t", columns: [dt], sourceKey: ["id"], withoutRowid: false } as unknown as TablePlan;
  const forms = readColumnForms(db, t, dt);
  db.close();
  assert.equal(forms.families.size, 2, "'T' and ' ' separated text are two layouts; NULL is none");
  assert.equal(forms.latest, familyOf(dt, "2024-01-04 03:04:05")!.key);
  assert.notEqual(familyOf(dt, "2024-01-02T03:04:05")!.key, familyOf(dt, "2024-01-02 03:04:05")!.key);
  assert.equal(familyOf(dt, null), undefined);
});

test("fractions of a second: several lengths with trailing zeros tell no rule", () => {
  const dt = column("DATETIME");
  const family = familyOf(dt, "2024-01-02 03:04:05.10")!.family;
  assert.equal(fractionPolicy({ family, lengths: new Set([2, 3]), trailingZero: true }).type, "unknown");
  assert.deepEqual(fractionPolicy({ family, lengths: new Set([3]), trailingZero: true }), { type: "fixed", digits: 3, omitWhenZero: false });
});

// The date and time converters (src/engine/types/convert-dates.ts), value by
// value: SQLite's text and numbers out as PostgreSQL prints them back. That
// PostgreSQL takes and prints them so is convert.test.ts's type zoo.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dateConverter, timeConverter, timestampConverter } from "../../../src/engine/types/convert-dates";
import { Reject } from "../../../src/engine/types/convert";

const refused = (fn: () => unknown, reason: RegExp) => assert.throws(fn, (e: unknown) => e instanceof Reject && reason.test(e.reason));

test("timestamps: ISO text in UTC without trailing zeros, numbers in the column's unit", () => {
  const ts = timestampConverter(false, "epoch-s");
  assert.equal(ts("2024-01-02 03:04:05.120000"), "2024-01-02 03:04:05.12");
  assert.equal(ts("2024-01-02T03:04:05Z"), "2024-01-02 03:04:05");
  assert.equal(ts("2024-01-02 03:04:05+02:00"), "2024-01-02 01:04:05");
  assert.equal(ts("2024-02-29"), "2024-02-29 00:00:00");
  assert.equal(ts(1704164645), "2024-01-02 03:04:05");
  assert.equal(ts(null), "\\N");
  assert.equal(timestampConverter(true, "epoch-ms")(1704164645123n), "2024-01-02 03:04:05.123+00");
  assert.equal(timestampConverter(false, "yyyymmdd")(20240102), "2024-01-02 00:00:00");
  refused(() => ts("2023-02-29 00:00:00"), /impossible date/);
  refused(() => ts("2023-02-29"), /impossible date/);
  refused(() => ts("2024-01-02 03:04:05.1234567"), /more than 6 fractional/);
  refused(() => ts("yesterday"), /not an ISO-8601/);
});

test("dates refuse a time of day; times keep HH:MM:SS and drop trailing zeros", () => {
  const date = dateConverter("epoch-s");
  assert.equal(date("2024-01-02"), "2024-01-02");
  assert.equal(date(1704153600), "2024-01-02");
  refused(() => date("2024-01-02 03:04:05"), /time of day/);
  refused(() => date(1704164645), /with a time of day/);
  assert.equal(timeConverter("03:04"), "03:04:00");
  assert.equal(timeConverter("03:04:05.500"), "03:04:05.5");
  refused(() => timeConverter("24:00"), /not a time of day/);
});

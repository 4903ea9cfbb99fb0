// The column-type table against a real PostgreSQL 16: every kind's DDL type is
// one PostgreSQL reads back as the same kind (--schema existing), its --cast
// name parses to it, and its canonical form makes what the converter sent and
// what PostgreSQL stored and printed back compare equal — numeric(p,s) rounded
// the way PostgreSQL rounds — while different values stay different.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { parseOverride } from "../../../src/engine/types/cast-rules";
import { COLUMN_TYPES, canonicalFor, castForPgType, converterFor, makeCast, roundDecimal, type CastKind } from "../../../src/engine/types/column-types";
import { session } from "../../../src/engine/migrate";
import { sameValue } from "../../../src/engine/compare";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";

let pgs: TestPostgres;
// pgshift's own session settings (UTC, float digits), as the copy and verify use them.
let client: Awaited<ReturnType<typeof session>>;
before(async () => {
  pgs = await startPostgres();
  client = await session(pgs.url());
});
after(async () => {
  await client?.end();
  await pgs?.stop();
});
const query = async <T extends object>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[];

const KINDS = Object.keys(COLUMN_TYPES) as CastKind[];
const SIZE = { length: 12, scale: 2 };

test("every kind's DDL type reads back from PostgreSQL as that kind, and its --cast name parses to it", async () => {
  const columns = KINDS.map((k, i) => `c${i} ${makeCast(k, "test", SIZE).pgType}`).join(", ");
  await query(`CREATE TABLE public.kinds (${columns})`);
  const rows = await query<{ attnum: number; t: string }>(
    "SELECT attnum, format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'public.kinds'::regclass AND attnum > 0 ORDER BY attnum",
  );
  assert.equal(rows.length, KINDS.length);
  for (const [i, k] of KINDS.entries()) {
    const back = castForPgType(rows[i]!.t, "target column");
    assert.equal(back.kind, k, `${k}: PostgreSQL prints ${rows[i]!.t}`);
    if (k === "numeric") assert.equal(back.scale, 2, "numeric(12,2)'s scale is read once, from the type");
    const spec = k === "varchar" ? "varchar(12)" : COLUMN_TYPES[k].castName;
    assert.equal(parseOverride(spec).kind, k, `--cast …=${spec}`);
  }
  assert.equal(castForPgType("character varying(20)", "t").length, 20);
  assert.equal(castForPgType("mood_enum", "t").kind, "text", "types pgshift does not know take PostgreSQL's text input");
});

/** Values as SQLite hands them over, per kind, all of which the kind's converter accepts. */
const SAMPLES: Record<CastKind, unknown[]> = {
  text: ["plain", "tab\there", "back\\slash", 42],
  varchar: ["short", "é€😀"],
  bigint: [0, -9007199254740991, "9223372036854775807"],
  integer: [2147483647, " 12 "],
  smallint: [-32768, 3.0],
  boolean: [1, 0, "yes", "OFF"],
  double: [0.1 + 0.2, 1e300, -0, 5e-324, "NaN", "-Infinity", "1.50"],
  numeric: [1.005, "-2.675", "0.125", "2.5", "1e-3", 0.1 + 0.2, "123456789.995", "-0.004"],
  timestamp: ["2024-02-29 23:59:59.120000", "2024-01-01T10:00Z", "2024-01-01 12:00:00+02:00", 1700000000.5],
  timestamptz: ["2024-06-01 08:30", "1999-12-31T23:59:59.999999-05:00"],
  date: ["2024-02-29", 1704067200],
  time: ["08:30", "23:59:59.500"],
  json: ['{"a":1,"a":2}', " [1, 2.50 ] ", 3, "3.0"],
  jsonb: ['{"b": 1, "a": [1, 2.50, {"z": null, "y": true}]}', "3.0", '"x"'],
  bytea: [Buffer.from([0, 1, 255]), "text as bytes"],
  uuid: ["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", Buffer.alloc(16, 0xab), "{a0eebc999c0b4ef8bb6d6bb9bd380a11}"],
};

test("the canonical form makes what was sent and what PostgreSQL printed back the same value", async () => {
  for (const [n, k] of KINDS.entries()) {
    const cast = makeCast(k, "test", SIZE);
    const convert = converterFor(cast);
    const canonical = canonicalFor(cast);
    const sent = SAMPLES[k].map((v) => convert(v));
    // The way the copy and verify go: COPY FROM STDIN with the converter's fields, COPY TO STDOUT in the same order.
    await query(`CREATE TABLE public.sample${n} (n int, v ${cast.pgType})`);
    const copy = client.query(copyFrom(`COPY public.sample${n} (n, v) FROM STDIN`));
    await pipeline(Readable.from([sent.map((f, i) => `${i}\t${f}\n`).join("")]), copy);
    let text = "";
    for await (const chunk of client.query(copyTo(`COPY (SELECT v FROM public.sample${n} ORDER BY n) TO STDOUT`)) as AsyncIterable<Buffer>)
      text += chunk.toString("utf8");
    const printed = text.split("\n").slice(0, -1);
    assert.equal(printed.length, sent.length);
    for (const [i, v] of SAMPLES[k].entries()) {
      assert.ok(sameValue(canonical, sent[i]!, printed[i]!), `${k}: ${String(v)} was sent as ${sent[i]}, PostgreSQL printed ${printed[i]}`);
    }
  }
});

test("the canonical form tells different values apart", () => {
  const differ: [CastKind, string, string][] = [
    ["numeric", "1.004", "1.01"],
    ["numeric", "-1.005", "-1.00"],
    ["double", "0.30000000000000004", "0.3"],
    ["timestamp", "2024-01-01 10:00:00.5", "2024-01-01 10:00:00"],
    ["time", "08:30", "08:30:01"],
    ["jsonb", '{"a": 1}', '{"a": 2}'],
    ["uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"],
    ["text", "A", "a"],
    ["bigint", "1", "\\N"],
  ];
  for (const [k, a, b] of differ) assert.equal(sameValue(canonicalFor(makeCast(k, "test", SIZE)), a, b), false, `${k}: ${a} vs ${b}`);
  const same: [CastKind, string, string][] = [
    ["numeric", "1.005", "1.01"],
    ["jsonb", '{"b": 1, "a": 2}', '{"a": 2, "b": 1}'],
    ["uuid", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
    ["time", "08:30", "08:30:00"],
    ["double", "1e3", "1000"],
  ];
  for (const [k, a, b] of same) assert.equal(sameValue(canonicalFor(makeCast(k, "test", SIZE)), a, b), true, `${k}: ${a} vs ${b}`);
});

test("numeric rounding matches PostgreSQL's (half away from zero, on the decimal text)", async () => {
  const values = ["1.005", "-1.005", "2.675", "0.125", "-0.125", "9.995", "99.5", "-99.5", "0.0049", "123456789012345678.905", "5", "-0.005"];
  for (const scale of [0, 2]) {
    for (const v of values) {
      const [row] = await query<{ t: string }>(`SELECT $1::numeric(40,${scale})::text AS t`, [v]);
      const mine = roundDecimal(v, scale);
      const theirs = row!.t
        .replace(/(\.\d*?)0+$/, "$1")
        .replace(/\.$/, "")
        .replace(/^-0$/, "0");
      assert.equal(mine, theirs, `${v} at scale ${scale}`);
    }
  }
});

test("every per-kind fact lives in COLUMN_TYPES: the default translation and the sync-back name no kind", () => {
  // A kind tested by name outside column-types.ts is a fact a new type must be added to in a second place.
  const kinds = Object.keys(COLUMN_TYPES).join("|");
  const byName = new RegExp(`(\\bk|\\.kind|\\bkind)\\s*[!=]==\\s*"(${kinds})"|\\[[^\\]]*"(${kinds})"[^\\]]*\\]\\.includes`, "g");
  const root = join(__dirname, "..", "..", "..", "src", "engine");
  for (const file of ["types/column-defaults.ts", ...readdirSync(join(root, "sync-back")).map((f) => `sync-back/${f}`)]) {
    const found = readFileSync(join(root, file), "utf8").match(byName);
    assert.equal(found, null, `${file} tests kinds by name: ${found?.join("; ")}`);
  }
});

// The C jsonb text form (src/engine/sqlite/native/jsonb-text.h, through copy-text.c's
// pgshift_copy_field) against the TypeScript one it stands in for:
// escapeCopy(jsonbText(x)) byte for byte whenever C answers, NULL whenever
// jsonbText refuses, and no NULL on the inputs rows are made of. Then a sample
// against PostgreSQL 16 itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import Database from "better-sqlite3";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { loadExtension } from "../../../../src/engine/sqlite/native";
import { copyTextExtension } from "../../../../src/engine/sqlite/copy-text";
import { jsonbText } from "../../../../src/engine/types/jsonb-text";
import { escapeCopy, unescapeCopy } from "../../../../src/engine/types/convert";
import { startPostgres, type TestPostgres } from "../../../helpers/postgres";
import { seededRandom } from "../../../../scripts/seeded-random";

/** jsonb-text.h's JT_MAX_DEPTH */
const MAX_DEPTH = 256;

let db: Database.Database;
let field: Database.Statement;
let pgs: TestPostgres;

before(async () => {
  const built = copyTextExtension();
  assert.ok("path" in built, `copy-text.c must build on a machine that built better-sqlite3: ${JSON.stringify(built)}`);
  db = new Database(":memory:");
  loadExtension(db, built);
  field = db.prepare("SELECT pgshift_copy_field('j', ?)").pluck();
  pgs = await startPostgres();
});
after(async () => {
  db?.close();
  await pgs?.stop();
});

const c = (text: string) => field.get(text) as string | null;

/** What convert.ts writes for the value, or null where it refuses it. */
function js(text: string): string | null {
  try {
    return escapeCopy(jsonbText(text));
  } catch {
    return null;
  }
}

/** C equals JavaScript where it answers and answers NULL where JavaScript refuses; returns C's answer. */
function agrees(text: string): string | null {
  const want = js(text);
  const got = c(text);
  if (want === null) assert.equal(got, null, `jsonbText refuses ${JSON.stringify(text)}, so C must leave it to JavaScript`);
  else if (got !== null) assert.equal(got, want, `for ${JSON.stringify(text)}`);
  return got;
}

const nest = (depth: number, open: string, close: string, inner = "1") => open.repeat(depth) + inner + close.repeat(depth);
const manyKeys = (n: number, key: (k: number) => string) => "{" + Array.from({ length: n }, (_, k) => `"${key(k)}": ${k}`).join(",") + "}";

// Inputs C must convert itself (a stub that bails on everything fails here).
const COMMON = [
  "{}",
  "[]",
  "  { }  ",
  "[ ]",
  "0",
  "-0",
  "-0.0",
  "-0.000",
  "-1.50",
  "1.50",
  "0.10",
  "-17",
  "12345678901234567890123456789.123456789",
  "true",
  "false",
  "null",
  '"x"',
  '""',
  " \t\r\n 1 \t\r\n ",
  // exponents: numericText moves the point and keeps the scale
  "1e2",
  "1E+2",
  "1.5e1",
  "1.50e1",
  "1e-2",
  "-1.25E-3",
  "123e-1",
  "0.000e5",
  "-0e5",
  "-0.0e-3",
  "5e-3",
  "0.05e1",
  "0.05e2",
  "10e-1",
  "1e0",
  "1e-0",
  "1e00005",
  "-5e-20",
  "12.34e-10",
  "12.34e1",
  "12.34e2",
  "12.34e3",
  "9.99e-1",
  "1e-05",
  "2.5E+20",
  "1e100000",
  "1".repeat(31072) + "e100000",
  "-1e-16383",
  "0." + "1".repeat(16383),
  "1".repeat(131072),
  '{"p":[1e-7,-2.50E+3,0e0]}',
  '{"b": 1, "a": 2}',
  '{"bb":1,"a":2,"c":3}',
  '{"é":1,"z":2,"ab":3}',
  '{"ä":1,"b":2,"€":3}',
  '{"ab":1,"ba":2,"aa":3,"bb":4}',
  '{ "a" : [ 1 , 2 ] , "b" : { } }',
  '{"sentiment": 0.35, "lang": "tr", "tags": ["a", "b"], "scores": [0.5, -0, 3], "nested": {"z": null, "y": true}}',
  '[1, [2, [3, {"x": null}]], "y"]',
  '"tab\\there"',
  '"quote \\" and \\\\ slash \\/"',
  '"\\u00e9\\u20ac"',
  '"\\u00E9\\u20AC"',
  '"\\ud83d\\ude00 emoji 😀"',
  '"\\uD83D\\uDE00"',
  '"\\u001f ctl \\u007f del \\u0001"',
  '"\\b\\f\\n\\r\\t"',
  '"\\u0008\\u000c\\u000a\\u000d\\u0009"',
  '"Türkçe ığüşöç"',
  '{"a":"\\u0041"}',
  '"line\\u2028sep"',
  '"\\u0022\\u005c\\u002f"',
  '"\\\\\\\\"',
  '"raw \u007f del"',
  '{"\\"":1,"\\\\":2,"\\n":3,"a":4}',
  '{"back\\\\slash":"v\\\\al"}',
  '{"k\\u0001":1,"k\\u001F":2,"k\\t":3}',
  '{"😀":1,"日本":3,"abc":4,"abcd":5}',
  manyKeys(300, (k) => `k${(k * 7919) % 1000}`), // past the members kept on the stack, and qsort's path
  manyKeys(200, (k) => `\\u00e9${"x".repeat(k % 17)}${k}`), // past the decoded keys kept on the stack
  manyKeys(20, (k) => `key${19 - k}`),
  // the most growth per input byte (C reserves twice the input up front)
  '["' + "\\\\".repeat(40000) + '"]',
  "[" + "1,".repeat(40000) + "1]",
  '{"\\\\":"\\\\","\\"":"\\u0001"}',
  nest(MAX_DEPTH, "[", "]"),
  nest(MAX_DEPTH - 1, "[", "]", '{"b":1,"a":2}'),
  // MAX_DEPTH containers: 255 objects, the innermost holding an empty array
  "{" + Array.from({ length: MAX_DEPTH - 2 }, () => '"a": {').join("") + '"b":1,"a":[]' + "}".repeat(MAX_DEPTH - 1),
];

// Inputs jsonbText refuses: C must answer NULL for each.
const REFUSED = [
  '{"a":1,}',
  "[1,]",
  "01",
  "-01",
  "1.",
  ".5",
  "+1",
  "-",
  "--1",
  "NaN",
  "Infinity",
  "-Infinity",
  '"\\u0000"',
  '"a\\u0000b"',
  '"\\ud800"',
  '"\\udc00"',
  '"\\ud800\\u0041"',
  '"\\ud800\\"',
  '"\\ud800x"',
  '"\\udbff\\ud800"',
  '"bad \\x escape"',
  '"\\u12"',
  '"\\u12g4"',
  '"\\',
  '"\\u',
  '{"a" 1}',
  "[1 2]",
  '"raw\ttab"',
  '"raw\nnl"',
  '"raw\u0001"',
  "tru",
  "nul",
  "fals",
  "truex",
  "true false",
  "{",
  "[",
  "}",
  "]",
  '"unterminated',
  "1 2",
  "",
  "   ",
  '{"a":1',
  '{"a":1 "b":2}',
  '{"a"}',
  "{a:1}",
  "{'a':1}",
  '{"a":1}}',
  "[1]]",
  "[}",
  "{]",
  '{"a":}',
  "[,1]",
  "1.5.5",
  "0x10",
  "1e",
  "1e+",
  "[1e]",
  "1e100001",
  "1e-100001",
  "1e" + "9".repeat(400),
  "1e+-1",
  "1.e5",
  "1e5.5",
  '{"a":1,"a":2,}',
  "\u00a01",
  "1\u00a0",
  // a duplicate key (jsonb would keep only the last value): JavaScript refuses it, naming the row
  '{"a":1,"a":2}',
  '{"a":{"a":1,"a":[1,2]},"a":3}',
  '{"b":1,"a":2,"b":3,"a":4,"c":5}',
  '{"\\u00e9":1,"é":2}',
  '{"😀":1,"\\ud83d\\ude00":2}',
  '{"ok":{"b": 1, "a": 2, "b": [ -0.0 , 1.50 ]}}',
  manyKeys(40, (k) => (k % 3 ? "dup" : `d${k}`)),
];

// Accepted by jsonbText, left to JavaScript by C: numbers PostgreSQL's numeric
// cannot hold (more than 16,383 fraction or 131,072 integer digits: jsonbText
// writes them, PostgreSQL refuses them), and nesting past C's limit.
const LEFT_TO_JS = [
  "-1e-100000",
  "1.5e-16383",
  "1e-16384",
  "1".repeat(31073) + "e100000",
  "0." + "1".repeat(16384),
  "1".repeat(131073),
  "-" + "1".repeat(131073) + ".5",
  nest(MAX_DEPTH + 1, "[", "]"),
  nest(MAX_DEPTH + 1, '{"a":', "}"),
];

test("C converts the common forms itself, exactly as convert.ts does", () => {
  for (const text of COMMON) {
    assert.notEqual(js(text), null, `a valid input: ${text.slice(0, 80)}`);
    assert.notEqual(c(text), null, `C must not leave ${JSON.stringify(text.slice(0, 80))} to JavaScript`);
    agrees(text);
  }
  // A few outputs spelled out, so the differential test cannot pass with both sides wrong the same way.
  assert.equal(c('{"c": 1, "a": 2, "b": [ -0.0 , 1.50 ]}'), '{"a": 2, "b": [0.0, 1.50], "c": 1}');
  assert.equal(c('{"é":"\\u00e9","z":"\\n","ab":"\\\\"}'), '{"z": "\\\\n", "ab": "\\\\\\\\", "é": "é"}');
  assert.equal(c('"\\u001f\\"\\/"'), '"\\\\u001f\\\\"/"');
  assert.deepEqual(["1.50e1", "-1.25E-3", "5e-3", "-0.0e-3", "0.05e2", "12.34e3"].map(c), ["15.0", "-0.00125", "0.005", "0.0000", "5", "12340"]);
});

test("C refuses what jsonbText refuses, and leaves deep nesting to JavaScript", () => {
  for (const text of REFUSED) {
    assert.equal(js(text), null, `jsonbText must refuse ${JSON.stringify(text)}`);
    assert.equal(c(text), null, `for ${JSON.stringify(text)}`);
  }
  for (const text of LEFT_TO_JS) {
    assert.notEqual(js(text), null, `jsonbText accepts ${text.slice(0, 40)}`);
    assert.equal(c(text), null, `C leaves ${JSON.stringify(text.slice(0, 40))} to JavaScript`);
  }
});

/** Random JSON text: nested containers, awkward keys and strings, numbers (`exponents`: some with one). */
function generator(seed: number, exponents: boolean) {
  const rand = seededRandom(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]) => xs[int(xs.length)]!;
  const ws = () => (rand() < 0.6 ? "" : pick([" ", "  ", "\t", "\n", "\r\n", " \n\t "]));
  const hex4 = (cp: number) => {
    const h = cp.toString(16).padStart(4, "0");
    return "\\u" + (rand() < 0.5 ? h : h.toUpperCase());
  };
  const codePoint = (): number => {
    const r = rand();
    if (r < 0.3) return 0x80 + int(0x780);
    if (r < 0.8) {
      const cp = 0x800 + int(0xf800);
      return cp >= 0xd800 && cp <= 0xdfff ? 0x4e2d : cp;
    }
    return 0x10000 + int(0x100000);
  };
  const piece = (): string => {
    const r = rand();
    if (r < 0.3) return pick(["a", "b", "key", "x y", "Z", "0", "_", "İ", "ß"]);
    if (r < 0.45) return String.fromCodePoint(codePoint());
    if (r < 0.6) return pick(['\\"', "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"]);
    if (r < 0.7) return hex4(1 + int(0x7f)); // ASCII by \u, control characters included
    if (r < 0.8) {
      const cp = codePoint();
      if (cp < 0x10000) return hex4(cp);
      const v = cp - 0x10000;
      return hex4(0xd800 + (v >> 10)) + hex4(0xdc00 + (v & 0x3ff));
    }
    if (r < 0.85) return "\u007f";
    return pick(["", "ab", "ba", "aa", "é", "\\u00e9"]);
  };
  const body = () => Array.from({ length: int(7) }, piece).join("");
  const digits = (n: number) => Array.from({ length: n }, () => int(10)).join("");
  const number = (): string => {
    let s = rand() < 0.3 ? "-" : "";
    s += rand() < 0.3 ? "0" : String(1 + int(9)) + digits(int(rand() < 0.1 ? 30 : 5));
    if (rand() < 0.4) s += "." + (rand() < 0.2 ? "0".repeat(1 + int(4)) : digits(1 + int(rand() < 0.1 ? 25 : 4)));
    if (exponents && rand() < 0.3) s += pick(["e", "E"]) + pick(["", "+", "-"]) + digits(1 + int(2));
    return s;
  };
  const value = (depth: number): string => {
    const r = rand();
    if (depth > 5 || r < 0.25) return number();
    if (r < 0.5) return `"${body()}"`;
    if (r < 0.57) return pick(["true", "false", "null"]);
    if (r < 0.75) return "[" + ws() + Array.from({ length: int(6) }, () => value(depth + 1)).join(ws() + "," + ws()) + ws() + "]";
    // Keys from a small pool per object, so equal lengths are common; sometimes many keys (qsort's path).
    const pool = Array.from({ length: 1 + int(6) }, () => body());
    const n = rand() < 0.05 ? 17 + int(40) : int(9);
    // One of each key (by its decoded text: "\\u00e9" and "é" are one key): a duplicate is refused, tested apart.
    const seen = new Set<string>();
    const keys = Array.from({ length: n }, () => (rand() < 0.7 ? pick(pool) : body())).filter((k) => {
      const decoded = JSON.parse(`"${k}"`) as string;
      return !seen.has(decoded) && seen.add(decoded);
    });
    const members = keys.map((k) => `${ws()}"${k}"${ws()}:${ws()}${value(depth + 1)}${ws()}`);
    return "{" + members.join(",") + ws() + "}";
  };
  return { doc: () => ws() + value(0) + ws(), rand, int, pick };
}

test("C equals escapeCopy(jsonbText(x)) on 4,000 generated documents, and converts every one", () => {
  for (const [seed, exponents, count] of [
    [1, false, 2000],
    [2, true, 2000],
  ] as const) {
    const g = generator(seed, exponents);
    for (let k = 0; k < count; k++) {
      const text = g.doc();
      assert.notEqual(js(text), null, `the generator writes valid JSON: ${text}`);
      assert.notEqual(agrees(text), null, `C must convert ${JSON.stringify(text)}`);
    }
  }
});

test("C answers NULL wherever jsonbText refuses a broken document (truncated, a character inserted or dropped)", () => {
  const g = generator(3, true);
  const junk = ["{", "}", "[", "]", ",", ":", '"', "\\", " ", "0", "-", ".", "e", "u", "\u0001", "x"];
  let refused = 0;
  for (let k = 0; k < 3000; k++) {
    const doc = g.doc();
    const at = g.int(doc.length + 1);
    const r = g.rand();
    const broken = r < 0.3 ? doc.slice(0, at) : r < 0.7 ? doc.slice(0, at) + g.pick(junk) + doc.slice(at) : doc.slice(0, at) + doc.slice(at + 1);
    if (js(broken) === null) refused++;
    agrees(broken);
  }
  assert.ok(refused > 1000, `most broken documents are refused by jsonbText (${refused} of 3000)`);
});

test("in the pgshift_copy_text aggregate, each row's object is ordered in place after the rows before it", () => {
  const g = generator(4, false);
  const docs = Array.from({ length: 500 }, () => g.doc());
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, j TEXT)");
  const ins = db.prepare("INSERT INTO t VALUES (?, ?)");
  docs.forEach((d, k) => ins.run(k + 1, d));
  const copy = db.prepare("SELECT pgshift_copy_text('i,j', id, j) FROM (SELECT id, j FROM t ORDER BY id)").pluck();
  const got = copy.get() as Buffer;
  assert.ok(Buffer.isBuffer(got), "the aggregate converts these rows itself");
  assert.equal(got.toString("utf8"), docs.map((d, k) => `${k + 1}\t${escapeCopy(jsonbText(d))}\n`).join(""));
  ins.run(501, '{"n": 1e3, "m": [1e-7]}');
  ins.run(502, nest(MAX_DEPTH + 1, "[", "]"));
  assert.equal(copy.get(), null, "one row C does not convert leaves the whole batch to JavaScript");
  db.exec("DELETE FROM t WHERE id = 502");
  assert.ok((copy.get() as Buffer).toString("utf8").endsWith('501\t{"m": [0.0000001], "n": 1000}\n'));
});

test("C's output, unescaped, is what PostgreSQL 16 prints for the same text cast to jsonb", async () => {
  const g = generator(5, true);
  const docs = [...COMMON, ...Array.from({ length: 1500 }, () => g.doc())];
  const ours = docs.map((d) => c(d));
  ours.forEach((o, k) => assert.notEqual(o, null, `C converts ${docs[k]!.slice(0, 80)}`));
  const rows = await pgs.query<{ t: string }>("SELECT d::jsonb::text AS t FROM unnest($1::text[]) WITH ORDINALITY AS u(d, n) ORDER BY n", [docs]);
  assert.equal(rows.length, docs.length);
  docs.forEach((d, k) => assert.equal(unescapeCopy(ours[k]!), rows[k]!.t, `for ${JSON.stringify(d.slice(0, 200))}`));
});

test("as binary COPY tuples (pgshift_copy_binary) the same values load into PostgreSQL 16: jsonb's version byte, COPY's doubled backslashes undone", async () => {
  const g = generator(6, true);
  const docs = [...COMMON, ...Array.from({ length: 1500 }, () => g.doc())];
  db.exec("CREATE TABLE b (id INTEGER PRIMARY KEY, j TEXT)");
  const ins = db.prepare("INSERT INTO b VALUES (?, ?)");
  docs.forEach((d, k) => ins.run(k + 1, d));
  const tuples = db.prepare("SELECT pgshift_copy_binary('i,j', id, j) FROM (SELECT id, j FROM b ORDER BY id)").pluck().get() as Buffer | null;
  assert.ok(Buffer.isBuffer(tuples), "C converts every row itself");
  const client = new pg.Client({ connectionString: await pgs.createDatabase() });
  await client.connect();
  try {
    await client.query("CREATE TABLE b (id integer, j jsonb)");
    const header = Buffer.concat([Buffer.from("PGCOPY\n\xff\r\n\0", "latin1"), Buffer.alloc(8)]);
    const trailer = Buffer.from([0xff, 0xff]);
    await pipeline(Readable.from([header, tuples, trailer]), client.query(copyFrom("COPY b FROM STDIN (FORMAT binary)")));
    const { rows } = await client.query<{ t: string }>("SELECT j::text AS t FROM b ORDER BY id");
    assert.equal(rows.length, docs.length);
    docs.forEach((d, k) => assert.equal(rows[k]!.t, jsonbText(d), `for ${JSON.stringify(d.slice(0, 200))}`));
  } finally {
    await client.end();
  }
});

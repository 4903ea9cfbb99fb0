// jsonbText must print exactly what PostgreSQL prints for the same jsonb value:
// checked against a real PostgreSQL 16 on hand-picked edge cases and on a few
// thousand generated documents, and it must refuse exactly what jsonb refuses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { jsonbText, numericText, JsonTextError } from "../../../src/engine/types/jsonb-text";
import { startPostgres, type TestPostgres } from "../../helpers/postgres";

let pgs: TestPostgres;
before(async () => {
  pgs = await startPostgres();
});
after(() => pgs?.stop());

async function postgresText(inputs: string[]): Promise<(string | Error)[]> {
  const out: (string | Error)[] = [];
  for (const input of inputs) {
    try {
      const [row] = await pgs.query<{ t: string }>("SELECT $1::jsonb::text AS t", [input]);
      out.push(row!.t);
    } catch (e) {
      out.push(e as Error);
    }
  }
  return out;
}

const EDGE = [
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
  "1e2",
  "1E+2",
  "1.5e1",
  "1.50e1",
  "1e-2",
  "-1.25E-3",
  "123e-1",
  "0.000e5",
  "12345678901234567890123456789.123456789",
  "1e30",
  "-5e-20",
  "true",
  "false",
  "null",
  '"x"',
  '""',
  '{"b": 1, "a": 2}',
  '{"bb":1,"a":2,"c":3}',
  '{"é":1,"z":2,"ab":3}',
  '{"ä":1,"b":2,"€":3}',
  '{"sentiment": 0.35, "lang": "tr"}',
  '[1, [2, [3, {"x": null}]], "y"]',
  '"tab\\there"',
  '"quote \\" and \\\\ slash \\/"',
  '"\\u00e9\\u20ac"',
  '"\\ud83d\\ude00 emoji 😀"',
  '"\\u001f ctl \\u007f del"',
  '"\\b\\f\\n\\r\\t"',
  '"Türkçe ığüşöç"',
  '{"a":"\\u0041"}',
  '"line\\u2028sep"',
  // refused by both
  '{"a":1,}',
  "[1,]",
  "01",
  "1.",
  ".5",
  "+1",
  "NaN",
  "Infinity",
  '"\\u0000"',
  '"\\ud800"',
  '"\\udc00"',
  '"\\ud800\\u0041"',
  '"bad \\x escape"',
  '{"a" 1}',
  "[1 2]",
  '"raw\ttab"',
  "tru",
  "{",
  '"unterminated',
  "1 2",
  "",
];

test("an object with a duplicate key is refused: jsonb would keep only the last value", async () => {
  const dups = ['{"a":1,"a":2}', '{"a":{"a":1,"a":[1,2]},"a":3}', '[{"x":1},{"b":1,"a":2,"b":3}]', '{"\\u00e9":1,"é":2}'];
  const collapsed = await postgresText(dups);
  dups.forEach((d, k) => {
    assert.ok(
      !(collapsed[k] instanceof Error) && (collapsed[k] as string).length < d.length,
      `PostgreSQL's jsonb drops a value of ${d}: ${String(collapsed[k])}`,
    );
    assert.throws(() => jsonbText(d), /twice; jsonb would keep only the last value/, d);
  });
});

test("matches PostgreSQL 16 on edge cases, and refuses what jsonb refuses", async () => {
  const expected = await postgresText(EDGE);
  EDGE.forEach((input, k) => {
    const pgResult = expected[k]!;
    if (pgResult instanceof Error) {
      assert.throws(() => jsonbText(input), JsonTextError, `PostgreSQL refused ${JSON.stringify(input)} (${pgResult.message}); so must we`);
    } else {
      assert.equal(jsonbText(input), pgResult, `for ${JSON.stringify(input)}`);
    }
  });
});

/** Deterministic random JSON documents with the awkward parts: non-ASCII and escaped keys, escapes, exponents. */
function* documents(n: number): Generator<string> {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const keys = ["a", "b", "aa", "ab", "B", "é", "ğ", "key", "k e y", "\\u00e9", "😀", "longer_key", "z"];
  const numbers = ["0", "-0", "1", "-17", "3.14", "2.50", "1e3", "1.5E-4", "-2e+2", "0.10", "9007199254740993", "1e-10"];
  const strings = ['"x"', '""', '"tab\\t"', '"nl\\n"', '"q\\"q"', '"\\u00fc"', '"😀"', '"\\/"', '"back\\\\slash"', '"İstanbul"'];
  const value = (depth: number): string => {
    const r = rand();
    if (depth > 3 || r < 0.3) return pick(numbers);
    if (r < 0.55) return pick(strings);
    if (r < 0.62) return pick(["true", "false", "null"]);
    const sp = () => pick(["", " ", "\n", "  "]);
    if (r < 0.8) return "[" + sp() + Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1)).join("," + sp()) + sp() + "]";
    // Each key once (by its decoded text): duplicates are refused, tested apart.
    const own = [...new Map(Array.from({ length: Math.floor(rand() * 5) }, () => pick(keys)).map((k) => [JSON.parse(`"${k}"`) as string, k])).values()];
    return "{" + own.map((k) => `${sp()}"${k}"${sp()}:${sp()}${value(depth + 1)}`).join(",") + sp() + "}";
  };
  for (let k = 0; k < n; k++) yield value(0);
}

test("matches PostgreSQL 16 on 3,000 generated documents", async () => {
  const docs = [...documents(3000)];
  const rows = await pgs.query<{ t: string }>("SELECT d::jsonb::text AS t FROM unnest($1::text[]) WITH ORDINALITY AS u(d, n) ORDER BY n", [docs]);
  docs.forEach((d, k) => assert.equal(jsonbText(d), rows[k]!.t, `for ${JSON.stringify(d)}`));
});

test("numericText applies the exponent and keeps the scale", () => {
  assert.equal(numericText("1.50e1"), "15.0");
  assert.equal(numericText("-0.00"), "0.00");
  assert.equal(numericText("5e-3"), "0.005");
  assert.throws(() => numericText("1e999999"), /out of range/);
});

test("objects whose key lists share a count and key lengths, in turn, each get their own order", async () => {
  // Same count, first and last key lengths: one slot of the key-list cache.
  const shapes = ['{"ab":1,"cd":2,"ef":3}', '{"cd":1,"ab":2,"ef":3}', '{"ab":1,"xy":2,"ef":3}', '{"ef":1,"cd":2,"ab":3}', '{"ab":1,"ba":2,"ef":3}'];
  const docs = [1, 2, 3].flatMap(() => shapes).concat(['[{"b":1,"a":2},{"a":3,"b":4},{"b":5,"a":6}]']);
  const expected = await postgresText(docs);
  docs.forEach((d, k) => assert.equal(jsonbText(d), expected[k], `for ${d}`));
});

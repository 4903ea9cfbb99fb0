// Verification: every row of every table, compared as values, streamed on both
// sides. Tables with a key are merged in key order, so the first differing rows
// can be named; tables without one are compared as multisets of row digests.
// Right after a copy there is a faster proof: the table read back in key order
// must hash to exactly the bytes that were sent (copy.ts), which convert.ts
// writes in PostgreSQL's own output form. Only when that differs is SQLite read
// again, to name the rows that differ.
import { createHash } from "node:crypto";
import { StringDecoder } from "node:string_decoder";
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { qualified, quoteIdent } from "./identifiers";
import type { CopyResult } from "./copy";
import type { ColumnPlan, TablePlan } from "./plan";
import type { TableReader } from "./source";

export interface RowDifference {
  key: Record<string, string>;
  problem: "missing in PostgreSQL" | "extra in PostgreSQL" | "values differ";
  columns?: { column: string; source: string; target: string }[];
}

export interface TableVerification {
  source: string;
  target: string;
  sourceRows: number;
  targetRows: number;
  match: boolean;
  method: "copy digest" | "range digests" | "key order" | "multiset digest";
  differences: RowDifference[];
}

const MAX_DIFFS = 5;
const ORDERABLE = new Set(["smallint", "integer", "bigint", "text", "varchar"]);

export function unescapeCopy(field: string): string | null {
  if (field === "\\N") return null;
  if (field.indexOf("\\") === -1) return field;
  return field.replace(/\\(.)/g, (_m, c: string) => ({ n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", v: "\v" })[c] ?? c);
}

const trimFraction = (s: string) => s.replace(/(\.\d*?)0+(?=$|[+-]|Z)/, "$1").replace(/\.(?=$|[+-]|Z)/, "");

function canonicalJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonicalJson);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonicalJson((v as Record<string, unknown>)[k])]));
  }
  return v;
}

/** Whether the value written and the value PostgreSQL returns are the same, for the column's type. */
export function sameValue(c: ColumnPlan, sourceField: string, targetField: string): boolean {
  if (sourceField === targetField) return true;
  const a = unescapeCopy(sourceField);
  const b = unescapeCopy(targetField);
  if (a === b) return true;
  if (a === null || b === null) return false;
  switch (c.cast.kind) {
    case "double":
      return Number(a) === Number(b) || (Number.isNaN(Number(a)) && Number.isNaN(Number(b)));
    case "numeric": {
      const scale = /numeric\(\d+,(\d+)\)/.exec(c.cast.pgType);
      if (scale) return Math.abs(Number(a) - Number(b)) <= 0.5 * 10 ** -Number(scale[1]) * (1 + 1e-9) + Number.EPSILON * Math.abs(Number(a));
      return Number(a) === Number(b) && normalizeDecimal(a) === normalizeDecimal(b);
    }
    case "timestamp":
    case "timestamptz":
    case "time":
    case "date":
      return trimFraction(a) === trimFraction(b) || trimFraction(a.replace(/^(\d{2}:\d{2})$/, "$1:00")) === trimFraction(b);
    case "jsonb":
      try {
        return JSON.stringify(canonicalJson(JSON.parse(a))) === JSON.stringify(canonicalJson(JSON.parse(b)));
      } catch {
        return false;
      }
    case "uuid":
      return a.replace(/[{}-]/g, "").toLowerCase() === b.replace(/[{}-]/g, "").toLowerCase();
    default:
      return false;
  }
}

function normalizeDecimal(s: string): string {
  const m = /^\s*([-+]?)(\d*)\.?(\d*)(?:[eE]([-+]?\d+))?\s*$/.exec(s);
  if (!m) return s;
  const exp = Number(m[4] ?? 0);
  let digits = (m[2] ?? "") + (m[3] ?? "");
  let point = (m[2] ?? "").length + exp;
  while (point > digits.length) digits += "0";
  while (point < 0) {
    digits = "0" + digits;
    point++;
  }
  const int = digits.slice(0, point).replace(/^0+(?=\d)/, "") || "0";
  const frac = digits.slice(point).replace(/0+$/, "");
  const sign = m[1] === "-" && /[1-9]/.test(int + frac) ? "-" : "";
  return sign + int + (frac ? "." + frac : "");
}

/** Lines of `COPY (SELECT …) TO STDOUT`, as raw text (fields still escaped and tab-separated). */
async function* targetLines(client: pg.Client, sql: string): AsyncGenerator<string> {
  const stream = client.query(copyTo(`COPY (${sql}) TO STDOUT`));
  let rest = "";
  // A chunk can end inside a multi-byte character; the decoder carries it over.
  const decoder = new StringDecoder("utf8");
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const text = rest + decoder.write(chunk);
    const lines = text.split("\n");
    rest = lines.pop() ?? "";
    yield* lines;
  }
  if (rest) yield rest;
}

/** The key's columns, and an ORDER BY that sorts PostgreSQL's rows as SQLite's reader does; undefined without a usable key. */
function keyOrder(t: TablePlan): { keyCols: number[]; orderBy: string } | undefined {
  const keyCols = t.sourceKey.map((k) => t.columns.findIndex((c) => c.source === k));
  if (keyCols.length === 0 || !keyCols.every((i) => i >= 0 && ORDERABLE.has(t.columns[i]!.cast.kind))) return undefined;
  const orderBy = keyCols
    .map((i) => {
      const c = t.columns[i]!;
      // citext compares case-insensitively even under "C": its text is what sorts by bytes.
      if (c.cast.pgType === "citext") return `${quoteIdent(c.target)}::text COLLATE "C"`;
      return ["text", "varchar"].includes(c.cast.kind) ? `${quoteIdent(c.target)} COLLATE "C"` : quoteIdent(c.target);
    })
    .join(", ");
  return { keyCols, orderBy };
}

const selectAll = (schema: string, t: TablePlan) => `SELECT ${t.columns.map((c) => quoteIdent(c.target)).join(", ")} FROM ${qualified(schema, t.target)}`;

/**
 * The table read back in key order against what copyTable sent. A match proves
 * every row arrived with every value as written; undefined means "not proven"
 * (no key, or some bytes differ), and the caller compares row by row.
 */
export async function verifyByDigest(client: pg.Client, schema: string, t: TablePlan, sent: CopyResult): Promise<TableVerification | undefined> {
  const order = keyOrder(t);
  if (!order) return undefined;
  const stream = client.query(copyTo(`COPY (${selectAll(schema, t)} ORDER BY ${order.orderBy}) TO STDOUT`));
  const hash = createHash("sha256");
  let rows = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
  }
  if (rows !== sent.rows || hash.digest("hex") !== sent.digest) return undefined;
  return { source: t.source, target: t.target, sourceRows: rows, targetRows: rows, match: true, method: "copy digest", differences: [] };
}

export async function verifyTable(client: pg.Client, schema: string, t: TablePlan, reader: TableReader): Promise<TableVerification> {
  const order = keyOrder(t);
  const ordered = order !== undefined;
  const base = selectAll(schema, t);
  const result: TableVerification = {
    source: t.source,
    target: t.target,
    sourceRows: 0,
    targetRows: 0,
    match: true,
    method: ordered ? "key order" : "multiset digest",
    differences: [],
  };
  if (order) {
    const { keyCols, orderBy } = order;
    const src = reader.rows()[Symbol.iterator]();
    let s = src.next();
    const keyOf = (row: string[]) => Object.fromEntries(keyCols.map((i) => [t.columns[i]!.source, unescapeCopy(row[i]!) ?? "NULL"]));
    const cmpKey = (a: string[], b: string[]): number => {
      for (const i of keyCols) {
        const kind = t.columns[i]!.cast.kind;
        const x = unescapeCopy(a[i]!) ?? "";
        const y = unescapeCopy(b[i]!) ?? "";
        if (kind === "text" || kind === "varchar") {
          const bx = Buffer.from(x);
          const by = Buffer.from(y);
          const c = Buffer.compare(bx, by);
          if (c !== 0) return c;
        } else {
          const bx = BigInt(x);
          const by = BigInt(y);
          if (bx !== by) return bx < by ? -1 : 1;
        }
      }
      return 0;
    };
    const note = (d: RowDifference) => {
      result.match = false;
      if (result.differences.length < MAX_DIFFS) result.differences.push(d);
    };
    for await (const line of targetLines(client, `${base} ORDER BY ${orderBy}`)) {
      result.targetRows++;
      // Fast path: the row came back exactly as it was written.
      if (!s.done && s.value.join("\t") === line) {
        result.sourceRows++;
        s = src.next();
        continue;
      }
      const trow = line.split("\t");
      while (!s.done && cmpKey(s.value, trow) < 0) {
        result.sourceRows++;
        note({ key: keyOf(s.value), problem: "missing in PostgreSQL" });
        s = src.next();
      }
      if (s.done || cmpKey(s.value, trow) > 0) {
        note({ key: keyOf(trow), problem: "extra in PostgreSQL" });
        continue;
      }
      result.sourceRows++;
      const srow = s.value;
      let diffCols: RowDifference["columns"];
      for (let i = 0; i < t.columns.length; i++) {
        if (!sameValue(t.columns[i]!, srow[i]!, trow[i]!)) {
          (diffCols ??= []).push({ column: t.columns[i]!.source, source: srow[i]!.slice(0, 80), target: trow[i]!.slice(0, 80) });
        }
      }
      if (diffCols) note({ key: keyOf(srow), problem: "values differ", columns: diffCols });
      s = src.next();
    }
    while (!s.done) {
      result.sourceRows++;
      note({ key: keyOf(s.value), problem: "missing in PostgreSQL" });
      s = src.next();
    }
    return result;
  }
  // Multiset: the sum of per-row digests over canonical values is independent of order.
  const canon = (row: string[]) => row.map((f, i) => canonicalField(t.columns[i]!, f)).join("\u0001");
  const digest = (rows: Iterable<string[]>, acc: { sum: bigint; n: number }) => {
    for (const r of rows) {
      acc.sum = (acc.sum + BigInt("0x" + createHash("sha1").update(canon(r)).digest("hex").slice(0, 24))) & ((1n << 96n) - 1n);
      acc.n++;
    }
  };
  const srcAcc = { sum: 0n, n: 0 };
  digest(reader.rows(), srcAcc);
  const tgtAcc = { sum: 0n, n: 0 };
  for await (const line of targetLines(client, base)) digest([line.split("\t")], tgtAcc);
  result.sourceRows = srcAcc.n;
  result.targetRows = tgtAcc.n;
  result.match = srcAcc.n === tgtAcc.n && srcAcc.sum === tgtAcc.sum;
  if (!result.match) result.differences.push({ key: {}, problem: "values differ" });
  return result;
}

/** A canonical form of one field, so equal values digest equally on both sides. */
function canonicalField(c: ColumnPlan, field: string): string {
  const v = unescapeCopy(field);
  if (v === null) return "\u0000NULL";
  switch (c.cast.kind) {
    case "double":
      return String(Number(v));
    case "numeric": {
      const scale = /numeric\(\d+,(\d+)\)/.exec(c.cast.pgType);
      return normalizeDecimal(scale ? Number(v).toFixed(Number(scale[1])) : v);
    }
    case "timestamp":
    case "timestamptz":
    case "date":
    case "time":
      return trimFraction(v);
    case "jsonb":
      try {
        return JSON.stringify(canonicalJson(JSON.parse(v)));
      } catch {
        return v;
      }
    case "uuid":
      return v.replace(/[{}-]/g, "").toLowerCase();
    default:
      return v;
  }
}

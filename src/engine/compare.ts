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
import { COLUMN_TYPES, canonicalFor, type Canonical } from "./types/column-types";
import { unescapeCopy } from "./types/convert";
import { qualified, quoteIdent } from "./identifiers";
import { BINARY_HEADER, BINARY_TRAILER, type CopyFormat, type CopyResult, type SentPart } from "./postgres/copy";
import type { TablePlan } from "./plan";
import type { KeyRanges, TableReader } from "./sqlite/source";

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

/** Whether the value written and the value PostgreSQL returns are the same: equal, or equal in the column type's canonical form. */
export function sameValue(canonical: Canonical, sourceField: string, targetField: string): boolean {
  return sourceField === targetField || canonical(sourceField) === canonical(targetField);
}

/** Lines of `COPY (SELECT …) TO STDOUT`, as raw text (fields still escaped and tab-separated). */
export async function* targetLines(client: pg.Client, sql: string): AsyncGenerator<string> {
  for await (const lines of targetLineBatches(client, sql)) yield* lines;
}

/** The same, a network chunk's lines at a time (one await per chunk, not per line: 12,000 lines took ~0.1 s one by one). */
export async function* targetLineBatches(client: pg.Client, sql: string): AsyncGenerator<string[]> {
  const stream = client.query(copyTo(`COPY (${sql}) TO STDOUT`));
  let rest = "";
  // A chunk can end inside a multi-byte character; the decoder carries it over.
  const decoder = new StringDecoder("utf8");
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const text = rest + decoder.write(chunk);
    const lines = text.split("\n");
    rest = lines.pop() ?? "";
    yield lines;
  }
  if (rest) yield [rest];
}

/** The key's columns, and an ORDER BY that sorts PostgreSQL's rows as SQLite's reader does; undefined without a usable key. */
function keyOrder(t: TablePlan): { keyCols: number[]; orderBy: string } | undefined {
  const keyCols = t.sourceKey.map((k) => t.columns.findIndex((c) => c.source === k));
  if (keyCols.length === 0 || !keyCols.every((i) => i >= 0 && COLUMN_TYPES[t.columns[i]!.cast.kind].order)) return undefined;
  const orderBy = keyCols
    .map((i) => {
      const c = t.columns[i]!;
      // citext compares case-insensitively even under "C": its text is what sorts by bytes.
      if (c.cast.pgType === "citext") return `${quoteIdent(c.target)}::text COLLATE "C"`;
      return COLUMN_TYPES[c.cast.kind].order === "bytes" ? `${quoteIdent(c.target)} COLLATE "C"` : quoteIdent(c.target);
    })
    .join(", ");
  return { keyCols, orderBy };
}

const selectAll = (schema: string, t: TablePlan) => `SELECT ${t.columns.map((c) => quoteIdent(c.target)).join(", ")} FROM ${qualified(schema, t.target)}`;

/**
 * One part of the table read back in key order against what copyTable sent
 * for it. The parts' key ranges are disjoint and together cover the whole
 * table (the last one also takes any row whose key is NULL), so when every
 * part matches, PostgreSQL holds exactly the bytes that were sent: every row
 * with every value as written. False means "not proven" (no key, or some bytes
 * differ), and the caller compares row by row.
 */
export async function verifyPart(client: pg.Client, schema: string, t: TablePlan, sent: CopyResult, part: number): Promise<boolean> {
  const order = keyOrder(t);
  const p = sent.parts[part];
  if (!order || !p) return false;
  const next = sent.parts[part + 1];
  const bounds = [p.from, next?.from];
  // Only integer keys are split (copy.ts); anything else in a bound is not trusted into SQL.
  if (bounds.some((b) => b !== undefined && !/^-?\d+$/.test(b)) || (sent.parts.length > 1 && order.keyCols.length !== 1)) return false;
  const key = order.orderBy;
  const where = [
    ...(p.from !== undefined ? [`${key} >= ${p.from}`] : []),
    // The last part is what is not below its start, NULL keys included; the first is below the second's start.
    ...(next?.from !== undefined ? [`${key} < ${next.from}`] : []),
  ];
  const filter =
    part === sent.parts.length - 1 && p.from !== undefined ? ` WHERE (${key} < ${p.from}) IS NOT TRUE` : where.length ? ` WHERE ${where.join(" AND ")}` : "";
  return readsBackAs(client, `${selectAll(schema, t)}${filter} ORDER BY ${key}`, p, sent.format);
}

/** Whether `COPY (query) TO` returns exactly the part's rows, hashing to its digest. */
async function readsBackAs(client: pg.Client, query: string, part: SentPart, format: CopyFormat): Promise<boolean> {
  if (format === "binary") return binaryReadsBackAs(client, query, part);
  const stream = client.query(copyTo(`COPY (${query}) TO STDOUT`));
  const hash = createHash("sha256");
  let rows = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
  }
  return rows === part.rows && hash.digest("hex") === part.digest;
}

/**
 * The same for binary tuples: COPY's header and trailer are checked and left
 * out of the hash, as they were when sending. Equal bytes are equal tuples, so
 * the digest alone proves the row count too.
 */
async function binaryReadsBackAs(client: pg.Client, query: string, part: SentPart): Promise<boolean> {
  const stream = client.query(copyTo(`COPY (${query}) TO STDOUT (FORMAT binary)`));
  const hash = createHash("sha256");
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0); // the last bytes seen, held back: they may be the trailer
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let data = chunk;
    if (head.length < BINARY_HEADER.length) {
      const take = Math.min(BINARY_HEADER.length - head.length, data.length);
      head = Buffer.concat([head, data.subarray(0, take)]);
      data = data.subarray(take);
    }
    // Copied only when a chunk is shorter than the trailer: the rest is hashed where it lies.
    if (data.length < BINARY_TRAILER.length) {
      const all = Buffer.concat([tail, data]);
      const keep = Math.min(BINARY_TRAILER.length, all.length);
      hash.update(all.subarray(0, all.length - keep));
      tail = Buffer.from(all.subarray(all.length - keep));
      continue;
    }
    hash.update(tail);
    hash.update(data.subarray(0, data.length - BINARY_TRAILER.length));
    tail = Buffer.from(data.subarray(data.length - BINARY_TRAILER.length));
  }
  return head.equals(BINARY_HEADER) && tail.equals(BINARY_TRAILER) && hash.digest("hex") === part.digest;
}

/**
 * The table (or, for delta sync, the rows in some key ranges) read back in key
 * order against what copyTable sent in one part. A match proves every row
 * arrived with every value as written; undefined means "not proven" (no key,
 * or some bytes differ), and the caller compares row by row.
 */
export async function verifyByDigest(
  client: pg.Client,
  schema: string,
  t: TablePlan,
  sent: CopyResult,
  /** only the rows in these inclusive ranges of an integer key column (delta sync's re-copied ranges) */
  only?: { column: string; ranges: KeyRanges },
): Promise<TableVerification | undefined> {
  const query = sent.parts.length === 1 ? inKeyOrder(schema, t, only) : undefined;
  if (!query || !(await readsBackAs(client, query, sent.parts[0]!, sent.format))) return undefined;
  return digestMatch(t, sent.rows);
}

/**
 * The table's columns (or only the rows in some ranges of an integer key
 * column) in key order; undefined without a usable key. With `writers` (32-bit
 * xids), a last column says whether one of them wrote the row (delta.ts).
 */
export function inKeyOrder(schema: string, t: TablePlan, only?: { column: string; ranges: KeyRanges }, writers?: string[]): string | undefined {
  const order = keyOrder(t);
  if (!order) return undefined;
  // COPY takes no parameters: the ranges are inlined as bigint array literals (digits only).
  // One index scan per range (LATERAL … OFFSET 0 keeps the planner from turning
  // thousands of ranges into a join filter over every row); tbl.* in a
  // subquery, so the ranges' columns never clash with the table's.
  // xids are digits, inlined like the ranges.
  const xmin = writers ? ", x.xmin AS pgshift_xmin" : "";
  const from = only
    ? `(SELECT pgshift_t.* FROM unnest('{${only.ranges.map((r) => r[0]).join(",")}}'::bigint[], '{${only.ranges.map((r) => r[1]).join(",")}}'::bigint[]) AS pgshift_r(lo, hi)` +
      ` CROSS JOIN LATERAL (SELECT *${xmin} FROM ${qualified(schema, t.target)} AS x WHERE x.${quoteIdent(only.column)} BETWEEN pgshift_r.lo AND pgshift_r.hi OFFSET 0) AS pgshift_t) AS pgshift_ranges`
    : writers
      ? `(SELECT *${xmin} FROM ${qualified(schema, t.target)} AS x) AS pgshift_all`
      : qualified(schema, t.target);
  const mine = writers ? `, pgshift_xmin = ANY ('{${writers.filter((w) => /^\d+$/.test(w)).join(",")}}'::xid[])` : "";
  return `SELECT ${t.columns.map((c) => quoteIdent(c.target)).join(", ")}${mine} FROM ${from} ORDER BY ${order.orderBy}`;
}

/** The report of a table proven by its digest. */
export function digestMatch(t: TablePlan, rows: number): TableVerification {
  return { source: t.source, target: t.target, sourceRows: rows, targetRows: rows, match: true, method: "copy digest", differences: [] };
}

/** One row that is not the same on both sides, as COPY text fields (escaped): SQLite's as pgshift would send it, PostgreSQL's as it prints it. */
export interface KeyedDifference {
  problem: RowDifference["problem"];
  /** the key as SQLite's column names and (unescaped) values */
  key: Record<string, string>;
  /** SQLite's row ("missing in PostgreSQL", "values differ") */
  source?: string[];
  /** PostgreSQL's row ("extra in PostgreSQL", "values differ") */
  target?: string[];
  /** "values differ": the indexes (in t.columns) of the columns whose values differ */
  columns?: number[];
}

/**
 * Both sides merged in key order, every row that differs yielded: missing on
 * one side, or values that differ in the column type's canonical form (so a
 * jsonb's key order or a fraction's trailing zeros are not differences).
 * Verification stops at a few; sync-back (sync-back/) writes every one.
 * Undefined when the table has no key to merge by.
 */
export function keyedDifferences(
  client: pg.Client,
  schema: string,
  t: TablePlan,
  reader: TableReader,
  counts: { sourceRows: number; targetRows: number },
  /** only the rows in these inclusive ranges of an integer key column (the reader reads the same ranges) */
  only?: { column: string; ranges: KeyRanges },
): AsyncGenerator<KeyedDifference> | undefined {
  const order = keyOrder(t);
  if (!order) return undefined;
  const query = only ? inKeyOrder(schema, t, only)! : `${selectAll(schema, t)} ORDER BY ${order.orderBy}`;
  return differencesInKeyOrder(client, query, t, order.keyCols, reader, counts);
}

async function* differencesInKeyOrder(
  client: pg.Client,
  query: string,
  t: TablePlan,
  keyCols: number[],
  reader: TableReader,
  counts: { sourceRows: number; targetRows: number },
): AsyncGenerator<KeyedDifference> {
  const byBytes = keyCols.map((i) => COLUMN_TYPES[t.columns[i]!.cast.kind].order === "bytes");
  const canonical = t.columns.map((c) => canonicalFor(c.cast));
  const rows = reader.rows()[Symbol.iterator]();
  // Rows with a NULL in the key (a key column that allows NULL: SQLite's non-INTEGER PRIMARY KEY, PostgreSQL's in
  // --schema existing) sort first in SQLite and last in PostgreSQL: both sides' are set aside and compared as multisets.
  const hasNullKey = (row: string[]) => keyCols.some((i) => row[i] === "\\N");
  const sourceNull: string[][] = [];
  const targetNull: string[][] = [];
  const src = {
    next(): IteratorResult<string[]> {
      for (let r = rows.next(); ; r = rows.next()) {
        if (r.done || !hasNullKey(r.value)) return r;
        counts.sourceRows++;
        sourceNull.push(r.value);
      }
    },
    return: (v: undefined) => rows.return?.(v),
  };
  let s = src.next();
  const keyOf = (row: string[]) => Object.fromEntries(keyCols.map((i) => [t.columns[i]!.source, unescapeCopy(row[i]!) ?? "NULL"]));
  const cmpKey = (a: string[], b: string[]): number => {
    for (let k = 0; k < keyCols.length; k++) {
      const i = keyCols[k]!;
      const x = unescapeCopy(a[i]!) ?? "";
      const y = unescapeCopy(b[i]!) ?? "";
      if (byBytes[k]) {
        const c = Buffer.compare(Buffer.from(x), Buffer.from(y));
        if (c !== 0) return c;
      } else {
        const bx = BigInt(x);
        const by = BigInt(y);
        if (bx !== by) return bx < by ? -1 : 1;
      }
    }
    return 0;
  };
  try {
    for await (const line of targetLines(client, query)) {
      counts.targetRows++;
      // Fast path: the row came back exactly as it was written.
      if (!s.done && s.value.join("\t") === line) {
        counts.sourceRows++;
        s = src.next();
        continue;
      }
      const trow = line.split("\t");
      if (hasNullKey(trow)) {
        targetNull.push(trow);
        continue;
      }
      while (!s.done && cmpKey(s.value, trow) < 0) {
        counts.sourceRows++;
        yield { key: keyOf(s.value), problem: "missing in PostgreSQL", source: s.value };
        s = src.next();
      }
      if (s.done || cmpKey(s.value, trow) > 0) {
        yield { key: keyOf(trow), problem: "extra in PostgreSQL", target: trow };
        continue;
      }
      counts.sourceRows++;
      const srow = s.value;
      let diffCols: number[] | undefined;
      for (let i = 0; i < t.columns.length; i++) if (!sameValue(canonical[i]!, srow[i]!, trow[i]!)) (diffCols ??= []).push(i);
      if (diffCols) yield { key: keyOf(srow), problem: "values differ", source: srow, target: trow, columns: diffCols };
      s = src.next();
    }
    while (!s.done) {
      counts.sourceRows++;
      yield { key: keyOf(s.value), problem: "missing in PostgreSQL", source: s.value };
      s = src.next();
    }
    if (sourceNull.length || targetNull.length) {
      const canon = (row: string[]) => row.map((f, i) => canonical[i]!(f)).join("\u0001");
      const unmatched = new Map<string, number>();
      for (const row of sourceNull) unmatched.set(canon(row), (unmatched.get(canon(row)) ?? 0) + 1);
      for (const row of targetNull) {
        const n = unmatched.get(canon(row)) ?? 0;
        if (n > 0) unmatched.set(canon(row), n - 1);
        else yield { key: keyOf(row), problem: "extra in PostgreSQL", target: row };
      }
      for (const row of sourceNull) {
        const n = unmatched.get(canon(row)) ?? 0;
        if (n === 0) continue;
        unmatched.set(canon(row), n - 1);
        yield { key: keyOf(row), problem: "missing in PostgreSQL", source: row };
      }
    }
  } finally {
    src.return?.(undefined);
  }
}

export async function verifyTable(client: pg.Client, schema: string, t: TablePlan, reader: TableReader): Promise<TableVerification> {
  const order = keyOrder(t);
  const result: TableVerification = {
    source: t.source,
    target: t.target,
    sourceRows: 0,
    targetRows: 0,
    match: true,
    method: order ? "key order" : "multiset digest",
    differences: [],
  };
  const keyed = keyedDifferences(client, schema, t, reader, result);
  if (keyed) {
    for await (const d of keyed) {
      result.match = false;
      if (result.differences.length < MAX_DIFFS) {
        result.differences.push({
          key: d.key,
          problem: d.problem,
          ...(d.columns
            ? { columns: d.columns.map((i) => ({ column: t.columns[i]!.source, source: d.source![i]!.slice(0, 80), target: d.target![i]!.slice(0, 80) })) }
            : {}),
        });
      }
    }
    return result;
  }
  const base = selectAll(schema, t);
  // Multiset: the sum of per-row digests over canonical values is independent of order.
  const canonical = t.columns.map((c) => canonicalFor(c.cast));
  const canon = (row: string[]) => row.map((f, i) => canonical[i]!(f)).join("\u0001");
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

/**
 * The generated columns PostgreSQL computed, against SQLite's values of them,
 * by key: the COPY sent none of them, so the copy digest proves nothing about
 * them. Differences are named like any other (an expression whose meaning
 * differs on some value: SQLite's upper() folds only A–Z, PostgreSQL's all letters).
 */
export function generatedColumnsPlan(t: TablePlan): TablePlan | undefined {
  if (!t.generated?.length) return undefined;
  const key = t.columns.filter((c) => t.sourceKey.includes(c.source));
  const generated = t.generated.map((g) => ({
    source: g.source,
    target: g.target,
    declaredType: g.declaredType,
    cast: g.cast,
    targetType: g.cast.pgType,
    notNull: false,
    default: null,
    identity: false,
  }));
  return { ...t, columns: [...key, ...generated], generated: [], indexes: [], foreignKeys: [] };
}

/** Two verifications of one table (its copied columns, its generated ones) as one. */
export function mergeVerifications(a: TableVerification, b: TableVerification): TableVerification {
  return { ...a, match: a.match && b.match, differences: [...a.differences, ...b.differences].slice(0, MAX_DIFFS) };
}

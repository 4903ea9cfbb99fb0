// The copy's hot path in C: whole chunks of rows turned into COPY text inside
// SQLite by the copy-text extension (native/copy-text.c), for tables read in
// rowid order whose every column is of a kind the extension writes. The
// extension leaves any value it does not convert exactly as convert.ts would to
// JavaScript: such a chunk is converted again by the JavaScript reader, which
// converts it or names the row and column it refuses.
import type Database from "better-sqlite3";
import { COLUMN_TYPES } from "../types/column-types";
import { quoteSqlite } from "../identifiers";
import { loadExtension, nativeExtension, type Built } from "./native";
import { assertNumericDatesSettled } from "./numeric-dates";
import type { TablePlan } from "../plan";

const EXTENSION = { name: "copy-text", target: "copy_text", entry: "sqlite3_copytext_init", does: "copy text", disableEnv: "PGSHIFT_NATIVE_COPY" };
/** Set to "off" to convert every value in JavaScript (a bench's "before"; PGSHIFT_NATIVE=off turns every C path off). */
export const NATIVE_COPY_ENV = EXTENSION.disableEnv;

/** The built extension, or why the JavaScript path was asked for; throws when it is not built (native.ts). */
export function copyTextExtension(): Built {
  return nativeExtension(EXTENSION);
}

/** The spec for a table's columns, or undefined when some column's kind is not written in C. */
export function copyTextSpec(t: TablePlan): string | undefined {
  assertNumericDatesSettled(t);
  const tokens: string[] = [];
  for (const c of t.columns) {
    const token = COLUMN_TYPES[c.cast.kind].nativeToken;
    if (token === undefined) return undefined;
    if (token === "v" && c.cast.length === undefined) tokens.push("t");
    else tokens.push(token === "v" ? `v${c.cast.length}` : token);
  }
  return tokens.join(",");
}

export interface Chunk {
  data: Buffer;
  rows: number;
}

/** A value only JavaScript converts, met on the binary path (which JavaScript does not write): the table is copied again as text. */
export class NotBinary extends Error {
  constructor(readonly table: string) {
    super(`table "${table}" holds a value only the text path converts`);
  }
}

/** Converts the rows whose rowid key lies in [lo, hi] in JavaScript. */
export type Fallback = (lo: bigint, hi: bigint) => Iterable<Chunk>;

const MIN_KEY = -(2n ** 63n);
const MAX_KEY = 2n ** 63n - 1n;
/** After this many chunks left to JavaScript, and more than half of them, the rest of the table goes to JavaScript directly. */
const GIVE_UP_AFTER = 8;
/** Keys (and so at most rows) in one statement over many short ranges. */
const BATCH_KEYS = 4096n;

/** Whether nativeChunks takes this table (the main thread asks before a read worker converts it). */
export function nativePossible(t: TablePlan): boolean {
  return t.keyIsRowid === true && copyTextSpec(t) !== undefined && "path" in copyTextExtension();
}

/**
 * The table's rows as COPY text chunks of about `size` bytes, converted in C
 * (or as binary tuples, with "binary" for `fallback`: NotBinary is thrown at
 * the first value only JavaScript converts), optionally only those whose key
 * lies in `ranges` (sorted, disjoint, inclusive: delta sync's re-copy);
 * undefined when this table cannot take this path (its key is not the rowid,
 * a column's kind is not written in C, or the extension is unavailable).
 */
export function nativeChunks(
  db: Database.Database,
  t: TablePlan,
  size: number,
  fallback: Fallback | "binary",
  ranges: [bigint, bigint][] = [[MIN_KEY, MAX_KEY]],
): Iterable<Chunk> | undefined {
  if (!nativePossible(t)) return undefined;
  const spec = copyTextSpec(t)!;
  loadExtension(db, copyTextExtension() as { path: string; entry: string });
  const k = quoteSqlite(t.sourceKey[0]!);
  const source = quoteSqlite(t.source);
  const convert = fallback === "binary" ? "pgshift_copy_binary" : "pgshift_copy_text";
  const cols = t.columns.map((c) => quoteSqlite(c.source)).join(", ");
  // The subquery hands its rows to the aggregate in key order (a rowid scan);
  // LIMIT bounds the chunk, and max(key) says where the next one starts.
  const stmt = db
    .prepare(
      `SELECT ${convert}(?, ${cols}) AS data, count(*) AS n, max(${k}) AS last ` +
        `FROM (SELECT ${cols} FROM ${source} WHERE ${k} >= ? AND ${k} <= ? ORDER BY ${k} LIMIT ?)`,
    )
    .safeIntegers(true);
  // Many short ranges (a delta sync's ~1,500 of 8 keys) in one statement per batch: the statements themselves were
  // half the time (71 ms against 32 ms for 1,478 ranges). CROSS JOIN keeps the ranges outside: each is a rowid search.
  // Prepared only when a batch comes (a whole table's read, the copy's hot path, has one range).
  let batched: Database.Statement | undefined;
  const batchStatement = () =>
    (batched ??= db
      .prepare(
        `SELECT ${convert}(?, ${cols}) AS data, count(*) AS n ` +
          `FROM (SELECT ${t.columns.map((c) => `pgshift_t.${quoteSqlite(c.source)}`).join(", ")} FROM json_each(?) AS pgshift_r CROSS JOIN ${source} AS pgshift_t ` +
          `WHERE pgshift_t.${k} BETWEEN json_extract(pgshift_r.value, '$[0]') AND json_extract(pgshift_r.value, '$[1]') ORDER BY pgshift_t.${k})`,
      )
      .safeIntegers(true));
  return (function* () {
    let limit = 64; // grows or shrinks to `size` after the first chunk
    let chunks = 0;
    let leftToJs = 0;
    for (let i = 0; i < ranges.length; i++) {
      const [lo, hi] = ranges[i]!;
      let from = lo;
      // Rowid keys: a range holds at most as many rows as keys, so a batch of at most BATCH_KEYS keys is a bounded chunk.
      let j = i;
      for (let keys = 0n; j < ranges.length && keys + ranges[j]![1] - ranges[j]![0] + 1n <= BATCH_KEYS; j++) keys += ranges[j]![1] - ranges[j]![0] + 1n;
      if (j - i > 1) {
        const batch = ranges.slice(i, j);
        i = j - 1;
        const r = batchStatement().get(spec, `[${batch.map(([a, b]) => `[${a},${b}]`).join(",")}]`) as { data: Buffer | null; n: bigint };
        const rows = Number(r.n);
        if (rows === 0) continue;
        chunks++;
        if (r.data !== null) yield { data: r.data, rows };
        else if (fallback === "binary") throw new NotBinary(t.source);
        else {
          leftToJs++;
          for (const [l, h] of batch) yield* fallback(l, h);
        }
        continue;
      }
      for (;;) {
        if (fallback !== "binary" && leftToJs >= GIVE_UP_AFTER && leftToJs * 2 > chunks) {
          yield* fallback(from, hi);
          for (const [l, h] of ranges.slice(i + 1)) yield* fallback(l, h);
          return;
        }
        const asked = limit;
        const r = stmt.get(spec, from, hi, asked) as { data: Buffer | null; n: bigint; last: bigint | null };
        const rows = Number(r.n);
        if (rows === 0) break;
        chunks++;
        if (r.data === null) {
          if (fallback === "binary") throw new NotBinary(t.source);
          leftToJs++;
          yield* fallback(from, r.last!);
        } else {
          // Next chunk sized from this one's bytes per row (before the yield: a read worker transfers the bytes away).
          limit = Math.max(1, Math.min(100_000, Math.round((size * rows) / Math.max(1, r.data.length))));
          yield { data: r.data, rows };
        }
        // Fewer rows than asked for: the range holds no more (keys are rowids, each once). Not asking again halves
        // the statements of a delta sync's re-read, whose ~1,500 ranges hold ~8 rows each.
        if (r.last! >= hi || rows < asked) break;
        from = r.last! + 1n;
      }
    }
  })();
}

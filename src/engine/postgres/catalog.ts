// The PostgreSQL side's catalog: what the target holds (tables, columns and
// their types for `--schema existing`, foreign keys, sequences) and pgshift's
// own record of what it loaded (pgshift.loads). The queries are the files in
// sql/postgres/; the migration's phases read and write the target only through
// here and through the DDL of schema.ts.
import type pg from "pg";
import { to as copyTo } from "pg-copy-streams";
import { castForPgType, type ColumnCast } from "../types/column-types";
import { connect } from "./connection";
import { BINARY_HEADER } from "./copy";
import { UsageError } from "../errors";
import { qualified } from "../identifiers";
import type { IdentifierMode, SchemaMode } from "../options";
import { sqlFile } from "../sql-files";

const sql = (name: string) => sqlFile("postgres", name);

export interface TargetColumn {
  name: string;
  dataType: string;
  notNull: boolean;
  hasSequence: boolean;
  cast: ColumnCast;
}

/** Every table's columns in one schema, with the converter each column's type takes (`--schema existing`). */
export async function readTargetTables(url: string, schema: string): Promise<Map<string, TargetColumn[]>> {
  const client = await connect(url);
  try {
    const rows = (await client.query(sql("target-columns"), [schema])).rows as {
      table_name: string;
      column_name: string;
      data_type: string;
      type_prefix: string;
      not_null: boolean;
      has_sequence: boolean;
    }[];
    const tables = new Map<string, TargetColumn[]>();
    for (const r of rows) {
      const list = tables.get(r.table_name) ?? [];
      const dataType = r.data_type.startsWith(r.type_prefix) ? r.data_type.slice(r.type_prefix.length) : r.data_type;
      list.push({ name: r.column_name, dataType, notNull: r.not_null, hasSequence: r.has_sequence, cast: castForPgType(dataType, "target column") });
      tables.set(r.table_name, list);
    }
    return tables;
  } finally {
    await client.end();
  }
}

/** Names of the tables in one schema. */
export async function tablesIn(client: pg.Client, schema: string): Promise<Set<string>> {
  return new Set((await client.query<{ tablename: string }>(sql("tables"), [schema])).rows.map((r) => r.tablename));
}

export async function hasRows(client: pg.Client, schema: string, table: string): Promise<boolean> {
  return (await client.query<{ x: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${qualified(schema, table)}) AS x`)).rows[0]!.x;
}

export interface ForeignKeyDefinition {
  /** the referencing table, as a (qualified when needed) regclass name */
  tbl: string;
  /** the referencing table's schema and name, unquoted */
  rel_schema: string;
  rel_name: string;
  /** the constraint's schema, quoted when needed (SET CONSTRAINTS takes schema.name) */
  nsp: string;
  name: string;
  /** pg_get_constraintdef: what ADD CONSTRAINT takes back */
  def: string;
  /** the referenced table's schema and name, unquoted */
  ref_schema: string;
  ref_name: string;
  /** an ON DELETE or ON UPDATE action other than NO ACTION: it fires at once, even when the key is deferred */
  acts: boolean;
  /** declared DEFERRABLE already */
  deferrable: boolean;
}

/** Foreign keys from or to any of `tables` (qualified names). */
export async function foreignKeysTouching(client: pg.Client, tables: string[]): Promise<ForeignKeyDefinition[]> {
  return (await client.query<ForeignKeyDefinition>(sql("foreign-keys-touching"), [tables])).rows;
}

export async function foreignKeyNames(client: pg.Client, schema: string): Promise<Set<string>> {
  return new Set((await client.query<{ name: string }>(sql("foreign-key-names"), [schema])).rows.map((r) => r.name));
}

/** The sequence behind an identity or serial column, or null. */
export async function serialSequence(client: pg.Client, schema: string, table: string, column: string): Promise<string | null> {
  return (await client.query<{ s: string | null }>(sql("serial-sequence"), [qualified(schema, table), column])).rows[0]?.s ?? null;
}

// --- pgshift.loads: what pgshift loaded, from which version of the source, and how.

export interface LoadRecord {
  target_table: string;
  source_fingerprint: string;
  schema_mode: string;
  /** the table's columns and keys when loaded (delta.ts layoutOf); null when loaded by an older pgshift */
  layout: string | null;
}

/**
 * Refuses a superuser session a pgshift schema that a role without superuser
 * owns, or holds anything such a role owns: pgshift reads and writes
 * pgshift.loads and calls its functions there, so a view, trigger or function
 * the owner put in (or made before pgshift did) would run with the superuser's
 * rights. Run as that role instead (docs/security.md).
 */
export async function checkPgshiftSchemaOwners(client: pg.Client): Promise<void> {
  const row = (await client.query<{ session_super: boolean; others: string[] }>(sql("pgshift-schema-owners"))).rows[0]!;
  if (row.session_super && row.others.length > 0) {
    throw new UsageError(
      `The schema "pgshift" (pgshift's record of its loads) holds objects owned by ${row.others.map((r) => `"${r}"`).join(", ")}, which ${row.others.length > 1 ? "are" : "is"} not a superuser, ` +
        "and pgshift is connected as a superuser: it would run that role's views, triggers or functions with superuser rights. Nothing was changed.\n" +
        `  Run pgshift as ${row.others.length === 1 ? `"${row.others[0]}"` : "the database's owner"} (the role the app's migrations use), not as a superuser; see docs/security.md.`,
    );
  }
}

/** Creates (or upgrades) pgshift.loads; when it is already current, without writing anything. */
export async function ensureLoadsTable(client: pg.Client): Promise<void> {
  await checkPgshiftSchemaOwners(client);
  const ddl = sql("loads");
  const added = [...ddl.matchAll(/ADD COLUMN IF NOT EXISTS (\w+)/g)].map((m) => m[1]!);
  const external = [...ddl.matchAll(/ALTER COLUMN (\w+) SET STORAGE EXTERNAL/g)].map((m) => m[1]!);
  const { current } = (await client.query<{ current: boolean }>(sql("loads-current"), [added, external])).rows[0]!;
  if (!current) await client.query(ddl);
}

/** What pgshift loaded into `schema`, by target table. */
export async function loadRecords(client: pg.Client, schema: string): Promise<Map<string, LoadRecord>> {
  return new Map((await client.query<LoadRecord>(sql("load-records"), [schema])).rows.map((r) => [r.target_table, r]));
}

export interface LoadEntry {
  targetSchema: string;
  targetTable: string;
  sourceTable: string;
  fingerprint: string;
  schemaMode: SchemaMode;
  rows: number;
  identifiers: IdentifierMode;
  /** the overrides that applied to this table ({ "table.column": "type" }) */
  casts: Record<string, string>;
  /** delta.ts layoutOf */
  layout: string;
  /**
   * SQLite's range digests of what was loaded (range-digests.ts); absent: nothing recorded for delta sync.
   * writers: "this" (a load: this transaction wrote every row), "add" (a sync by record: earlier writers
   * still hold the untouched ranges), or the xid8s of every row (a sync by content).
   */
  ranges?: { width: bigint; digests: Buffer; writers: "this" | "add" | string[] };
}

/** Records one table's load, inside the transaction that loaded it. */
export async function recordLoad(client: pg.Client, e: LoadEntry): Promise<void> {
  await client.query(sql("record-load"), [
    e.targetSchema,
    e.targetTable,
    e.sourceTable,
    e.fingerprint,
    e.schemaMode,
    e.rows,
    e.identifiers,
    JSON.stringify(e.casts),
    e.layout,
    e.ranges?.width.toString() ?? null,
    e.ranges?.digests ?? null,
    Array.isArray(e.ranges?.writers) ? e.ranges.writers : null,
    e.ranges?.writers === "add",
  ]);
}

export interface RecordedRanges {
  width: bigint;
  /** int64 triples (range, rows, digest): range-digests.ts parseDigests */
  digests: Buffer;
  /** the transactions pgshift wrote the table's rows in, as the 32-bit xids rows carry in xmin */
  writers: string[];
  /** transactions since the oldest writer */
  age: bigint;
}

/** What delta sync recorded of a table's rows at its last load or sync; undefined if nothing. */
export async function recordedRanges(client: pg.Client, schema: string, table: string): Promise<RecordedRanges | undefined> {
  const r = (await client.query<{ width: string; writers: string[]; age: string }>(sql("recorded-ranges"), [schema, table])).rows[0];
  if (!r) return undefined;
  await client.query("SELECT pg_catalog.set_config('pgshift.schema', $1, false), pg_catalog.set_config('pgshift.table', $2, false)", [schema, table]);
  const digests = singleBytea(await copyOut(client, sql("recorded-digests")));
  // Gone in between (another run forgot them): as if never recorded.
  return digests && { width: BigInt(r.width), digests, writers: r.writers, age: BigInt(r.age) };
}

async function copyOut(client: pg.Client, statement: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of client.query(copyTo(statement)) as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** The one bytea of COPY ... (FORMAT binary) output with a single column: undefined for no row (or a NULL). */
function singleBytea(out: Buffer): Buffer | undefined {
  const signature = BINARY_HEADER.subarray(0, 11);
  if (out.length < 21 || !out.subarray(0, 11).equals(signature)) throw new Error("COPY's binary output of pgshift.loads.range_digests has no header");
  let at = 15 + 4 + out.readUInt32BE(15); // signature, flags, header extension
  const fields = out.readInt16BE(at);
  if (fields === -1) return undefined;
  const length = out.readInt32BE(at + 2);
  at += 6;
  if (fields !== 1 || length < -1 || at + Math.max(0, length) + 2 !== out.length || out.readInt16BE(out.length - 2) !== -1)
    throw new Error("COPY's binary output of pgshift.loads.range_digests is not one row of one column");
  return length === -1 ? undefined : out.subarray(at, at + length);
}

/** The fingerprint in place of the placeholder a refresh recorded (settle-fingerprint.sql). */
export async function settleFingerprint(client: pg.Client, schema: string, placeholder: string, fingerprint: string): Promise<void> {
  await client.query(sql("settle-fingerprint"), [schema, placeholder, fingerprint]);
}

/** After a failed verification: the next refresh compares full contents. */
export async function forgetRanges(client: pg.Client, schema: string, table: string): Promise<void> {
  await client.query(sql("forget-ranges"), [schema, table]);
}

export interface RecordedOptions {
  source_table: string;
  target_table: string;
  schema_mode: SchemaMode;
  identifiers: IdentifierMode;
  casts: Record<string, string>;
}

/** How each table in `schema` was loaded; [] when pgshift.loads is missing or predates these columns. Read only. */
export async function recordedLoadOptions(client: pg.Client, schema: string): Promise<RecordedOptions[]> {
  await checkPgshiftSchemaOwners(client);
  if ((await client.query(sql("recorded-options-present"))).rowCount !== 2) return [];
  return (await client.query<RecordedOptions>(sql("recorded-options"), [schema])).rows;
}

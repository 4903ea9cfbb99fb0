// What must hold before any row is compared: the tables were loaded in one
// way pgshift can repeat, PostgreSQL's columns are still the loaded ones, and
// no table holding rows exists only in PostgreSQL.
import type pg from "pg";
import { UsageError } from "../errors";
import { qualified, quoteIdent } from "../identifiers";
import type { RecordedOptions } from "../postgres/catalog";
import type { MigrationPlan, TablePlan } from "../plan";
import type { SyncBackProblem } from "./refusal";
import type { SyncBackReport } from "./sync-back";

/**
 * Tables that exist only in PostgreSQL (created after the cutover, by the
 * app's newer migrations or by hand) have no table in the SQLite file to go
 * back to: one holding rows refuses, since rolling back would leave them
 * behind; an empty one loses nothing and is listed as skipped.
 */
export async function checkPostgresOnlyTables(
  client: pg.Client,
  schema: string,
  known: Set<string>,
  problems: SyncBackProblem[],
  skipped: SyncBackReport["skipped"],
): Promise<void> {
  const present = (
    await client.query<{ name: string; readable: boolean; reader: string }>(
      "SELECT c.relname AS name, pg_catalog.has_table_privilege(c.oid, 'SELECT') AS readable, CURRENT_USER AS reader" +
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace" +
        " WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::pg_catalog.\"char\"[]) AND NOT c.relispartition ORDER BY c.relname",
      [schema],
    )
  ).rows;
  for (const { name, readable, reader } of present) {
    if (known.has(name)) continue;
    if (!readable) {
      // Not knowing whether it holds rows is not the same as knowing it is empty.
      problems.push({
        table: name,
        reason: `PostgreSQL's table "${schema}.${name}" has no table in the SQLite file, and role "${reader}" may not read it, so pgshift cannot tell whether rolling back would leave rows behind. If it is not the app's, move it out of schema "${schema}" (ALTER TABLE … SET SCHEMA) or drop it; otherwise GRANT SELECT on it to "${reader}"`,
      });
      continue;
    }
    const used = (await client.query<{ x: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${qualified(schema, name)}) AS x`)).rows[0]!.x;
    if (used) {
      problems.push({
        table: name,
        reason: `PostgreSQL's table "${schema}.${name}" has no table in the SQLite file (created after the cutover?) and holds rows: rolling back would leave them behind. Create the table in the SQLite file (the app's migrations for SQLite) so pgshift can copy it back, or move its rows elsewhere`,
      });
    } else {
      skipped.push({ table: name, reason: `exists only in PostgreSQL ("${schema}.${name}") and is empty: nothing to copy back` });
    }
  }
}

/**
 * PostgreSQL's tables must still have the columns they were loaded with, and
 * a column added there since (the app's newer migrations) must hold no value:
 * SQLite has nowhere to keep it.
 */
export async function checkColumns(client: pg.Client, schema: string, tables: TablePlan[], problems: SyncBackProblem[]): Promise<void> {
  for (const t of tables) {
    const present = new Set(
      (
        await client.query<{ name: string }>("SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped", [
          qualified(schema, t.target),
        ])
      ).rows.map((r) => r.name),
    );
    const planned = new Set(t.columns.map((c) => c.target));
    for (const c of t.columns) {
      if (!present.has(c.target))
        problems.push({
          table: t.source,
          column: c.source,
          reason: `PostgreSQL's table "${t.target}" has no column "${c.target}" any more (dropped after the cutover?), so its values cannot be compared or copied back`,
        });
    }
    for (const name of present) {
      if (planned.has(name)) continue;
      const used = (
        await client.query<{ x: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${qualified(schema, t.target)} WHERE ${quoteIdent(name)} IS NOT NULL) AS x`)
      ).rows[0]!.x;
      if (used)
        problems.push({
          table: t.source,
          reason: `PostgreSQL's table "${t.target}" has a column "${name}" that the SQLite table lacks (added after the cutover?), and rows hold values in it: SQLite has nowhere to keep them`,
        });
    }
  }
}

/**
 * Rows are matched by their key: a row PostgreSQL holds with a NULL in a key
 * column (one PostgreSQL lets hold NULL: a table of the user's in --schema
 * existing) matches no row of the file, cannot be updated or deleted there by
 * key, and in an INTEGER PRIMARY KEY would come back with an id SQLite makes up.
 * Refused up front, naming the table and column, instead of a mismatch after
 * writing. Key columns declared NOT NULL are not read.
 */
export async function checkNullKeys(client: pg.Client, schema: string, tables: TablePlan[], problems: SyncBackProblem[]): Promise<void> {
  for (const t of tables) {
    const keys = t.columns.filter((c) => t.sourceKey.includes(c.source));
    if (keys.length === 0) continue;
    const table = qualified(schema, t.target);
    const nullable = new Set(
      (
        await client.query<{ name: string }>(
          "SELECT attname AS name FROM pg_catalog.pg_attribute WHERE attrelid = $1::regclass AND attname = ANY ($2::text[]) AND NOT attnotnull",
          [table, keys.map((c) => c.target)],
        )
      ).rows.map((r) => r.name),
    );
    for (const c of keys.filter((k) => nullable.has(k.target))) {
      const n = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${quoteIdent(c.target)} IS NULL`)).rows[0]!.n);
      if (n === 0) continue;
      problems.push({
        table: t.source,
        key: { [c.source]: null },
        column: c.source,
        reason:
          `PostgreSQL's table "${t.target}" holds ${n === 1 ? "a row" : `${n} rows`} whose key column "${c.target}" is NULL (the column allows NULL in PostgreSQL): ` +
          "sync-back matches rows by their key, and such a row matches no row of the file. Give " +
          (n === 1 ? "it a key" : "them keys") +
          ` (UPDATE … SET "${c.target}" = …) or delete ${n === 1 ? "it" : "them"} in PostgreSQL`,
      });
    }
  }
}

/** How the tables were loaded (pgshift.loads): the plan must match the load's, or values compare differently. */
export function loadOptions(
  recorded: RecordedOptions[],
  tables: string[] | undefined,
): { schema: MigrationPlan["schemaMode"]; identifiers: MigrationPlan["identifiers"]; casts: Record<string, string>; tables: string[] } {
  const known = new Set(recorded.map((r) => r.source_table));
  for (const name of tables ?? []) {
    if (!known.has(name)) throw new UsageError(`--tables names "${name}", which pgshift did not load into this database. Loaded: ${[...known].join(", ")}`);
  }
  const selected = tables?.length ? recorded.filter((r) => tables.includes(r.source_table)) : recorded;
  const one = <T>(values: T[], what: string): T => {
    const set = new Set(values);
    if (set.size !== 1)
      throw new UsageError(`The tables were loaded with different ${what} (${[...set].join(", ")}); sync them back separately with --tables.`);
    return values[0]!;
  };
  return {
    schema: one(
      selected.map((r) => r.schema_mode),
      "schema modes",
    ),
    identifiers: one(
      selected.map((r) => r.identifiers),
      "identifier modes",
    ),
    casts: Object.assign({}, ...selected.map((r) => r.casts)),
    tables: tables?.length ? tables : selected.map((r) => r.source_table),
  };
}

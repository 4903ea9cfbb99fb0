// The target side's catalog, read (never written) for `--schema existing`:
// which tables and columns the app's own migrations created, and their types,
// which decide how each SQLite value is converted.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ColumnCast } from "./cast-rules";
import { connect } from "./connection";

export interface TargetColumn {
  name: string;
  dataType: string;
  notNull: boolean;
  hasSequence: boolean;
  cast: ColumnCast;
}

const query = readFileSync(join(__dirname, "sql", "target-columns.sql"), "utf8");

/** Maps a PostgreSQL column type (format_type output) to the converter that fills it. */
export function castForTargetType(dataType: string): ColumnCast {
  const t = dataType.toLowerCase();
  const rule = "target column";
  const len = /\((\d+)\)/.exec(t);
  if (t === "smallint") return { kind: "smallint", pgType: t, rule };
  if (t === "integer") return { kind: "integer", pgType: t, rule };
  if (t === "bigint") return { kind: "bigint", pgType: t, rule };
  if (t === "boolean") return { kind: "boolean", pgType: t, rule };
  if (t === "double precision" || t === "real") return { kind: "double", pgType: t, rule };
  if (t.startsWith("numeric")) return { kind: "numeric", pgType: t, rule };
  if (t.startsWith("character varying") || t.startsWith("character(") || t === "character")
    return { kind: "varchar", pgType: t, length: len ? Number(len[1]) : undefined, rule };
  if (t.startsWith("timestamp") && t.includes("with time zone")) return { kind: "timestamptz", pgType: t, rule };
  if (t.startsWith("timestamp")) return { kind: "timestamp", pgType: t, rule };
  if (t === "date") return { kind: "date", pgType: t, rule };
  if (t.startsWith("time")) return { kind: "time", pgType: t, rule };
  if (t === "json" || t === "jsonb") return { kind: "jsonb", pgType: t, rule };
  if (t === "bytea") return { kind: "bytea", pgType: t, rule };
  if (t === "uuid") return { kind: "uuid", pgType: t, rule };
  // text, enums, domains and anything else take PostgreSQL's own text input.
  return { kind: "text", pgType: t, rule };
}

export async function readTargetTables(url: string, schema: string): Promise<Map<string, TargetColumn[]>> {
  const client = await connect(url);
  try {
    const rows = (await client.query(query, [schema])).rows as {
      table_name: string;
      column_name: string;
      data_type: string;
      not_null: boolean;
      has_sequence: boolean;
    }[];
    const tables = new Map<string, TargetColumn[]>();
    for (const r of rows) {
      const list = tables.get(r.table_name) ?? [];
      list.push({ name: r.column_name, dataType: r.data_type, notNull: r.not_null, hasSequence: r.has_sequence, cast: castForTargetType(r.data_type) });
      tables.set(r.table_name, list);
    }
    return tables;
  } finally {
    await client.end();
  }
}

// Reads what a SQLite database declares: tables, columns, keys, foreign keys,
// indexes, and the objects pgshift does not copy (views, triggers, virtual
// tables). The queries are the files in sql/sqlite/.
import type { Database } from "better-sqlite3";
import { sqlFile } from "../sql-files";
import { balanced, firstParen, withoutComments } from "../types/expressions";

const sql = (name: string) => sqlFile("sqlite", name);

export interface SqliteColumn {
  name: string;
  declaredType: string;
  notNull: boolean;
  defaultSql: string | null;
  /** 1-based position in the primary key, 0 when not part of it */
  pkPosition: number;
  /** generated columns are computed, not copied */
  generated: boolean;
}

export interface SqliteForeignKey {
  columns: string[];
  refTable: string;
  /** empty when the FK names no columns (it then means the referenced table's PK) */
  refColumns: string[];
  onUpdate: string;
  onDelete: string;
}

export interface SqliteIndex {
  name: string;
  unique: boolean;
  /** 'c' CREATE INDEX, 'u' UNIQUE constraint, 'pk' primary key */
  origin: "c" | "u" | "pk";
  columns: { name: string | null; descending: boolean; collation: string }[];
  /** WHERE clause of a partial index, as SQLite text */
  where: string | null;
  /** an index over expressions (translated when they are portable, see expressions.ts) */
  hasExpressions: boolean;
  /** the CREATE INDEX statement (null for indexes SQLite made for constraints) */
  sql: string | null;
}

export interface SqliteTable {
  name: string;
  columns: SqliteColumn[];
  primaryKey: string[];
  /** INTEGER PRIMARY KEY: the column is the rowid and SQLite assigns it */
  rowidAlias: string | null;
  autoincrement: boolean;
  withoutRowid: boolean;
  /** STRICT: declared types are enforced, and ANY means any value, kept as written (no affinity) */
  strict: boolean;
  foreignKeys: SqliteForeignKey[];
  indexes: SqliteIndex[];
  /** highest AUTOINCREMENT value ever used (sqlite_sequence), as decimal text: it can exceed 2^53 */
  sequence: string | null;
  createSql: string;
}

export interface SkippedObject {
  name: string;
  kind: "view" | "trigger" | "virtual table" | "shadow table" | "bookkeeping table";
  reason: string;
}

export interface SqliteCatalog {
  tables: SqliteTable[];
  skipped: SkippedObject[];
}

interface SchemaRow {
  type: string;
  name: string;
  tableName: string;
  sql: string | null;
}

export function readCatalog(db: Database): SqliteCatalog {
  const objects = db.prepare(sql("tables")).all() as SchemaRow[];
  const virtual = new Set(objects.filter((o) => o.type === "table" && /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(o.sql ?? "")).map((o) => o.name));
  // Only SQLite knows which tables a virtual table's module owns: a name test
  // (docs_…) would also take the app's own docs_archive beside an fts5 table docs.
  const listed = db.prepare(sql("table-kinds")).all() as { name: string; type: string; strict: number }[];
  const kinds = new Map(listed.map((k) => [k.name, k.type]));
  const strict = new Set(listed.filter((k) => k.strict === 1).map((k) => k.name));
  const tables: SqliteTable[] = [];
  const skipped: SkippedObject[] = [];
  for (const o of objects) {
    if (o.type === "view") {
      skipped.push({ name: o.name, kind: "view", reason: "views are not copied; recreate it in PostgreSQL (the app's migrations usually do)" });
    } else if (o.type === "trigger") {
      skipped.push({
        name: o.name,
        kind: "trigger",
        reason: "SQLite triggers do not translate to PostgreSQL; rewrite it as a PL/pgSQL trigger if the app needs it",
      });
    } else if (o.type === "table" && virtual.has(o.name)) {
      skipped.push({
        name: o.name,
        kind: "virtual table",
        reason: `virtual table (${/USING\s+(\w+)/i.exec(o.sql ?? "")?.[1] ?? "module"}) is not copied; use PostgreSQL full-text search (tsvector) instead`,
      });
    } else if (o.type === "table" && kinds.get(o.name) === "shadow") {
      const owner = [...virtual].filter((v) => o.name.startsWith(v + "_")).sort((a, b) => b.length - a.length)[0];
      skipped.push({
        name: o.name,
        kind: "shadow table",
        reason: `internal storage of ${owner ? `virtual table ${owner}` : "a virtual table"} (SQLite marks it as its module's shadow table)`,
      });
    } else if (o.type === "table") {
      tables.push(readTable(db, o.name, o.sql ?? "", strict.has(o.name)));
    }
  }
  return { tables, skipped };
}

function readTable(db: Database, name: string, createSql: string, strict: boolean): SqliteTable {
  const cols = db.prepare(sql("columns")).all(name) as {
    name: string;
    type: string;
    notNull: number;
    defaultSql: string | null;
    pk: number;
    hidden: number;
  }[];
  const columns: SqliteColumn[] = cols.map((c) => ({
    name: c.name,
    declaredType: c.type ?? "",
    notNull: c.notNull === 1,
    defaultSql: c.defaultSql,
    pkPosition: c.pk,
    generated: c.hidden === 2 || c.hidden === 3,
  }));
  const primaryKey = columns
    .filter((c) => c.pkPosition > 0)
    .sort((a, b) => a.pkPosition - b.pkPosition)
    .map((c) => c.name);
  const withoutRowid = /\)\s*WITHOUT\s+ROWID\s*;?\s*$/i.test(createSql);
  const single = primaryKey.length === 1 ? columns.find((c) => c.name === primaryKey[0]) : undefined;
  const rowidAlias =
    !withoutRowid && single && single.declaredType.trim().toUpperCase() === "INTEGER" && !isDescPk(createSql, single.name) ? single.name : null;
  const autoincrement = rowidAlias !== null && /AUTOINCREMENT/i.test(createSql);

  const fkRows = db.prepare(sql("foreign-keys")).all(name) as {
    id: number;
    refTable: string;
    fromColumn: string;
    toColumn: string | null;
    onUpdate: string;
    onDelete: string;
  }[];
  const byId = new Map<number, SqliteForeignKey>();
  for (const r of fkRows) {
    let fk = byId.get(r.id);
    if (!fk) {
      fk = { columns: [], refTable: r.refTable, refColumns: [], onUpdate: r.onUpdate, onDelete: r.onDelete };
      byId.set(r.id, fk);
    }
    fk.columns.push(r.fromColumn);
    if (r.toColumn) fk.refColumns.push(r.toColumn);
  }

  const idxRows = db.prepare(sql("indexes")).all(name) as { name: string; isUnique: number; origin: string; partial: number; sql: string | null }[];
  const idxCols = db.prepare(sql("index-columns"));
  const indexes: SqliteIndex[] = idxRows.map((r) => {
    const keyCols = idxCols.all(r.name) as { cid: number; name: string | null; descending: number; collation: string | null }[];
    return {
      name: r.name,
      unique: r.isUnique === 1,
      origin: r.origin as SqliteIndex["origin"],
      columns: keyCols.map((k) => ({
        name: k.cid === -1 ? (rowidAlias ?? "rowid") : k.name,
        descending: k.descending === 1,
        collation: (k.collation ?? "BINARY").toUpperCase(),
      })),
      where: r.partial === 1 && r.sql ? partialWhere(r.sql) : null,
      hasExpressions: keyCols.some((k) => k.cid === -2),
      sql: r.sql,
    };
  });

  let sequence: string | null = null;
  if (autoincrement) {
    const row = db.prepare(sql("sequence")).safeIntegers(true).get(name) as { seq: bigint | number | string } | undefined;
    sequence = row ? String(row.seq) : "0";
  }
  return { name, columns, primaryKey, rowidAlias, autoincrement, withoutRowid, strict, foreignKeys: [...byId.values()], indexes, sequence, createSql };
}

/** `INTEGER PRIMARY KEY DESC` is not a rowid alias (a SQLite quirk). */
function isDescPk(createSql: string, column: string): boolean {
  const esc = column.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`["\`\\[]?${esc}["\`\\]]?\\s+INTEGER\\s+PRIMARY\\s+KEY\\s+DESC`, "i").test(createSql);
}

function partialWhere(createIndexSql: string): string {
  // The WHERE of CREATE INDEX comes after the closing parenthesis of the column list
  // (found outside quoted names: an index or table may be named "(").
  const sql = withoutComments(createIndexSql);
  const open = firstParen(sql);
  const keys = open < 0 ? undefined : balanced(sql, open);
  const m = keys === undefined ? null : /^\s*WHERE\s+([\s\S]+?)\s*;?\s*$/i.exec(sql.slice(open + keys.length + 2));
  // Never null for a partial index: one read without its WHERE would refuse rows the app may write.
  // "?" is no expression pgshift translates, so the plan leaves the index out and says so.
  return m ? m[1]! : "?";
}

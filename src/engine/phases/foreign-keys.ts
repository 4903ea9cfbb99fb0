// Phase 4, foreign keys (--schema create): added after every table is loaded,
// in one transaction, with their ON DELETE/ON UPDATE actions. SQLite leaves
// enforcement off by default, so rows pointing at nothing are looked up and
// named when PostgreSQL refuses a key.
import { LoadError, describeKey } from "../errors";
import type { LoadContext } from "../load-context";
import { foreignKeyNames } from "../postgres/catalog";
import { foreignKeySql, orphanSql } from "../postgres/schema";

export async function addForeignKeys(ctx: LoadContext): Promise<void> {
  const { admin: client, plan } = ctx;
  if (plan.schemaMode !== "create") return;
  const schema = plan.targetSchema;
  const present = await foreignKeyNames(client, schema);
  const migrated = new Map(plan.tables.map((t) => [t.target, t]));
  const todo = plan.tables.flatMap((t) => t.foreignKeys.filter((fk) => !present.has(fk.name) && migrated.has(fk.refTable)).map((fk) => ({ t, fk })));
  if (todo.length === 0) return;
  await client.query("BEGIN");
  try {
    for (const { t, fk } of todo) {
      ctx.progress(t.target, "foreign keys", t.rows, t.rows);
      try {
        await client.query(foreignKeySql(schema, t.target, fk));
      } catch (err) {
        const orphans = await client
          .query("ROLLBACK")
          .then(() => client.query(orphanSql(schema, t.target, fk, migrated.get(fk.refTable)!.primaryKey, t.primaryKey)))
          .then((r) => r.rows as Record<string, unknown>[])
          .catch(() => []);
        // Each row by its own key, then what it points at: "row id=11: bot_id=99".
        const row = (o: Record<string, unknown>) => {
          const own = t.primaryKey.filter((k) => !fk.columns.includes(k));
          // pg hands bigint over as text: shown as the number it is.
          const pick = (cols: string[]) =>
            Object.fromEntries(cols.map((c) => [c, typeof o[c] === "string" && /^-?\d+$/.test(o[c] as string) ? BigInt(o[c] as string) : o[c]]));
          return own.length ? `row ${describeKey(pick(t.primaryKey))}: ${describeKey(pick(fk.columns))}` : `row ${describeKey(pick(fk.columns))}`;
        };
        throw new LoadError(
          t.source,
          `Foreign key ${t.target}(${fk.columns.join(", ")}) → ${fk.refTable} cannot be created: ${(err as Error).message}.\n` +
            (orphans.length
              ? `  Rows of "${t.source}" pointing at no row of "${fk.refTable}": ${orphans.map(row).join("; ")}${orphans.length === 3 ? "; …" : ""}.\n`
              : "") +
            "  SQLite does not enforce foreign keys unless PRAGMA foreign_keys is on, so such rows can exist. The data is loaded; " +
            `fix or delete those rows in PostgreSQL (or SQLite, then --refresh) and run again to add the key.`,
          err,
        );
      }
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

// Phase 1, decide: for every table, load it, keep it (pgshift loaded it from
// this very file before), reload it (--refresh), replace it (--overwrite), keep
// a migration tool's bookkeeping, or refuse — all before anything is written,
// so a refusal leaves the target untouched.
import { TargetConflictError } from "../errors";
import type { Decision, LoadContext } from "../load-context";
import { ensureLoadsTable, hasRows, loadRecords, tablesIn } from "../postgres/catalog";

export async function decide(ctx: LoadContext, options: { refresh?: boolean; overwrite?: boolean }): Promise<Map<string, Decision>> {
  const { admin, plan } = ctx;
  // --refresh copies whatever the fingerprint: it is not waited for here.
  const fingerprint = options.refresh ? undefined : await ctx.fingerprint();
  const schema = plan.targetSchema;
  await ensureLoadsTable(admin);
  const records = await loadRecords(admin, schema);
  const existing = await tablesIn(admin, schema);
  const actions = new Map<string, Decision>();
  for (const t of plan.tables) {
    const rec = records.get(t.target);
    const exists = existing.has(t.target);
    if (rec && exists) {
      // --refresh syncs even when the file is unchanged: PostgreSQL may have moved
      // (an app that wrote to it after a cutover and was rolled back), and the
      // DataMigration's runId promises a copy; the delta sync makes it cheap.
      if (options.refresh) actions.set(t.target, "reloaded");
      else if (rec.source_fingerprint === fingerprint) actions.set(t.target, "kept");
      else
        throw new TargetConflictError(
          t.source,
          `Table "${t.target}" was loaded by pgshift from a different version of ${ctx.source} (the file changed since).\n` +
            "  Re-run with --refresh to reload the tables pgshift loaded — but not after cutover, when the app writes to PostgreSQL.",
        );
    } else if (exists) {
      const filled = await hasRows(admin, schema, t.target);
      if (plan.schemaMode === "existing" && !filled) actions.set(t.target, "load");
      else if (plan.schemaMode === "existing" && t.bookkeeping) actions.set(t.target, "bookkeeping");
      else if (options.overwrite) actions.set(t.target, "replaced");
      else
        throw new TargetConflictError(
          t.source,
          plan.schemaMode === "create"
            ? `Table "${t.target}" already exists in PostgreSQL schema "${schema}" and was not created by pgshift. Nothing was changed.\n` +
                "  To load into it, use --schema existing; to drop and recreate it from SQLite, use --overwrite."
            : `Table "${t.target}" already holds rows that pgshift did not load. Nothing was changed.\n` +
                "  To replace them with the SQLite data, use --overwrite (TRUNCATE, then load).",
        );
    } else actions.set(t.target, "load");
  }
  return actions;
}

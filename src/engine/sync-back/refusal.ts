// A sync-back refuses as a whole: every value or row that cannot go back into
// the SQLite file is collected, and the error names each (table, row, column).
import { PgshiftError, describeKey, truncateValue, EXIT_BAD_INPUT } from "../errors";

export interface SyncBackProblem {
  table: string;
  key?: Record<string, unknown>;
  column?: string;
  value?: unknown;
  reason: string;
}

/** A value or row that cannot go back into SQLite in its original form; nothing was written. */
export class SyncBackRefusal extends PgshiftError {
  override readonly exitCode = EXIT_BAD_INPUT;
  readonly table: string;
  readonly key?: Record<string, unknown>;
  readonly column?: string;
  constructor(readonly problems: SyncBackProblem[]) {
    super(
      `Cannot copy PostgreSQL's rows back into SQLite: ${problems.length === 1 ? "a value" : `${problems.length} values`} cannot go back in the form the app's SQLite column holds. Nothing was written.\n` +
        problems
          .slice(0, 10)
          .map(
            (p) =>
              `  table "${p.table}"${p.key ? `, row ${describeKey(p.key)}` : ""}${p.column ? `, column "${p.column}"` : ""}: ${p.reason}${p.value !== undefined ? `\n    value: ${truncateValue(p.value)}` : ""}`,
          )
          .join("\n") +
        (problems.length > 10 ? `\n  … and ${problems.length - 10} more` : "") +
        "\n  Change those rows in PostgreSQL so they fit the SQLite file, then run sync-back again; or keep the app on PostgreSQL" +
        " (through Pulumi, rollback.discardPostgresWrites rolls back without copying, leaving PostgreSQL's writes behind).",
    );
    this.table = problems[0]!.table;
    if (problems[0]!.key) this.key = problems[0]!.key;
    if (problems[0]!.column) this.column = problems[0]!.column;
  }
}

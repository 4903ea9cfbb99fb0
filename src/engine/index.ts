// pgshift's migration engine: SQLite → PostgreSQL, catalog → plan → schema →
// copy → verify. No Pulumi here; the CLI and the Pulumi provider both sit on this.
export { planMigration, formatPlan, type MigrationOptions, type MigrationPlan, type TablePlan, type ColumnPlan, type SchemaMode } from "./plan";
export { migrate, verifyMigration, type MigrateOptions, type MigrationReport, type TableReport, type ProgressEvent } from "./migrate";
export { fingerprintSqlite } from "./sqlite/fingerprint";
export { CAST_RULES, formatCastRules, castFor } from "./types/cast-rules";
export * from "./errors";
export {
  DEFAULTS,
  SCHEMA_MODES,
  IDENTIFIER_MODES,
  JOBS,
  optionProblems,
  checkOptions,
  castProblem,
  type IdentifierMode,
  type OptionNames,
  type OptionProblem,
} from "./options";
export {
  planSyncBack,
  syncBack,
  SyncBackRefusal,
  type SyncBackOptions,
  type SyncBackPlan,
  type SyncBackProblem,
  type SyncBackReport,
  type SyncBackTable,
} from "./sync-back/sync-back";

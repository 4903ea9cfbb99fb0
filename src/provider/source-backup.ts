// The SQLite backup before the copy: the engine's (src/engine/sqlite/backup.ts),
// which sync-back also takes before it writes into the file.
export { backupFileName, backupSqlite } from "../engine/sqlite/backup";

// SQLite files made by the tests themselves.
import Database from "better-sqlite3";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "pgshift-sqlite-"));
let n = 0;

/** Creates a SQLite file from DDL + inserts, returning its path. */
export function sqliteFile(build: (db: Database.Database) => void, name = `db${++n}.db`): string {
  const path = join(dir, name);
  const db = new Database(path);
  build(db);
  db.close();
  return path;
}

// The catalog queries are SQL files under sql/, one folder per database:
// sql/sqlite/ (what the source declares) and sql/postgres/ (what the target
// holds, and pgshift's own record of its loads). They are read once.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const cache = new Map<string, string>();

export function sqlFile(side: "sqlite" | "postgres", name: string): string {
  const path = join(__dirname, "sql", side, `${name}.sql`);
  let text = cache.get(path);
  if (text === undefined) {
    text = readFileSync(path, "utf8");
    cache.set(path, text);
  }
  return text;
}

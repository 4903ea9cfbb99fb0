// Names PostgreSQL cannot hold as the plan would write them, found before
// anything is written: a column named like a system column (xmin, ctid), an
// empty name, two names that become one (PostgreSQL folds A–Z of unquoted
// names and keeps 63 bytes of any name), two indexes or tables that would
// share a name in the schema. Each problem names the table and column or
// index, and what to do; all of them are reported at once.
import { UsageError } from "./errors";
import { MAX_NAME_BYTES as MAX_IDENTIFIER_BYTES, SYSTEM_COLUMNS } from "./identifiers";
import type { IdentifierMode } from "./options";
import type { TablePlan } from "./plan";

export class NameProblemsError extends UsageError {
  constructor(readonly problems: string[]) {
    super(
      `PostgreSQL cannot hold these names as they are; nothing was written:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` +
        "  pgshift never changes the SQLite file: rename in a copy of it (ALTER TABLE … RENAME COLUMN …, or DROP INDEX and CREATE INDEX with another name) and migrate the copy, " +
        "or leave the table out with --tables.",
    );
  }
}

const long = (name: string) => Buffer.byteLength(name, "utf8") > MAX_IDENTIFIER_BYTES;

/** Why two source names became one target name. */
function why(a: string, b: string, target: string, identifiers: IdentifierMode): string {
  if (long(a) || long(b)) return `both are "${target}" once PostgreSQL keeps their first ${MAX_IDENTIFIER_BYTES} bytes; shorten one`;
  return identifiers === "downcase"
    ? `both are "${target}" once A–Z are folded as PostgreSQL folds unquoted names; rename one, or keep names as written with --identifiers preserve (the app's SQL must then quote them)`
    : `both are "${target}"; rename one`;
}

export function checkNames(tables: TablePlan[], identifiers: IdentifierMode, createsSchema: boolean): void {
  const problems: string[] = [];
  for (const t of tables) {
    const seen = new Map<string, string>();
    for (const c of [...t.columns, ...(t.generated ?? [])]) {
      if (c.source === "") problems.push(`table "${t.source}": a column has an empty name, which PostgreSQL does not allow; give it a name`);
      else if (SYSTEM_COLUMNS.has(c.target)) {
        problems.push(
          `table "${t.source}", column "${c.source}": "${c.target}" is a PostgreSQL system column of every table (${[...SYSTEM_COLUMNS].join(", ")}); rename it`,
        );
      }
      const other = seen.get(c.target);
      if (other !== undefined && c.source !== "")
        problems.push(`table "${t.source}", columns "${other}" and "${c.source}": ${why(other, c.source, c.target, identifiers)}`);
      seen.set(c.target, c.source);
    }
  }
  if (createsSchema) {
    // Tables, primary keys' and unique constraints' indexes and indexes share one namespace per schema.
    const relations = new Map<string, { what: string; source: string }>();
    const claim = (name: string, what: string, source: string) => {
      const other = relations.get(name);
      if (other) problems.push(`${other.what} and ${what}: ${why(other.source, source, name, identifiers).replace(/^both are/, "both would be")}`);
      else relations.set(name, { what, source });
    };
    for (const t of tables) claim(t.target, `table "${t.source}"`, t.source);
    for (const t of tables) {
      if (t.primaryKeyName) claim(t.primaryKeyName, `the primary key index of table "${t.source}"`, t.primaryKeyName);
      for (const ix of t.indexes)
        if (ix.kind !== "check constraint") claim(ix.name, `index "${ix.source ?? ix.name}" of table "${t.source}"`, ix.source ?? ix.name);
    }
  }
  if (problems.length) throw new NameProblemsError(problems);
}

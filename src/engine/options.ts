// pgshift's options, owned by the engine: the choices each takes, one set of
// defaults, and one check whose every complaint names the option the way the
// person wrote it (--jobs on the command line, pgshift:migration.jobs in the
// stack, jobs on the Pulumi resource). The CLI, src/config.ts and the Pulumi
// component and provider all derive from here; none keeps its own list.
import { parseOverride } from "./cast-rules";
import { UsageError } from "./errors";

export const SCHEMA_MODES = ["create", "existing"] as const;
/** create: pgshift creates the tables; existing: the app's migrations did, pgshift loads into them */
export type SchemaMode = (typeof SCHEMA_MODES)[number];

export const IDENTIFIER_MODES = ["downcase", "preserve"] as const;
/** downcase: the names the app's unquoted SQL resolves to in PostgreSQL; preserve: exactly as in SQLite */
export type IdentifierMode = (typeof IDENTIFIER_MODES)[number];

/** tables copied (and verified) at the same time */
export const JOBS = { min: 1, max: 64 } as const;

/** Every option's default, in one place. */
export const DEFAULTS = Object.freeze({
  schema: "create" as SchemaMode,
  identifiers: "downcase" as IdentifierMode,
  jobs: 2,
  /** the PostgreSQL schema loaded into */
  targetSchema: "public",
  /** refresh, overwrite: off; verify: on */
  refresh: false,
  overwrite: false,
  verify: true,
});

/** The options that have a choice to check: each as the person gave it (unknown until checked). */
export interface OptionValues {
  schema?: unknown;
  identifiers?: unknown;
  jobs?: unknown;
  casts?: unknown;
  tables?: unknown;
}

/** How the person spelled each option, for messages. */
export type OptionNames = Record<keyof OptionValues, string>;

/** The engine's own messages name options as the CLI's flags, as its other errors do ("--cast names …"). */
export const FLAG_NAMES: OptionNames = { schema: "--schema", identifiers: "--identifiers", jobs: "--jobs", casts: "--cast", tables: "--tables" };

export interface OptionProblem {
  option: keyof OptionValues;
  message: string;
}

const oneOf = (values: readonly string[]) => values.slice(0, -1).join(", ") + " or " + values[values.length - 1];

/** The problem with one cast (`table.column` → `type[:reading]`), or undefined when it is fine. */
export function castProblem(column: string, spec: unknown): string | undefined {
  if (column.lastIndexOf(".") <= 0) return `"${column}" must look like table.column (e.g. settings.value)`;
  if (typeof spec !== "string") return `"${column}" must be a type such as text or timestamp:epoch-ms, not ${JSON.stringify(spec)}`;
  try {
    parseOverride(spec);
    return undefined;
  } catch (err) {
    return `"${column}=${spec}": ${(err as Error).message}`;
  }
}

/** Every problem with the given options; [] when they are all usable. Absent options are fine (they take DEFAULTS). */
export function optionProblems(o: OptionValues, names: OptionNames = FLAG_NAMES): OptionProblem[] {
  const name = (k: keyof OptionValues) => names[k];
  const problems: OptionProblem[] = [];
  const add = (option: keyof OptionValues, message: string) => problems.push({ option, message });
  if (o.schema !== undefined && !(SCHEMA_MODES as readonly unknown[]).includes(o.schema)) add("schema", `${name("schema")} must be ${oneOf(SCHEMA_MODES)}, not ${show(o.schema)}`);
  if (o.identifiers !== undefined && !(IDENTIFIER_MODES as readonly unknown[]).includes(o.identifiers)) {
    add("identifiers", `${name("identifiers")} must be ${oneOf(IDENTIFIER_MODES)}, not ${show(o.identifiers)}`);
  }
  if (o.jobs !== undefined && !(Number.isInteger(o.jobs) && (o.jobs as number) >= JOBS.min && (o.jobs as number) <= JOBS.max)) {
    add("jobs", `${name("jobs")} must be a whole number from ${JOBS.min} to ${JOBS.max}, not ${show(o.jobs)}`);
  }
  if (o.tables !== undefined && !(Array.isArray(o.tables) && o.tables.every((t) => typeof t === "string" && t.length > 0))) {
    add("tables", `${name("tables")} must be a list of table names, not ${show(o.tables)}`);
  }
  if (o.casts !== undefined) {
    if (typeof o.casts !== "object" || o.casts === null || Array.isArray(o.casts)) add("casts", `${name("casts")} must map table.column to a type, not ${show(o.casts)}`);
    else {
      for (const [column, spec] of Object.entries(o.casts)) {
        const p = castProblem(column, spec);
        if (p) add("casts", `${name("casts")} ${p}`);
      }
    }
  }
  return problems;
}

/** Throws a UsageError (exit code 2) naming the first problem with the options. */
export function checkOptions(o: OptionValues, names: OptionNames = FLAG_NAMES): void {
  const [first] = optionProblems(o, names);
  if (first) throw new UsageError(first.message);
}

const show = (v: unknown) => (typeof v === "string" ? `"${v}"` : JSON.stringify(v) ?? String(v));

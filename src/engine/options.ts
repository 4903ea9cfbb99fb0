// pgshift's migration settings, owned by the engine: one MigrationSettings
// type, the choices each takes, one set of defaults, and one check whose every
// complaint names the setting the way the person wrote it (--jobs on the
// command line, pgshift:migration.jobs in the stack, jobs on the Pulumi
// resource). src/config.ts extends settingsSchema; the CLI, the component, the
// resource and the engine take MigrationSettings or a Partial of it; none keeps
// its own list. test/engine/options.test.ts checks that none does.
import { z } from "zod";
import { parseOverride } from "./types/cast-rules";
import { UsageError } from "./errors";

export const SCHEMA_MODES = ["create", "existing"] as const;
/** create: pgshift creates the tables; existing: the app's migrations did, pgshift loads into them */
export type SchemaMode = (typeof SCHEMA_MODES)[number];

export const IDENTIFIER_MODES = ["downcase", "preserve"] as const;
/** downcase: the names the app's unquoted SQL resolves to in PostgreSQL; preserve: exactly as in SQLite */
export type IdentifierMode = (typeof IDENTIFIER_MODES)[number];

/** tables copied (and verified) at the same time */
export const JOBS = { min: 1, max: 64 } as const;

/**
 * The migration's settings: what every way in takes (the CLI's flags, the
 * stack's pgshift:migration.*, the SqliteMigration component, the DataMigration
 * resource, a program calling the engine). To add one: declare it here, give it
 * a default and a check in SETTINGS, read it in the engine, and give the CLI a
 * flag (src/cli/main.ts). The stack, the component and the resource pass every
 * setting on as they are, and a change to one makes the resource copy again
 * unless SETTINGS says it only changes how (`recopy: false`).
 */
export interface MigrationSettings {
  schema: SchemaMode;
  /** source table names to migrate; [] is all of them */
  tables: string[];
  /** source tables left out (a cache, sessions, a log the app can lose): after `tables` picks */
  excludeTables: string[];
  identifiers: IdentifierMode;
  /** tables copied (and verified) at the same time */
  jobs: number;
  /** per-column cast overrides: { "table.column": "text" } or "timestamp:epoch-ms" */
  casts: Record<string, string>;
}

/** One problem with a setting: `path` is where under it (a cast's column), for the stack's key. */
export interface OptionProblem {
  option: keyof MigrationSettings;
  message: string;
  path?: string[];
}

interface Setting<T> {
  default: () => T;
  /** what is wrong with `value` (never undefined: absent settings take the default), as `name` */
  problems: (value: unknown, name: string) => { message: string; path?: string[] }[];
  /** what a change means to data already copied (the resource's reason to copy again); false: only how it is copied */
  recopy: false | ((value: T) => string);
}

const oneOf = (values: readonly string[]) => values.slice(0, -1).join(", ") + " or " + values[values.length - 1];
const show = (v: unknown) => (typeof v === "string" ? `"${v}"` : (JSON.stringify(v) ?? String(v)));
const tableNames = (v: unknown, name: string) =>
  Array.isArray(v) && v.every((t) => typeof t === "string" && t.length > 0) ? [] : [{ message: `${name} must be a list of table names, not ${show(v)}` }];
const mode =
  <T extends string>(modes: readonly T[]) =>
  (v: unknown, name: string) =>
    (modes as readonly unknown[]).includes(v) ? [] : [{ message: `${name} must be ${oneOf(modes)}, not ${show(v)}` }];

/** Every setting's default, check and meaning for a re-copy, in one place. */
export const SETTINGS: { readonly [K in keyof MigrationSettings]: Setting<MigrationSettings[K]> } = {
  schema: { default: () => "create", problems: mode(SCHEMA_MODES), recopy: (v) => `schema mode changed to ${v}` },
  tables: { default: () => [], problems: (v, name) => tableNames(v, name), recopy: () => "the table selection changed" },
  excludeTables: { default: () => [], problems: (v, name) => tableNames(v, name), recopy: () => "the excluded tables changed" },
  identifiers: { default: () => "downcase", problems: mode(IDENTIFIER_MODES), recopy: (v) => `identifiers changed to ${v}` },
  jobs: {
    default: () => 2,
    problems: (v, name) =>
      Number.isInteger(v) && (v as number) >= JOBS.min && (v as number) <= JOBS.max
        ? []
        : [{ message: `${name} must be a whole number from ${JOBS.min} to ${JOBS.max}, not ${show(v)}` }],
    recopy: false,
  },
  casts: {
    default: () => ({}),
    problems: (v, name) => {
      if (typeof v !== "object" || v === null || Array.isArray(v)) return [{ message: `${name} must map table.column to a type, not ${show(v)}` }];
      return Object.entries(v).flatMap(([column, spec]) => {
        const p = castProblem(column, spec);
        return p ? [{ message: `${name} ${p}`, path: [column] }] : [];
      });
    },
    recopy: () => "the column casts changed",
  },
};

export const SETTING_NAMES = Object.keys(SETTINGS) as (keyof MigrationSettings)[];

/** Every setting's default, and the engine's other defaults, in one place. */
export const DEFAULTS = Object.freeze({
  ...(Object.fromEntries(SETTING_NAMES.map((k) => [k, SETTINGS[k].default()])) as unknown as MigrationSettings),
  /** the PostgreSQL schema loaded into */
  targetSchema: "public",
  /** refresh, overwrite: off; verify: on */
  refresh: false,
  overwrite: false,
  verify: true,
});

/** The settings in `o` (and nothing else), each as given or its default: the one place defaults are applied. */
export function withDefaults(o: Partial<MigrationSettings>): MigrationSettings {
  return Object.fromEntries(SETTING_NAMES.map((k) => [k, o[k] ?? SETTINGS[k].default()])) as unknown as MigrationSettings;
}

/** The settings in `o` that are set, and nothing else (to pass them on). */
export function settingsIn(o: Partial<MigrationSettings>): Partial<MigrationSettings> {
  return Object.fromEntries(SETTING_NAMES.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/** Why data already copied with `olds` must be copied again for `news`; [] when none changed or only how to copy did. */
export function recopyReasons(olds: Partial<MigrationSettings>, news: Partial<MigrationSettings>): string[] {
  // State written before a setting existed holds no value for it: it reads as the default.
  const was = withDefaults(olds);
  const now = withDefaults(news);
  return SETTING_NAMES.flatMap((k) => {
    const recopy = SETTINGS[k].recopy as false | ((v: unknown) => string);
    return recopy && JSON.stringify(was[k]) !== JSON.stringify(now[k]) ? [recopy(now[k])] : [];
  });
}

/**
 * The settings as a zod schema (the stack's pgshift:migration extends it with
 * what only Pulumi needs): the engine's own checks and defaults, each problem
 * under the setting's key (a cast under its column's).
 */
export const settingsSchema = z.object(
  Object.fromEntries(
    SETTING_NAMES.map((k) => [
      k,
      z
        .unknown()
        .superRefine((v, ctx) => {
          if (v === undefined) return;
          for (const p of SETTINGS[k].problems(v, k)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: p.path ?? [], message: p.message });
        })
        .transform((v) => v ?? SETTINGS[k].default()),
    ]),
  ) as unknown as { [K in keyof MigrationSettings]: z.ZodType<MigrationSettings[K], z.ZodTypeDef, MigrationSettings[K] | undefined> },
);

/** The options that have a choice to check: each as the person gave it (unknown until checked). */
export type OptionValues = { [K in keyof MigrationSettings]?: unknown };

/** How the person spelled each option, for messages. */
export type OptionNames = Record<keyof MigrationSettings, string>;

/** The engine's own messages name options as the CLI's flags, as its other errors do ("--cast names …"). */
export const FLAG_NAMES: OptionNames = {
  schema: "--schema",
  identifiers: "--identifiers",
  jobs: "--jobs",
  casts: "--cast",
  tables: "--tables",
  excludeTables: "--exclude-tables",
};

/** The settings named under a prefix: "" for the Pulumi resource's inputs and the component's args, STACK_PREFIX for the stack's keys. */
export function settingNames(prefix: string): OptionNames {
  return Object.fromEntries(SETTING_NAMES.map((k) => [k, `${prefix}${k}`])) as OptionNames;
}

/** The Pulumi resource's inputs are named as the settings. */
export const SETTING_KEYS = settingNames("");

/** Where the stack keeps the settings (src/config.ts): pgshift:migration.tables, pgshift:migration.excludeTables, … */
export const STACK_PREFIX = "pgshift:migration.";

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
  return SETTING_NAMES.flatMap((k) => (o[k] === undefined ? [] : SETTINGS[k].problems(o[k], names[k]).map((p) => ({ option: k, ...p }))));
}

/** Throws a UsageError (exit code 2) naming the first problem with the options. */
export function checkOptions(o: OptionValues, names: OptionNames = FLAG_NAMES): void {
  const [first] = optionProblems(o, names);
  if (first) throw new UsageError(first.message);
}

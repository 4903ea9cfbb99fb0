// One options type, one set of defaults, one check (src/engine/options.ts):
// every way in — the CLI's flags, the stack's pgshift:migration.*, the Pulumi
// resource's inputs, a program calling the engine — refuses the same bad
// values as a usage error (exit code 2) that names the option as that person
// wrote it, and takes the same defaults.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parse } from "../../src/cli/main";
import { ConfigError, parseConfig } from "../../src/config";
import { DEFAULTS, EXIT_BAD_INPUT, exitCodeFor, migrate, planMigration, UsageError, verifyMigration } from "../../src/engine";
import { settingNames, settingsIn, SETTING_NAMES, STACK_PREFIX } from "../../src/engine/options";
import { check, copyReasons } from "../../src/provider/data-migration-handler";
import { sqliteFile } from "../helpers/sqlite";

const src = sqliteFile((db) => db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME); INSERT INTO events VALUES (1, '2024-01-01 00:00:00')"));
// Nothing listens here: an option problem must be found before any connection is tried.
const nowhere = "postgres://u:p@127.0.0.1:1/x";

interface Bad {
  what: string;
  flags: string[];
  option: "schema" | "identifiers" | "jobs" | "casts";
  value: unknown;
  /** what every path's message says */
  says: RegExp;
}

const BAD: Bad[] = [
  { what: "an unknown schema mode", flags: ["--schema", "replace"], option: "schema", value: "replace", says: /must be create or existing, not "replace"/ },
  {
    what: "an unknown identifiers mode",
    flags: ["--identifiers", "upcase"],
    option: "identifiers",
    value: "upcase",
    says: /must be downcase or preserve, not "upcase"/,
  },
  { what: "no jobs", flags: ["--jobs", "0"], option: "jobs", value: 0, says: /must be a whole number from 1 to 64, not 0/ },
  { what: "too many jobs", flags: ["--jobs", "65"], option: "jobs", value: 65, says: /must be a whole number from 1 to 64, not 65/ },
  {
    what: "a cast to an unknown type",
    flags: ["--cast", "events.at=datetime2"],
    option: "casts",
    value: { "events.at": "datetime2" },
    says: /"events\.at=datetime2": unknown cast "datetime2"; use one of: text, varchar/,
  },
  {
    what: "a reading for a type that has none",
    flags: ["--cast", "events.at=text:epoch-ms"],
    option: "casts",
    value: { "events.at": "text:epoch-ms" },
    says: /only timestamp, timestamptz and date take a reading/,
  },
];

const assertUsage = (err: unknown, says: RegExp, named: string) => {
  assert.equal(exitCodeFor(err), EXIT_BAD_INPUT, `exit code 2 for ${(err as Error).message}`);
  assert.match((err as Error).message, says);
  assert.ok((err as Error).message.includes(named), `names ${named}: ${(err as Error).message}`);
  return true;
};

for (const bad of BAD) {
  test(`${bad.what} is a usage error on every path, naming the option as given there`, async () => {
    // The CLI: the flag.
    const flag = bad.flags[0]!;
    assert.throws(
      () => parse(["migrate", "--from", src, "--to", nowhere, ...bad.flags]),
      (e) => assertUsage(e, bad.says, flag),
    );

    // The stack: pgshift:migration.<option> (a cast under its column's key).
    const key = bad.option === "casts" ? "pgshift:migration.casts.events.at" : `pgshift:migration.${bad.option}`;
    assert.throws(
      () => parseConfig({ namespace: "ns", migration: { [bad.option]: bad.value } }),
      (e) => e instanceof ConfigError && (e as Error).message.includes(key) && (bad.option === "casts" ? bad.says.test((e as Error).message) : true),
    );

    // The Pulumi resource: a check failure on the property, before anything runs.
    const inputs = {
      source: src,
      sourceFingerprint: "x",
      targetUrl: nowhere,
      schema: DEFAULTS.schema,
      tables: [],
      identifiers: DEFAULTS.identifiers,
      jobs: DEFAULTS.jobs,
      casts: {},
      cutover: false,
      runId: "",
      backupDir: "",
    };
    const { failures } = await check(inputs, { ...inputs, [bad.option]: bad.value });
    assert.equal(failures?.length, 1, JSON.stringify(failures));
    assert.equal(failures![0]!.property, bad.option);
    assert.match(failures![0]!.reason, bad.says);

    // A program calling the engine: UsageError from plan, migrate and verify, before any connection.
    const options = { source: src, target: nowhere, [bad.option]: bad.value };
    for (const run of [planMigration, migrate, verifyMigration] as ((o: typeof options) => Promise<unknown>)[]) {
      await assert.rejects(run(options), (e) => e instanceof UsageError && assertUsage(e, bad.says, flag));
    }
  });
}

test("the CLI, the stack and the engine take the same defaults", async () => {
  const cli = parse(["migrate", "--from", src, "--to", nowhere]);
  // The CLI passes on only what was given: the engine applies the defaults once.
  assert.deepEqual(settingsIn(cli), {});
  assert.equal(cli.schema, undefined, "left to the engine (verify reads what the migration recorded)");
  const stack = parseConfig({ namespace: "ns" }).migration;
  assert.equal(stack.schema, DEFAULTS.schema);
  assert.equal(stack.identifiers, DEFAULTS.identifiers);
  assert.equal(stack.jobs, DEFAULTS.jobs);
  const plan = await planMigration({ source: src });
  assert.equal(plan.schemaMode, DEFAULTS.schema);
  assert.equal(plan.identifiers, DEFAULTS.identifiers);
  assert.equal(plan.targetSchema, DEFAULTS.targetSchema);
});

/** Every .ts file of the program (src, components, bin, index.ts): path relative to the root, and its lines. */
function programFiles(): { path: string; lines: string[] }[] {
  const root = join(__dirname, "..", "..");
  const files: { path: string; lines: string[] }[] = [];
  const walk = (dir: string, deep: boolean) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (deep) walk(path, deep);
      } else if (name.endsWith(".ts")) files.push({ path: relative(root, path), lines: readFileSync(path, "utf8").split("\n") });
    }
  };
  for (const dir of ["src", "components", "bin"]) walk(join(root, dir), true);
  walk(root, false); // index.ts
  return files;
}

/** Lines matching `pattern` in the files `where` picks, as path:line: text. */
function linesMatching(pattern: RegExp, where: (path: string) => boolean): string[] {
  return programFiles()
    .filter((f) => where(f.path))
    .flatMap((f) => f.lines.flatMap((line, i) => (pattern.test(line) ? [`${f.path}:${i + 1}: ${line.trim()}`] : [])));
}

const OPTIONS = join("src", "engine", "options.ts");

test("the choices are listed once: no second list of schema or identifiers modes, nor the jobs default, outside src/engine/options.ts", () => {
  const lists =
    /["'](create|existing)["']\s*(,|\|)\s*["'](create|existing)["']|["'](downcase|preserve)["']\s*(,|\|)\s*["'](downcase|preserve)["']|\.max\(64\)|jobs\s*(\?\?|:)\s*2\b/;
  assert.deepEqual(
    linesMatching(lists, (p) => p !== OPTIONS),
    [],
  );
});

test("each setting has one source: declared only in MigrationSettings, defaulted only by options.ts", () => {
  const settings = SETTING_NAMES.join("|");
  // Outside the engine, no layer declares a setting's type: the stack, the component, the resource, its handler,
  // the cutover's data side and the CLI take MigrationSettings (or a Partial of it), and declare no member of their own.
  const declared = new RegExp(`^\\s*(readonly\\s+)?(${settings})\\??:\\s*(pulumi\\.Input<)?(SchemaMode|IdentifierMode|number|string\\[\\]|Record<string|z\\.)`);
  assert.deepEqual(
    linesMatching(declared, (p) => !p.startsWith(join("src", "engine"))),
    [],
  );
  // Nowhere but options.ts gives a setting its default (withDefaults, once per entry point).
  const defaulted = new RegExp(
    `\\?\\?\\s*DEFAULTS\\.(${settings})\\b|\\b(${settings})\\s*:\\s*DEFAULTS\\.|\\b(${SETTING_NAMES.filter((k) => k !== "tables").join("|")})\\s*\\?\\?\\s*(\\[\\]|\\{\\}|["'](create|downcase)|\\d)`,
  );
  assert.deepEqual(
    linesMatching(defaulted, (p) => p !== OPTIONS),
    [],
  );
});

test("excludeTables, a setting added in options.ts, plan.ts and the CLI alone, reaches every way in", async () => {
  const two = sqliteFile((db) => db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY); CREATE TABLE sessions (id INTEGER PRIMARY KEY, token TEXT)"));
  // The engine: the table is left out of the plan; a name that is not a table is a usage error naming it.
  const plan = await planMigration({ source: two, excludeTables: ["sessions"] });
  assert.deepEqual(
    plan.tables.map((t) => t.source),
    ["events"],
  );
  await assert.rejects(
    planMigration({ source: two, excludeTables: ["sesions"] }),
    (e) => e instanceof UsageError && /^--exclude-tables names "sesions", which is not a table/.test((e as Error).message),
  );
  // From the stack, the message names the stack's keys, not the CLI's flags.
  const stack = settingNames(STACK_PREFIX);
  await assert.rejects(
    planMigration({ source: two, excludeTables: ["sesions"], optionNames: stack }),
    (e) => e instanceof UsageError && /^pgshift:migration\.excludeTables names "sesions", which is not a table/.test((e as Error).message),
  );
  await assert.rejects(
    planMigration({ source: two, tables: ["event"], optionNames: stack }),
    (e) => e instanceof UsageError && /^pgshift:migration\.tables names "event", which is not a table/.test((e as Error).message),
  );
  await assert.rejects(
    planMigration({ source: two, tables: ["event"] }),
    (e) => e instanceof UsageError && /^--tables names "event", which is not a table/.test((e as Error).message),
  );
  // The CLI's flag.
  assert.deepEqual(parse(["migrate", "--from", two, "--to", nowhere, "--exclude-tables", "sessions, cache"]).excludeTables, ["sessions", "cache"]);
  // The stack: its default, a value, and a bad one named by its key.
  assert.deepEqual(parseConfig({ namespace: "ns" }).migration.excludeTables, []);
  assert.deepEqual(parseConfig({ namespace: "ns", migration: { excludeTables: ["sessions"] } }).migration.excludeTables, ["sessions"]);
  assert.throws(
    () => parseConfig({ namespace: "ns", migration: { excludeTables: "sessions" } }),
    /pgshift:migration\.excludeTables: excludeTables must be a list of table names/,
  );
  // The Pulumi resource: checked on its property; a change makes it copy again.
  const inputs = { source: two, sourceFingerprint: "x", targetUrl: nowhere, ...DEFAULTS, cutover: false, runId: "", backupDir: "" };
  const { failures } = await check(inputs, { ...inputs, excludeTables: [""] as string[] });
  assert.equal(failures?.[0]?.property, "excludeTables");
  const olds = { ...inputs, report: { ok: true, tables: [] }, backupFile: "", status: "", migratedFingerprint: "x", copiedAt: "", everCutover: false };
  assert.deepEqual(copyReasons(olds, { ...inputs, excludeTables: ["sessions"] }), ["the excluded tables changed"]);
  // State written before the setting existed reads as its default: no copy.
  const { excludeTables: _, ...before } = olds;
  assert.deepEqual(copyReasons(before, inputs), []);
});

// pgshift's SQLite extensions in C (src/engine/sqlite/native/*.c), built at
// install by node-gyp (binding.gyp, scripts/build-native.ts; again with
// `npm run build:native`) into build/Release/<target>.node. This module only
// finds them: nothing is compiled at run time, so `pulumi up` never runs a compiler.
//
// Each has a JavaScript path that does the same work more slowly. It is taken
// only when asked for (PGSHIFT_NATIVE=off, or the extension's own variable),
// never because a build is missing: a missing or outdated build is an error
// that says what to run. A process says once, on stderr, which path it takes.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { isMainThread } from "node:worker_threads";
import type Database from "better-sqlite3";

/** Set to "off" to take every JavaScript path (a machine without a C compiler; CI's second engine run). */
export const NATIVE_ENV = "PGSHIFT_NATIVE";

export interface NativeExtension {
  /** native/<name>.c */
  name: string;
  /** binding.gyp's target_name: build/Release/<target>.node */
  target: string;
  /** its sqlite3_..._init entry point */
  entry: string;
  /** what it does, in the run's message */
  does: string;
  /** set to "off" to take this one's JavaScript path */
  disableEnv: string;
}

export type Built = { path: string; entry: string } | { unavailable: string };

/** The repository's root (this file is src/engine/sqlite/native.ts; the CLI bundle keeps each module's own __dirname). */
export const ROOT = join(__dirname, "..", "..", "..");
/** The C sources. */
export const SOURCE_DIR = join(__dirname, "native");
/** Where node-gyp puts the built extensions, and the record of what they were built from. */
export const BUILD_DIR = join(ROOT, "build", "Release");
export const MANIFEST = "pgshift-native.json";
/** The command that builds them, in every message that asks for it. */
export const BUILD_COMMAND = "npm run build:native";

/** A build that is missing or was made from other sources, when no JavaScript path was asked for. */
export class NativeExtensionNotBuilt extends Error {
  constructor(
    readonly extension: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(
      `pgshift's SQLite extension ${extension} (${relative(process.cwd(), path) || path}) ${problem}. ` +
        `Build it with \`${BUILD_COMMAND}\` in ${ROOT} (needs a C compiler: apt-get install gcc libc6-dev), ` +
        `or set ${NATIVE_ENV}=off wherever pgshift runs (pulumi up, the CLI) to take the JavaScript paths: ` +
        `slower copies and refreshes that compare full contents, with the same results and fingerprints.`,
    );
  }
}

/** What the build records per target (scripts/build-native.ts) and the lookup checks: a hash of the C source, its own headers and SQLite's sqlite3ext.h. */
export function sourceHash(name: string, sourceDir = SOURCE_DIR): string {
  const source = readFileSync(join(sourceDir, `${name}.c`));
  const hash = createHash("sha256").update(source);
  for (const h of headersOf(source.toString("utf8"))) hash.update(readFileSync(join(sourceDir, h)));
  return hash.update(readFileSync(sqliteHeader())).digest("hex");
}

/** better-sqlite3's sqlite3ext.h: the extensions run inside its SQLite. */
export function sqliteHeader(): string {
  return join(ROOT, "node_modules", "better-sqlite3", "deps", "sqlite3", "sqlite3ext.h");
}

// Headers next to the source are part of it (copy-text.c includes jsonb-text.h, which includes nothing of ours it does not list here).
const headersOf = (c: string) => [...c.matchAll(/^#include "([\w.-]+\.h)"/gm)].map((m) => m[1]!).filter((h) => h !== "sqlite3ext.h");

const checked = new Map<string, Built>();
const said = new Set<string>();

/**
 * The built extension's path, or the reason its JavaScript path was asked for;
 * throws NativeExtensionNotBuilt when neither. `buildDir` is for tests.
 */
export function nativeExtension(ext: NativeExtension, buildDir = BUILD_DIR): Built {
  const off = [NATIVE_ENV, ext.disableEnv].find((v) => process.env[v] === "off");
  const result: Built = off ? { unavailable: `${off}=off` } : locate(ext, buildDir);
  say(ext, result);
  return result;
}

function locate(ext: NativeExtension, buildDir: string): Built {
  const key = `${buildDir}\0${ext.target}`;
  const known = checked.get(key);
  if (known) return known;
  const path = join(buildDir, `${ext.target}.node`);
  if (!existsSync(path)) throw new NativeExtensionNotBuilt(ext.name, path, "is not built");
  let recorded: unknown;
  try {
    recorded = (JSON.parse(readFileSync(join(buildDir, MANIFEST), "utf8")) as Record<string, unknown>)[ext.target];
  } catch {
    recorded = undefined;
  }
  if (recorded !== sourceHash(ext.name)) {
    throw new NativeExtensionNotBuilt(ext.name, path, `was built from other sources than src/engine/sqlite/native/${ext.name}.c and its headers now`);
  }
  const built = { path, entry: ext.entry };
  checked.set(key, built);
  return built;
}

/** Once per process, extension and path: which path, and why. */
function say(ext: NativeExtension, r: Built): void {
  const line = `[pgshift] ${ext.does}: ${"path" in r ? `C (${relative(process.cwd(), r.path) || r.path})` : `JavaScript (${r.unavailable})`}`;
  // Read workers look the extensions up again in their own module copies; the main thread has said it.
  if (said.has(line) || !isMainThread) return;
  said.add(line);
  process.stderr.write(`${line}\n`);
}

const loaded = new WeakMap<Database.Database, Set<string>>();

/** Loads a built extension into a connection, once per connection. */
export function loadExtension(db: Database.Database, ext: { path: string; entry: string }): void {
  let set = loaded.get(db);
  if (!set) loaded.set(db, (set = new Set()));
  if (set.has(ext.path)) return;
  // better-sqlite3 passes the entry point on to SQLite; its typings know only the path.
  (db.loadExtension as (path: string, entry: string) => void).call(db, ext.path, ext.entry);
  set.add(ext.path);
}

// pgshift's SQLite extensions in C (src/engine/sqlite/native/*.c), compiled on first
// use with the machine's C compiler (the one better-sqlite3 was built with)
// into node_modules/.cache/pgshift, once per source version. Each has a plain
// JavaScript path that does the same work more slowly, used when there is no
// compiler or its environment variable says "off".
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type Database from "better-sqlite3";

export interface NativeExtension {
  /** native/<name>.c */
  name: string;
  /** its sqlite3_..._init entry point */
  entry: string;
  /** set to "off" to never build or use it */
  disableEnv: string;
}

export type Built = { path: string; entry: string } | { unavailable: string };

const built = new Map<string, Built>();

/** The compiled extension's path, building it if needed; or why it cannot be had. */
export function buildExtension(ext: NativeExtension): Built {
  if (process.env[ext.disableEnv] === "off") return { unavailable: `${ext.disableEnv}=off` };
  const known = built.get(ext.name);
  if (known) return known;
  const result = build(ext);
  built.set(ext.name, result);
  return result;
}

function build(ext: NativeExtension): Built {
  try {
    const include = join(dirname(require.resolve("better-sqlite3/package.json")), "deps", "sqlite3");
    if (!existsSync(join(include, "sqlite3ext.h"))) return { unavailable: `better-sqlite3 ships no sqlite3ext.h in ${include}` };
    const dir = join(__dirname, "native");
    const source = join(dir, `${ext.name}.c`);
    // Headers next to the source are part of it (copy-text.c includes jsonb-text.h).
    const hash = createHash("sha256").update(readFileSync(source));
    for (const h of headersOf(readFileSync(source, "utf8"))) hash.update(readFileSync(join(dir, h)));
    const id = hash
      .update(readFileSync(join(include, "sqlite3ext.h")))
      .update(process.arch)
      .digest("hex")
      .slice(0, 16);
    const path = join(cacheDir(), `${ext.name}-${id}.so`);
    if (!existsSync(path)) {
      // Built under a temporary name and renamed: parallel runs never load a half-written file.
      const partial = `${path}.${process.pid}.tmp`;
      try {
        execFileSync(process.env.CC || "cc", ["-O2", "-fPIC", "-shared", "-I", include, source, "-o", partial], { stdio: "pipe" });
        renameSync(partial, path);
      } finally {
        rmSync(partial, { force: true });
      }
    }
    return { path, entry: ext.entry };
  } catch (err) {
    const e = err as Error & { stderr?: Buffer };
    return { unavailable: `building it failed: ${(e.stderr?.toString() || e.message).trim().split("\n")[0]}` };
  }
}

const headersOf = (c: string) => [...c.matchAll(/^#include "([\w.-]+\.h)"/gm)].map((m) => m[1]!).filter((h) => h !== "sqlite3ext.h");

// Only inside the project's own node_modules: a shared place such as /tmp would
// let another local user plant a library that pgshift then loads.
function cacheDir(): string {
  const dir = join(__dirname, "..", "..", "..", "node_modules", ".cache", "pgshift");
  mkdirSync(dir, { recursive: true });
  return dir;
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

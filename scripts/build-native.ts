// Builds pgshift's SQLite extensions in C (binding.gyp) with node-gyp into
// build/Release, and records what they were built from (native.ts refuses a
// build whose sources changed since). npm runs it at install (`npm ci`); run it
// again after changing src/engine/sqlite/native/: `npm run build:native`.
//
// Offline: node-gyp wants Node's headers (its common.gypi) even for a module
// that uses none of them, and downloads them unless told where they are. The
// running node's own prefix has them when node came from Debian (/usr), a
// release tarball or nvm; then nothing is downloaded.
//
// Exit codes: 0 built (or PGSHIFT_NATIVE=off: nothing to build), 1 cannot build, with what to do.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { BUILD_COMMAND, BUILD_DIR, MANIFEST, NATIVE_ENV, ROOT, sourceHash, sqliteHeader } from "../src/engine/sqlite/native";

/** binding.gyp's targets and their sources (native/<name>.c). */
export const TARGETS = { copy_text: "copy-text", fingerprint: "fingerprint", range_digests: "range-digests" } as const;

const say = (line: string) => process.stderr.write(`[build:native] ${line}\n`);

const WITHOUT =
  `Or install without them: ${NATIVE_ENV}=off npm ci, and set ${NATIVE_ENV}=off wherever pgshift runs (pulumi up, the CLI); ` +
  "the JavaScript paths give the same results and fingerprints, with slower copies and refreshes that compare full contents.";

function fail(what: string, todo: string): never {
  say(`cannot build pgshift's SQLite extensions in C (binding.gyp): ${what}`);
  say(todo);
  say(WITHOUT);
  process.exit(1);
}

/** Node's headers for node-gyp without a download: npm's nodedir setting, else the running node's prefix. */
export function nodeDir(): string | undefined {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, "include", "node", "common.gypi")) ? prefix : undefined;
}

/** node-gyp: the one npm runs its scripts with, else the one bundled with npm beside this node. */
function nodeGyp(): string | undefined {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

function main(): void {
  if (process.env[NATIVE_ENV] === "off") {
    say(`${NATIVE_ENV}=off: not building the C extensions; pgshift takes its JavaScript paths (it says so when it runs)`);
    return;
  }
  const cc = process.env.CC || "cc";
  const probe = spawnSync(cc, ["--version"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    fail(
      `no C compiler: \`${cc} --version\` ${probe.error ? `failed (${(probe.error as NodeJS.ErrnoException).code})` : `exited ${probe.status}`}.`,
      `Install one (Debian: apt-get install gcc libc6-dev), then run \`${BUILD_COMMAND}\`.`,
    );
  }
  if (!existsSync(sqliteHeader())) fail(`${sqliteHeader()} is missing.`, "Install the dependencies first (npm ci).");
  const gyp = nodeGyp();
  if (!gyp) fail("node-gyp not found (npm ships it).", `Run it through npm: \`${BUILD_COMMAND}\`.`);
  const dir = nodeDir();
  const args = [gyp, "rebuild", ...(dir ? [`--nodedir=${dir}`] : [])];
  say(`node-gyp rebuild${dir ? ` with Node's headers from ${dir}` : " (Node's headers from node-gyp's cache, or downloaded)"}, CC=${cc}`);
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, CC: cc } });
  if (r.status !== 0) {
    const output = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-25).join("\n");
    process.stderr.write(`${output}\n`);
    fail(
      `node-gyp exited ${r.status ?? r.signal} (its last lines above).`,
      dir
        ? "Fix what it names, then run it again."
        : `Without Node's headers here node-gyp downloads them: point it at them with npm_config_nodedir=<node's prefix, holding include/node> ${BUILD_COMMAND}.`,
    );
  }
  const manifest: Record<string, string> = {};
  for (const [target, name] of Object.entries(TARGETS)) {
    if (!existsSync(join(BUILD_DIR, `${target}.node`))) fail(`node-gyp made no ${target}.node in ${BUILD_DIR}.`, "Check binding.gyp's targets.");
    manifest[target] = sourceHash(name);
  }
  mkdirSync(BUILD_DIR, { recursive: true });
  writeFileSync(join(BUILD_DIR, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  say(`built ${Object.keys(TARGETS).length} extensions into ${BUILD_DIR}`);
}

if (require.main === module) main();

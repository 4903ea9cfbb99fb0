"use strict";
// The CLI's bundle: src/ (from src/cli/main.ts) bundled by esbuild (a declared
// dependency, the version tsx uses) into node_modules/.cache/pgshift. npm builds
// it at install (`prepare`); bin/pgshift.js builds it again whenever a file
// under src/ changes. Starting through tsx instead resolves and loads ~50
// TypeScript modules on every run (~0.19 s against ~0.07 s: a tenth of a 1 s
// refresh).
//   node scripts/bundle-cli.js    builds it (npm's prepare)
const { createHash } = require("node:crypto");
const { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } = require("node:fs");
const { dirname, join } = require("node:path");

const root = join(__dirname, "..");

/** Every source file's path, size and time: a change to any of them names a new bundle. */
function sourceKey() {
  const hash = createHash("sha256");
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|js)$/.test(entry.name)) {
        const s = statSync(path);
        hash.update(`${path}\0${s.size}\0${s.mtimeMs}\n`);
      }
    }
  };
  walk(join(root, "src"));
  hash.update(process.version);
  return hash.digest("hex").slice(0, 16);
}

/** The bundle's path, built if missing. A module's own directory stays its __dirname (sql/ and native/ files are read from there). */
async function bundle() {
  const out = join(root, "node_modules", ".cache", "pgshift", `cli-${sourceKey()}.js`);
  if (existsSync(out)) return out;
  const esbuild = require("esbuild");
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: [join(root, "src", "cli", "main.ts")],
    bundle: true,
    platform: "node",
    format: "cjs",
    packages: "external",
    outfile: tmp,
    logLevel: "silent",
    banner: { js: "// Built by scripts/bundle-cli.js from src/; do not edit." },
    // esbuild has no per-module __dirname: each source's is written into it.
    plugins: [ownDirname],
  });
  renameSync(tmp, out); // whole or not at all, whoever builds at the same time
  for (const old of readdirSync(dirname(out))) {
    if (/^cli-\w+\.js$/.test(old) && join(dirname(out), old) !== out) rmSync(join(dirname(out), old), { force: true });
  }
  return out;
}

const ownDirname = {
  name: "own-dirname",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!text.includes("__dirname")) return undefined;
      return { contents: `const __dirname = ${JSON.stringify(dirname(args.path))};\n${text}`, loader: "ts" };
    });
  },
};

module.exports = { bundle };

if (require.main === module) {
  bundle().then(
    (path) => process.stderr.write(`[bundle] the CLI's bundle: ${path}\n`),
    (err) => {
      process.stderr.write(`[bundle] building the CLI's bundle with esbuild failed: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}

// A user who already has Pulumi: a CLI newer than the pinned one (v3.274.1,
// built here from the Go module proxy into the git-ignored
// .toolchain/cache/pulumi-v3.274.1, reused when present) and its Node.js
// language host, installed the way Pulumi's installer does (~/.pulumi/bin on
// PATH, plugins in ~/.pulumi/plugins). On a fresh clone, setup builds nothing,
// `npm start` previews and applies the local stack with that CLI, and a plugin
// that is missing and cannot be installed is reported with the command that
// installs it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { repoRoot, projectPulumiHome } from "../helpers/pulumi";

const CLI_VERSION = "v3.274.1";
const cache = join(repoRoot, ".toolchain", "cache", `pulumi-${CLI_VERSION}`, "bin");
const work = mkdtempSync(join(tmpdir(), "pgshift-newer-cli-"));
const clone = join(work, "pgshift");
const userHome = join(work, "user-pulumi"); // what ~/.pulumi is for a normal install
const userBin = join(userHome, "bin");

const goEnv = { ...process.env, PATH: `${process.env.PATH ?? ""}${delimiter}/usr/local/go/bin`, GOFLAGS: "-mod=readonly" };

function versionOf(binary: string): string {
  if (!existsSync(binary)) return "";
  return spawnSync(binary, ["version"], { encoding: "utf8" }).stdout?.trim() ?? "";
}

/** Builds the CLI and a language host into the cache unless they are there; returns what it cost. */
function buildCli(): string {
  const t0 = Date.now();
  const ldflags = `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${CLI_VERSION}`;
  const build = (moduleDir: string, out: string, pkg: string) =>
    execFileSync("go", ["build", "-trimpath", "-ldflags", ldflags, "-o", join(cache, out), pkg], {
      cwd: moduleDir,
      env: goEnv,
      stdio: ["ignore", "ignore", "inherit"],
    });
  let built = "";
  if (versionOf(join(cache, "pulumi")) !== CLI_VERSION) {
    build(join(repoRoot, "test", "fixtures", `pulumi-${CLI_VERSION}`), "pulumi", "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi");
    built += "pulumi ";
  }
  if (!existsSync(join(cache, "pulumi-language-nodejs"))) {
    // The language host is its own module (toolchain/pulumi-language-nodejs): the newest one the proxy serves
    // does not compile against the CLI's sdk, as with Pulumi's own installer, which ships the two built apart.
    build(join(repoRoot, "toolchain", "pulumi-language-nodejs"), "pulumi-language-nodejs", "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3");
    built += "pulumi-language-nodejs ";
  }
  return built ? `built ${built.trim()} in ${Math.round((Date.now() - t0) / 1000)}s` : "reused the cached build";
}

/** The clone's environment: the user's install on PATH; none of this repository's toolchain or state. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("PULUMI_") || k.startsWith("PGSHIFT_")) delete env[k];
  const path = (process.env.PATH ?? "").split(delimiter).filter((p) => !p.startsWith(repoRoot) && p !== "/usr/local/go/bin");
  return { ...env, PULUMI_HOME: userHome, PATH: [userBin, ...path].join(delimiter), ...extra };
}

function userPlugin(name: string, version: string): string {
  return join(userHome, "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`);
}

before(() => {
  mkdirSync(cache, { recursive: true });
  console.log(`# Pulumi ${CLI_VERSION}: ${buildCli()}`);
  // The installer's layout: the CLI and its language hosts in ~/.pulumi/bin.
  mkdirSync(userBin, { recursive: true });
  for (const f of ["pulumi", "pulumi-language-nodejs"]) copyFileSync(join(cache, f), join(userBin, f));
  execFileSync("chmod", ["+x", join(userBin, "pulumi"), join(userBin, "pulumi-language-nodejs")]);
  // Plugins the user installed earlier: the ones this repository's engine runs.
  for (const [name, version] of [
    ["kubernetes", "4.25.0"],
    ["command", "0.9.2"],
    ["postgresql", "3.18.0"],
  ] as const) {
    const from = realpathSync(join(projectPulumiHome, "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`));
    mkdirSync(join(userPlugin(name, version), ".."), { recursive: true });
    copyFileSync(from, userPlugin(name, version));
    execFileSync("chmod", ["+x", userPlugin(name, version)]);
  }
  execFileSync("git", ["clone", "-q", repoRoot, clone]);
});

after(() => {
  spawnSync("npm", ["run", "stop"], { cwd: clone, stdio: "ignore" });
  rmSync(work, { recursive: true, force: true });
});

test(`npm start on a fresh clone runs on the user's Pulumi ${CLI_VERSION}: no CLI built, preview and up of the local stack`, () => {
  const t0 = Date.now();
  const start = spawnSync("npm", ["start"], { cwd: clone, env: userEnv(), encoding: "utf8", maxBuffer: 64 << 20 });
  console.log(`# npm start on a fresh clone with the user's CLI: ${Math.round((Date.now() - t0) / 1000)}s`);
  assert.equal(start.status, 0, start.stderr.slice(-4000) + start.stdout.slice(-4000));
  assert.match(start.stderr, new RegExp(`\\[setup\\] using the Pulumi ${CLI_VERSION.replace(/\./g, "\\.")} installed at ${join(userBin, "pulumi")}`));
  assert.match(start.stderr, /plugin kubernetes 4\.25\.0: from your plugin cache/);
  assert.doesNotMatch(start.stderr, /\[setup\] building|no Pulumi .* on PATH/);
  assert.equal(existsSync(join(clone, ".toolchain", "logs", "pulumi.log")), false, "no Go build log: nothing was built");
  assert.equal(realpathSync(join(clone, ".toolchain", "bin", "pulumi")), join(userBin, "pulumi"));
  assert.match(start.stdout, /Copied 7 tables, \d+ rows — verification passed: every row matches\./);

  // The stack's state was written by the user's CLI.
  const exported = spawnSync("npm", ["run", "-s", "pulumi", "--", "stack", "export", "--stack", "local"], {
    cwd: clone,
    env: userEnv(),
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  assert.equal(exported.status, 0, exported.stderr);
  const state = JSON.parse(exported.stdout) as { deployment: { manifest: { version: string } } };
  assert.equal(state.deployment.manifest.version, CLI_VERSION);

  const t1 = Date.now();
  const second = spawnSync("npm", ["start"], { cwd: clone, env: userEnv(), encoding: "utf8", maxBuffer: 64 << 20 });
  console.log(`# second npm start with the user's CLI: ${Math.round((Date.now() - t1) / 1000)}s`);
  assert.equal(second.status, 0, second.stderr.slice(-3000));
  assert.match(second.stdout, /Nothing changed: PostgreSQL was already level with the SQLite database/);
});

test("a plugin that is in no cache and cannot be installed is reported with the command that installs it", () => {
  rmSync(join(clone, ".toolchain", "pulumi-home", "plugins", "resource-command-v0.9.2"), { recursive: true, force: true });
  rmSync(join(userHome, "plugins", "resource-command-v0.9.2"), { recursive: true, force: true });
  // No network for the download (a proxy that refuses), and no Go build to fall back on.
  const r = spawnSync("bash", ["toolchain/setup.sh"], {
    cwd: clone,
    env: userEnv({ PGSHIFT_SKIP_KUBE: "1", PGSHIFT_BUILD_FROM_GO: "never", HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" }),
    encoding: "utf8",
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /The Pulumi plugin command 0\.9\.2 is missing and could not be installed: .*(download|proxy)/i);
  assert.match(r.stderr, /Install it with:\n\[setup\] +pulumi plugin install resource command 0\.9\.2\n/);
  assert.equal(existsSync(join(clone, ".toolchain", "pulumi-home", "plugins", "resource-command-v0.9.2", "pulumi-resource-command")), false);
});

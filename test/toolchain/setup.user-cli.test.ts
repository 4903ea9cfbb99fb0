// How toolchain/setup.sh chooses between the user's Pulumi and the Go build,
// with stand-ins for `pulumi`, its language host and `go` that record every
// call: which CLI is linked, where each plugin comes from, what is built, and
// what a user reads when a piece is missing. Each case runs setup.sh in a
// sandbox project (the script, and the repository's node_modules).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { repoRoot } from "../helpers/pulumi";

const base = mkdtempSync(join(tmpdir(), "pgshift-setup-"));
after(() => rmSync(base, { recursive: true, force: true }));

// The pinned versions, as setup.sh states them (the language host may have its own).
const setupScript = readFileSync(join(repoRoot, "toolchain", "setup.sh"), "utf8");
const pinned = (name: string) => new RegExp(`^${name}=(\\S+)$`, "m").exec(setupScript)?.[1];
const cliVersion = pinned("PULUMI_VERSION") ?? "";
const hostVersion = pinned("LANGUAGE_HOST_VERSION") ?? cliVersion;

// The plugins setup provides, at the versions it pins.
const pluginVersions: Record<string, string> = {
  kubernetes: pinned("KUBERNETES_VERSION") ?? "",
  command: pinned("COMMAND_VERSION") ?? "",
  postgresql: pinned("POSTGRESQL_VERSION") ?? "",
};

// The postgresql plugin's source tarball (pulumi-postgresql v3.18.0 and the
// terraform provider it pins), as .ci/run finds it: the stand-in go does not
// compile it, but setup unpacks it, checks its hash and applies its patches for real.
const postgresqlSrc =
  process.env.PGSHIFT_POSTGRESQL_PLUGIN_SRC ?? join(repoRoot, "..", "shared", "vendor", `pulumi-postgresql-${pluginVersions.postgresql}-src.tar.gz`);

const sdkVersion = (JSON.parse(readFileSync(join(repoRoot, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8")) as { version: string }).version;

function script(path: string, body: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(path, 0o755);
}

interface Sandbox {
  root: string;
  home: string;
  installBin: string;
  calls: string;
  run(env?: NodeJS.ProcessEnv): { status: number | null; stderr: string };
  callLog(): string[];
}

/**
 * A project with setup.sh, a user's Pulumi install (version `cli`, with or
 * without a language host), a user plugin cache holding `cached` plugins, and
 * a `go` that logs its arguments; `go build -o X` writes X unless goFails.
 */
function sandbox(opts: { cli?: string; langHost?: boolean; cached?: string[]; pluginInstallWorks?: boolean; goFails?: boolean }): Sandbox {
  const dir = mkdtempSync(join(base, "case-"));
  const root = join(dir, "project");
  const home = join(dir, "home");
  const installBin = join(dir, "install", "bin");
  const goBin = join(dir, "go", "bin");
  const calls = join(dir, "calls.log");
  mkdirSync(join(root, "toolchain"), { recursive: true });
  copyFileSync(join(repoRoot, "toolchain", "setup.sh"), join(root, "toolchain", "setup.sh"));
  for (const module of readdirSync(join(repoRoot, "toolchain"))) {
    if (existsSync(join(repoRoot, "toolchain", module, "go.mod")))
      cpSync(join(repoRoot, "toolchain", module), join(root, "toolchain", module), { recursive: true });
  }
  symlinkSync(join(repoRoot, "node_modules"), join(root, "node_modules"));
  writeFileSync(calls, "");
  if (opts.cli) {
    script(
      join(installBin, "pulumi"),
      `echo "pulumi $*" >>${calls}
case "$1" in
  version) echo ${opts.cli} ;;
  plugin)
    ${
      opts.pluginInstallWorks
        ? `d="$PULUMI_HOME/plugins/resource-$4-v$5"; mkdir -p "$d"; printf '#!/bin/sh\\n' >"$d/pulumi-resource-$4"; chmod +x "$d/pulumi-resource-$4"`
        : `echo "error: [resource plugin $4-$5] downloading from : failed to download plugin: $4-$5: failed all 5 attempts" >&2; exit 255`
    } ;;
esac`,
    );
    if (opts.langHost !== false) script(join(installBin, "pulumi-language-nodejs"), `[ "$1" = -h ] && exit 0; exit 2`);
  }
  for (const name of opts.cached ?? []) {
    const version = pluginVersions[name];
    script(join(home, ".pulumi", "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`), "exit 0");
  }
  script(
    join(goBin, "go"),
    `echo "go $* [in $PWD]" >>${calls}
for i in $(seq 40); do echo "go: downloading example.com/module$i v1.0.$i" >&2; done
${opts.goFails ? 'echo "compile error: something broke" >&2; exit 1' : ""}
[ "$1 $2" = "run generate.go" ] && printf '{"version":"%s"}' "$VERSION" >schema-embed.json
out=""; while [ $# -gt 0 ]; do [ "$1" = -o ] && out="$2"; shift; done
[ -n "$out" ] && { printf '#!/bin/sh\\necho v3.163.0\\n' >"$out"; chmod +x "$out"; }
exit 0`,
  );
  return {
    root,
    home,
    installBin,
    calls,
    run(env = {}) {
      const r = spawnSync("bash", [join(root, "toolchain", "setup.sh")], {
        encoding: "utf8",
        env: {
          HOME: home,
          PATH: [installBin, goBin, dirname(process.execPath), "/usr/bin", "/bin"].join(":"),
          PGSHIFT_SKIP_KUBE: "1",
          ...env,
        },
      });
      return { status: r.status, stderr: r.stderr };
    },
    callLog: () => readFileSync(calls, "utf8").split("\n").filter(Boolean),
  };
}

const bin = (s: Sandbox, name: string) => join(s.root, ".toolchain", "bin", name);
const plugin = (s: Sandbox, name: string, version: string) =>
  join(s.root, ".toolchain", "pulumi-home", "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`);

test("a newer v3 CLI with its language host and cached plugins is used as it is: nothing built, nothing downloaded", () => {
  const s = sandbox({ cli: "v3.274.1", cached: ["kubernetes", "command", "postgresql"] });
  const r = s.run();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(realpathSync(bin(s, "pulumi")), join(s.installBin, "pulumi"));
  assert.equal(realpathSync(bin(s, "pulumi-language-nodejs")), join(s.installBin, "pulumi-language-nodejs"));
  assert.equal(
    readlinkSync(plugin(s, "kubernetes", "4.25.0")),
    join(s.home, ".pulumi", "plugins", "resource-kubernetes-v4.25.0", "pulumi-resource-kubernetes"),
  );
  assert.equal(readlinkSync(plugin(s, "command", "0.9.2")), join(s.home, ".pulumi", "plugins", "resource-command-v0.9.2", "pulumi-resource-command"));
  assert.equal(
    readlinkSync(plugin(s, "postgresql", "3.18.0")),
    join(s.home, ".pulumi", "plugins", "resource-postgresql-v3.18.0", "pulumi-resource-postgresql"),
  );
  assert.match(r.stderr, /plugin postgresql 3\.18\.0: from your plugin cache/);
  assert.deepEqual(
    s.callLog().filter((c) => !c.startsWith("pulumi version")),
    [],
    "no build and no plugin install",
  );
  assert.match(r.stderr, new RegExp(`using the Pulumi v3\\.274\\.1 installed at ${join(s.installBin, "pulumi")}`));
  assert.match(r.stderr, /toolchain ready in \d+s: pulumi v3\.274\.1 with kubernetes 4\.25\.0, command 0\.9\.2 and postgresql 3\.18\.0/);

  // A second run says nothing new and changes nothing.
  const again = s.run();
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /using the Pulumi|plugin .*: from your plugin cache/);
});

test("a plugin not in the user's cache is installed by the user's CLI, not built", () => {
  const s = sandbox({ cli: "v3.274.1", cached: ["kubernetes"], pluginInstallWorks: true });
  const r = s.run();
  assert.equal(r.status, 0, r.stderr);
  assert.ok(s.callLog().includes("pulumi plugin install resource command 0.9.2 --non-interactive"), s.callLog().join("\n"));
  assert.equal(
    s.callLog().some((c) => c.startsWith("go ")),
    false,
    "nothing built",
  );
  assert.ok(existsSync(plugin(s, "command", "0.9.2")));
  assert.match(r.stderr, /plugin command 0\.9\.2: installed by pulumi plugin install in \d+s/);
});

test("a plugin that cannot be installed, with Go builds switched off, is reported with the command that installs it", () => {
  const s = sandbox({ cli: "v3.274.1", cached: ["command"] });
  const r = s.run({ PGSHIFT_BUILD_FROM_GO: "never" });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /The Pulumi plugin kubernetes 4\.25\.0 is missing and could not be installed: .*failed all 5 attempts.*PGSHIFT_BUILD_FROM_GO=never/);
  assert.match(r.stderr, /Install it with:\n\[setup\] +pulumi plugin install resource kubernetes 4\.25\.0\n/);
  assert.equal(
    s.callLog().some((c) => c.startsWith("go ")),
    false,
  );
  assert.equal(existsSync(plugin(s, "kubernetes", "4.25.0")), false);
});

test("when the install fails, the pinned plugin is built from Go, saying why and how long; a failed build still names the install command", () => {
  const s = sandbox({ cli: "v3.274.1", cached: ["command"], goFails: true });
  const r = s.run();
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /plugin kubernetes 4\.25\.0 is not in your plugin cache and pulumi plugin install failed \(.*failed all 5 attempts\)/);
  assert.match(r.stderr, /building it from Go modules instead, about 13 minutes on two cores/);
  assert.ok(
    s.callLog().some((c) => c.startsWith("go mod download -json github.com/pulumi/pulumi-kubernetes/provider/v4@")),
    s.callLog().join("\n"),
  );
  assert.match(r.stderr, /the Go build failed too \(log: .*\/\.toolchain\/logs\/pulumi-resource-kubernetes\.log\)/);
  assert.match(r.stderr, /pulumi plugin install resource kubernetes 4\.25\.0/);
  // The CLI itself was never built: the user's is used.
  assert.equal(
    s.callLog().some((c) => c.includes("pkg/v3/cmd/pulumi")),
    false,
  );
});

test("a pinned build is set aside while the user's CLI is linked, and comes back without a rebuild when that CLI goes", () => {
  const s = sandbox({ cli: "v3.274.1", cached: ["kubernetes", "command", "postgresql"] });
  const tc = join(s.root, ".toolchain");
  script(join(tc, "bin", "pulumi"), `echo ${cliVersion}`);
  writeFileSync(join(tc, "bin", "pulumi.version"), `${cliVersion}\n`);
  script(join(tc, "bin", "pulumi-language-nodejs"), "exit 0");
  writeFileSync(join(tc, "bin", "pulumi-language-nodejs.version"), `${hostVersion}\n`);
  for (const [name, version] of [
    ["kubernetes", "4.25.0"],
    ["command", "0.9.2"],
  ]) {
    script(join(tc, "plugins", `pulumi-resource-${name}`), "exit 0");
    writeFileSync(join(tc, "plugins", `pulumi-resource-${name}.version`), `${version}\n`);
  }
  assert.equal(s.run().status, 0);
  assert.equal(realpathSync(bin(s, "pulumi")), join(s.installBin, "pulumi"));

  rmSync(join(s.installBin, "pulumi"));
  const back = s.run();
  assert.equal(back.status, 0, back.stderr);
  assert.match(back.stderr, new RegExp(`toolchain ready in \\d+s: pulumi ${cliVersion.replace(/\./g, "\\.")}`));
  assert.equal(readFileSync(bin(s, "pulumi"), "utf8"), `#!/usr/bin/env bash\necho ${cliVersion}\n`, "the pinned build, not a link");
  assert.equal(
    s.callLog().some((c) => c.startsWith("go ")),
    false,
    "nothing rebuilt",
  );
});

// The postgresql plugin: no Go module serves it, so after the user's cache and
// `pulumi plugin install` it is built from a source tarball, or setup stops.
test("the postgresql plugin, not in the user's cache, is installed by the user's CLI, not built", () => {
  const s = sandbox({ cli: "v3.274.1", cached: ["kubernetes", "command"], pluginInstallWorks: true });
  const r = s.run({ PGSHIFT_POSTGRESQL_PLUGIN_SRC: postgresqlSrc });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(s.callLog().includes("pulumi plugin install resource postgresql 3.18.0 --non-interactive"), s.callLog().join("\n"));
  assert.equal(
    s.callLog().some((c) => c.startsWith("go ")),
    false,
    "nothing built",
  );
  assert.match(r.stderr, /plugin postgresql 3\.18\.0: installed by pulumi plugin install in \d+s/);
  assert.equal(existsSync(join(s.root, ".toolchain", "src", "postgresql-provider")), false, "the tarball is not even unpacked");
});

function assertBuiltFromTarball(s: Sandbox, r: { status: number | null; stderr: string }): void {
  assert.equal(r.status, 0, r.stderr);
  const src = join(s.root, ".toolchain", "src", "postgresql-provider");
  const logs = join(s.root, ".toolchain", "logs");
  assert.match(r.stderr, /plugin postgresql 3\.18\.0 is not in your plugin cache and pulumi plugin install failed \(.*failed all 5 attempts\)/);
  assert.match(r.stderr, new RegExp(`building it from the source tarball ${postgresqlSrc.replace(/[.]/g, "\\.")} and Go modules instead, up to 40 minutes`));
  // Pulumi's patch (the upstream module's import path) applied to the unpacked upstream provider.
  assert.match(readFileSync(join(src, "upstream", "go.mod"), "utf8"), /^module github\.com\/cyrilgdn\/terraform-provider-postgresql$/m);
  // The schema generated by the provider's own generate.go, with the plugin's version, then the build.
  assert.ok(s.callLog().includes(`go run generate.go [in ${join(src, "provider", "cmd", "pulumi-resource-postgresql")}]`), s.callLog().join("\n"));
  assert.equal(readFileSync(join(src, "provider", "cmd", "pulumi-resource-postgresql", "schema-embed.json"), "utf8"), '{"version":"3.18.0"}');
  const build = s.callLog().find((c) => c.startsWith("go build") && c.includes("pulumi-resource-postgresql"));
  assert.ok(build, s.callLog().join("\n"));
  assert.match(build, /-X github\.com\/pulumi\/pulumi-postgresql\/provider\/v3\/pkg\/version\.Version=3\.18\.0/);
  assert.ok(build.endsWith(`./cmd/pulumi-resource-postgresql [in ${join(src, "provider")}]`), build);
  assert.match(
    r.stderr,
    new RegExp(`^\\[setup\\] building pulumi-resource-postgresql \\(log: ${logs}/pulumi-resource-postgresql\\.log\\) \\.\\.\\. done in \\d+s$`, "m"),
  );
  assert.match(readFileSync(join(logs, "pulumi-resource-postgresql.log"), "utf8"), /go: downloading example\.com\/module40/);
  assert.equal(realpathSync(plugin(s, "postgresql", "3.18.0")), join(s.root, ".toolchain", "plugins", "pulumi-resource-postgresql"));
}

test("when the install fails, the postgresql plugin is built from the source tarball: hash checked, patched, schema generated, one line with its time", () => {
  assert.ok(existsSync(postgresqlSrc), `the postgresql plugin's source tarball is missing at ${postgresqlSrc}: set PGSHIFT_POSTGRESQL_PLUGIN_SRC`);
  const s = sandbox({ cli: "v3.274.1", cached: ["kubernetes", "command"] });
  const r = s.run({ PGSHIFT_POSTGRESQL_PLUGIN_SRC: postgresqlSrc });
  assertBuiltFromTarball(s, r);

  // A second run reuses the build: no install attempt, nothing built.
  const calls = s.callLog().length;
  const again = s.run({ PGSHIFT_POSTGRESQL_PLUGIN_SRC: postgresqlSrc });
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(
    s
      .callLog()
      .slice(calls)
      .filter((c) => !c.startsWith("pulumi version")),
    [],
  );
});

test("without a CLI (the offline path), the postgresql plugin is built from the tarball once the pinned CLI cannot install it", () => {
  assert.ok(existsSync(postgresqlSrc), `the postgresql plugin's source tarball is missing at ${postgresqlSrc}: set PGSHIFT_POSTGRESQL_PLUGIN_SRC`);
  const s = sandbox({});
  // The kubernetes plugin as an earlier run left it (the stand-in go cannot produce its module).
  const tc = join(s.root, ".toolchain");
  script(join(tc, "plugins", "pulumi-resource-kubernetes"), "exit 0");
  writeFileSync(join(tc, "plugins", "pulumi-resource-kubernetes.version"), "4.25.0\n");
  // The CLI the stand-in go "builds" installs no plugin (as offline).
  const r = s.run({ PGSHIFT_POSTGRESQL_PLUGIN_SRC: postgresqlSrc });
  assert.equal(r.status, 0, r.stderr);
  const logs = join(tc, "logs");
  assert.match(r.stderr, /plugin postgresql 3\.18\.0 is not in your plugin cache and pulumi plugin install failed/);
  assert.match(
    r.stderr,
    new RegExp(`^\\[setup\\] building pulumi-resource-postgresql \\(log: ${logs}/pulumi-resource-postgresql\\.log\\) \\.\\.\\. done in \\d+s$`, "m"),
  );
  assert.ok(
    s
      .callLog()
      .some((c) => c.startsWith("go build") && c.endsWith(`./cmd/pulumi-resource-postgresql [in ${join(tc, "src", "postgresql-provider", "provider")}]`)),
    s.callLog().join("\n"),
  );
  assert.equal(realpathSync(plugin(s, "postgresql", "3.18.0")), join(tc, "plugins", "pulumi-resource-postgresql"));
  assert.match(r.stderr, /toolchain ready in \d+s: .* and postgresql 3\.18\.0/);
});

test("a postgresql source tarball with another hash is refused, and setup stops with the install command", () => {
  const s = sandbox({ cli: "v3.274.1", cached: ["kubernetes", "command"] });
  const fake = join(s.root, "..", "pulumi-postgresql-3.18.0-src.tar.gz");
  writeFileSync(fake, "not the source");
  const r = s.run({ PGSHIFT_POSTGRESQL_PLUGIN_SRC: fake });
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`${fake.replace(/[.]/g, "\\.")} has sha256 [0-9a-f]{64}, expected [0-9a-f]{64} \\(pulumi-postgresql v3\\.18\\.0\\): refusing to build it`),
  );
  assert.equal(
    s.callLog().some((c) => c.startsWith("go ")),
    false,
    "nothing built",
  );
  assert.match(r.stderr, /Install it with:\n\[setup\] +pulumi plugin install resource postgresql 3\.18\.0\n/);
  assert.equal(existsSync(plugin(s, "postgresql", "3.18.0")), false);
});

test("with no source tarball and no download, setup stops naming the install command and PGSHIFT_POSTGRESQL_PLUGIN_SRC", () => {
  const s = sandbox({ cli: "v3.274.1", cached: ["kubernetes", "command"] });
  const r = s.run();
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /The Pulumi plugin postgresql 3\.18\.0 is missing and could not be installed: .*failed all 5 attempts.*no source tarball to build it from \(PGSHIFT_POSTGRESQL_PLUGIN_SRC is not set and .*pulumi-postgresql-3\.18\.0-src\.tar\.gz does not exist\)/,
  );
  assert.match(r.stderr, /Install it with:\n\[setup\] +pulumi plugin install resource postgresql 3\.18\.0\n/);
  assert.equal(
    s.callLog().some((c) => c.startsWith("go ")),
    false,
  );
});

for (const [cli, why] of [
  ["v3.100.0", "older than the SDK"],
  ["v4.0.0", "a different major version"],
] as const) {
  test(`a pulumi ${cli} on PATH (${why}) is passed over for the pinned build, and says so`, () => {
    const s = sandbox({ cli, cached: ["kubernetes", "command"], goFails: true });
    const r = s.run();
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `not using the pulumi at .* \\(version '${cli.replace(/\./g, "\\.")}'\\): @pulumi/pulumi ${sdkVersion.replace(/\./g, "\\.")} needs a v3 CLI at v${sdkVersion.replace(/\./g, "\\.")} or newer`,
      ),
    );
    assert.ok(
      s.callLog().some((c) => c.includes("github.com/pulumi/pulumi/pkg/v3/cmd/pulumi")),
      "the pinned CLI is built instead",
    );
  });
}

test("a CLI without a Node.js language host is passed over", () => {
  const s = sandbox({ cli: "v3.274.1", langHost: false, cached: ["kubernetes", "command"], goFails: true });
  const r = s.run();
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not using the pulumi v3\.274\.1 at .*: it has no working Node\.js language host/);
});

test("the offline Go build prints one line per piece with its time; go's own output goes to the log file it names", () => {
  const s = sandbox({});
  const r = s.run();
  // The stand-in go cannot produce the kubernetes module, so the run stops there, naming the log.
  assert.equal(r.status, 1, r.stderr);
  const sdk = sdkVersion.replace(/\./g, "\\.");
  assert.match(
    r.stderr,
    new RegExp(`no Pulumi v${sdk} or newer on PATH: building the pinned engine \\(v3\\.\\d+\\.\\d+\\) from Go modules \\(a cold build takes about 20 minutes`),
  );
  const logs = join(s.root, ".toolchain", "logs");
  for (const piece of ["pulumi", "pulumi-language-nodejs", "pulumi-resource-command"]) {
    const line = new RegExp(`^\\[setup\\] building ${piece} \\(log: ${logs}/${piece}\\.log\\) \\.\\.\\. done in \\d+s$`, "m");
    assert.match(r.stderr, line);
    assert.match(readFileSync(join(logs, `${piece}.log`), "utf8"), /go: downloading example\.com\/module40/);
  }
  assert.doesNotMatch(r.stderr, /go: downloading/);
  assert.match(r.stderr, /refusing to build it \(log: .*pulumi-resource-kubernetes\.log\)/);
  assert.match(r.stderr, /building the kubernetes plugin failed: see .*pulumi-resource-kubernetes\.log/);
});

test("a failed Go build says so on its one line and shows the end of its log", () => {
  const s = sandbox({ goFails: true });
  const r = s.run();
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /\[setup\] building pulumi \(log: .*\/logs\/pulumi\.log\) \.\.\. failed after \d+s; last lines of the log:\n(.*\n)*compile error: something broke\n/,
  );
  assert.match(r.stderr, /building the Pulumi CLI failed/);
  assert.equal(existsSync(join(s.root, ".toolchain", "bin", "pulumi.version")), false, "no stamp for a failed build");
});

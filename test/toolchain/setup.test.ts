// The engine built by toolchain/setup.sh runs a real preview/up/history/destroy
// cycle of a tiny program that uses the kubernetes, command and postgresql
// plugins and a dynamic provider talking to a real PostgreSQL 16 — with no
// download attempted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres, TestPostgres } from "../helpers/postgres";
import { pulumiWorkspace, PulumiWorkspace, repoRoot, toolchainBin, projectPulumiHome } from "../helpers/pulumi";

const program = join(repoRoot, "test", "fixtures", "engine-smoke");
let pg: TestPostgres;
let ws: PulumiWorkspace;
let outDir: string;

before(async () => {
  pg = await startPostgres();
  ws = pulumiWorkspace(program);
  outDir = mkdtempSync(join(tmpdir(), "pgshift-smoke-"));
  await ws.run(["stack", "init", "smoke", "--secrets-provider", "passphrase"]);
  await ws.run(["config", "set", "outDir", outDir]);
  await ws.run(["config", "set", "roleName", "smoke_role"]);
  await ws.run(["config", "set", "--secret", "databaseUrl", pg.url()]);
  await ws.run(["config", "set", "pgPort", String(pg.port)]);
  await ws.run(["config", "set", "--secret", "pgPassword", pg.password]);
});

after(async () => {
  await ws?.run(["stack", "rm", "--yes", "--force", "smoke"], { allowFailure: true });
  await pg?.stop();
  rmSync(outDir, { recursive: true, force: true });
  rmSync(ws.backendDir, { recursive: true, force: true });
});

test("the pinned CLI and plugins are the ones the engine uses", () => {
  const version = execFileSync(join(toolchainBin, "pulumi"), ["version"], { env: ws.env }).toString().trim();
  assert.equal(version, "v3.274.1");
  const ls = execFileSync(join(toolchainBin, "pulumi"), ["plugin", "ls", "--json"], { env: ws.env }).toString();
  const plugins = JSON.parse(ls) as { name: string; kind: string; version: string }[];
  const found = plugins.map((p) => `${p.kind}/${p.name}@${p.version}`).sort();
  assert.ok(found.includes("resource/kubernetes@4.25.0"), found.join(", "));
  assert.ok(found.includes("resource/command@0.9.2"), found.join(", "));
  assert.ok(found.includes("resource/postgresql@3.18.0"), found.join(", "));
  // The npm SDKs tell the engine which plugin version to load: they must agree.
  const sdk = (name: string) =>
    JSON.parse(readFileSync(join(repoRoot, "node_modules", "@pulumi", name, "package.json"), "utf8")) as {
      version: string;
      pulumi?: { version?: string };
    };
  const pluginVersion = (name: string) => (sdk(name).pulumi?.version ?? sdk(name).version).replace(/^v/, "");
  assert.equal(pluginVersion("kubernetes"), "4.25.0");
  assert.equal(pluginVersion("command"), "0.9.2");
  assert.equal(pluginVersion("postgresql"), "3.18.0");
  assert.equal(sdk("pulumi").version, "3.163.0");
});

test("preview changes nothing; up creates everything, from the project's plugins only", async () => {
  const preview = await ws.run(["preview", "--diff"]);
  assert.match(preview.stdout, /\+ .*kubernetes:core\/v1:ConfigMap/);
  assert.match(preview.stdout, /\+ .*command:local:Command/);
  assert.match(preview.stdout, /\+ .*postgresql:index\/role:Role/);
  assert.equal(existsSync(join(outDir, "command-ran")), false, "preview must not run the command");
  const rolesBefore = await pg.query("SELECT 1 FROM pg_roles WHERE rolname = 'smoke_role'");
  assert.equal(rolesBefore.length, 0, "preview must not create the role");

  const up = await ws.run(["up", "--yes", "--skip-preview", "-v=9", "--logtostderr", "--logflow"]);
  // The engine resolves each plugin from PULUMI_HOME and never tries to acquire one.
  for (const name of ["kubernetes", "command", "postgresql"]) {
    const loaded = new RegExp(`${projectPulumiHome.replace(/[/.]/g, "\\$&")}/plugins/resource-${name}-v[0-9.]+/pulumi-resource-${name}`);
    assert.match(up.stderr, loaded, `plugin ${name} not loaded from the project's PULUMI_HOME`);
  }
  assert.doesNotMatch(up.stderr, /[Dd]ownloading plugin|installing plugin|plugin install|get\.pulumi\.com|api\.github\.com/);

  assert.equal(readFileSync(join(outDir, "command-ran"), "utf8").trim(), "ran");
  const manifests = readdirSync(join(outDir, "manifests"), { recursive: true }).map(String);
  assert.ok(
    manifests.some((f) => f.endsWith(".yaml") && readFileSync(join(outDir, "manifests", f), "utf8").includes("hello: world")),
    manifests.join(", "),
  );
  const roles = await pg.query("SELECT 1 FROM pg_roles WHERE rolname = 'smoke_role'");
  assert.equal(roles.length, 1, "the dynamic provider must have created the role");
  const pgRoles = await pg.query<{ rolcanlogin: boolean }>("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'smoke_pg_role'");
  assert.deepEqual(pgRoles, [{ rolcanlogin: false }], "the postgresql plugin must have created its role");
});

test("a second up changes nothing, and history lists both updates", async () => {
  await ws.run(["preview", "--expect-no-changes"]);
  await ws.run(["up", "--yes", "--skip-preview", "--expect-no-changes"]);
  const history = JSON.parse((await ws.run(["stack", "history", "--json", "--show-secrets=false"])).stdout) as {
    kind: string;
    result: string;
    resourceChanges?: Record<string, number>;
  }[];
  const updates = history.filter((h) => h.kind === "update");
  assert.equal(updates.length, 2, JSON.stringify(history));
  assert.ok(updates.every((u) => u.result === "succeeded"));
  // Newest first: the second update left every resource as it was; the first created them.
  const [second, first] = updates as [(typeof updates)[0], (typeof updates)[0]];
  assert.deepEqual(Object.keys(second.resourceChanges ?? {}), ["same"], JSON.stringify(second));
  assert.ok((first.resourceChanges?.create ?? 0) >= 4, JSON.stringify(first));
  assert.equal(second.resourceChanges?.same, first.resourceChanges?.create);
});

test("the database URL is a secret: ciphertext in state, never printed", async () => {
  const exported = (await ws.run(["stack", "export"])).stdout;
  assert.ok(!exported.includes(pg.password), "password found in plaintext state");
  const out = (await ws.run(["stack", "output", "--json"])).stdout;
  assert.ok(!out.includes(pg.password));
});

test("destroy removes what up created", async () => {
  await ws.run(["destroy", "--yes", "--skip-preview"]);
  assert.equal(existsSync(join(outDir, "command-ran")), false);
  const roles = await pg.query("SELECT 1 FROM pg_roles WHERE rolname IN ('smoke_role', 'smoke_pg_role')");
  assert.equal(roles.length, 0);
  const left = existsSync(join(outDir, "manifests"))
    ? readdirSync(join(outDir, "manifests"), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".yaml"))
    : [];
  assert.deepEqual(left, []);
});

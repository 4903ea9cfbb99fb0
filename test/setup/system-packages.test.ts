// The suite's Debian prerequisites are all in test/setup/system-packages.ts:
// every program a test (or the code it drives) starts and every Python module
// it imports must come from a package on that list, or from an Essential one
// that every Debian system has. A new `execFileSync("pgloader", …)` without a
// list entry fails here, on the machine where it was written.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { SYSTEM_PACKAGES, missingPackages, type SystemPackage } from "./system-packages";

const repoRoot = resolve(__dirname, "..", "..");

/** Programs and Python modules named in one source file. */
export function scanSource(text: string, kind: "ts" | "py"): { programs: string[]; python: string[] } {
  const programs = new Set<string>();
  const python = new Set<string>();
  if (kind === "py") {
    for (const m of text.matchAll(/^\s*(?:import|from)\s+([A-Za-z_]\w*)/gm)) python.add(m[1]!);
    return { programs: [], python: [...python] };
  }
  // The first argument of a call that starts a program, when it is a literal.
  for (const m of text.matchAll(/\b(?:execFile|execFileSync|spawn|spawnSync|runProcess|sh)\(\s*["'`]([\w./+-]+)["'`]/g)) programs.add(m[1]!);
  for (const m of text.matchAll(/\bstartDaemon\([^,]+,\s*"[^"]+",\s*"([^"]+)"/g)) programs.add(m[1]!);
  // A program kept in a constant or a list by its absolute path; paths inside an
  // image (a copy's destination, an entrypoint) are not the host's.
  const hostPaths = text.replace(/(\bfs\.copy\([^,]+,\s*)["'`][^"'`]*["'`]/g, "$1").replace(/Entrypoint:\s*\[[^\]]*\]/g, "");
  for (const m of hostPaths.matchAll(/["'`](\/(?:usr\/)?s?bin\/[\w.+-]+|\/usr\/lib\/postgresql\/\d+\/bin\/[\w.+-]+|\/usr\/lib\/cni\/[\w.+-]+)["'`]/g))
    programs.add(m[1]!);
  // `-m module` is also pg_ctl's and iptables' flag: only where Python is run.
  if (/python3?["'`]/.test(text)) for (const m of text.matchAll(/["'`]-m["'`],\s*["'`]([A-Za-z_][\w.]*)["'`]/g)) python.add(m[1]!.split(".")[0]!);
  return { programs: [...programs], python: [...python] };
}

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (/\.(ts|py)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** What the suite runs: the tests and everything they drive (engine, cluster, scripts, image recipes). */
function suiteSources(): string[] {
  const self = resolve(__filename);
  return ["test", "src", "scripts", "components", "toolchain/images"].flatMap((d) => walk(join(repoRoot, d))).filter((f) => f !== self);
}

const sh = (script: string, ...args: string[]) => spawnSync("sh", ["-c", script, "sh", ...args], { encoding: "utf8" });

let pathOwners: Map<string, string> | undefined;

/** Every path dpkg installed, with its package: read once (dpkg-query -S per path takes half a second). */
function ownersByPath(): Map<string, string> {
  if (pathOwners) return pathOwners;
  pathOwners = new Map();
  const info = "/var/lib/dpkg/info";
  for (const f of readdirSync(info)) {
    if (!f.endsWith(".list")) continue;
    const pkg = f.slice(0, -".list".length).split(":")[0]!;
    for (const line of readFileSync(join(info, f), "utf8").split("\n")) if (line) pathOwners.set(line, pkg);
  }
  return pathOwners;
}

/** The Debian package owning a path, following symlinks (alternatives) and merged /usr; null if none. */
export function owningPackage(path: string): string | null {
  const hops: string[] = [];
  let p = path;
  for (let i = 0; i < 10 && existsSync(p); i++) {
    hops.push(p);
    let next: string;
    try {
      next = readlinkSync(p);
    } catch {
      break;
    }
    p = resolve(dirname(p), next);
  }
  if (existsSync(path)) hops.push(realpathSync(path));
  const merged = (q: string) => [q, q.replace(/^\/usr\/(s?bin|lib)\//, "/$1/"), q.replace(/^\/(s?bin|lib)\//, "/usr/$1/")];
  const owners = ownersByPath();
  for (const q of hops.flatMap(merged)) {
    const pkg = owners.get(q);
    if (pkg) return pkg;
  }
  return null;
}

interface Installed {
  essential: boolean;
  priority: string;
  depends: string[];
}

let installed: Map<string, Installed> | undefined;

/** Every installed package's Essential, Priority and direct dependencies, from one dpkg-query. */
function installedPackages(): Map<string, Installed> {
  if (installed) return installed;
  installed = new Map();
  const out =
    spawnSync("dpkg-query", ["-W", "-f=${Package}\t${Essential}\t${Priority}\t${Depends}, ${Pre-Depends}\n"], { encoding: "utf8", maxBuffer: 64 << 20 })
      .stdout ?? "";
  for (const line of out.split("\n")) {
    const [name, essential, priority, deps] = line.split("\t");
    if (!name) continue;
    const depends = (deps ?? "")
      .split(/[,|]/)
      .map((d) => d.trim().split(/[\s:(]/)[0]!)
      .filter(Boolean);
    installed.set(name, { essential: essential === "yes", priority: priority ?? "", depends });
  }
  return installed;
}

/** Listed packages and their direct dependencies (python3 → python3-minimal, gcc → gcc-12). */
function coveredPackages(list: readonly SystemPackage[]): Set<string> {
  const covered = new Set(list.map((p) => p.name));
  for (const p of list) for (const d of installedPackages().get(p.name)?.depends ?? []) covered.add(d);
  return covered;
}

/** Essential or Priority: required: on every Debian system, installed before anything else. */
const baseSystem = (pkg: string) => {
  const p = installedPackages().get(pkg);
  return !!p && (p.essential || p.priority === "required");
};

/** Built by toolchain/setup.sh or shipped with the machine's Go, not Debian packages. */
const NOT_DEBIAN: Record<string, string> = {
  go: "Go 1.26 at /usr/local/go, a machine prerequisite (README)",
  pulumi: "built into .toolchain/bin by toolchain/setup.sh",
  kubectl: "built into .toolchain/bin by toolchain/setup-kube.sh",
};

/** Paths that exist only inside the project's images (run by the node tests in a container), not on the host. */
const IMAGE_ONLY: Record<string, string> = {
  "/bin/postgres_exporter": "the exporter image's entrypoint, copied from prometheus-postgres-exporter (toolchain/images/recipes.ts)",
};

/** Why each program or module is not covered by the list; empty when all are. */
export function uncovered(programs: string[], modules: string[], list: readonly SystemPackage[] = SYSTEM_PACKAGES): string[] {
  const covered = coveredPackages(list);
  const problems: string[] = [];
  for (const prog of programs) {
    const name = prog.split("/").pop()!;
    if (NOT_DEBIAN[name] || IMAGE_ONLY[prog]) continue;
    const path = prog.startsWith("/") ? prog : sh('command -v "$1"', prog).stdout.trim();
    if (!path || !existsSync(path)) {
      problems.push(
        `${prog}: not installed (npm test installs the listed packages first; if none provides it, name its package in test/setup/system-packages.ts)`,
      );
      continue;
    }
    const pkg = owningPackage(path);
    if (!pkg) problems.push(`${prog}: ${path} belongs to no Debian package; build it in toolchain/ or name its package in test/setup/system-packages.ts`);
    else if (!covered.has(pkg) && !baseSystem(pkg)) problems.push(`${prog}: comes from Debian's ${pkg}, which is not in test/setup/system-packages.ts`);
  }
  const stdlib = new Set(sh('/usr/bin/python3 -c "import sys; print(\\"\\n\\".join(sys.stdlib_module_names))"').stdout.split("\n"));
  for (const mod of modules) {
    if (stdlib.has(mod)) continue;
    const r = spawnSync("/usr/bin/python3", ["-c", `import ${mod}; print(${mod}.__file__)`], { encoding: "utf8" });
    if (r.status !== 0) {
      problems.push(
        `python module ${mod}: /usr/bin/python3 cannot import it (npm test installs the listed packages first; if none provides it, name its package in test/setup/system-packages.ts)`,
      );
      continue;
    }
    const pkg = owningPackage(r.stdout.trim());
    if (!pkg || !covered.has(pkg))
      problems.push(`python module ${mod}: comes from ${pkg ?? "no Debian package"}, which is not in test/setup/system-packages.ts`);
  }
  return problems;
}

/** The script's directory and its parents inside the fixture (alembic's env.py imports the app's models.py). */
function appDirs(file: string): string[] {
  const dirs: string[] = [];
  for (let d = dirname(file); d.startsWith(join(repoRoot, "test", "fixtures")) && d !== join(repoRoot, "test", "fixtures"); d = dirname(d)) dirs.push(d);
  return dirs.length ? dirs : [dirname(file)];
}

/** Programs and non-local Python modules of the whole suite. */
function suiteUses(): { programs: string[]; python: string[] } {
  const programs = new Set<string>();
  const python = new Set<string>();
  for (const file of suiteSources()) {
    const found = scanSource(readFileSync(file, "utf8"), file.endsWith(".py") ? "py" : "ts");
    found.programs.forEach((p) => programs.add(p));
    // A module that is a file or package next to the script is the app's own.
    const local = (m: string) => appDirs(file).some((d) => existsSync(join(d, `${m}.py`)) || (existsSync(join(d, m)) && statSync(join(d, m)).isDirectory()));
    found.python.filter((m) => !(file.endsWith(".py") && local(m))).forEach((m) => python.add(m));
  }
  return { programs: [...programs].sort(), python: [...python].sort() };
}

test("every Debian package the suite needs is installed (npm test installs the missing ones first)", () => {
  assert.deepEqual(
    missingPackages().map((p) => p.name),
    [],
    "run: node --import tsx test/setup/system-packages.ts install",
  );
});

test("every program the suite starts and every Python module it imports comes from a listed (or Essential) package", () => {
  const uses = suiteUses();
  // The scan sees the known uses, so an empty result means something.
  for (const p of ["/usr/bin/python3", "openssl", "iptables", "/usr/bin/ctr"]) assert.ok(uses.programs.includes(p), `the scan finds ${p}`);
  for (const m of ["alembic", "sqlalchemy"]) assert.ok(uses.python.includes(m), `the scan finds the Python module ${m}`);
  assert.deepEqual(uncovered(uses.programs, uses.python), []);
  // Modules the suite reaches only indirectly (SQLAlchemy loads psycopg2 for postgresql:// URLs).
  assert.deepEqual(
    uncovered(
      [],
      SYSTEM_PACKAGES.flatMap((p) => p.python ?? []),
    ),
    [],
  );
});

test("a program or module that no listed package provides is reported by name", () => {
  const found = scanSource(
    'execFileSync("pgloader", ["--version"]); const py = "/usr/bin/python3"; spawn(py, ["-m", "alembic.config"]); spawnSync("/usr/bin/sqlite3", []);',
    "ts",
  );
  assert.deepEqual(found.programs.sort(), ["/usr/bin/python3", "/usr/bin/sqlite3", "pgloader"]);
  assert.deepEqual(found.python, ["alembic"]);
  const withoutSqlite = SYSTEM_PACKAGES.filter((p) => p.name !== "sqlite3" && p.name !== "python3-alembic");
  const problems = uncovered(found.programs, found.python, withoutSqlite);
  assert.ok(
    problems.some((p) => p.startsWith("pgloader:")),
    problems.join("\n"),
  );
  assert.ok(
    problems.some((p) => p.startsWith("/usr/bin/sqlite3: comes from Debian's sqlite3")),
    problems.join("\n"),
  );
  assert.ok(
    problems.some((p) => p.startsWith("python module alembic: comes from python3-alembic")),
    problems.join("\n"),
  );
  assert.deepEqual(uncovered(["/usr/bin/sqlite3", "/usr/bin/python3"], ["alembic"]), [], "the full list covers them");
});

test("the packages setup scripts and test helpers install on their own are on the list", () => {
  const listed = new Set(SYSTEM_PACKAGES.map((p) => p.name));
  const named: Record<string, string[]> = {};
  const images = readFileSync(join(repoRoot, "toolchain/images/build.sh"), "utf8");
  named["toolchain/images/build.sh"] = /^packages=\(([^)]*)\)/m.exec(images)![1]!.trim().split(/\s+/);
  const kube = readFileSync(join(repoRoot, "toolchain/setup-kube.sh"), "utf8");
  named["toolchain/setup-kube.sh"] = [...kube.matchAll(/apt-get install -y -qq ([\w\s.+-]+?);/g)].flatMap((m) => m[1]!.trim().split(/\s+/));
  const debianPg = readFileSync(join(repoRoot, "test/helpers/debian-postgres.ts"), "utf8");
  named["test/helpers/debian-postgres.ts"] = [`postgresql-${/const VERSION = "(\d+)"/.exec(debianPg)![1]}`];
  for (const [file, pkgs] of Object.entries(named)) {
    assert.ok(pkgs.length > 0, `found the package list in ${file}`);
    for (const p of pkgs)
      assert.ok(listed.has(p), `${relative(repoRoot, join(repoRoot, file))} installs ${p}, which test/setup/system-packages.ts does not name`);
  }
});

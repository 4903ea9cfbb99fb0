// Every Debian package the test suite uses, in one place. `npm test` (and so
// `.ci/run`) installs the missing ones before anything else runs; the check in
// system-packages.test.ts fails when a test starts a program or imports a
// Python module that no package here (or an Essential one) provides, so the
// next hidden prerequisite is caught where it is added, not on a new machine.
//
//   node --import tsx test/setup/system-packages.ts install   install what is missing (as root)
//   node --import tsx test/setup/system-packages.ts list      print the list
import { execFileSync, spawnSync } from "node:child_process";

export interface SystemPackage {
  name: string;
  /** what in the suite needs it */
  why: string;
  /** programs it provides that the suite runs (checked to come from this package) */
  programs?: string[];
  /** Python modules it provides that the suite imports with Debian's /usr/bin/python3 */
  python?: string[];
  /** present on every machine of the project's kind; checked, never installed (apt's own version may be older) */
  prerequisite?: boolean;
}

export const SYSTEM_PACKAGES: readonly SystemPackage[] = [
  { name: "nodejs", why: "runs everything", programs: ["node", "npm", "npx"], prerequisite: true },
  { name: "git", why: "test/scripts/start.test.ts clones the repository as a new user would", programs: ["git"], prerequisite: true },
  { name: "gcc", why: "npm ci builds the SQLite extensions in C (binding.gyp, scripts/build-native.ts) and better-sqlite3", programs: ["cc", "gcc"] },
  { name: "g++", why: "better-sqlite3's native build at npm ci (C++)", programs: ["c++", "g++"] },
  { name: "make", why: "node-gyp's builds at npm ci (binding.gyp, better-sqlite3)", programs: ["make"] },
  { name: "libc6-dev", why: "headers and crt files for the C extensions" },
  { name: "openssl", why: "test/helpers/postgres.ts makes a self-signed server certificate", programs: ["openssl"] },
  { name: "python3", why: "the Alembic fixture app (test/fixtures/alembic-app)", programs: ["python3"] },
  { name: "python3-alembic", why: "test/engine/bookkeeping.test.ts, test/index.existing-schema.test.ts run `python3 -m alembic`", python: ["alembic"] },
  { name: "python3-sqlalchemy", why: "the Alembic fixture app's models", python: ["sqlalchemy"] },
  { name: "python3-psycopg2", why: "SQLAlchemy's driver for postgresql:// URLs in the Alembic fixture", python: ["psycopg2"] },
  { name: "postgresql-15", why: "test/helpers/debian-postgres.ts: backup and restore scripts against a real server; the database image" },
  {
    name: "postgresql-client-15",
    why: "pg_dump, pg_restore and psql of the backup tests and the role tests; the app image's psql (the stand-in writes to PostgreSQL after cutover)",
    programs: ["psql", "pg_dump", "pg_restore"],
  },
  { name: "sqlite3", why: "the app image's sqlite3 CLI (pod snapshots) and its tests", programs: ["sqlite3"] },
  { name: "iproute2", why: "the test cluster's node link and network namespaces", programs: ["ip"] },
  { name: "iptables", why: "the test cluster's egress rule, kube-proxy and the kubelet", programs: ["iptables", "ip6tables"] },
  { name: "containerd", why: "the test cluster's container runtime", programs: ["containerd", "ctr", "containerd-shim-runc-v2"] },
  { name: "runc", why: "containerd's OCI runtime on the test node", programs: ["runc"] },
  { name: "ipset", why: "kube-router, the test node's NetworkPolicy engine, keeps pod and namespace sets in ipsets", programs: ["ipset"] },
  { name: "containernetworking-plugins", why: "the test node's pod network (bridge, host-local, loopback, portmap)" },
  { name: "busybox-static", why: "the app and pause images (toolchain/images/recipes.ts)" },
  { name: "dash", why: "the images' /bin/sh" },
  { name: "netcat-openbsd", why: "the app image's readiness probes" },
  { name: "libnss-wrapper", why: "the database image runs PostgreSQL under an arbitrary uid" },
  { name: "prometheus-postgres-exporter", why: "the exporter image" },
];

/** Packages of the list that are not installed (dpkg's view). */
export function missingPackages(list: readonly SystemPackage[] = SYSTEM_PACKAGES): SystemPackage[] {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Package} ${db:Status-Status}\\n", ...list.map((p) => p.name)], { encoding: "utf8" });
  const installed = new Set(
    (r.stdout ?? "")
      .split("\n")
      .filter((l) => l.endsWith(" installed"))
      .map((l) => l.split(" ")[0]),
  );
  return list.filter((p) => !installed.has(p.name));
}

const say = (line: string) => process.stderr.write(`[packages] ${line}\n`);

/** Installs what is missing (apt-get update once, then install); exits 2 with the command when that cannot be done here. */
export function ensureSystemPackages(): void {
  const missing = missingPackages();
  if (missing.length === 0) {
    say(`all ${SYSTEM_PACKAGES.length} Debian packages the tests use are installed`);
    return;
  }
  const prerequisites = missing.filter((p) => p.prerequisite);
  if (prerequisites.length > 0) {
    say(`missing, and not installed by this script (install your own, as the README says): ${prerequisites.map((p) => p.name).join(", ")}`);
    process.exit(2);
  }
  const names = missing.map((p) => p.name);
  if (process.getuid?.() !== 0) {
    say(`the tests need Debian packages that are not installed: ${names.join(" ")}`);
    say(`run as root: apt-get update && apt-get install -y ${names.join(" ")}   (then npm test again)`);
    process.exit(2);
  }
  say(`installing ${names.length} Debian packages the tests use: ${names.join(" ")}`);
  const started = Date.now();
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  try {
    execFileSync("apt-get", ["-o", "DPkg::Lock::Timeout=600", "update", "-qq"], { env, stdio: ["ignore", "ignore", "inherit"] });
    execFileSync("apt-get", ["-o", "DPkg::Lock::Timeout=600", "install", "-y", "-qq", ...names], { env, stdio: ["ignore", "ignore", "inherit"] });
  } catch (e) {
    say(`apt-get failed (${(e as Error).message.split("\n")[0]}); install these yourself and run npm test again: ${names.join(" ")}`);
    process.exit(2);
  }
  const still = missingPackages(missing);
  if (still.length > 0) {
    say(`apt-get finished but these are still not installed: ${still.map((p) => p.name).join(" ")}`);
    process.exit(2);
  }
  say(`installed ${names.join(", ")} in ${Math.round((Date.now() - started) / 1000)} s`);
}

if (require.main === module) {
  const cmd = process.argv[2];
  if (cmd === "install") ensureSystemPackages();
  else if (cmd === "list") for (const p of SYSTEM_PACKAGES) process.stdout.write(`${p.name}\t${p.why}\n`);
  else {
    process.stderr.write("usage: system-packages.ts install | list\n");
    process.exit(2);
  }
}

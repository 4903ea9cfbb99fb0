// The images the local cluster runs, as a table: what each is made of (Debian
// packages on this machine plus files the project writes) and its config. No
// registry is reachable here, so nothing is pulled; build.ts turns each recipe
// into an OCI layout tarball.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { ImageConfig } from "./oci";
import { ImageBuildError, Rootfs } from "./rootfs";

export interface BuildContext {
  repoRoot: string;
  /** where build.sh put the static programs it compiled from toolchain/images/{pause,setuid} */
  toolsDir: string;
}

export interface ImageRecipe {
  ref: string;
  /** Debian packages the image is made from (build.sh installs missing ones) */
  packages: string[];
  /** files outside toolchain/images the image is made from, part of build.ts's inputs key */
  inputs?: (ctx: BuildContext) => string[];
  assemble(fs: Rootfs, ctx: BuildContext): void;
  config: ImageConfig;
}

export const POSTGRES_MAJOR = "15";
const PG_BIN = `/usr/lib/postgresql/${POSTGRES_MAJOR}/bin`;
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The official images' users: postgres is 999 in the Debian-based postgres
// image (70 in the alpine one), nobody is 65534 everywhere.
// CloudNativePG runs PostgreSQL as uid/gid 26 (its own images' postgres user, spec.postgresUID's default).
const POSTGRES_IDS = { official: 999, cloudnativePg: 26 };
const passwd = (pg: number) =>
  [
    "root:x:0:0:root:/root:/bin/sh",
    `postgres:x:${pg}:${pg}:PostgreSQL:/var/lib/postgresql:/bin/sh`,
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    "",
  ].join("\n");
const group = (pg: number) => ["root:x:0:", `postgres:x:${pg}:`, "nogroup:x:65534:", ""].join("\n");

/** CloudNativePG's manager (toolchain/cnpg/build.sh): the operator's image carries it as /manager. */
export const cnpgManagerBinary = (ctx: BuildContext) => join(ctx.repoRoot, ".toolchain", "bin", "cnpg-manager");
/** The images only a node with CloudNativePG imports (src/cluster/cnpg.ts). */
export const CNPG_OPERATOR_IMAGE = "pgshift.local/cloudnative-pg:1.28.0";
export const CNPG_POSTGRES_IMAGE = `pgshift.local/cnpg-postgres:${POSTGRES_MAJOR}`;

function base(fs: Rootfs, postgresId = POSTGRES_IDS.official): void {
  // /lib and /lib64 as on this machine (symlinks into /usr on Debian 12), so
  // the paths ldd reports resolve the same way inside the image. /bin is a
  // directory of its own: busybox's commands there, Debian's in /usr/bin, as
  // in the busybox and alpine images (PATH=/bin gives busybox alone).
  for (const p of ["/lib", "/lib64"]) fs.fromHost(p);
  for (const p of ["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]) fs.dir(p);
  fs.dir("/etc");
  fs.file("/etc/passwd", passwd(postgresId));
  fs.file("/etc/group", group(postgresId));
  fs.file("/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n");
  fs.dir("/tmp", 0o1777);
  fs.dir("/root", 0o700);
  fs.dir("/var/tmp", 0o1777);
}

/** Debian's busybox-static as /bin/busybox, its applets as symlinks beside it (/bin/sh among them). */
function busybox(fs: Rootfs, except: string[] = []): void {
  const real = realpathSync("/bin/busybox");
  fs.copy(real, "/bin/busybox", 0o755);
  const applets = execFileSync(real, ["--list"], { encoding: "utf8" })
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z0-9_.[-]+$/.test(s) && s !== "busybox" && !except.includes(s));
  for (const applet of applets) if (!fs.has(`/bin/${applet}`)) fs.symlink(`/bin/${applet}`, "busybox");
}

/** Debian's PostgreSQL with every server program on PATH; the data, socket and home directories owned by `postgresId`. */
function postgresFiles(fs: Rootfs, ctx: BuildContext, postgresId: number): void {
  base(fs, postgresId);
  // The JIT provider drags in LLVM (over 100 MB); without it PostgreSQL turns JIT off, as documented.
  const noJit = (p: string) => /\/llvmjit[^/]*$|\/lib\/bitcode(\/|$)/.test(p);
  fs.fromHost(PG_BIN, { recursive: true });
  // On the PATH the manifests set (IMAGE_PATH in components/defaults.ts), as in the alpine image;
  // PostgreSQL resolves the link to find its share and lib directories.
  for (const tool of readdirSync(PG_BIN).sort()) fs.symlink(`/usr/local/bin/${tool}`, `${PG_BIN}/${tool}`);
  fs.fromHost(`/usr/lib/postgresql/${POSTGRES_MAJOR}/lib`, { recursive: true, exclude: noJit });
  const share = `/usr/share/postgresql/${POSTGRES_MAJOR}`;
  fs.fromHost(share, { recursive: true, exclude: (p) => /\/man(\/|$)/.test(p) || p === `${share}/postgresql.conf.sample` });
  // As in the official image: a new cluster listens on every address (the pod's network is the boundary).
  const sample = readFileSync(`${share}/postgresql.conf.sample`, "utf8");
  fs.file(`${share}/postgresql.conf.sample`, sample.replace(/^#?listen_addresses\s*=\s*\S+/m, "listen_addresses = '*'"));
  fs.fromHost("/usr/share/zoneinfo", { recursive: true });
  fs.fromHost("/usr/lib/locale/C.utf8", { recursive: true });
  fs.fromHost("/usr/lib/x86_64-linux-gnu/libnss_wrapper.so");
  busybox(fs);
  fs.file("/usr/local/bin/docker-entrypoint.sh", readFileSync(join(ctx.repoRoot, "toolchain/images/postgres/docker-entrypoint.sh")), 0o755);
  fs.copy(join(ctx.toolsDir, "setuid"), "/usr/local/bin/setuid", 0o755);
  fs.dir("/docker-entrypoint-initdb.d");
  // World-writable like the official image's, so any uid the pod picks can use them.
  fs.dir("/var/run/postgresql", 0o3777, { uid: postgresId, gid: postgresId });
  fs.dir("/var/lib/postgresql", 0o755, { uid: postgresId, gid: postgresId });
  fs.dir("/var/lib/postgresql/data", 0o1777, { uid: postgresId, gid: postgresId });
  fs.addSharedLibraries();
}

export const recipes: ImageRecipe[] = [
  {
    // containerd's sandbox_image: holds the pod's namespaces, nothing else.
    ref: "pgshift.local/pause:3.10",
    packages: [],
    assemble(fs, ctx) {
      fs.copy(join(ctx.toolsDir, "pause"), "/pause", 0o755);
      fs.file("/etc/passwd", "nobody:x:65535:65535:pause:/:/pause\n");
    },
    config: { Entrypoint: ["/pause"], Env: [`PATH=${PATH}`], User: "65535:65535", WorkingDir: "/" },
  },
  {
    // Stands in for the app's api/worker: a shell, env, wget, nc (OpenBSD's, with -z), the
    // sqlite3 CLI (Debian's sqlite3 with its libraries) to snapshot a SQLite
    // file inside the pod, and psql (Debian's PostgreSQL 15 client with libpq) so the
    // stand-in can write to whichever database its DATABASE_URL names (src/cluster/sample-app.ts).
    ref: "pgshift.local/app:busybox",
    packages: ["busybox-static", "sqlite3", "netcat-openbsd", "dash", `postgresql-client-${POSTGRES_MAJOR}`],
    assemble(fs) {
      base(fs);
      fs.fromHost(realpathSync("/usr/bin/sqlite3"));
      // The real binary, not Debian's /usr/bin/psql (a Perl wrapper choosing among installed versions).
      fs.fromHost(`${PG_BIN}/psql`);
      fs.symlink("/usr/local/bin/psql", `${PG_BIN}/psql`);
      // busybox's nc has no -z; a port check (`nc -z -w 5 host 5432`) needs OpenBSD's. Debian's
      // busybox-static shell runs its own applets ahead of PATH, so /bin/sh is dash, which uses PATH.
      fs.copy(realpathSync("/bin/nc.openbsd"), "/usr/bin/nc", 0o755);
      fs.copy(realpathSync("/bin/dash"), "/bin/dash", 0o755);
      fs.symlink("/bin/sh", "dash");
      busybox(fs, ["sh", "nc"]);
      fs.dir("/app", 0o777);
      fs.addSharedLibraries();
    },
    config: { Cmd: ["sh"], Env: [`PATH=${PATH}`], WorkingDir: "/app" },
  },
  {
    // Debian's PostgreSQL 15 (Debian 12 has no 16) with the project's entrypoint
    // for the official image's contract; also the backup Job's image (sh,
    // pg_dump, pg_restore, psql).
    ref: `pgshift.local/postgres:${POSTGRES_MAJOR}`,
    packages: ["busybox-static", `postgresql-${POSTGRES_MAJOR}`, "libnss-wrapper"],
    assemble(fs, ctx) {
      postgresFiles(fs, ctx, POSTGRES_IDS.official);
      fs.addSharedLibraries();
    },
    config: {
      Entrypoint: ["/usr/local/bin/docker-entrypoint.sh"],
      Cmd: ["postgres"],
      Env: [`PATH=${PATH}:${PG_BIN}`, `PG_MAJOR=${POSTGRES_MAJOR}`, "PGDATA=/var/lib/postgresql/data", "LANG=C.UTF-8"],
      ExposedPorts: { "5432/tcp": {} },
      Volumes: { "/var/lib/postgresql/data": {} },
      StopSignal: "SIGINT",
    },
  },
  {
    // Debian's prometheus-postgres-exporter, laid out like the upstream image
    // (/bin/postgres_exporter as entrypoint, user nobody, port 9187).
    ref: "pgshift.local/postgres-exporter:debian",
    packages: ["prometheus-postgres-exporter"],
    assemble(fs) {
      base(fs);
      fs.copy(realpathSync("/usr/bin/prometheus-postgres-exporter"), "/bin/postgres_exporter", 0o755);
      fs.addSharedLibraries();
    },
    config: { Entrypoint: ["/bin/postgres_exporter"], Env: [`PATH=${PATH}`], User: "65534:65534", ExposedPorts: { "9187/tcp": {} }, WorkingDir: "/" },
  },
  {
    // CloudNativePG's operator, laid out like upstream's image: /manager, uid 10001. The same binary is the
    // instance manager: each PostgreSQL pod's bootstrap-controller init container copies it from here.
    ref: CNPG_OPERATOR_IMAGE,
    packages: [],
    inputs: (ctx) => [cnpgManagerBinary(ctx)],
    assemble(fs, ctx) {
      const manager = cnpgManagerBinary(ctx);
      if (!existsSync(manager))
        throw new ImageBuildError(
          CNPG_OPERATOR_IMAGE,
          `${manager} is missing: build it with \`bash toolchain/cnpg/build.sh\` (toolchain/setup-kube.sh does it)`,
        );
      base(fs);
      fs.copy(manager, "/manager", 0o755);
      // The operator lists the architectures it can run instances on from /operator/manager_<arch> (upstream's image
      // ships one per architecture); without it every reconcile fails with "invalid architecture: amd64".
      fs.symlink("/operator/manager_amd64", "/manager");
    },
    config: { Entrypoint: ["/manager"], Env: [`PATH=${PATH}`], User: "10001:10001", WorkingDir: "/" },
  },
  {
    // The PostgreSQL image a CloudNativePG Cluster runs (its imageName): the same Debian PostgreSQL 15 with
    // initdb, pg_ctl, postgres, pg_basebackup, pg_rewind, pg_controldata, pg_isready, psql… on PATH, and
    // postgres as uid/gid 26 as in CloudNativePG's own images. The instance manager is not in it: the
    // operator copies its own into each pod. The tag is the major version, which CloudNativePG reads.
    ref: CNPG_POSTGRES_IMAGE,
    packages: ["busybox-static", `postgresql-${POSTGRES_MAJOR}`, "libnss-wrapper"],
    assemble(fs, ctx) {
      postgresFiles(fs, ctx, POSTGRES_IDS.cloudnativePg);
    },
    config: {
      Env: [`PATH=${PATH}:${PG_BIN}`, `PG_MAJOR=${POSTGRES_MAJOR}`, "LANG=C.UTF-8"],
      User: `${POSTGRES_IDS.cloudnativePg}:${POSTGRES_IDS.cloudnativePg}`,
      ExposedPorts: { "5432/tcp": {} },
      StopSignal: "SIGINT",
    },
  },
];

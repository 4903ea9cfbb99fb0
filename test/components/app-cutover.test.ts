import { test } from "node:test";
import assert from "node:assert/strict";
import { captureResources, one, settle } from "../helpers/mocks";
import { AppCutover, RESTART_ANNOTATION, appCutoverManifests, databaseUrls } from "../../components/app-cutover";

const base = {
  namespace: "piyasa-chatbot-dev",
  databaseInstance: "postgres",
  secretName: "piyasa-secrets",
  sqliteUrl: "sqlite:///./app.db",
  host: "dev-postgres.piyasa-chatbot-dev.svc.cluster.local",
  database: "piyasa_db",
  appRole: "piyasa_app",
  appPassword: "p@ss/word",
  tls: false,
  workloads: [
    { kind: "Deployment" as const, name: "dev-api" },
    { kind: "StatefulSet" as const, name: "dev-worker" },
  ],
};

test("the seed's DATABASE_URL formats; with TLS the server is authenticated (verify-full with the CA, else channel binding)", () => {
  const u = databaseUrls({ role: "piyasa_app", password: "p@ss/word", host: "h", database: "piyasa_db", tls: true });
  assert.equal(u.sync, "postgresql+psycopg://piyasa_app:p%40ss%2Fword@h:5432/piyasa_db?sslmode=require&channel_binding=require");
  assert.equal(u.async, "postgresql+asyncpg://piyasa_app:p%40ss%2Fword@h:5432/piyasa_db?ssl=require");
  const v = databaseUrls({ role: "piyasa_app", password: "p@ss/word", host: "h", database: "piyasa_db", tls: true, caCertPath: "/etc/pgshift/ca.crt" });
  assert.equal(v.sync, "postgresql+psycopg://piyasa_app:p%40ss%2Fword@h:5432/piyasa_db?sslmode=verify-full&sslrootcert=%2Fetc%2Fpgshift%2Fca.crt");
  assert.equal(v.async, "postgresql+asyncpg://piyasa_app:p%40ss%2Fword@h:5432/piyasa_db?ssl=verify-full");
  // What these parameters do against a real server and an impostor: test/components/database-tls.test.ts.
  const plain = databaseUrls({ role: "piyasa_app", password: "p@ss/word", host: "h", database: "piyasa_db", tls: false });
  assert.equal(plain.sync, "postgresql+psycopg://piyasa_app:p%40ss%2Fword@h:5432/piyasa_db");
});

test("with TLS the app's Secret carries the CA (DATABASE_CA_CERT) and PGSSLROOTCERT for asyncpg", async () => {
  const resources = captureResources();
  new AppCutover("app", { ...base, cutover: true, tls: true, caCert: "-----BEGIN CERTIFICATE-----", caCertPath: "/etc/pgshift/ca.crt" });
  await settle();
  const data = one(resources, "kubernetes:core/v1:Secret").inputs.stringData;
  assert.equal(data.DATABASE_CA_CERT, "-----BEGIN CERTIFICATE-----");
  assert.equal(data.PGSSLROOTCERT, "/etc/pgshift/ca.crt");
  assert.match(data.DATABASE_URL, /sslmode=verify-full/);
});

test("before cutover the Secret keeps SQLite; workloads carry the sqlite restart annotation", async () => {
  const resources = captureResources();
  new AppCutover("app", { ...base, cutover: false });
  await settle();
  const secret = one(resources, "kubernetes:core/v1:Secret").inputs;
  assert.equal(secret.stringData.DATABASE_URL, "sqlite:///./app.db");
  const api = one(resources, "kubernetes:apps/v1:DeploymentPatch").inputs;
  assert.equal(api.metadata.name, "dev-api");
  assert.equal(api.spec.template.metadata.annotations[RESTART_ANNOTATION], "sqlite");
  const worker = one(resources, "kubernetes:apps/v1:StatefulSetPatch").inputs;
  assert.equal(worker.metadata.name, "dev-worker");
});

test("cutover points DATABASE_URL at PostgreSQL as the app role and changes the restart annotation", async () => {
  const resources = captureResources();
  new AppCutover("app", { ...base, cutover: true });
  await settle();
  const secret = one(resources, "kubernetes:core/v1:Secret").inputs;
  assert.equal(secret.stringData.DATABASE_URL, "postgresql+psycopg://piyasa_app:p%40ss%2Fword@dev-postgres.piyasa-chatbot-dev.svc.cluster.local:5432/piyasa_db");
  assert.match(secret.stringData.DATABASE_URL_ASYNC, /^postgresql\+asyncpg:/);
  for (const t of ["kubernetes:apps/v1:DeploymentPatch", "kubernetes:apps/v1:StatefulSetPatch"]) {
    assert.equal(one(resources, t).inputs.spec.template.metadata.annotations[RESTART_ANNOTATION], "postgresql");
  }
});

test("the restart patches keep their resource names (app-<workload>-restart) and annotate only the pod template", () => {
  const m = appCutoverManifests("app", { ...base, cutover: true }, { sync: "s", async: "a" });
  assert.equal(m.backend, "postgresql");
  assert.deepEqual(
    m.restarts.map((r) => [r.resourceName, r.kind, r.patch.metadata.name]),
    [
      ["app-dev-api-restart", "Deployment", "dev-api"],
      ["app-dev-worker-restart", "StatefulSet", "dev-worker"],
    ],
  );
  assert.deepEqual(m.restarts[0]!.patch.spec, { template: { metadata: { annotations: { "pgshift.io/database": "postgresql" } } } });
  assert.equal(m.secret.metadata.name, "piyasa-secrets");
  assert.equal(m.secret.metadata.labels["app.kubernetes.io/instance"], "postgres");
});

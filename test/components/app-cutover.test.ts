import { test } from "node:test";
import assert from "node:assert/strict";
import { captureOptions, captureResources, one, settle } from "../helpers/mocks";
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
  assert.equal(
    secret.stringData.DATABASE_URL,
    "postgresql+psycopg://piyasa_app:p%40ss%2Fword@dev-postgres.piyasa-chatbot-dev.svc.cluster.local:5432/piyasa_db",
  );
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

test("with a cluster and workloads the Cutover resource switches: the Secret keeps the SQLite URLs (its data left to Cutover), nothing is patched", async () => {
  const resources = captureResources();
  const steps = {
    kube: { kubeconfig: "not a kubeconfig", context: "", namespace: "piyasa-chatbot-dev" },
    source: "/data/app.db",
    data: {
      sqlitePath: "/data/app.db",
      targetUrl: "postgresql://piyasa_user:owner-pw@db:5432/piyasa_db",
      tunnel: null,
      schema: "create" as const,
      tables: [],
      identifiers: "downcase" as const,
      casts: {},
      jobs: 2,
      backupDir: "",
    },
    healthCheck: { service: "dev-api", port: 8000, path: "/healthz" },
    timeoutSeconds: 120,
    discardPostgresWrites: false,
  };
  new AppCutover("app", { ...base, cutover: true, steps }, { transformations: [captureOptions] });
  await settle();
  const secret = one(resources, "kubernetes:core/v1:Secret");
  assert.equal(secret.inputs.stringData.DATABASE_URL, "sqlite:///./app.db", "the PostgreSQL URL is never in the Secret's Pulumi inputs");
  assert.deepEqual(secret.opts.ignoreChanges, ["stringData", "data"]);
  assert.equal(resources.filter((r) => /Patch$/.test(r.type)).length, 0);
  const cut = one(resources, "pulumi-nodejs:dynamic:Resource", "app").inputs;
  assert.equal(cut.cutover, true);
  assert.equal(cut.manageSecret, true);
  assert.deepEqual(cut.workloads, base.workloads);
  assert.equal(cut.postgresData.DATABASE_URL, "postgresql+psycopg://piyasa_app:p%40ss%2Fword@dev-postgres.piyasa-chatbot-dev.svc.cluster.local:5432/piyasa_db");
  assert.deepEqual(cut.sqliteData, { DATABASE_URL: "sqlite:///./app.db", DATABASE_URL_ASYNC: "sqlite+aiosqlite:///./app.db" });
  assert.deepEqual(cut.healthCheck, steps.healthCheck);
  assert.equal(cut.timeoutSeconds, 120);
  const cutOpts = one(resources, "pulumi-nodejs:dynamic:Resource", "app").opts;
  assert.deepEqual([...(cutOpts.additionalSecretOutputs ?? [])].sort(), ["data", "kube", "postgresData"]);
});

test("rendered manifests (no cluster): the Secret is rendered for the backend asked for, after Cutover moved the data", async () => {
  const resources = captureResources();
  const steps = {
    source: "/data/app.db",
    data: {
      sqlitePath: "/data/app.db",
      targetUrl: "postgresql://u:p@db:5432/piyasa_db",
      tunnel: null,
      schema: "create" as const,
      tables: [],
      identifiers: "downcase" as const,
      casts: {},
      jobs: 2,
      backupDir: "",
    },
    timeoutSeconds: 300,
    discardPostgresWrites: false,
  };
  new AppCutover("app", { ...base, cutover: true, steps }, { transformations: [captureOptions] });
  await settle();
  const secret = one(resources, "kubernetes:core/v1:Secret");
  assert.match(secret.inputs.stringData.DATABASE_URL, /^postgresql\+psycopg:/);
  assert.equal(secret.opts.ignoreChanges, undefined);
  const cut = one(resources, "pulumi-nodejs:dynamic:Resource", "app").inputs;
  assert.equal(cut.manageSecret, false);
  assert.deepEqual(cut.workloads, []);
  assert.equal(resources.filter((r) => /Patch$/.test(r.type)).length, 2);
});

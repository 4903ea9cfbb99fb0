import { test } from "node:test";
import assert from "node:assert/strict";
import { captureOptions, captureResources, one, settle } from "../helpers/mocks";
import { PostgresDatabase, postgresqlConf, type PostgresDatabaseArgs } from "../../components/postgres-database";
import { pgHba } from "../../components/pg-hba";

const base: PostgresDatabaseArgs = {
  namespace: "piyasa-chatbot",
  namePrefix: "",
  database: "piyasa_db",
  image: "postgres:16-alpine",
  storageSize: "50Gi",
  storageClass: "fast-ssd",
  requests: { cpu: "1", memory: "2Gi" },
  limits: { cpu: "2", memory: "4Gi" },
  superuserSecretName: "postgres-superuser",
  tls: true,
  protect: true,
  maxConnections: 200,
  sharedBuffers: "1Gi",
  roles: ["piyasa_user", "piyasa_app", "piyasa_monitor", "piyasa_backup"],
};

test("the StatefulSet runs PostgreSQL 16 hardened, with PGDATA in a subdirectory and pg_isready probes", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", base, { transformations: [captureOptions] });
  await settle();
  const sts = one(resources, "kubernetes:apps/v1:StatefulSet").inputs;
  const pod = sts.spec.template.spec;
  assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, fsGroupChangePolicy: "OnRootMismatch", seccompProfile: { type: "RuntimeDefault" } });
  const c = pod.containers[0];
  assert.equal(c.image, "postgres:16-alpine");
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"] });
  assert.equal(c.securityContext.runAsNonRoot, true);
  const env = Object.fromEntries(c.env.map((e: { name: string; value?: string }) => [e.name, e]));
  assert.equal(env.PGDATA.value, "/var/lib/postgresql/data/pgdata");
  // The password is a file the entrypoint reads, never an env var; postgres.sh (first on PATH) drops what the entrypoint exports.
  assert.equal(env.POSTGRES_PASSWORD, undefined);
  assert.equal(env.POSTGRES_PASSWORD_FILE.value, "/run/secrets/postgres/password");
  assert.equal(env.PATH, undefined, "the image's own PATH is kept");
  assert.deepEqual(c.command, ["/opt/pgshift/bin/entrypoint"]);
  const vol = (n: string) => pod.volumes.find((v: { name: string }) => v.name === n);
  const mount = (n: string) => c.volumeMounts.find((m: { name: string }) => m.name === n);
  assert.deepEqual(vol("superuser").secret, { secretName: "postgres-superuser", items: [{ key: "POSTGRES_PASSWORD", path: "password" }], defaultMode: 0o400 });
  assert.equal(mount("superuser").mountPath, "/run/secrets/postgres");
  assert.deepEqual(vol("shim").configMap.items, [{ key: "entrypoint.sh", path: "entrypoint" }, { key: "postgres.sh", path: "postgres" }]);
  assert.equal(mount("shim").mountPath, "/opt/pgshift/bin");
  assert.deepEqual(vol("dshm").emptyDir, { medium: "Memory", sizeLimit: "256Mi" });
  assert.equal(mount("dshm").mountPath, "/dev/shm");
  // Its own ServiceAccount, no API token.
  const sa = one(resources, "kubernetes:core/v1:ServiceAccount").inputs;
  assert.equal(sa.automountServiceAccountToken, false);
  assert.equal(pod.serviceAccountName, sa.metadata.name);
  assert.equal(pod.automountServiceAccountToken, false);
  for (const p of ["startupProbe", "readinessProbe", "livenessProbe"]) assert.match(c[p].exec.command.join(" "), /pg_isready/, p);
  assert.deepEqual(c.resources, { requests: { cpu: "1", memory: "2Gi" }, limits: { cpu: "2", memory: "4Gi" } });
  const claim = sts.spec.volumeClaimTemplates[0].spec;
  assert.equal(claim.storageClassName, "fast-ssd");
  assert.equal(claim.resources.requests.storage, "50Gi");
  assert.equal(sts.metadata.labels["app.kubernetes.io/name"], "postgresql");
  assert.equal(sts.metadata.labels["app.kubernetes.io/managed-by"], "pulumi");
});

test("prod: protected, retained on delete, PVCs kept; TLS from a generated certificate", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", base, { transformations: [captureOptions] });
  await settle();
  const sts = one(resources, "kubernetes:apps/v1:StatefulSet");
  assert.equal(sts.opts.protect, true);
  assert.equal(sts.opts.retainOnDelete, true);
  assert.deepEqual(sts.inputs.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
  const tls = resources.find((r) => r.type === "kubernetes:core/v1:Secret" && r.inputs.type === "kubernetes.io/tls");
  assert.ok(tls, "a TLS Secret");
  const cm = one(resources, "kubernetes:core/v1:ConfigMap").inputs.data;
  assert.match(cm["postgresql.conf"], /^ssl = on$/m);
  // What each line lets through is tested against a real server in test/components/pg-hba.test.ts.
  assert.equal(cm["pg_hba.conf"], pgHba({ tls: true, database: "piyasa_db", roles: base.roles }));
  assert.match(cm["pg_hba.conf"], /^hostssl\s+piyasa_db\s+piyasa_app\s+all\s+scram-sha-256$/m);
  assert.doesNotMatch(cm["pg_hba.conf"], /trust|md5|password\s*$/m);
});

test("dev: no protection, no TLS, plain host lines still scram-sha-256", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", { ...base, tls: false, protect: false }, { transformations: [captureOptions] });
  await settle();
  const sts = one(resources, "kubernetes:apps/v1:StatefulSet");
  assert.notEqual(sts.opts.protect, true);
  assert.deepEqual(sts.inputs.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Delete", whenScaled: "Retain" });
  assert.equal(resources.filter((r) => r.inputs.type === "kubernetes.io/tls").length, 0);
  const hba = one(resources, "kubernetes:core/v1:ConfigMap").inputs.data["pg_hba.conf"];
  assert.doesNotMatch(hba, /hostssl/);
  assert.match(hba, /^host\s+piyasa_db\s+piyasa_app\s+all\s+scram-sha-256$/m);
  assert.match(postgresqlConf({ tls: false, maxConnections: 100, sharedBuffers: "128Mi" }), /shared_buffers = 128MB/);
});

test("Services (headless and ClusterIP) and a PodDisruptionBudget select the database pod", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", base, { transformations: [captureOptions] });
  await settle();
  const services = resources.filter((r) => r.type === "kubernetes:core/v1:Service");
  assert.deepEqual(services.map((s) => s.inputs.spec.clusterIP ?? s.inputs.spec.type).sort(), ["ClusterIP", "None"]);
  const pdb = one(resources, "kubernetes:policy/v1:PodDisruptionBudget").inputs;
  assert.deepEqual(pdb.spec.selector.matchLabels, services[0]!.inputs.spec.selector);
  // One instance: by default a drain may evict it (maxUnavailable 0 would block every drain forever).
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.equal(pdb.spec.unhealthyPodEvictionPolicy, "AlwaysAllow");
});

test("drains: block keeps the old behaviour on request (maxUnavailable 0)", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", { ...base, drains: "block" });
  await settle();
  assert.equal(one(resources, "kubernetes:policy/v1:PodDisruptionBudget").inputs.spec.maxUnavailable, 0);
});

test("prod: the TLS Secret carries the CA that signed the server certificate (ca.crt)", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", base);
  await settle();
  const tls = resources.find((r) => r.type === "kubernetes:core/v1:Secret" && r.inputs.type === "kubernetes.io/tls")!;
  assert.deepEqual(Object.keys(tls.inputs.stringData).sort(), ["ca.crt", "tls.crt", "tls.key"]);
});

test("keepVolumeOnDelete keeps the data claim of an unprotected database", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", { ...base, tls: false, protect: false, keepVolumeOnDelete: true });
  await settle();
  const sts = one(resources, "kubernetes:apps/v1:StatefulSet");
  assert.deepEqual(sts.inputs.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
});

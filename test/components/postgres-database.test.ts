import { test } from "node:test";
import assert from "node:assert/strict";
import { captureOptions, captureResources, manifestOf, one, plain, settle } from "../helpers/mocks";
import { PostgresDatabase, postgresDatabaseManifests, postgresqlConf, type PostgresDatabaseArgs } from "../../components/postgres-database";
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

// The manifests as plain objects (no Pulumi): what the component creates.
const manifests = (args: PostgresDatabaseArgs) => postgresDatabaseManifests("postgres", args) as any; // eslint-disable-line @typescript-eslint/no-explicit-any

test("the StatefulSet runs PostgreSQL 16 hardened, with PGDATA in a subdirectory and pg_isready probes", () => {
  const m = manifests(base);
  const sts = m.statefulSet;
  const pod = sts.spec.template.spec;
  assert.deepEqual(pod.securityContext, {
    runAsNonRoot: true,
    runAsUser: 999,
    runAsGroup: 999,
    fsGroup: 999,
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  });
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
  assert.deepEqual(vol("shim").configMap.items, [
    { key: "entrypoint.sh", path: "entrypoint" },
    { key: "postgres.sh", path: "postgres" },
  ]);
  assert.equal(mount("shim").mountPath, "/opt/pgshift/bin");
  assert.deepEqual(vol("dshm").emptyDir, { medium: "Memory", sizeLimit: "256Mi" });
  assert.equal(mount("dshm").mountPath, "/dev/shm");
  // Its own ServiceAccount, no API token.
  assert.equal(m.serviceAccount.automountServiceAccountToken, false);
  assert.equal(m.serviceAccount.metadata.name, "postgres");
  assert.equal(pod.serviceAccountName, "postgres");
  assert.equal(sts.spec.serviceName, "postgres-headless");
  assert.equal(m.headlessService.metadata.name, "postgres-headless");
  assert.deepEqual(vol("config").configMap, { name: "postgres-config" });
  assert.equal(m.configMap.metadata.name, "postgres-config");
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
  assert.match(cm["pg_hba.conf"], /^hostssl\s+"piyasa_db"\s+"piyasa_app"\s+all\s+scram-sha-256$/m);
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
  assert.match(hba, /^host\s+"piyasa_db"\s+"piyasa_app"\s+all\s+scram-sha-256$/m);
  assert.match(postgresqlConf({ tls: false, maxConnections: 100, sharedBuffers: "128Mi" }), /shared_buffers = 128MB/);
});

test("the Services (headless and ClusterIP), the PodDisruptionBudget and the StatefulSet select the pod by its name and instance labels", () => {
  const m = manifests(base);
  const pod = { "app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "postgres" };
  assert.deepEqual(m.statefulSet.spec.selector.matchLabels, pod);
  assert.deepEqual(m.headlessService.spec.selector, pod);
  assert.deepEqual(m.service.spec.selector, pod);
  assert.deepEqual(m.podDisruptionBudget.spec.selector.matchLabels, pod);
  // The pod carries them (and more), so every selector above and the NetworkPolicy's (test/components/network-policy.test.ts) match it.
  assert.deepEqual(m.statefulSet.spec.template.metadata.labels, {
    "app.kubernetes.io/name": "postgresql",
    "app.kubernetes.io/instance": "postgres",
    "app.kubernetes.io/component": "database",
    "app.kubernetes.io/part-of": "pgshift",
    "app.kubernetes.io/managed-by": "pulumi",
    "app.kubernetes.io/version": "16",
  });
  assert.equal(m.headlessService.spec.clusterIP, "None");
  assert.equal(m.headlessService.spec.publishNotReadyAddresses, true);
  assert.equal(m.service.spec.type, "ClusterIP");
  assert.equal(m.service.metadata.name, "postgres");
  assert.deepEqual(m.service.spec.ports, [{ name: "postgresql", port: 5432, targetPort: "postgresql" }]);
  // One instance: by default a drain may evict it (maxUnavailable 0 would block every drain forever).
  assert.equal(m.podDisruptionBudget.spec.maxUnavailable, 1);
  assert.equal(m.podDisruptionBudget.spec.unhealthyPodEvictionPolicy, "AlwaysAllow");
});

test("the component creates those manifests, the StatefulSet referring to its ConfigMap, headless Service and account", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", { ...base, namePrefix: "dev-" });
  await settle();
  const m = postgresDatabaseManifests("postgres", { ...base, namePrefix: "dev-" });
  assert.deepEqual(manifestOf(one(resources, "kubernetes:apps/v1:StatefulSet", "postgres-statefulset")), plain(m.statefulSet));
  assert.deepEqual(manifestOf(one(resources, "kubernetes:core/v1:ConfigMap", "postgres-config")), plain(m.configMap));
  assert.deepEqual(manifestOf(one(resources, "kubernetes:core/v1:Service", "postgres-service")), plain(m.service));
  assert.deepEqual(manifestOf(one(resources, "kubernetes:core/v1:Service", "postgres-headless")), plain(m.headlessService));
  assert.deepEqual(manifestOf(one(resources, "kubernetes:policy/v1:PodDisruptionBudget", "postgres-pdb")), plain(m.podDisruptionBudget));
  assert.equal(m.statefulSet.metadata.name, "dev-postgres");
});

test("drains: block keeps the old behaviour on request (maxUnavailable 0)", () => {
  assert.equal(manifests({ ...base, drains: "block" }).podDisruptionBudget.spec.maxUnavailable, 0);
});

test("prod: the TLS Secret carries the CA that signed the server certificate (ca.crt)", async () => {
  const resources = captureResources();
  new PostgresDatabase("postgres", base);
  await settle();
  const tls = resources.find((r) => r.type === "kubernetes:core/v1:Secret" && r.inputs.type === "kubernetes.io/tls")!;
  assert.deepEqual(Object.keys(tls.inputs.stringData).sort(), ["ca.crt", "tls.crt", "tls.key"]);
});

test("keepVolumeOnDelete keeps the data claim of an unprotected database", () => {
  const sts = manifests({ ...base, tls: false, protect: false, keepVolumeOnDelete: true }).statefulSet;
  assert.deepEqual(sts.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
});

// The CloudNativePG engine's shapes (pgshift:database.engine cloudnative-pg):
// the Cluster the component declares, and that the rest of the stack points at
// its read-write Service. Pulumi mocks for shapes only; the node test applies it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { captureResources, captureOptions, one, plain, settle } from "../helpers/mocks";
import { CnpgDatabase, cnpgClusterManifest, cnpgHbaLines, type CnpgDatabaseArgs } from "../../components/cnpg-cluster";
import { databaseSecretManifests } from "../../components/secrets";
import { networkPolicyManifest } from "../../components/network-policy";
import { databaseServiceName } from "../../components/names";
import * as pulumi from "@pulumi/pulumi";

const args: CnpgDatabaseArgs = {
  namespace: "piyasa-ha",
  namePrefix: "ha-",
  database: "piyasa_db",
  image: "ghcr.io/cloudnative-pg/postgresql:16",
  instances: 3,
  storageSize: "10Gi",
  storageClass: "fast",
  requests: { cpu: "250m", memory: "512Mi" },
  limits: { cpu: "1", memory: "1Gi" },
  superuserSecretName: "ha-postgres-superuser",
  owner: "piyasa_user",
  roles: ["piyasa_user", "piyasa_app", "piyasa_monitor", "piyasa_backup"],
  tls: false,
  protect: false,
  maxConnections: 100,
  sharedBuffers: "128Mi",
};
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const spec = (a: Partial<CnpgDatabaseArgs> = {}) => (cnpgClusterManifest("postgres", { ...args, ...a }) as any).spec;
const output = <T>(o: pulumi.Output<T>) => new Promise<T>((r) => o.apply(r));

test("a Cluster of 3 instances by the configured image, every commit waiting for one synchronous standby", () => {
  const m = cnpgClusterManifest("postgres", args);
  assert.equal(m.apiVersion, "postgresql.cnpg.io/v1");
  assert.equal(m.kind, "Cluster");
  assert.equal(m.metadata.name, "ha-postgres");
  assert.equal(m.metadata.namespace, "piyasa-ha");
  assert.equal(m.metadata.annotations["pulumi.com/waitFor"], "condition=Ready");
  const s = spec();
  assert.equal(s.instances, 3);
  assert.equal(s.imageName, "ghcr.io/cloudnative-pg/postgresql:16");
  assert.deepEqual(s.postgresql.synchronous, { method: "any", number: 1, dataDurability: "required" });
  assert.deepEqual(s.storage, { size: "10Gi", storageClass: "fast" });
  assert.deepEqual(s.resources, { requests: args.requests, limits: args.limits });
  assert.deepEqual(s.bootstrap, { initdb: { database: "piyasa_db", owner: "piyasa_user", encoding: "UTF8" } });
  assert.equal(s.enableSuperuserAccess, true);
  assert.deepEqual(s.superuserSecret, { name: "ha-postgres-superuser" });
  assert.equal(s.postgresql.parameters.max_connections, "100");
  assert.equal(s.postgresql.parameters.shared_buffers, "128MB");
  assert.equal(s.postgresql.parameters.password_encryption, "scram-sha-256");
  assert.equal(spec({ instances: 5 }).instances, 5);
});

test("its pods carry the labels the NetworkPolicy, exporter and backup select the database by, and the restricted pod security", () => {
  const s = spec();
  assert.deepEqual(s.inheritedMetadata.labels["app.kubernetes.io/name"], "postgresql");
  assert.deepEqual(s.inheritedMetadata.labels["app.kubernetes.io/instance"], "postgres");
  assert.deepEqual(s.seccompProfile, { type: "RuntimeDefault" });
  assert.deepEqual(s.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.equal(s.enablePDB, true);
});

test("pg_hba: the superuser from loopback only, each role its own database, everything else rejected; hostssl with TLS", () => {
  const lines = cnpgHbaLines(args);
  assert.ok(lines.includes('host all "postgres" 127.0.0.1/32 scram-sha-256'), lines.join("\n"));
  assert.ok(lines.includes('host "piyasa_db" "piyasa_app" all scram-sha-256'), lines.join("\n"));
  assert.equal(lines.at(-4), "host all all all reject");
  assert.ok(lines.every((l) => !l.startsWith("#")));
  assert.deepEqual(spec().postgresql.pg_hba, lines);
  const tls = cnpgHbaLines({ ...args, tls: true });
  assert.ok(tls.includes("hostnossl all all all reject"));
  assert.ok(tls.includes('hostssl "piyasa_db" "piyasa_app" all scram-sha-256'));
});

test("TLS: the server certificate and its CA come from the stack's TLS Secret; without TLS the operator's own", () => {
  assert.equal(spec().certificates, undefined);
  assert.deepEqual(spec({ tls: true }).certificates, { serverTLSSecret: "ha-postgres-tls", serverCASecret: "ha-postgres-tls" });
  assert.deepEqual(spec({ tls: true, tlsSecret: "mine" }).certificates, { serverTLSSecret: "mine", serverCASecret: "mine" });
});

test("the component declares the Cluster (protected in prod), a generated certificate for the -rw Service, and no StatefulSet", async () => {
  const resources = captureResources();
  const db = new CnpgDatabase("postgres", { ...args, tls: true, protect: true }, { transformations: [captureOptions] });
  await settle();
  const cluster = one(resources, "kubernetes:postgresql.cnpg.io/v1:Cluster");
  assert.equal(cluster.inputs.spec.instances, 3);
  assert.equal(cluster.opts.protect, true);
  assert.equal(cluster.opts.retainOnDelete, true);
  assert.deepEqual(cluster.inputs.spec.certificates, { serverTLSSecret: "ha-postgres-tls", serverCASecret: "ha-postgres-tls" });
  const cert = one(resources, "pulumi-nodejs:dynamic:Resource", "postgres-tls");
  assert.ok(cert.inputs.dnsNames.includes("ha-postgres-rw.piyasa-ha.svc.cluster.local"), JSON.stringify(cert.inputs.dnsNames));
  assert.equal(resources.filter((r) => r.type.includes("StatefulSet")).length, 0);
  assert.equal(await output(db.serviceHost), "ha-postgres-rw.piyasa-ha.svc.cluster.local");
  assert.equal(db.primarySelector, "cnpg.io/cluster=ha-postgres,cnpg.io/instanceRole=primary");
});

test("Secrets point at the read-write Service, and the superuser Secret carries CloudNativePG's key names", async () => {
  const pw = { superuser: "su", owner: "o", app: "a", monitor: "m", backup: "b" };
  const base = {
    namespace: "piyasa-ha",
    namePrefix: "ha-",
    database: "piyasa_db",
    roles: { owner: "piyasa_user", app: "piyasa_app", monitor: "piyasa_monitor", backup: "piyasa_backup" },
    tls: false,
  };
  const m = databaseSecretManifests("secrets", { ...base, engine: "cloudnative-pg" }, pw);
  assert.equal(await output(pulumi.output(m.backup.stringData.PGHOST)), "ha-postgres-rw.piyasa-ha.svc.cluster.local");
  assert.match(String(await output(pulumi.output(m.exporter.stringData.DATA_SOURCE_NAME))), /@ha-postgres-rw\.piyasa-ha\.svc\.cluster\.local:5432\//);
  assert.deepEqual(plain({ u: m.superuser.stringData.username, p: m.superuser.stringData.password }), { u: "postgres", p: "su" });
  // The StatefulSet engine's Secrets are what they were.
  const st = databaseSecretManifests("secrets", base, pw);
  assert.equal(await output(pulumi.output(st.backup.stringData.PGHOST)), "ha-postgres.piyasa-ha.svc.cluster.local");
  assert.equal("username" in st.superuser.stringData, false);
  assert.equal(databaseServiceName("ha-", "cloudnative-pg"), "ha-postgres-rw");
});

test("the NetworkPolicy lets the instances replicate and the operator call them, and the instances reach the API server", () => {
  const np = networkPolicyManifest({
    namespace: "piyasa-ha",
    namePrefix: "ha-",
    databaseInstance: "postgres",
    allowFrom: [{ app: "piyasa-api" }],
    cloudnativePg: { clusterName: "ha-postgres", apiServerCidrs: ["10.0.0.1/32"] },
  }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(np.spec.ingress.length, 3);
  assert.deepEqual(np.spec.ingress[1], {
    from: [{ podSelector: { matchLabels: { "cnpg.io/cluster": "ha-postgres" } } }],
    ports: [
      { protocol: "TCP", port: 5432 },
      { protocol: "TCP", port: 8000 },
    ],
  });
  assert.deepEqual(np.spec.ingress[2], {
    from: [{ namespaceSelector: {}, podSelector: { matchLabels: { "app.kubernetes.io/name": "cloudnative-pg" } } }],
    ports: [{ protocol: "TCP", port: 8000 }],
  });
  assert.deepEqual(np.spec.egress[1], {
    to: [{ podSelector: { matchLabels: { "cnpg.io/cluster": "ha-postgres" } } }],
    ports: [
      { protocol: "TCP", port: 5432 },
      { protocol: "TCP", port: 8000 },
    ],
  });
  assert.deepEqual(np.spec.egress[2], { to: [{ ipBlock: { cidr: "10.0.0.1/32" } }] });
});

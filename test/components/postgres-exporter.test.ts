import { test } from "node:test";
import assert from "node:assert/strict";
import { captureResources, one, settle } from "../helpers/mocks";
import { PostgresExporter, exporterManifests } from "../../components/postgres-exporter";

const args = {
  namespace: "ns",
  namePrefix: "dev-",
  databaseInstance: "postgres",
  image: "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
  dsnSecretName: "dev-postgres-exporter",
};

test("the exporter reads its DSN from the monitoring role's Secret and is annotated for Prometheus", async () => {
  const resources = captureResources();
  new PostgresExporter("exporter", { ...args, serviceMonitor: false });
  await settle();
  const dep = one(resources, "kubernetes:apps/v1:Deployment").inputs.spec.template;
  const c = dep.spec.containers[0];
  assert.deepEqual(c.env, [{ name: "DATA_SOURCE_NAME", valueFrom: { secretKeyRef: { name: "dev-postgres-exporter", key: "DATA_SOURCE_NAME" } } }]);
  assert.equal(dep.metadata.annotations["prometheus.io/scrape"], "true");
  assert.equal(dep.metadata.annotations["prometheus.io/port"], "9187");
  assert.equal(dep.metadata.labels["app.kubernetes.io/component"], "metrics", "matches the NetworkPolicy's exporter selector");
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  const svc = one(resources, "kubernetes:core/v1:Service").inputs;
  assert.equal(svc.spec.ports[0].port, 9187);
  assert.equal(resources.filter((r) => r.type.includes("CustomResource") || r.inputs.kind === "ServiceMonitor").length, 0);
});

test("a ServiceMonitor only when asked for", async () => {
  const resources = captureResources();
  new PostgresExporter("exporter", { ...args, serviceMonitor: true });
  await settle();
  const sm = resources.find((r) => r.inputs.kind === "ServiceMonitor");
  assert.ok(sm);
  assert.equal(sm.inputs.apiVersion, "monitoring.coreos.com/v1");
});

test("the exporter's pods carry the labels the NetworkPolicy lets in, and its Service and Deployment select them", () => {
  const m = exporterManifests({ ...args, serviceMonitor: true }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const labels = m.deployment.spec.template.metadata.labels;
  assert.equal(labels["app.kubernetes.io/component"], "metrics");
  assert.equal(labels["app.kubernetes.io/instance"], "postgres");
  const own = {
    "app.kubernetes.io/name": "postgres-exporter",
    "app.kubernetes.io/instance": "postgres",
    "app.kubernetes.io/component": "metrics",
    "app.kubernetes.io/part-of": "pgshift",
    "app.kubernetes.io/managed-by": "pulumi",
  };
  assert.deepEqual(labels, own);
  assert.deepEqual(m.deployment.spec.selector.matchLabels, own);
  assert.deepEqual(m.service.spec.selector, own);
  assert.deepEqual(m.serviceMonitor.spec.selector.matchLabels, own);
  assert.equal(m.deployment.metadata.name, "dev-postgres-exporter");
  assert.equal(m.deployment.spec.template.spec.serviceAccountName, "dev-postgres-exporter");
  assert.equal(m.serviceAccount.automountServiceAccountToken, false);
});

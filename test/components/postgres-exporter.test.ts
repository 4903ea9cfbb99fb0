import { test } from "node:test";
import assert from "node:assert/strict";
import { captureResources, one, settle } from "../helpers/mocks";
import { PostgresExporter } from "../../components/postgres-exporter";

const args = { namespace: "ns", namePrefix: "dev-", databaseInstance: "postgres", image: "quay.io/prometheuscommunity/postgres-exporter:v0.15.0", dsnSecretName: "dev-postgres-exporter" };

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

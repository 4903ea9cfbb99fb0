import { test } from "node:test";
import assert from "node:assert/strict";
import { captureResources, one, settle } from "../helpers/mocks";
import { DatabaseNetworkPolicy } from "../../components/network-policy";

test("only the app's pods and pgshift's exporter and backup reach 5432; the database may only resolve DNS", async () => {
  const resources = captureResources();
  new DatabaseNetworkPolicy("netpol", { namespace: "piyasa-chatbot-dev", namePrefix: "dev-", databaseInstance: "postgres", allowFrom: [{ app: "piyasa-api" }, { app: "piyasa-worker" }] });
  await settle();
  const np = one(resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy").inputs;
  assert.deepEqual(np.spec.podSelector.matchLabels, { "app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": "postgres" });
  assert.deepEqual(np.spec.policyTypes, ["Ingress", "Egress"]);
  assert.equal(np.spec.ingress.length, 1);
  assert.deepEqual(np.spec.ingress[0].ports, [{ protocol: "TCP", port: 5432 }]);
  const from = np.spec.ingress[0].from.map((f: { podSelector: { matchLabels: Record<string, string> } }) => f.podSelector.matchLabels);
  assert.deepEqual(from, [
    { app: "piyasa-api" },
    { app: "piyasa-worker" },
    { "app.kubernetes.io/component": "metrics", "app.kubernetes.io/instance": "postgres" },
    { "app.kubernetes.io/component": "backup", "app.kubernetes.io/instance": "postgres" },
  ]);
  assert.ok(np.spec.ingress[0].from.every((f: Record<string, unknown>) => !("ipBlock" in f) && !("namespaceSelector" in f)), "no other sources");
  assert.equal(np.spec.egress.length, 1);
  assert.deepEqual(np.spec.egress[0].ports.map((p: { port: number }) => p.port), [53, 53]);
});

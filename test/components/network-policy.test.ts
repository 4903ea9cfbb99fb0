import { test } from "node:test";
import assert from "node:assert/strict";
import { captureResources, manifestOf, one, plain, settle } from "../helpers/mocks";
import { DatabaseNetworkPolicy, networkPolicyManifest } from "../../components/network-policy";

const args = {
  namespace: "piyasa-chatbot-dev",
  namePrefix: "dev-",
  databaseInstance: "postgres",
  allowFrom: [{ app: "piyasa-api" }, { app: "piyasa-worker" }],
};

// The labels are literals: that each selector matches its pods (the StatefulSet's, the
// exporter's, the backup job's) is asserted against the same literals in their own tests.
test("only the app's pods and pgshift's exporter and backup reach 5432; the database may only resolve DNS", () => {
  const np = networkPolicyManifest(args) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(np.metadata.name, "dev-postgres");
  assert.equal(np.metadata.namespace, "piyasa-chatbot-dev");
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
  assert.ok(
    np.spec.ingress[0].from.every((f: Record<string, unknown>) => !("ipBlock" in f) && !("namespaceSelector" in f)),
    "no other sources",
  );
  assert.equal(np.spec.egress.length, 1);
  assert.deepEqual(
    np.spec.egress[0].ports.map((p: { port: number }) => p.port),
    [53, 53],
  );
  assert.deepEqual(np.spec.egress[0].to, [{ namespaceSelector: {}, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }]);
});

test("the component creates that one NetworkPolicy", async () => {
  const resources = captureResources();
  new DatabaseNetworkPolicy("netpol", args);
  await settle();
  const np = one(resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy");
  assert.equal(np.name, "netpol-policy");
  assert.deepEqual(manifestOf(np), plain(networkPolicyManifest(args)));
  assert.equal(resources.filter((r) => r.type.startsWith("kubernetes:")).length, 1);
});

test("a DNS server that is not a pod (node-local cache, the node's resolver) is allowed by address, port 53 only", () => {
  const np = networkPolicyManifest({ ...args, dnsCidrs: ["169.254.20.10/32", "10.243.255.1/32"] }) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(np.spec.egress[0].to, [
    { namespaceSelector: {}, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } },
    { ipBlock: { cidr: "169.254.20.10/32" } },
    { ipBlock: { cidr: "10.243.255.1/32" } },
  ]);
  assert.equal(np.spec.egress.length, 1, "still one rule: the addresses share its DNS ports");
});

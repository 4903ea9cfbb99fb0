import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { startTestCluster } from "./kube";

test("the test cluster validates objects, runs controllers, and leaves nothing behind", async () => {
  const cluster = await startTestCluster();
  try {
    const version = JSON.parse((await cluster.kubectl(["version", "-o", "json"])).stdout) as { serverVersion: { gitVersion: string } };
    assert.equal(version.serverVersion.gitVersion, "v1.34.2");
    // The API server rejects what a real cluster rejects…
    const bad = await cluster.kubectl(["create", "configmap", "Not_A_Name"], { allowFailure: true });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Invalid value: "Not_A_Name"/);
    // …and the controller manager does what a real one does: a StatefulSet gets its volume claim.
    await cluster.kubectl(["apply", "-f", "-"], {
      input: `apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: default }
spec:
  serviceName: db
  selector: { matchLabels: { app: db } }
  template: { metadata: { labels: { app: db } }, spec: { containers: [{ name: db, image: postgres:16 }] } }
  volumeClaimTemplates: [{ metadata: { name: data }, spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } } }]
`,
    });
    const pvc = await cluster.waitFor("the claim data-db-0", () =>
      cluster.get<{ spec: { resources: { requests: { storage: string } } } }>("pvc", "data-db-0", "default"),
    );
    assert.equal(pvc.spec.resources.requests.storage, "1Gi");
    assert.equal(await cluster.get("configmap", "no-such-thing", "default"), undefined);
  } finally {
    await cluster.stop();
  }
  assert.equal(existsSync(dirname(cluster.kubeconfig)), false, "its files are removed");
});

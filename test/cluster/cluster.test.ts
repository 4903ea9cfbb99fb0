// The node on this machine: a pod with a volume runs, and stopping the cluster
// puts the machine back exactly as it was (processes, mounts, network
// namespaces, interfaces, iptables rules, pod cgroups, kernel settings, the
// directories containerd and the kubelet write outside the cluster's own).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { diffHostState, hostState, loadHostState } from "../../src/cluster/host";
import { NODE } from "../../src/cluster/node-config";
import { startTestCluster } from "../helpers/kube";

/** Processes whose command line mentions dir (the cluster's daemons, shims and their children). */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cmd.includes(dir) && !/\) Z /.test(readFileSync(`/proc/${e}/stat`, "utf8"))) found.push(`${e} ${cmd}`);
    } catch {
      /* exited */
    }
  }
  return found;
}

test("a node runs a pod with a volume, and stopping the cluster leaves the machine as it was", async () => {
  const cluster = await startTestCluster({ node: true });
  // The machine as the cluster found it once it held the node lock (another node may have run until then).
  const before = loadHostState(join(cluster.dir, "host-before.json"))!;
  assert.ok(before, "the cluster recorded the machine before changing it");
  let stopped = false;
  try {
    console.log(
      `node up in ${Object.values(cluster.timings)
        .reduce((a, b) => a + b, 0)
        .toFixed(1)}s: ${JSON.stringify(cluster.timings)}`,
    );
    await cluster.kubectl(["apply", "-f", "-"], {
      input: `apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data, namespace: default }
spec: { accessModes: [ReadWriteOnce], resources: { requests: { storage: 1Gi } } }
---
apiVersion: v1
kind: Pod
metadata: { name: sleeper, namespace: default }
spec:
  securityContext: { runAsUser: 999, runAsGroup: 999, fsGroup: 999, runAsNonRoot: true }
  containers: [{ name: c, image: ${NODE.sandboxImage}, imagePullPolicy: Never, volumeMounts: [{ name: d, mountPath: /data }] }]
  volumes: [{ name: d, persistentVolumeClaim: { claimName: data } }]
`,
    });
    const pod = await cluster.waitFor(
      "the pod to run",
      async () => {
        const p = await cluster.get<{ status: { phase: string; podIP?: string } }>("pod", "sleeper", "default");
        return p?.status.phase === "Running" ? p : undefined;
      },
      120_000,
    );
    assert.match(pod.status.podIP ?? "", /^10\.244\.0\.\d+$/, "the pod has an address on the node's bridge");
    const pvc = (await cluster.get<{ spec: { volumeName: string; storageClassName: string } }>("pvc", "data", "default"))!;
    assert.equal(pvc.spec.storageClassName, NODE.storageClass, "the default StorageClass was applied");
    const pv = (await cluster.get<{ spec: { local: { path: string } } }>("pv", pvc.spec.volumeName))!;
    assert.ok(pv.spec.local.path.startsWith(cluster.dir), "the volume is a directory of the cluster's");
    assert.equal(statSync(pv.spec.local.path).gid, 999, "the pod's fsGroup owns the volume");

    const during = diffHostState(before, hostState(), cluster.dir);
    for (const expected of [`+ link ${NODE.bridge}`, `+ link ${NODE.link}`, "+ netns cni-", "+ iptables(ipv4 nat) -N KUBE-SERVICES", "+ cgroup "]) {
      assert.ok(
        during.some((l) => l.startsWith(expected)),
        `while it runs the node has made: ${expected} (the check below can see it)`,
      );
    }
  } finally {
    // Compared with the record while the cluster still holds the node lock (the next node may start right after).
    const left = await cluster.stop();
    stopped = true;
    assert.deepEqual(left, [], "no interface, netns, mount, iptables rule, cgroup, path or kernel setting is left");
  }
  assert.ok(stopped);
  assert.deepEqual(processesUsing(cluster.dir), [], "no process of the cluster is left");
  assert.equal(existsSync(cluster.dir), false, "its directory is removed");
});

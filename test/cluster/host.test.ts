// The pieces of the node's teardown that need no node: reading iptables rules
// back as arguments, and telling this cluster's leftovers from other programs'.
import { test } from "node:test";
import assert from "node:assert/strict";
import { diffHostState, splitRule, type HostState } from "../../src/cluster/host";

test("an iptables -S rule splits into the arguments that delete it, quoted comments whole", () => {
  assert.deepEqual(splitRule('FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'), [
    "FORWARD",
    "-m",
    "comment",
    "--comment",
    "kubernetes forwarding rules",
    "-j",
    "KUBE-FORWARD",
  ]);
  assert.deepEqual(splitRule('KUBE-SVC-X -m comment --comment "ns/svc:\\"p\\"" -j KUBE-SEP-Y'), [
    "KUBE-SVC-X",
    "-m",
    "comment",
    "--comment",
    'ns/svc:"p"',
    "-j",
    "KUBE-SEP-Y",
  ]);
});

test("the host diff names what is new or gone, and ignores other programs' mounts under /tmp", () => {
  const base: HostState = {
    links: ["eth0", "lo"],
    netns: [],
    mounts: ["/", "/proc"],
    iptables: { "ipv4 filter": ["-P FORWARD ACCEPT"] },
    sysctls: { "kernel/panic": "1" },
    cgroups: [],
    paths: [],
  };
  const after: HostState = {
    links: ["eth0", "lo", "pgshift0"],
    netns: ["cni-1"],
    mounts: ["/", "/proc", "/tmp/other-ctrd/rootfs", "/tmp/ours/kubelet/root"],
    iptables: { "ipv4 filter": ["-P FORWARD ACCEPT", "-N KUBE-FIREWALL"] },
    sysctls: { "kernel/panic": "10" },
    cgroups: ["/sys/fs/cgroup/cpu/kubepods"],
    paths: ["/var/lib/kubelet"],
  };
  assert.deepEqual(diffHostState(base, after, "/tmp/ours"), [
    "+ link pgshift0",
    "+ netns cni-1",
    "+ mount /tmp/ours/kubelet/root",
    "+ cgroup /sys/fs/cgroup/cpu/kubepods",
    "+ path /var/lib/kubelet",
    "+ iptables(ipv4 filter) -N KUBE-FIREWALL",
    "~ sysctl kernel/panic 1 -> 10",
  ]);
  assert.deepEqual(diffHostState(base, base), []);
});

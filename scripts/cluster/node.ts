// The node: containerd + runc + CNI from Debian, kubelet and kube-proxy built
// from k8s.io/kubernetes, CoreDNS on the node's address, and a hostPath volume
// provisioner. What each setting is for is in shared/notes/node-facts.md; the
// short version is in the comments below.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startDaemon, type Daemon } from "./daemons";

/** One node per machine: kube-proxy's and the kubelet's iptables chains are global. */
export const NODE = {
  name: "pgshift-node",
  /** not loopback: the kubelet refuses 127.0.0.1 and then publishes no address (exec/logs/port-forward fail) */
  ip: "10.245.0.1",
  veth: "pgshift-node",
  vethPeer: "pgshift-nodep",
  bridge: "pgshift0",
  podCidr: "10.244.0.0/24",
  serviceCidr: "10.96.0.0/16",
  storageClass: "pgshift-local",
} as const;

export function sh(cmd: string, args: string[], opts: { allowFailure?: boolean; input?: string } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", input: opts.input, stdio: ["pipe", "pipe", "pipe"] });
  } catch (e) {
    if (opts.allowFailure) return "";
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${(err.stderr || err.message).trim()}`);
  }
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "Running pods needs root (network namespaces, mounts, iptables for containerd, the kubelet and kube-proxy). " +
        "Run as root, or use the control plane alone (no pods run).",
    );
  }
  for (const [bin, pkg] of [
    ["containerd", "containerd"],
    ["runc", "runc"],
    ["/usr/lib/cni/bridge", "containernetworking-plugins"],
    ["iptables", "iptables"],
  ]) {
    if (!sh("sh", ["-c", `command -v ${bin}`], { allowFailure: true }).trim()) {
      throw new Error(`${bin} is missing: apt-get install ${pkg} (toolchain/setup-kube.sh installs it when run as root).`);
    }
  }
}

/** The node's address on a veth pair (this kernel has no dummy links), and forwarding between pods and Services. */
export function setUpHostNetwork(): void {
  if (!sh("ip", ["link", "show", NODE.veth], { allowFailure: true })) {
    sh("ip", ["link", "add", NODE.veth, "type", "veth", "peer", "name", NODE.vethPeer]);
  }
  sh("ip", ["addr", "replace", `${NODE.ip}/32`, "dev", NODE.veth]);
  sh("ip", ["link", "set", NODE.veth, "up"]);
  sh("ip", ["link", "set", NODE.vethPeer, "up"]);
  // Pod → Service → pod on the same bridge needs bridged traffic to pass kube-proxy's iptables rules.
  for (const [k, v] of [
    ["net.ipv4.ip_forward", "1"],
    ["net.bridge.bridge-nf-call-iptables", "1"],
  ]) {
    sh("sysctl", ["-qw", `${k}=${v}`]);
  }
}

export function writeContainerdConfig(dir: string, sandboxImage: string): string {
  const c = join(dir, "containerd");
  mkdirSync(join(dir, "cni", "net.d"), { recursive: true });
  mkdirSync(c, { recursive: true });
  // ipMasq off: pod traffic stays on the machine (the workplace's network rule).
  writeFileSync(
    join(dir, "cni", "net.d", "10-pgshift.conflist"),
    JSON.stringify(
      {
        cniVersion: "1.0.0",
        name: "pgshift",
        plugins: [
          {
            type: "bridge",
            bridge: NODE.bridge,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: { type: "host-local", ranges: [[{ subnet: NODE.podCidr }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: join(dir, "cni", "ipam") },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ),
  );
  const config = join(c, "config.toml");
  writeFileSync(
    config,
    `version = 2
root = "${join(c, "root")}"
state = "${join(c, "state")}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${join(c, "containerd.sock")}"

[ttrpc]
  address = "${join(c, "containerd.sock.ttrpc")}"

[debug]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(c, "opt")}"

[plugins."io.containerd.grpc.v1.cri"]
  # Nothing can be pulled here: the sandbox image is one the setup built and imported.
  sandbox_image = "${sandboxImage}"
  # No CAP_SYS_RESOURCE on these machines: a negative oom_score_adj is refused and runc dies.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(dir, "cni", "net.d")}"
`,
  );
  return config;
}

export function containerdSocket(dir: string): string {
  return join(dir, "containerd", "containerd.sock");
}

export function startKubelet(dir: string, bin: string, kubeconfig: string, dnsIp: string): Daemon {
  const root = join(dir, "kubelet");
  mkdirSync(root, { recursive: true });
  const config = join(dir, "kubelet-config.yaml");
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      // These machines mount cgroup v1 hierarchies and have no systemd.
      cgroupDriver: "cgroupfs",
      failCgroupV1: false,
      failSwapOn: false,
      containerRuntimeEndpoint: `unix://${containerdSocket(dir)}`,
      address: NODE.ip,
      port: 10250,
      readOnlyPort: 0,
      healthzPort: 0,
      tlsCertFile: join(dir, "kubelet.crt"),
      tlsPrivateKeyFile: join(dir, "kubelet.key"),
      // The API server talks to the kubelet with the admin client certificate.
      authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: join(dir, "ca.crt") } },
      authorization: { mode: "AlwaysAllow" },
      clusterDomain: "cluster.local",
      clusterDNS: [dnsIp],
      // Pods resolve through the cluster's DNS only, never the host's resolver.
      resolvConf: "",
      evictionHard: {},
      enforceNodeAllocatable: [],
      localStorageCapacityIsolation: false,
      // The images were imported by hand and cannot be pulled again: never collect them.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      maxPods: 60,
      registerWithTaints: [],
      nodeStatusUpdateFrequency: "4s",
      syncFrequency: "10s",
    }),
  );
  return startDaemon(dir, "kubelet", join(bin, "kubelet"), [
    `--config=${config}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${root}`,
    `--cert-dir=${join(dir, "kubelet-pki")}`,
    `--node-ip=${NODE.ip}`,
    `--hostname-override=${NODE.name}`,
    "--v=1",
  ]);
}

export function startKubeProxy(dir: string, bin: string, kubeconfig: string): Daemon {
  const config = join(dir, "kube-proxy-config.yaml");
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      clientConnection: { kubeconfig },
      mode: "iptables",
      clusterCIDR: NODE.podCidr,
      hostnameOverride: NODE.name,
      bindAddress: NODE.ip,
      healthzBindAddress: "",
      metricsBindAddress: "",
      // Leave the host's conntrack table size alone.
      conntrack: { maxPerCore: 0, min: 0 },
    }),
  );
  return startDaemon(dir, "kube-proxy", join(bin, "kube-proxy"), [`--config=${config}`, "--v=1"]);
}

/** CoreDNS on the node's address: cluster.local from the API server, nothing else (no forwarding off the machine). */
export function startCoreDns(dir: string, bin: string, kubeconfig: string): Daemon {
  const corefile = join(dir, "Corefile");
  writeFileSync(
    corefile,
    `cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
  bind ${NODE.ip}
  errors
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig ${kubeconfig}
    pods insecure
  }
  cache 10
}
`,
  );
  return startDaemon(dir, "coredns", join(bin, "coredns"), ["-conf", corefile]);
}

/** The StorageClass the provisioner serves, made the default so claims without a class bind. */
export function storageClassYaml(): string {
  return [
    "apiVersion: storage.k8s.io/v1",
    "kind: StorageClass",
    "metadata:",
    `  name: ${NODE.storageClass}`,
    "  annotations: { storageclass.kubernetes.io/is-default-class: \"true\" }",
    "provisioner: pgshift.local/hostpath",
    "reclaimPolicy: Delete",
    "volumeBindingMode: Immediate",
    "",
  ].join("\n");
}

export function volumesDir(dir: string): string {
  const v = join(dir, "volumes");
  if (!existsSync(v)) mkdirSync(v, { recursive: true });
  return v;
}

// The node's configuration files, as text: containerd (its own root, state and
// socket, so it never meets a containerd the machine may already run), the
// CNI network, the kubelet, kube-proxy and CoreDNS. Every address is on this
// machine: pods get 10.244.0.0/24 on a bridge, the node's IP sits on a veth,
// Services are 10.96.0.0/16, and DNS answers cluster.local only.
import { join } from "node:path";

export const NODE = {
  name: "pgshift-node",
  /** the node's InternalIP; the kubelet refuses loopback */
  ip: "10.243.255.1",
  /** the veth pair carrying the node IP (no dummy link type in every kernel) */
  link: "pgshift-node",
  peer: "pgshift-peer",
  bridge: "pgshift0",
  podCidr: "10.244.0.0/24",
  serviceCidr: "10.96.0.0/16",
  /** the `kubernetes` Service's address, the first of serviceCidr */
  apiServiceIp: "10.96.0.1",
  domain: "cluster.local",
  sandboxImage: "pgshift.local/pause:3.10",
  storageClass: "pgshift-local",
  provisioner: "pgshift.local/hostpath",
} as const;

export interface NodePaths {
  containerdConfig: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletConfig: string;
  kubeletRoot: string;
  kubeProxyConfig: string;
  corefile: string;
  resolvConf: string;
  volumes: string;
  podLogs: string;
  runcRoot: string;
}

export function nodePaths(dir: string): NodePaths {
  return {
    containerdConfig: join(dir, "containerd", "config.toml"),
    containerdRoot: join(dir, "containerd", "root"),
    containerdState: join(dir, "containerd", "state"),
    containerdSocket: join(dir, "containerd", "containerd.sock"),
    cniConfDir: join(dir, "cni", "net.d"),
    cniIpamDir: join(dir, "cni", "ipam"),
    kubeletConfig: join(dir, "kubelet", "config.yaml"),
    kubeletRoot: join(dir, "kubelet", "root"),
    kubeProxyConfig: join(dir, "kube-proxy.yaml"),
    corefile: join(dir, "Corefile"),
    resolvConf: join(dir, "resolv.conf"),
    volumes: join(dir, "volumes"),
    podLogs: join(dir, "kubelet", "pod-logs"),
    runcRoot: join(dir, "containerd", "runc"),
  };
}

export function containerdConfig(p: NodePaths): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${p.containerdRoot}"
state = "${p.containerdState}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "${p.containerdSocket}"

[ttrpc]
  address = "${p.containerdSocket}.ttrpc"

[metrics]
  address = ""

[${cri}]
  # Nothing can be pulled here: the sandbox image is imported like every other.
  sandbox_image = "${NODE.sandboxImage}"
  # These machines lack CAP_SYS_RESOURCE: a negative oom_score_adj (the pause
  # container asks for -998) is refused and runc dies.
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${p.runcRoot}"
  [${cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${p.cniConfDir}"
    max_conf_num = 1
`;
}

/** bridge + host-local; no ipMasq: pod traffic never leaves the machine with the host's address. */
export function cniConflist(p: NodePaths): string {
  return `${JSON.stringify(
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
          ipam: { type: "host-local", ranges: [[{ subnet: NODE.podCidr }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: p.cniIpamDir },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

export function kubeletConfig(p: NodePaths, o: { caFile: string; port: number; healthzPort: number }): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
# These machines mount cgroup v1 hierarchies; kubelet 1.34 still runs on them when told to.
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://${p.containerdSocket}
address: ${NODE.ip}
port: ${o.port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${o.healthzPort}
# Only holders of a certificate from the cluster's CA (the API server, for logs,
# exec and port-forward) may call the kubelet.
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: ${o.caFile} }
authorization: { mode: AlwaysAllow }
clusterDomain: ${NODE.domain}
clusterDNS: [${NODE.ip}]
# Pods with dnsPolicy Default get this file, never the host's resolver.
resolvConf: ${p.resolvConf}
evictionHard: {}
enforceNodeAllocatable: []
localStorageCapacityIsolation: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
podLogsDir: ${p.podLogs}
maxPods: 50
`;
}

export function kubeProxyConfig(o: { kubeconfig: string; healthzPort: number; metricsPort: number }): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: ${o.kubeconfig} }
mode: iptables
hostnameOverride: ${NODE.name}
clusterCIDR: ${NODE.podCidr}
healthzBindAddress: 127.0.0.1:${o.healthzPort}
metricsBindAddress: 127.0.0.1:${o.metricsPort}
nodePortAddresses: ["${NODE.ip}/32"]
# Zero leaves the machine's conntrack settings alone.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
# Not true: that would set route_localnet, opening NodePorts on 127.0.0.1.
iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: 30s, minSyncPeriod: 1s }
`;
}

/**
 * cluster.local from the API server. There is no server block for other names,
 * so they are refused, never forwarded: pods cannot resolve (or reach) the
 * outside world through the cluster's DNS.
 */
export function corefile(o: { kubeconfig: string; healthPort: number; readyPort: number }): string {
  return `${NODE.domain}:53 in-addr.arpa:53 ip6.arpa:53 {
    bind ${NODE.ip}
    errors
    health 127.0.0.1:${o.healthPort}
    ready 127.0.0.1:${o.readyPort}
    kubernetes ${NODE.domain} in-addr.arpa ip6.arpa {
        kubeconfig ${o.kubeconfig} pgshift
        pods insecure
    }
    cache 5
}
`;
}

export function resolvConf(): string {
  return `nameserver ${NODE.ip}\n`;
}

/** The default StorageClass; its volumes are directories the harness's provisioner makes. */
export function storageClassManifest() {
  return {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name: NODE.storageClass, annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
    provisioner: NODE.provisioner,
    reclaimPolicy: "Delete",
    volumeBindingMode: "Immediate",
  };
}

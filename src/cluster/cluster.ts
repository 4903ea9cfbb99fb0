// The local Kubernetes cluster: a control plane (etcd, kube-apiserver,
// kube-controller-manager) on loopback, and optionally a node that runs pods
// (kube-scheduler, containerd + runc + CNI bridge, kubelet, kube-proxy,
// CoreDNS, a volume provisioner). Everything lives in one directory; `stop`
// (or `npm run cluster -- down`, a later process) removes every process,
// mount, network namespace, interface, iptables rule and cgroup it made, and
// puts back the kernel settings the node changed. See docs/test-cluster.md.
// This file starts the control plane and stops everything; the node is in
// node.ts, the one-node-per-machine lock in node-lock.ts, the recorded state in state.ts.
import { mkdirSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiClient, type ApiClient } from "./api";
import { kubeconfigYaml, makeCertificates } from "./certs";
import { isAlive, startDaemon, stopDaemon } from "./daemons";
import { ClusterError } from "./errors";
import * as host from "./host";
import { NODE, nodePaths } from "./node-config";
import { CONTROL_PLANE_BINARIES, missingBinaries, toolchainBin } from "./paths";
import { freePort } from "./ports";
import { cnpgPrerequisites, installCloudNativePg } from "./cnpg";
import { NODE_LOCK, takeNodeLock } from "./node-lock";
import { nodePrerequisites, shimPids, startNode } from "./node";
import { ORDER, daemonsOf, hostFile, kubeconfigPath, readState, sleep, stateFile, waitFor, type ClusterState } from "./state";

export { NODE_LOCK } from "./node-lock";
export { nodePrerequisites } from "./node";
export { kubeconfigPath, readState, waitFor, type ClusterState } from "./state";

export interface Cluster {
  dir: string;
  kubeconfig: string;
  server: string;
  state: ClusterState;
  api: ApiClient;
  /** seconds each start step took */
  timings: Record<string, number>;
}

export interface StartOptions {
  /** where the cluster keeps everything (created; removed by stopCluster) */
  dir: string;
  /** run pods: needs root, the node binaries, Debian's containerd/runc/CNI and the images */
  node: boolean;
  /** certificate lifetime */
  days?: number;
  /** how long to wait for another node on this machine to stop (default: do not wait) */
  waitForNodeMs?: number;
  /** install CloudNativePG's CRDs and, with a node, its operator (toolchain/cnpg/) */
  cloudnativePg?: boolean;
  log?: (m: string) => void;
}

export async function startCluster(opts: StartOptions): Promise<Cluster> {
  const { dir, node } = opts;
  const log = opts.log ?? (() => {});
  const timings: Record<string, number> = {};
  let t = Date.now();
  const step = (name: string) => {
    timings[name] = (Date.now() - t) / 1000;
    t = Date.now();
  };
  const missing = missingBinaries(CONTROL_PLANE_BINARIES);
  if (missing.length)
    throw new ClusterError(
      `The cluster's binaries (${missing.join(", ")}) are not in ${toolchainBin}: run \`bash toolchain/setup.sh\` (npm test does this first).`,
    );
  if (node) {
    const problems = nodePrerequisites();
    if (problems.length) throw new ClusterError(`A node cannot run here:\n- ${problems.join("\n- ")}`);
  }
  if (opts.cloudnativePg) {
    const problems = cnpgPrerequisites(node);
    if (problems.length) throw new ClusterError(`CloudNativePG cannot be installed:\n- ${problems.join("\n- ")}`);
  }
  mkdirSync(dir, { recursive: true });
  if (node) {
    await takeNodeLock(dir, log, opts.waitForNodeMs ?? 0, (other) => stopCluster(other));
    host.saveHostState(hostFile(dir));
    step("node-lock");
  }
  const state: ClusterState = {
    dir,
    node,
    apiPort: await freePort(),
    etcdPort: await freePort(),
    peerPort: await freePort(),
    ...(opts.cloudnativePg ? { cloudnativePg: true } : {}),
    startedAt: new Date().toISOString(),
  };
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 1));
  try {
    return await startIn(dir, state, opts, log, timings, step);
  } catch (e) {
    await stopCluster(dir, { keepDir: !!process.env.PGSHIFT_KEEP_FAILED_CLUSTER });
    throw e;
  }
}

async function startIn(
  dir: string,
  state: ClusterState,
  opts: StartOptions,
  log: (m: string) => void,
  timings: Record<string, number>,
  step: (n: string) => void,
): Promise<Cluster> {
  const bin = (n: string) => join(toolchainBin, n);
  await makeCertificates(dir, opts.days ?? 2);
  step("certificates");
  const etcdUrl = `http://127.0.0.1:${state.etcdPort}`;
  const peerUrl = `http://127.0.0.1:${state.peerPort}`;
  log("starting etcd");
  startDaemon(dir, "etcd", bin("etcd"), [
    "--name=pgshift",
    `--data-dir=${join(dir, "etcd")}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=pgshift=${peerUrl}`,
    // A throwaway store: durability only costs time here.
    "--unsafe-no-fsync",
    "--log-level=warn",
  ]);
  await waitFor(dir, "etcd to report healthy", async () => {
    const r = await fetch(`${etcdUrl}/health`).catch(() => undefined);
    return r?.ok && ((await r.json()) as { health?: string }).health === "true";
  });
  step("etcd");

  log("starting kube-apiserver");
  startDaemon(dir, "kube-apiserver", bin("kube-apiserver"), [
    `--etcd-servers=${etcdUrl}`,
    "--bind-address=127.0.0.1",
    // Pods that watch the API (CloudNativePG's operator and instance managers) reach it through the relay on
    // the node's address: the `kubernetes` Service's endpoint is the advertised address.
    `--advertise-address=${state.node && state.cloudnativePg ? NODE.ip : "127.0.0.1"}`,
    `--secure-port=${state.apiPort}`,
    `--cert-dir=${join(dir, "apiserver-certs")}`,
    "--tls-cert-file=apiserver.crt",
    "--tls-private-key-file=apiserver.key",
    "--client-ca-file=ca.crt",
    "--authorization-mode=Node,RBAC",
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    "--service-account-key-file=sa.pub",
    "--service-account-signing-key-file=sa.key",
    `--service-cluster-ip-range=${NODE.serviceCidr}`,
    "--allow-privileged=false",
    "--profiling=false",
    // logs, exec and port-forward: the kubelet is reached at the node's IP (nothing resolves its hostname)
    // and accepts only certificates from the cluster's CA.
    "--kubelet-preferred-address-types=InternalIP",
    "--kubelet-client-certificate=admin.crt",
    "--kubelet-client-key=admin.key",
    "--v=1",
  ]);
  const api = apiClient(state.apiPort, dir);
  await waitFor(dir, "kube-apiserver /readyz", async () => (await api.call("GET", "/readyz")).status === 200);
  step("kube-apiserver");
  const server = `https://127.0.0.1:${state.apiPort}`;
  const kubeconfig = kubeconfigPath(dir);
  writeFileSync(kubeconfig, kubeconfigYaml(server, dir), { mode: 0o600 });

  log("starting kube-controller-manager");
  startDaemon(dir, "kube-controller-manager", bin("kube-controller-manager"), [
    `--kubeconfig=${kubeconfig}`,
    "--leader-elect=false",
    // No HTTPS endpoint: nothing scrapes it, and it would need its own certificates.
    "--secure-port=0",
    "--use-service-account-credentials=false",
    `--service-account-private-key-file=${join(dir, "sa.key")}`,
    `--root-ca-file=${join(dir, "ca.crt")}`,
    "--cluster-name=pgshift",
    "--v=1",
  ]);
  if (state.node) await startNode(dir, state, kubeconfig, api, log, step);
  // The service-account controller creating "default" shows the controller manager is running.
  await waitFor(
    dir,
    "kube-controller-manager to create the default ServiceAccount",
    async () => (await api.call("GET", "/api/v1/namespaces/default/serviceaccounts/default")).status === 200,
  );
  step("controller-manager");
  if (state.cloudnativePg) {
    await installCloudNativePg({ kubeconfig, api, node: state.node, log, waitFor: (what, check, ms) => waitFor(dir, what, check, ms) });
    step("cloudnative-pg");
  }
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 1));
  return { dir, kubeconfig, server, state, api, timings };
}

/**
 * Stops everything the cluster in dir started and removes its files. For a
 * node: pods' processes (by their cgroups), containerd's shims, mounts,
 * network namespaces, interfaces, iptables rules and chains, pod cgroups, and
 * the kernel settings go back to what host-before.json recorded.
 * Returns what could not be removed (empty when the machine is as before).
 */
export async function stopCluster(dir: string, opts: { keepDir?: boolean } = {}): Promise<string[]> {
  const state = readState(dir);
  const daemons = daemonsOf(dir).reverse();
  const p = nodePaths(dir);
  const stopNamed = async (names: string[]) => {
    for (const d of daemons.filter((x) => names.includes(x.name))) await stopDaemon(dir, d);
  };
  // Nothing may restart a pod while they are removed.
  await stopNamed(["provisioner", "coredns", "kube-router", "kube-proxy", "kubelet", "api-relay", "kube-scheduler", "kube-controller-manager"]);
  const before = host.loadHostState(hostFile(dir));
  const isNode = state?.node ?? existsSync(hostFile(dir));
  if (isNode) {
    for (let i = 0; i < 20 && host.killPodProcesses() > 0; i++) await sleep(100);
    await stopNamed(["containerd"]);
    for (const pid of shimPids(p.containerdSocket)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    const newNetns = host.netns().filter((n) => !(before?.netns ?? []).includes(n) && n.startsWith("cni-"));
    host.deleteNetns(newNetns);
    host.unmountUnder([dir, ...newNetns.map((n) => `/run/netns/${n}`)]);
    host.removePodCgroups(before?.cgroups ?? []);
    const ours = (l: string) => l === NODE.link || l === NODE.peer || l === NODE.bridge || l.startsWith("veth");
    host.deleteLinks(host.links().filter((l) => ours(l) && !(before?.links ?? []).includes(l)));
    host.removeFootprint(before?.paths, dir, "pgshift");
    if (before) {
      host.restoreIptables(before.iptables);
      host.destroyIpsets(before.ipsets ?? []);
      host.restoreSysctls(before.sysctls);
    }
  }
  await stopNamed(ORDER);
  // Compared while still holding the lock: a node that starts next must not count as a leftover.
  const left = before ? host.diffHostState(before, host.hostState(), dir) : [];
  if (isNode && existsSync(NODE_LOCK) && readFileSync(NODE_LOCK, "utf8").split("\n")[0] === dir) rmSync(NODE_LOCK, { force: true });
  if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  return left;
}

export interface DaemonStatus {
  name: string;
  pid: number;
  running: boolean;
  log: string;
}

export function clusterStatus(dir: string): { state?: ClusterState; daemons: DaemonStatus[] } {
  return { state: readState(dir), daemons: daemonsOf(dir).map((d) => ({ name: d.name, pid: d.pid, running: isAlive(d.pid), log: d.log })) };
}

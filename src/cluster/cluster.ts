// The local Kubernetes cluster: a control plane (etcd, kube-apiserver,
// kube-controller-manager) on loopback, and optionally a node that runs pods
// (kube-scheduler, containerd + runc + CNI bridge, kubelet, kube-proxy,
// CoreDNS, a volume provisioner). Everything lives in one directory; `stop`
// (or `npm run cluster -- down`, a later process) removes every process,
// mount, network namespace, interface, iptables rule and cgroup it made, and
// puts back the kernel settings the node changed. See docs/test-cluster.md.
import { execFileSync } from "node:child_process";
import { existsSync, linkSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiClient, type ApiClient } from "./api";
import { kubeconfigYaml, makeCertificates } from "./certs";
import { isAlive, logTail, recordedDaemons, startDaemon, stopDaemon, type Daemon } from "./daemons";
import { ClusterError, NotRootError } from "./errors";
import * as host from "./host";
import { NODE, containerdConfig, cniConflist, corefile, kubeProxyConfig, kubeletConfig, nodePaths, resolvConf, storageClassManifest } from "./node-config";
import { CONTROL_PLANE_BINARIES, NODE_BINARIES, NODE_HOST_TOOLS, imageManifest, missingBinaries, repoRoot, toolchainBin } from "./paths";
import { freePort } from "./ports";
import { CNPG_IMAGES, cnpgPrerequisites, installCloudNativePg } from "./cnpg";

/** One node per machine: kube-proxy and the kubelet own machine-wide iptables chains. */
export const NODE_LOCK = "/run/pgshift-node.lock";

export interface ClusterState {
  dir: string;
  node: boolean;
  apiPort: number;
  etcdPort: number;
  peerPort: number;
  kubeletPort?: number;
  kubeletHealthzPort?: number;
  coreDnsReadyPort?: number;
  kubeProxyHealthzPort?: number;
  kubeRouterHealthPort?: number;
  /** CloudNativePG's operator is installed (src/cluster/cnpg.ts) */
  cloudnativePg?: boolean;
  startedAt: string;
}

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stateFile = (dir: string) => join(dir, "state.json");
const hostFile = (dir: string) => join(dir, "host-before.json");
export const kubeconfigPath = (dir: string) => join(dir, "kubeconfig");

/** The order daemons start in; stopCluster stops them in reverse. */
const ORDER = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "api-relay",
  "containerd",
  "kubelet",
  "kube-proxy",
  "kube-router",
  "coredns",
  "provisioner",
];

export function readState(dir: string): ClusterState | undefined {
  return existsSync(stateFile(dir)) ? (JSON.parse(readFileSync(stateFile(dir), "utf8")) as ClusterState) : undefined;
}

function daemonsOf(dir: string): Daemon[] {
  return recordedDaemons(dir).sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
}

/** Polls until check returns a value; fails naming what it waited for, with the logs, when a daemon dies or time runs out. */
export async function waitFor<T>(dir: string, what: string, check: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = daemonsOf(dir).find((d) => !isAlive(d.pid));
    if (dead) throw new ClusterError(`${dead.name} exited while waiting for ${what}; its log (${dead.log}) ends:\n${logTail(dead.log)}`, dead.name, dead.log);
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      const logs = daemonsOf(dir)
        .map((d) => `--- ${d.name} (${d.log})\n${logTail(d.log, 12)}`)
        .join("\n");
      throw new ClusterError(`timed out after ${timeoutMs / 1000}s waiting for ${what}; the logs end:\n${logs}`);
    }
    await sleep(250);
  }
}

/** What is missing for a node on this machine, each with what to do; empty when a node can run. */
export function nodePrerequisites(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push(new NotRootError("A node").message);
  const bins = missingBinaries([...CONTROL_PLANE_BINARIES, ...NODE_BINARIES]);
  if (bins.length) problems.push(`${bins.join(", ")} not built in ${toolchainBin}: run \`bash toolchain/setup.sh\`.`);
  const tools = NODE_HOST_TOOLS.filter((t) => !existsSync(t));
  if (tools.length)
    problems.push(
      `${tools.join(", ")} missing: install Debian's containerd, runc, containernetworking-plugins and ipset (\`apt-get install containerd runc containernetworking-plugins ipset\`; toolchain/setup.sh does it as root).`,
    );
  if (!existsSync(imageManifest)) problems.push(`no local images (${imageManifest}): run \`bash toolchain/images/build.sh\` (toolchain/setup.sh does it).`);
  return problems;
}

function images(): Record<string, string> {
  const m = JSON.parse(readFileSync(imageManifest, "utf8")) as Record<string, string>;
  if (!m[NODE.sandboxImage])
    throw new ClusterError(`${imageManifest} has no ${NODE.sandboxImage} (the pods' sandbox image): rebuild with \`bash toolchain/images/build.sh\`.`);
  return m;
}

/**
 * Takes the machine's node lock; a lock left by a cluster whose processes are
 * gone is cleaned up first. A live one is waited for up to waitMs (test runs
 * queue behind each other), then refused.
 */
async function takeNodeLock(dir: string, log: (m: string) => void, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  let said = false;
  for (;;) {
    // Written whole to a file of our own, then hard-linked into place: the link is the exclusive create
    // (two runs starting at once cannot both take it), and a reader never sees a half-written lock — one read as
    // empty once looked "left behind" and got a running node torn down under its tests.
    const tmp = `${NODE_LOCK}.${process.pid}`;
    writeFileSync(tmp, `${dir}\n${process.pid}\n`);
    try {
      linkSync(tmp, NODE_LOCK);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
    let content = "";
    try {
      content = readFileSync(NODE_LOCK, "utf8");
    } catch {
      continue; // released meanwhile
    }
    const [other = "", owner] = content.trim().split("\n");
    if (other === dir) return;
    if (!other.startsWith("/") || !owner)
      throw new ClusterError(
        `${NODE_LOCK} does not name a cluster directory and its process (${JSON.stringify(content)}): remove it by hand once no pgshift node runs.`,
      );
    // Alive: its daemons run, or the process that took the lock is still starting them.
    const alive = (existsSync(other) && daemonsOf(other).some((d) => isAlive(d.pid))) || (!!owner && Number(owner) !== process.pid && isAlive(Number(owner)));
    if (!alive) {
      log(`cleaning up a node left behind by an earlier run (${other})`);
      await stopCluster(other);
      // Only the lock that was read: another run may have taken a new one meanwhile.
      if (existsSync(NODE_LOCK) && readFileSync(NODE_LOCK, "utf8") === content) rmSync(NODE_LOCK, { force: true });
    } else if (Date.now() < deadline) {
      if (!said) log(`waiting up to ${Math.round(waitMs / 1000)}s for the node in ${other} to stop (one node per machine)`);
      said = true;
      await sleep(1000);
    } else {
      throw new ClusterError(
        `Another pgshift node runs on this machine (its files: ${other}); only one can, because kube-proxy and the kubelet own machine-wide iptables chains. ` +
          `Stop it first (for the one \`npm run cluster -- up\` started: \`npm run cluster -- down\`).`,
      );
    }
  }
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
    await takeNodeLock(dir, log, opts.waitForNodeMs ?? 0);
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

async function startNode(
  dir: string,
  state: ClusterState,
  kubeconfig: string,
  api: ApiClient,
  log: (m: string) => void,
  step: (n: string) => void,
): Promise<void> {
  const bin = (n: string) => join(toolchainBin, n);
  const p = nodePaths(dir);
  const imgs = images();
  log("starting kube-scheduler");
  startDaemon(dir, "kube-scheduler", bin("kube-scheduler"), [`--kubeconfig=${kubeconfig}`, "--leader-elect=false", "--secure-port=0", "--v=1"]);

  log(`creating the node's network: ${NODE.link} (${NODE.ip}), pods on ${NODE.bridge} (${NODE.podCidr})`);
  host.createNodeLink(NODE.link, NODE.peer, NODE.ip);
  if (state.cloudnativePg) {
    log(`starting the API relay (${NODE.ip}:${state.apiPort} → 127.0.0.1:${state.apiPort}) for pods that watch the API`);
    startDaemon(
      dir,
      "api-relay",
      process.execPath,
      ["--import", "tsx", join(repoRoot, "src", "cluster", "api-relay.ts"), NODE.ip, String(state.apiPort)],
      undefined,
      repoRoot,
    );
  }
  // Pods may reach each other, the node and Services (DNAT happens before
  // FORWARD), and nothing else: no traffic leaves the machine. In mangle, which
  // runs before filter: kube-router's filter FORWARD chain ACCEPTs what the
  // NetworkPolicies allow and keeps its jump first, so a filter rule would
  // never see pod traffic.
  execFileSync("iptables", ["-t", "mangle", "-N", "PGSHIFT-EGRESS"]);
  for (const dst of [NODE.podCidr, `${NODE.ip}/32`]) execFileSync("iptables", ["-t", "mangle", "-A", "PGSHIFT-EGRESS", "-d", dst, "-j", "RETURN"]);
  execFileSync("iptables", ["-t", "mangle", "-A", "PGSHIFT-EGRESS", "-j", "DROP"]);
  execFileSync("iptables", ["-t", "mangle", "-I", "FORWARD", "-s", NODE.podCidr, "-j", "PGSHIFT-EGRESS"]);

  for (const d of [p.containerdRoot, p.containerdState, p.cniConfDir, p.cniIpamDir, p.kubeletRoot, p.volumes]) mkdirSync(d, { recursive: true });
  writeFileSync(p.containerdConfig, containerdConfig(p));
  writeFileSync(join(p.cniConfDir, "10-pgshift.conflist"), cniConflist(p));
  writeFileSync(p.resolvConf, resolvConf());
  log("starting containerd");
  startDaemon(dir, "containerd", "/usr/bin/containerd", ["--config", p.containerdConfig]);
  const ctr = (args: string[]) =>
    execFileSync("/usr/bin/ctr", ["--address", p.containerdSocket, "--namespace", "k8s.io", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  await waitFor(dir, "containerd to answer on its socket", async () => {
    try {
      ctr(["version"]);
      return true;
    } catch {
      return false;
    }
  });
  step("containerd");
  // CloudNativePG's images are large and only its clusters use them.
  for (const [ref, tar] of Object.entries(imgs).filter(([r]) => state.cloudnativePg || !CNPG_IMAGES.includes(r))) {
    log(`importing ${ref}`);
    try {
      ctr(["images", "import", "--no-unpack=false", tar]);
    } catch (e) {
      throw new ClusterError(
        `importing ${ref} from ${tar} into containerd failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}. Rebuild the images: bash toolchain/images/build.sh`,
        "containerd",
      );
    }
  }
  step("images");

  state.kubeletPort = await freePort();
  state.kubeletHealthzPort = await freePort();
  writeFileSync(p.kubeletConfig, kubeletConfig(p, { caFile: join(dir, "ca.crt"), port: state.kubeletPort, healthzPort: state.kubeletHealthzPort }));
  log("starting kubelet");
  startDaemon(dir, "kubelet", bin("kubelet"), [
    `--config=${p.kubeletConfig}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${p.kubeletRoot}`,
    `--cert-dir=${join(p.kubeletRoot, "pki")}`,
    `--node-ip=${NODE.ip}`,
    `--hostname-override=${NODE.name}`,
    "--v=1",
  ]);

  state.kubeProxyHealthzPort = await freePort();
  writeFileSync(p.kubeProxyConfig, kubeProxyConfig({ kubeconfig, healthzPort: state.kubeProxyHealthzPort, metricsPort: await freePort() }));
  log("starting kube-proxy");
  startDaemon(dir, "kube-proxy", bin("kube-proxy"), [`--config=${p.kubeProxyConfig}`, "--v=1"]);

  state.coreDnsReadyPort = await freePort();
  writeFileSync(p.corefile, corefile({ kubeconfig, healthPort: await freePort(), readyPort: state.coreDnsReadyPort }));
  log("starting CoreDNS");
  startDaemon(dir, "coredns", bin("coredns"), ["-conf", p.corefile]);

  log("starting the volume provisioner");
  startDaemon(
    dir,
    "provisioner",
    process.execPath,
    ["--import", "tsx", join(repoRoot, "src", "cluster", "provisioner.ts"), dir, String(state.apiPort)],
    undefined,
    repoRoot,
  );
  await waitFor(dir, "the default StorageClass to be created", async () => {
    const r = await api.call("POST", "/apis/storage.k8s.io/v1/storageclasses", storageClassManifest());
    return r.status === 201 || r.status === 409;
  });

  await waitFor(
    dir,
    `node ${NODE.name} to become Ready`,
    async () => {
      const r = await api.call<{ status?: { conditions?: { type: string; status: string }[] } }>("GET", `/api/v1/nodes/${NODE.name}`);
      return r.status === 200 && r.body.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    },
    120_000,
  );
  step("kubelet");
  // The NetworkPolicy engine: kube-router's firewall only (no BGP router, no
  // service proxy — kube-proxy does that). It programs per-pod chains and
  // ipsets from the policies, pods and namespaces it watches (docs/test-cluster.md).
  // It looks its node up once at start, so only after the kubelet registered it.
  state.kubeRouterHealthPort = await freePort();
  log("starting kube-router (NetworkPolicy enforcement)");
  startDaemon(dir, "kube-router", bin("kube-router"), [
    `--kubeconfig=${kubeconfig}`,
    "--run-firewall=true",
    "--run-router=false",
    "--run-service-proxy=false",
    "--enable-cni=false",
    `--hostname-override=${NODE.name}`,
    `--service-cluster-ip-range=${NODE.serviceCidr}`,
    `--health-port=${state.kubeRouterHealthPort}`,
    "--metrics-port=0",
    "--v=1",
  ]);

  await waitFor(
    dir,
    "CoreDNS to be ready",
    async () => (await fetch(`http://127.0.0.1:${state.coreDnsReadyPort}/ready`).catch(() => undefined))?.status === 200,
  );
  await waitFor(
    dir,
    "kube-proxy to be healthy",
    async () => (await fetch(`http://127.0.0.1:${state.kubeProxyHealthzPort}/healthz`).catch(() => undefined))?.status === 200,
  );
  await waitFor(
    dir,
    "kube-router to be healthy",
    async () => (await fetch(`http://127.0.0.1:${state.kubeRouterHealthPort}/healthz`).catch(() => undefined))?.status === 200,
  );
  step("dns-proxy");
}

/** Processes of containerd's shims for this cluster (they outlive containerd). */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const args = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      if (args[0]?.includes("containerd-shim") && args.includes(socket)) pids.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return pids;
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

// The node half of the local cluster: the network, containerd with the local
// images, the kubelet, kube-proxy, CoreDNS, the volume provisioner and
// kube-router (NetworkPolicy). startCluster starts it after the control plane.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ApiClient } from "./api";
import { startDaemon } from "./daemons";
import { ClusterError, NotRootError } from "./errors";
import * as host from "./host";
import { NODE, containerdConfig, cniConflist, corefile, kubeProxyConfig, kubeletConfig, nodePaths, resolvConf, storageClassManifest } from "./node-config";
import { CONTROL_PLANE_BINARIES, NODE_BINARIES, NODE_HOST_TOOLS, imageManifest, missingBinaries, repoRoot, toolchainBin } from "./paths";
import { freePort } from "./ports";
import { CNPG_IMAGES } from "./cnpg";
import { waitFor, type ClusterState } from "./state";

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

export async function startNode(
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
export function shimPids(socket: string): number[] {
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

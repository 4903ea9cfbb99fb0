// A real Kubernetes cluster on this machine, for tests and for people trying
// pgshift (`npm run cluster -- up`): etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler on loopback and, with a node,
// containerd + kubelet + kube-proxy + CoreDNS + a hostPath volume provisioner,
// running the images toolchain/images built. docs/test-cluster.md says what it
// is and is not.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { spawnSync } from "node:child_process";
import { makeCertificates, kubeconfigYaml } from "./certs";
import { daemons, freePort, logTail, startDaemon, stopPid, type Daemon } from "./daemons";
import { NODE, containerdSocket, requireRoot, setUpHostNetwork, writeContainerdConfig, startCoreDns, startKubeProxy, startKubelet, storageClassYaml, volumesDir } from "./node";
import { recordHost, runningNode, teardown } from "./teardown";

export const projectRoot = resolve(__dirname, "..", "..");
export const toolchainBin = join(projectRoot, ".toolchain", "bin");
export const imagesManifest = join(projectRoot, ".toolchain", "images", "manifest.json");
const NODE_LOCK = "/run/pgshift-node.lock";

export const CONTROL_PLANE = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"] as const;
export const NODE_BINARIES = ["kubelet", "kube-proxy", "coredns"] as const;

export interface ProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Cluster {
  dir: string;
  /** a kubeconfig file for the cluster's admin (group system:masters) */
  kubeconfig: string;
  server: string;
  /** env for child processes (kubectl, Pulumi's kubernetes provider) that must talk to this cluster */
  env: NodeJS.ProcessEnv;
  withNode: boolean;
  kubectl(args: string[], opts?: { input?: string; allowFailure?: boolean }): Promise<ProcessRun>;
  get<T = Record<string, unknown>>(kind: string, name: string, namespace?: string): Promise<T | undefined>;
  waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  stop(): Promise<string[]>;
}

export function binariesBuilt(withNode: boolean): boolean {
  return [...CONTROL_PLANE, ...(withNode ? NODE_BINARIES : [])].every((b) => existsSync(join(toolchainBin, b)));
}

/** GET https://127.0.0.1:<port><path> as the admin; the status code (0 when unreachable). */
function adminGet(port: number, path: string, dir: string): Promise<number> {
  return new Promise((done) => {
    const req = request(
      { host: "127.0.0.1", port, path, ca: readFileSync(join(dir, "ca.crt")), cert: readFileSync(join(dir, "admin.crt")), key: readFileSync(join(dir, "admin.key")), timeout: 5000 },
      (res) => {
        res.resume();
        res.on("end", () => done(res.statusCode ?? 0));
      },
    );
    req.on("error", () => done(0));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

function kubectlIn(kubeconfig: string) {
  return async (args: string[], opts: { input?: string; allowFailure?: boolean } = {}): Promise<ProcessRun> => {
    const { spawn } = await import("node:child_process");
    return new Promise((done, fail) => {
      const child = spawn(join(toolchainBin, "kubectl"), args, { env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c));
      child.stderr.on("data", (c: Buffer) => (stderr += c));
      child.stdin.end(opts.input ?? "");
      child.on("close", (code) => {
        const r = { code: code ?? 1, stdout, stderr };
        if (r.code !== 0 && !opts.allowFailure) fail(new Error(`kubectl ${args.join(" ")} exited ${r.code}\n${stderr.trim()}`));
        else done(r);
      });
    });
  };
}

/** The images the setup built (toolchain/images/build.sh), by reference. */
export function builtImages(): Record<string, string> {
  return existsSync(imagesManifest) ? (JSON.parse(readFileSync(imagesManifest, "utf8")) as Record<string, string>) : {};
}

function importImages(dir: string): void {
  const images = builtImages();
  const have = spawnSync("ctr", ["-a", containerdSocket(dir), "-n", "k8s.io", "images", "ls", "-q"], { encoding: "utf8" }).stdout ?? "";
  for (const [ref, tar] of Object.entries(images)) {
    if (have.split("\n").includes(ref)) continue;
    const r = spawnSync("ctr", ["-a", containerdSocket(dir), "-n", "k8s.io", "images", "import", "--no-unpack", tar], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ctr images import ${tar} (${ref}) failed: ${(r.stderr || r.stdout).trim()}`);
  }
}

export interface StartOptions {
  /** run a node (containerd, kubelet, kube-proxy, CoreDNS, storage): needs root */
  node?: boolean;
  /** where everything lives; removed by stop() */
  dir: string;
  /** stop everything when this process exits (tests); false for `npm run cluster up` */
  tiedToProcess?: boolean;
}

export async function startCluster(opts: StartOptions): Promise<Cluster> {
  const withNode = !!opts.node;
  if (!binariesBuilt(withNode)) {
    throw new Error(
      `The cluster's binaries (${[...CONTROL_PLANE, ...(withNode ? NODE_BINARIES : [])].join(", ")}) are not all in ${toolchainBin}: run \`bash toolchain/setup.sh\` (npm test does this first).`,
    );
  }
  const images = builtImages();
  const sandbox = Object.keys(images).find((r) => r.includes("/pause:"));
  if (withNode) {
    requireRoot();
    if (!sandbox) throw new Error(`No sandbox (pause) image in ${imagesManifest}: run \`bash toolchain/setup.sh\` to build the local images.`);
    const other = runningNode(NODE_LOCK);
    if (other && resolve(other) !== resolve(opts.dir)) {
      throw new Error(`A node already runs on this machine (cluster in ${other}); one node per machine. Stop it first: npm run cluster -- down`);
    }
  }
  const dir = opts.dir;
  mkdirSync(dir, { recursive: true });
  const started: Daemon[] = [];
  const stop = async (): Promise<string[]> => {
    process.removeListener("exit", killAll);
    const left = withNode ? await teardown(dir) : [];
    for (const d of [...daemons(dir)].reverse()) await stopPid(d.pid);
    if (withNode && existsSync(NODE_LOCK) && readFileSync(NODE_LOCK, "utf8").trim() === dir) rmSync(NODE_LOCK, { force: true });
    if (left.length === 0) rmSync(dir, { recursive: true, force: true });
    return left;
  };
  const killAll = () => {
    for (const d of started) {
      try {
        process.kill(d.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  };
  if (opts.tiedToProcess) process.on("exit", killAll);
  const start = (name: string, cmd: string, args: string[]) => {
    const d = startDaemon(dir, name, cmd, args);
    started.push(d);
    return d;
  };
  const dead = () => started.find((d) => !existsSync(`/proc/${d.pid}`) || readFileSync(`/proc/${d.pid}/stat`, "utf8").includes(") Z"));
  const waitFor = async <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = dead();
      if (d) throw new Error(`${d.name} exited while waiting for ${what}; its log ends:\n${logTail(d.log)}`);
      const v = await check();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; the logs end:\n${started.map((s) => `--- ${s.name}\n${logTail(s.log, 15)}`).join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  try {
    await makeCertificates(dir, withNode ? NODE.ip : undefined);
    const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const bin = (b: string) => join(toolchainBin, b);
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    start("etcd", bin("etcd"), [
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
    await waitFor("etcd to report healthy", async () => {
      const r = await fetch(`${etcdUrl}/health`).catch(() => undefined);
      return r?.ok && ((await r.json()) as { health?: string }).health === "true";
    });
    start("kube-apiserver", bin("kube-apiserver"), [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, "apiserver-certs")}`,
      `--tls-cert-file=${join(dir, "apiserver.crt")}`,
      `--tls-private-key-file=${join(dir, "apiserver.key")}`,
      `--client-ca-file=${join(dir, "ca.crt")}`,
      "--authorization-mode=Node,RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${join(dir, "sa.pub")}`,
      `--service-account-signing-key-file=${join(dir, "sa.key")}`,
      `--service-cluster-ip-range=${NODE.serviceCidr}`,
      // logs, exec and port-forward go to the kubelet at the node's address, as the admin.
      "--kubelet-preferred-address-types=InternalIP",
      `--kubelet-client-certificate=${join(dir, "admin.crt")}`,
      `--kubelet-client-key=${join(dir, "admin.key")}`,
      "--allow-privileged=false",
      "--profiling=false",
      "--v=1",
    ]);
    await waitFor("kube-apiserver /readyz", async () => (await adminGet(apiPort, "/readyz", dir)) === 200);
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, kubeconfigYaml(server, dir), { mode: 0o600 });
    start("kube-controller-manager", bin("kube-controller-manager"), [
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
    const kubectl = kubectlIn(kubeconfig);
    const get = async <T>(kind: string, name: string, namespace?: string): Promise<T | undefined> => {
      const r = await kubectl(["get", kind, name, "-o", "json", ...(namespace ? ["-n", namespace] : [])], { allowFailure: true });
      if (r.code === 0) return JSON.parse(r.stdout) as T;
      if (/NotFound|not found/.test(r.stderr)) return undefined;
      throw new Error(`kubectl get ${kind} ${name} failed: ${r.stderr.trim()}`);
    };
    // The service-account controller creating "default" shows the controller manager is running.
    await waitFor("kube-controller-manager to create the default ServiceAccount", () => get("serviceaccount", "default", "default"));

    if (withNode) {
      writeFileSync(NODE_LOCK, dir);
      recordHost(dir);
      setUpHostNetwork();
      start("kube-scheduler", bin("kube-scheduler"), [`--kubeconfig=${kubeconfig}`, "--leader-elect=false", "--secure-port=0", "--v=1"]);
      start("containerd", "containerd", ["--config", writeContainerdConfig(dir, sandbox!), "--log-level", "warn"]);
      await waitFor("containerd", async () => existsSync(containerdSocket(dir)));
      importImages(dir);
      started.push(startCoreDns(dir, toolchainBin, kubeconfig));
      started.push(startKubelet(dir, toolchainBin, kubeconfig, NODE.ip));
      started.push(startKubeProxy(dir, toolchainBin, kubeconfig));
      // Runs from the cluster's directory, so tsx is named by path.
      const tsx = pathToFileURL(join(projectRoot, "node_modules", "tsx", "dist", "loader.mjs")).href;
      start("provisioner", process.execPath, ["--import", tsx, join(__dirname, "provisioner.ts"), kubeconfig, volumesDir(dir)]);
      await kubectl(["apply", "-f", "-"], { input: storageClassYaml() });
      await waitFor(
        `node ${NODE.name} to be Ready`,
        async () => {
          const node = await get<{ status?: { conditions?: { type: string; status: string }[] } }>("node", NODE.name);
          return node?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
        },
        120_000,
      );
    }
    return { dir, kubeconfig, server, env: { KUBECONFIG: kubeconfig, KUBECTL_EXTERNAL_DIFF: "" }, withNode, kubectl, get, waitFor, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

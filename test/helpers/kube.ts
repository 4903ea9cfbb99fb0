// A real Kubernetes control plane for tests (docs/test-cluster.md): etcd,
// kube-apiserver and kube-controller-manager built by toolchain/setup-kube.sh,
// on loopback ports, with a throwaway CA, serving and client certificates and
// a service-account key. There is no kubelet and no scheduler: pods are
// created but never run, so nothing ever becomes ready, and nothing enforces
// NetworkPolicies. The controller manager is there so that what the API server
// alone cannot do still happens: StatefulSets create their volume claims,
// garbage collection honours their retention policy, namespaces terminate.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./postgres";
import { runProcess, type ProcessRun } from "./process";
import { toolchainBin } from "./pulumi";

const run = promisify(execFile);
const BINARIES = ["etcd", "kube-apiserver", "kube-controller-manager", "kubectl"] as const;

export type KubectlRun = ProcessRun;

export interface TestCluster {
  /** a kubeconfig file for the cluster's admin (group system:masters) */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** env for child processes (the Pulumi kubernetes provider, kubectl) that must talk to this cluster */
  env: NodeJS.ProcessEnv;
  kubectl(args: string[], opts?: { input?: string; allowFailure?: boolean }): Promise<KubectlRun>;
  /** `kubectl get -o json` of one object, or undefined when it does not exist */
  get<T = Record<string, unknown>>(kind: string, name: string, namespace?: string): Promise<T | undefined>;
  /** polls until check returns a value (not undefined/false), or fails naming what it waited for */
  waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** True when toolchain/setup-kube.sh has built every binary the cluster needs. */
export function testClusterBuilt(): boolean {
  return BINARIES.every((b) => existsSync(join(toolchainBin, b)));
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd: dir });
  } catch (e) {
    throw new Error(`openssl ${args[0]} failed while making the test cluster's certificates (is openssl installed?): ${(e as Error).message}`);
  }
}

/** A CA, the API server's serving certificate, an admin client certificate and the service-account key pair. */
async function makeCertificates(dir: string): Promise<void> {
  const days = ["-days", "2"];
  await openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=pgshift-test-ca", ...days]);
  writeFileSync(
    join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\nextendedKeyUsage=serverAuth\n",
  );
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, subj, ext] of [
    ["apiserver", "/CN=kube-apiserver", "server.ext"],
    ["admin", "/O=system:masters/CN=pgshift-test-admin", "client.ext"],
  ] as const) {
    await openssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subj]);
    await openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-extfile", ext, ...days]);
  }
  await openssl(dir, ["genrsa", "-out", "sa.key", "2048"]);
  await openssl(dir, ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

function kubeconfigYaml(server: string, dir: string): string {
  const b64 = (f: string) => readFileSync(join(dir, f)).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: pgshift-test",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64("ca.crt")}`,
    "users:",
    "- name: admin",
    "  user:",
    `    client-certificate-data: ${b64("admin.crt")}`,
    `    client-key-data: ${b64("admin.key")}`,
    "contexts:",
    "- name: pgshift-test",
    "  context: { cluster: pgshift-test, user: admin }",
    "current-context: pgshift-test",
    "",
  ].join("\n");
}

interface Daemon {
  name: string;
  child: ChildProcess;
  log: string;
  exited?: string;
}

function startDaemon(dir: string, name: string, args: string[]): Daemon {
  const log = join(dir, `${name}.log`);
  const fd = openSync(log, "a");
  const child = spawn(join(toolchainBin, name), args, { cwd: dir, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const d: Daemon = { name, child, log };
  child.on("exit", (code, signal) => (d.exited = `exited with ${signal ?? code}`));
  return d;
}

function logTail(d: Daemon, lines = 30): string {
  try {
    return readFileSync(d.log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** GET https://127.0.0.1:<port><path> as the admin; resolves with the status code (0 when unreachable). */
function adminGet(port: number, path: string, dir: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      { host: "127.0.0.1", port, path, ca: readFileSync(join(dir, "ca.crt")), cert: readFileSync(join(dir, "admin.crt")), key: readFileSync(join(dir, "admin.key")), timeout: 5000 },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

export async function startTestCluster(): Promise<TestCluster> {
  if (!testClusterBuilt()) {
    throw new Error(`The test cluster's binaries (${BINARIES.join(", ")}) are not in ${toolchainBin}: run \`bash toolchain/setup.sh\` (npm test does this first).`);
  }
  const dir = mkdtempSync(join(tmpdir(), "pgshift-kube-"));
  await makeCertificates(dir);
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const daemons: Daemon[] = [];
  const stop = async () => {
    for (const d of [...daemons].reverse()) {
      if (d.exited) continue;
      const gone = new Promise((r) => d.child.once("exit", r));
      d.child.kill("SIGTERM");
      const timer = setTimeout(() => d.child.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
    }
    process.removeListener("exit", killAll);
    rmSync(dir, { recursive: true, force: true });
  };
  const killAll = () => daemons.forEach((d) => d.exited || d.child.kill("SIGKILL"));
  process.on("exit", killAll);

  const waitFor = async <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dead = daemons.find((d) => d.exited);
      if (dead) throw new Error(`${dead.name} ${dead.exited} while waiting for ${what}; its log ends:\n${logTail(dead)}`);
      const v = await check();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; the logs end:\n${daemons.map((d) => `--- ${d.name}\n${logTail(d, 15)}`).join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };

  try {
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    daemons.push(
      startDaemon(dir, "etcd", [
        "--name=pgshift-test",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=pgshift-test=${peerUrl}`,
        // A throwaway test store: durability only costs time here.
        "--unsafe-no-fsync",
        "--log-level=warn",
      ]),
    );
    await waitFor("etcd to report healthy", async () => {
      const r = await fetch(`${etcdUrl}/health`).catch(() => undefined);
      return r?.ok && ((await r.json()) as { health?: string }).health === "true";
    });

    daemons.push(
      startDaemon(dir, "kube-apiserver", [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, "apiserver-certs")}`,
        "--tls-cert-file=apiserver.crt",
        "--tls-private-key-file=apiserver.key",
        "--client-ca-file=ca.crt",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-account-key-file=sa.pub",
        "--service-account-signing-key-file=sa.key",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--allow-privileged=false",
        "--profiling=false",
        "--v=1",
      ]),
    );
    await waitFor("kube-apiserver /readyz", async () => (await adminGet(apiPort, "/readyz", dir)).status === 200);

    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, kubeconfigYaml(server, dir), { mode: 0o600 });

    daemons.push(
      startDaemon(dir, "kube-controller-manager", [
        `--kubeconfig=${kubeconfig}`,
        "--leader-elect=false",
        // No HTTPS endpoint: nothing scrapes it, and it would need its own certificates.
        "--secure-port=0",
        "--use-service-account-credentials=false",
        `--service-account-private-key-file=${join(dir, "sa.key")}`,
        `--root-ca-file=${join(dir, "ca.crt")}`,
        "--cluster-name=pgshift-test",
        "--v=1",
      ]),
    );

    const env: NodeJS.ProcessEnv = { KUBECONFIG: kubeconfig, KUBECTL_EXTERNAL_DIFF: "" };
    const kubectl = (args: string[], opts: { input?: string; allowFailure?: boolean } = {}) =>
      runProcess(join(toolchainBin, "kubectl"), args, { env: { ...process.env, ...env }, label: "kubectl", ...opts });
    const get = async <T>(kind: string, name: string, namespace?: string): Promise<T | undefined> => {
      const r = await kubectl(["get", kind, name, "-o", "json", ...(namespace ? ["-n", namespace] : [])], { allowFailure: true });
      if (r.code === 0) return JSON.parse(r.stdout) as T;
      if (/NotFound|not found/.test(r.stderr)) return undefined;
      throw new Error(`kubectl get ${kind} ${name} failed: ${r.stderr.trim()}`);
    };
    // The service-account controller creating "default" shows the controller manager is running.
    await waitFor("kube-controller-manager to create the default ServiceAccount", () => get("serviceaccount", "default", "default"));
    return { kubeconfig, server, env, kubectl, get, waitFor, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

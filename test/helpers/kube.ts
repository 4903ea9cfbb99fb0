// The tests' handle on the local cluster (src/cluster, docs/test-cluster.md):
// a control plane on loopback, and with { node: true } a node that runs pods.
// Each test file gets its own cluster in a temporary directory; stop() removes
// it, and so does an exit or a signal that ends the test process first.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCluster, stopCluster, waitFor as waitForIn, type Cluster } from "../../src/cluster/cluster";
import { CONTROL_PLANE_BINARIES } from "../../src/cluster/paths";
import { runProcess, type ProcessRun } from "./process";
import { repoRoot, toolchainBin } from "./pulumi";

export type KubectlRun = ProcessRun;

export interface TestCluster {
  /** a kubeconfig file for the cluster's admin (group system:masters) */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  dir: string;
  /** env for child processes (the Pulumi kubernetes provider, kubectl) that must talk to this cluster */
  env: NodeJS.ProcessEnv;
  /** seconds each start step took */
  timings: Record<string, number>;
  kubectl(args: string[], opts?: { input?: string; allowFailure?: boolean }): Promise<KubectlRun>;
  /** `kubectl get -o json` of one object, or undefined when it does not exist */
  get<T = Record<string, unknown>>(kind: string, name: string, namespace?: string): Promise<T | undefined>;
  /** polls until check returns a value (not undefined/false), or fails naming what it waited for */
  waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number): Promise<T>;
  /** stops everything; returns what it could not put back on the machine (empty: nothing left) */
  stop(): Promise<string[]>;
}

/** True when toolchain/setup-kube.sh has built every binary the control plane needs. */
export function testClusterBuilt(): boolean {
  return CONTROL_PLANE_BINARIES.every((b) => existsSync(join(toolchainBin, b)));
}

/** `npm run cluster -- down` for this directory, synchronously: the only kind of work an exit handler can do. */
function downSync(dir: string): void {
  if (!existsSync(dir)) return;
  spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "scripts", "cluster.ts"), "down", "--dir", dir], { cwd: repoRoot, stdio: "ignore" });
}

export async function startTestCluster(opts: { node?: boolean; cloudnativePg?: boolean } = {}): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-kube-"));
  // Node runs no exit handler on a signal: without these, an interrupted test run would leave the daemons running.
  const onExit = () => downSync(dir);
  const onSignal = (signal: NodeJS.Signals) => {
    downSync(dir);
    process.kill(process.pid, signal);
  };
  process.once("exit", onExit);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const unhook = () => {
    process.removeListener("exit", onExit);
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  };
  let c: Cluster;
  try {
    // Another test file's (or engineer's) node may be running: queue behind it rather than fail.
    c = await startCluster({
      dir,
      node: !!opts.node,
      ...(opts.cloudnativePg ? { cloudnativePg: true } : {}),
      waitForNodeMs: 20 * 60_000,
      log: (m) => m.startsWith("waiting") && console.error(`[cluster] ${m}`),
    });
  } catch (e) {
    unhook();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const env: NodeJS.ProcessEnv = { KUBECONFIG: c.kubeconfig, KUBECTL_EXTERNAL_DIFF: "" };
  const kubectl = (args: string[], o: { input?: string; allowFailure?: boolean } = {}) =>
    runProcess(join(toolchainBin, "kubectl"), args, { env: { ...process.env, ...env }, label: "kubectl", ...o });
  const get = async <T>(kind: string, name: string, namespace?: string): Promise<T | undefined> => {
    const r = await kubectl(["get", kind, name, "-o", "json", ...(namespace ? ["-n", namespace] : [])], { allowFailure: true });
    if (r.code === 0) return JSON.parse(r.stdout) as T;
    if (/NotFound|not found/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get ${kind} ${name} failed: ${r.stderr.trim()}`);
  };
  return {
    kubeconfig: c.kubeconfig,
    server: c.server,
    dir,
    env,
    timings: c.timings,
    kubectl,
    get,
    waitFor: (what, check, timeoutMs) => waitForIn(dir, what, check, timeoutMs),
    stop: async () => {
      unhook();
      return stopCluster(dir);
    },
  };
}

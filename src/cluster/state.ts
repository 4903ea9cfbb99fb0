// What a cluster records in its directory (state.json, the daemons it started)
// and the one way to wait on it: every wait fails naming what it waited for,
// with the daemons' logs, instead of hanging when one of them died.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isAlive, logTail, recordedDaemons, type Daemon } from "./daemons";
import { ClusterError } from "./errors";

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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const stateFile = (dir: string) => join(dir, "state.json");
export const hostFile = (dir: string) => join(dir, "host-before.json");
export const kubeconfigPath = (dir: string) => join(dir, "kubeconfig");

/** The order daemons start in; stopCluster stops them in reverse. */
export const ORDER = [
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

export function daemonsOf(dir: string): Daemon[] {
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

// `npm run cluster -- up | down | status`: a local Kubernetes cluster with a
// node that runs pods, to try pgshift on (README "Try it on a local cluster").
// `up` is idempotent and prints KUBECONFIG=<path> as its last line; `down`
// stops every process `up` started and removes everything it made.
//
//   --dir <path>   the cluster's directory (default .cluster/ in the project)
//   --cnpg         also install CloudNativePG's operator (toolchain/cnpg/), for
//                  stacks with pgshift:database.engine cloudnative-pg
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { clusterStatus, kubeconfigPath, readState, startCluster, stopCluster } from "../src/cluster/cluster";
import { ClusterError } from "../src/cluster/errors";
import { toolchainBin, userClusterDir } from "../src/cluster/paths";
import { SAMPLE_APP_UID, sampleAppManifest, sampleAppWhere } from "../src/cluster/sample-app";
import { createSampleAppDb } from "./sample-app-db";
import { apiClient } from "../src/cluster/api";
import { NODE } from "../src/cluster/node-config";

const USAGE = "usage: npm run cluster -- up [--cnpg] | down | status [--dir <path>]";

async function healthy(dir: string): Promise<boolean> {
  const s = clusterStatus(dir);
  if (!s.state || s.daemons.length === 0 || s.daemons.some((d) => !d.running)) return false;
  const api = apiClient(s.state.apiPort, dir);
  const node = await api.call<{ status?: { conditions?: { type: string; status: string }[] } }>("GET", `/api/v1/nodes/${NODE.name}`);
  return node.status === 200 && !!node.body.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
}

async function up(dir: string, cloudnativePg: boolean): Promise<void> {
  if ((await healthy(dir)) && (!cloudnativePg || readState(dir)?.cloudnativePg)) {
    console.error(`[cluster] already running (${dir})`);
  } else {
    if (readState(dir)) {
      const why = (await healthy(dir)) ? "runs without CloudNativePG" : "is not healthy";
      console.error(`[cluster] a cluster in ${dir} ${why}: removing it and starting again`);
      await stopCluster(dir);
    }
    const t0 = Date.now();
    const c = await startCluster({ dir, node: true, days: 365, cloudnativePg, log: (m) => console.error(`[cluster] ${m}`) });
    console.error(
      `[cluster] up in ${((Date.now() - t0) / 1000).toFixed(1)}s: API server ${c.server}, node ${NODE.name} (${NODE.ip}), default StorageClass ${NODE.storageClass}`,
    );
    if (cloudnativePg) console.error("[cluster] CloudNativePG 1.28.0 runs in cnpg-system: stacks with pgshift:database.engine cloudnative-pg can use it");
    console.error("[cluster] stop it with: npm run cluster -- down");
  }
  // The app pgshift migrates, as it would already run: the Pulumi.cluster.yaml stack's starting point. It writes
  // a message every ~20 ms to its SQLite file, in a directory of its own (the node is this machine: a hostPath
  // mount) so that its pods see no other file of the cluster's; uid 1000 needs the directory writable for journals.
  const appDir = join(dir, "app");
  const db = join(appDir, "app.db");
  mkdirSync(appDir, { recursive: true });
  if (!existsSync(db)) createSampleAppDb(db, {});
  chmodSync(appDir, 0o755);
  // On a second `up` the app is running: its journal files come and go between readdir and chown, so a file gone
  // meanwhile is the app's business, not an error; files it made are already its own.
  for (const f of [appDir, ...readdirSync(appDir).map((n) => join(appDir, n))]) {
    try {
      if (statSync(f).uid !== SAMPLE_APP_UID) chownSync(f, SAMPLE_APP_UID, SAMPLE_APP_UID);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  }
  execFileSync(join(toolchainBin, "kubectl"), ["--kubeconfig", kubeconfigPath(dir), "apply", "-f", "-"], {
    input: sampleAppManifest({ dataDir: appDir }),
    stdio: ["pipe", "ignore", "inherit"],
  });
  console.error(`[cluster] sample app in ${sampleAppWhere()}, writing a message every ~20 ms to its SQLite database ${db}`);
  console.error(`[cluster] next: export KUBECONFIG=${kubeconfigPath(dir)}; npm run pulumi -- up --stack cluster`);
  console.log(`KUBECONFIG=${kubeconfigPath(dir)}`);
}

async function down(dir: string): Promise<void> {
  if (!existsSync(dir)) {
    console.error(`[cluster] nothing to stop (${dir} does not exist)`);
    return;
  }
  const left = await stopCluster(dir);
  if (left.length) {
    console.error(`[cluster] stopped, but the machine is not as it was before \`up\`:\n  ${left.join("\n  ")}`);
    process.exitCode = 1;
  } else console.error("[cluster] stopped; every process, mount, interface and iptables rule it made is gone");
}

async function status(dir: string): Promise<void> {
  const s = clusterStatus(dir);
  if (!s.state) {
    console.log(`no cluster in ${dir} (start one with: npm run cluster -- up)`);
    process.exitCode = 3;
    return;
  }
  console.log(`cluster in ${dir}, started ${s.state.startedAt}, API server https://127.0.0.1:${s.state.apiPort}`);
  for (const d of s.daemons) console.log(`  ${d.name.padEnd(24)} ${d.running ? `running (pid ${d.pid})` : "NOT RUNNING"}   log: ${d.log}`);
  const ok = await healthy(dir);
  console.log(ok ? `node ${NODE.name} Ready` : `node ${NODE.name} not Ready`);
  if (ok) console.log(`KUBECONFIG=${kubeconfigPath(dir)}`);
  else process.exitCode = 1;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf("--dir");
  const dir = at >= 0 ? args[at + 1] : userClusterDir;
  const cmd = args.find((a, i) => !a.startsWith("--") && (at < 0 || i !== at + 1));
  if (!dir) throw new ClusterError(USAGE);
  if (cmd === "up") await up(dir, args.includes("--cnpg"));
  else if (cmd === "down") await down(dir);
  else if (cmd === "status") await status(dir);
  else {
    console.error(USAGE);
    process.exitCode = 2;
  }
}

main().catch((e: Error) => {
  console.error(`[cluster] ${e.message}`);
  process.exitCode = 1;
});

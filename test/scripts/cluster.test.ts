// `npm run cluster -- up | status | down` as a person runs it: up prints
// KUBECONFIG=<path> last and deploys the sample app, a second up is a no-op,
// status tells what runs, down stops everything and removes the directory.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, toolchainBin } from "../helpers/pulumi";
import { SAMPLE_APP } from "../../src/cluster/sample-app";

const dir = join(mkdtempSync(join(tmpdir(), "pgshift-cluster-cli-")), "cluster");
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join(repoRoot, "scripts", "cluster.ts"), ...args, "--dir", dir], { cwd: repoRoot, encoding: "utf8" });

after(() => {
  if (existsSync(dir)) cli("down");
  rmSync(join(dir, ".."), { recursive: true, force: true });
});

test("up prints the kubeconfig last and is idempotent; status and down say what they did", () => {
  // Another node (a test file's or an engineer's) may hold the machine's node lock for a while: retry like a person would.
  let up = cli("up");
  for (let i = 0; i < 40 && up.status !== 0 && /Another pgshift node runs/.test(up.stderr); i++) {
    spawnSync("sleep", ["30"]);
    up = cli("up");
  }
  assert.equal(up.status, 0, up.stderr);
  const lines = up.stdout.trim().split("\n");
  assert.equal(lines.at(-1), `KUBECONFIG=${join(dir, "kubeconfig")}`);
  assert.ok(existsSync(join(dir, "app", "app.db")), "the sample app's SQLite database, in the directory its pods mount");
  const kubectl = (...a: string[]) => spawnSync(join(toolchainBin, "kubectl"), ["--kubeconfig", join(dir, "kubeconfig"), ...a], { encoding: "utf8" });
  assert.equal(
    kubectl("get", "deployment", "-n", SAMPLE_APP.namespace, `${SAMPLE_APP.prefix}api`, "-o", "name").stdout.trim(),
    `deployment.apps/${SAMPLE_APP.prefix}api`,
  );
  assert.match(kubectl("get", "storageclass").stdout, /pgshift-local \(default\)/);

  const again = cli("up");
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /already running/);
  assert.equal(again.stdout.trim().split("\n").at(-1), lines.at(-1));

  const status = cli("status");
  assert.equal(status.status, 0, status.stdout + status.stderr);
  for (const d of ["etcd", "kube-apiserver", "kube-scheduler", "containerd", "kubelet", "kube-proxy", "coredns", "provisioner"]) {
    assert.match(status.stdout, new RegExp(`^  ${d} +running \\(pid \\d+\\)`, "m"), `status lists ${d} as running`);
  }
  assert.match(status.stdout, /node pgshift-node Ready/);

  const down = cli("down");
  assert.equal(down.status, 0, down.stderr);
  assert.match(down.stderr, /every process, mount, interface and iptables rule it made is gone/);
  assert.equal(existsSync(dir), false, "down removes the cluster's directory");
  const gone = cli("status");
  assert.equal(gone.status, 3);
  assert.match(gone.stdout, /no cluster in/);
  assert.match(cli("down").stderr, /nothing to stop/);
});

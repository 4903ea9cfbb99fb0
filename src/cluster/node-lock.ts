// One node per machine: kube-proxy and the kubelet own machine-wide iptables
// chains, so a second node would rewrite the first one's rules under it.
import { existsSync, linkSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isAlive } from "./daemons";
import { ClusterError } from "./errors";
import { daemonsOf, sleep } from "./state";

export const NODE_LOCK = "/run/pgshift-node.lock";

/**
 * Takes the machine's node lock; a lock left by a cluster whose processes are
 * gone is cleaned up first. A live one is waited for up to waitMs (test runs
 * queue behind each other), then refused.
 */
export async function takeNodeLock(dir: string, log: (m: string) => void, waitMs: number, stopLeftover: (dir: string) => Promise<unknown>): Promise<void> {
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
      await stopLeftover(other);
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

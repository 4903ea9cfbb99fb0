// What a node leaves on the host, and taking all of it away again: processes
// (containerd's shims and the containers under them outlive the kubelet),
// mounts (the kubelet's root dir, each sandbox's shm and rootfs), the CNI
// network namespaces, the bridge and veths, iptables chains in every table
// (KUBE-*, CNI-*), and the sysctls the node set. The host's state is recorded
// before the node starts, so teardown restores exactly that.
import { existsSync, readFileSync, readdirSync, readlinkSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stopPid } from "./daemons";
import { NODE, sh } from "./node";

interface HostBefore {
  netns: string[];
  iptables: { v4: string; v6: string };
  sysctl: Record<string, string>;
}

const SYSCTLS = ["net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"];

function netnsList(): string[] {
  return existsSync("/run/netns") ? readdirSync("/run/netns").sort() : [];
}

/** iptables-save without counters and comments, so two snapshots of the same rules compare equal. */
export function iptablesRules(v6 = false): string {
  const out = sh(v6 ? "ip6tables-save" : "iptables-save", [], { allowFailure: true });
  return out
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ""))
    .join("\n");
}

export function recordHost(dir: string): void {
  const file = join(dir, "host-before.json");
  if (existsSync(file)) return;
  const before: HostBefore = {
    netns: netnsList(),
    iptables: { v4: sh("iptables-save", [], { allowFailure: true }), v6: sh("ip6tables-save", [], { allowFailure: true }) },
    sysctl: Object.fromEntries(SYSCTLS.map((k) => [k, sh("sysctl", ["-n", k], { allowFailure: true }).trim()])),
  };
  writeFileSync(file, JSON.stringify(before));
}

function allPids(): number[] {
  return readdirSync("/proc")
    .filter((f) => /^\d+$/.test(f))
    .map(Number);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return -1;
  }
}

/** Every process started for the cluster in `dir`: its daemons, containerd's shims and what runs under them. */
export function clusterProcesses(dir: string): number[] {
  const pids = allPids();
  const roots = new Set(pids.filter((p) => p !== process.pid && cmdline(p).includes(dir)));
  const found = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of pids) {
      if (!found.has(p) && found.has(parentOf(p))) {
        found.add(p);
        grew = true;
      }
    }
  }
  found.delete(process.pid);
  return [...found];
}

function mountsUnder(dir: string, netns: string[]): string[] {
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .map((m) => m.replace(/\\040/g, " "))
    .filter((m) => m.startsWith(dir + "/") || netns.some((n) => m === `/run/netns/${n}` || m === `/var/run/netns/${n}`));
}

function interfaces(): string[] {
  return sh("ip", ["-o", "link", "show"], { allowFailure: true })
    .split("\n")
    .map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1] ?? "")
    .filter(Boolean);
}

/** The veths of pods on the bridge (their other end is in a pod's namespace). */
function bridgePorts(): string[] {
  const ports = join("/sys/class/net", NODE.bridge, "brif");
  return existsSync(ports) ? readdirSync(ports) : [];
}

function kubeCgroups(): string[] {
  const found: string[] = [];
  if (!existsSync("/sys/fs/cgroup")) return found;
  for (const ctrl of readdirSync("/sys/fs/cgroup")) {
    for (const name of ["kubepods", "kubepods.slice"]) {
      const p = join("/sys/fs/cgroup", ctrl, name);
      try {
        if (statSync(p).isDirectory()) found.push(p);
      } catch {
        /* none */
      }
    }
  }
  return found;
}

function removeCgroup(path: string): void {
  for (const e of readdirSync(path, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(join(path, e.name));
  try {
    rmdirSync(path);
  } catch {
    /* a process is still in it: reported by leftovers() */
  }
}

function before(dir: string): HostBefore | undefined {
  const f = join(dir, "host-before.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as HostBefore) : undefined;
}

/** What the node in `dir` left on the host; empty when it is all gone. */
export function leftovers(dir: string): string[] {
  const b = before(dir);
  const newNetns = b ? netnsList().filter((n) => !b.netns.includes(n)) : [];
  const problems: string[] = [];
  for (const p of clusterProcesses(dir)) problems.push(`process ${p}: ${cmdline(p).slice(0, 120)}`);
  for (const m of mountsUnder(dir, newNetns)) problems.push(`mount ${m}`);
  for (const n of newNetns) problems.push(`network namespace ${n}`);
  for (const i of interfaces()) if (i === NODE.bridge || i === NODE.veth || i === NODE.vethPeer) problems.push(`interface ${i}`);
  if (b) {
    if (iptablesRules() !== normalise(b.iptables.v4)) problems.push("iptables rules differ from before the node started");
    if (iptablesRules(true) !== normalise(b.iptables.v6)) problems.push("ip6tables rules differ from before the node started");
  }
  for (const c of kubeCgroups()) problems.push(`cgroup ${c}`);
  return problems;
}

function normalise(save: string): string {
  return save
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ""))
    .join("\n");
}

/** Stops everything of the cluster in `dir` and restores the host; returns what could not be removed. */
export async function teardown(dir: string): Promise<string[]> {
  const b = before(dir);
  // Processes: the daemons first (by pid file or by their command line), then shims and containers.
  for (let round = 0; round < 3; round++) {
    const pids = clusterProcesses(dir);
    if (pids.length === 0) break;
    await Promise.all(pids.map((p) => stopPid(p, round === 0 ? 5000 : 1000)));
  }
  const newNetns = b ? netnsList().filter((n) => !b.netns.includes(n)) : [];
  // Deepest mounts first.
  for (const m of mountsUnder(dir, newNetns).sort((x, y) => y.length - x.length)) sh("umount", ["-l", m], { allowFailure: true });
  for (const n of newNetns) sh("ip", ["netns", "delete", n], { allowFailure: true });
  for (const p of bridgePorts()) sh("ip", ["link", "delete", p], { allowFailure: true });
  for (const i of [NODE.bridge, NODE.veth]) if (interfaces().includes(i)) sh("ip", ["link", "delete", i], { allowFailure: true });
  if (b) {
    sh("iptables-restore", [], { input: b.iptables.v4, allowFailure: true });
    sh("ip6tables-restore", [], { input: b.iptables.v6, allowFailure: true });
    for (const [k, v] of Object.entries(b.sysctl)) if (v) sh("sysctl", ["-qw", `${k}=${v}`], { allowFailure: true });
  }
  for (const c of kubeCgroups()) removeCgroup(c);
  return leftovers(dir);
}

/** The directory of a node already running on this machine, if any (one node per machine). */
export function runningNode(lockFile: string): string | undefined {
  if (!existsSync(lockFile)) return undefined;
  const dir = readFileSync(lockFile, "utf8").trim();
  const pidFile = join(dir, "pids", "kubelet.pid");
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, "utf8"));
  try {
    process.kill(pid, 0);
    return readlinkSync(`/proc/${pid}/exe`).includes("kubelet") ? dir : undefined;
  } catch {
    return undefined;
  }
}

// What the node changes on the machine, read and undone here: network
// interfaces, network namespaces, mounts, iptables chains, kubelet cgroups and
// the kernel settings the kubelet and the CNI bridge write, and the ipsets of
// the policy engine. `up` records the
// machine as it was (host-before.json); `down` removes what is new and puts
// the kernel settings back, so nothing outlives the cluster.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Kernel settings the node writes: the kubelet's "kernel defaults"
 * (protectKernelDefaults is off, as on most nodes), ip_forward from the CNI
 * bridge's gateway, and what kube-proxy may set. Restored by `down`.
 */
export const TOUCHED_SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
  "net/ipv4/ip_forward",
  "net/ipv4/conf/all/route_localnet",
  "net/bridge/bridge-nf-call-iptables",
  "net/bridge/bridge-nf-call-ip6tables",
  "net/netfilter/nf_conntrack_max",
] as const;

/**
 * Directories outside the cluster's own that containerd, the CNI library and
 * the kubelet write to whatever they are told (shim sockets, CNI result cache,
 * device-plugin socket dir, container log links). Removed by `down` when they
 * were not there before; when they were, only the cluster's entries go.
 */
export const FOOTPRINT_PATHS = [
  "/run/containerd",
  "/run/netns",
  "/var/lib/cni",
  "/var/lib/kubelet",
  "/var/log/containers",
  "/var/log/pods",
  "/run/mount",
] as const;

const IPTABLES_TABLES = ["filter", "nat", "mangle", "raw"] as const;
const CGROUP_ROOT = "/sys/fs/cgroup";
/** kubelet's pod cgroups (cgroupfs driver), per hierarchy */
const KUBEPODS = "kubepods";

export interface HostState {
  links: string[];
  netns: string[];
  mounts: string[];
  /** "<family> <table>" -> iptables-save lines without counters */
  iptables: Record<string, string[]>;
  sysctls: Record<string, string>;
  cgroups: string[];
  /** which FOOTPRINT_PATHS exist */
  paths: string[];
  /** ipset names (kube-router's policy engine keeps its pod and namespace sets there); absent in records made before it */
  ipsets?: string[];
}

function sh(file: string, args: string[], allowFailure = false): string {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    if (allowFailure) return "";
    const err = e as { stderr?: string; message: string };
    throw new Error(`${file} ${args.join(" ")} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

export function links(): string[] {
  return sh("ip", ["-o", "link", "show"])
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => !!n)
    .sort();
}

export function netns(): string[] {
  return existsSync("/run/netns") ? readdirSync("/run/netns").sort() : [];
}

/** Mount points, from /proc/self/mountinfo. */
export function mounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ")[4]!.replace(/\\040/g, " "))
    .sort();
}

function iptablesBinary(family: "ipv4" | "ipv6"): string {
  return family === "ipv4" ? "iptables" : "ip6tables";
}

export function iptablesRules(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const family of ["ipv4", "ipv6"] as const) {
    for (const table of IPTABLES_TABLES) {
      out[`${family} ${table}`] = sh(iptablesBinary(family), ["-t", table, "-S"], true).split("\n").filter(Boolean).sort();
    }
  }
  return out;
}

/** ipset names; none when the ipset tool is missing (nothing can have made one then). */
export function ipsets(): string[] {
  return sh("ipset", ["list", "-n"], true).split("\n").filter(Boolean).sort();
}

/** Destroys the ipsets that were not there before; run after restoreIptables (a set a rule still uses cannot go). */
export function destroyIpsets(before: string[]): void {
  const fresh = ipsets().filter((n) => !before.includes(n));
  for (const n of fresh) sh("ipset", ["flush", n], true);
  for (const n of fresh) sh("ipset", ["destroy", n], true);
}

export function readSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of TOUCHED_SYSCTLS) {
    try {
      out[k] = readFileSync(`/proc/sys/${k}`, "utf8").trim();
    } catch {
      /* not in this kernel */
    }
  }
  return out;
}

function cgroupHierarchies(): string[] {
  if (!existsSync(CGROUP_ROOT)) return [];
  // cgroup v2 has one tree at the root; v1 one per controller directory.
  if (existsSync(join(CGROUP_ROOT, "cgroup.controllers"))) return [CGROUP_ROOT];
  return readdirSync(CGROUP_ROOT, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(CGROUP_ROOT, d.name, "cgroup.procs")))
    .map((d) => join(CGROUP_ROOT, d.name));
}

/** Every cgroup directory under each hierarchy's kubepods, deepest first. */
export function podCgroups(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      // A container that exits while the node stops takes its cgroup with it (seen: ENOENT failed a test's `after`, leaving the node up).
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
      throw e;
    }
    for (const d of entries) if (d.isDirectory()) walk(join(dir, d.name));
    found.push(dir);
  };
  for (const h of cgroupHierarchies()) if (existsSync(join(h, KUBEPODS))) walk(join(h, KUBEPODS));
  return found;
}

export function hostState(): HostState {
  return {
    links: links(),
    netns: netns(),
    mounts: mounts(),
    iptables: iptablesRules(),
    sysctls: readSysctls(),
    cgroups: podCgroups().sort(),
    paths: FOOTPRINT_PATHS.filter((p) => existsSync(p)),
    ipsets: ipsets(),
  };
}

export function saveHostState(file: string): HostState {
  const s = hostState();
  writeFileSync(file, JSON.stringify(s, null, 1));
  return s;
}

export function loadHostState(file: string): HostState | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as HostState) : undefined;
}

/**
 * The differences between two states, one line each ("+ link veth1234"), for
 * errors and tests. Mounts in other directories under /tmp than ownDir belong
 * to whatever else runs containers on the machine (another engineer's
 * containerd, a test's), not to this cluster.
 */
export function diffHostState(before: HostState, after: HostState, ownDir?: string): string[] {
  const lines: string[] = [];
  const foreign = (what: string, x: string) => what === "mount" && x.startsWith("/tmp/") && !(ownDir && x.startsWith(ownDir));
  const set = (what: string, a: string[], b: string[]) => {
    a = a.filter((x) => !foreign(what, x));
    b = b.filter((x) => !foreign(what, x));
    for (const x of b) if (!a.includes(x)) lines.push(`+ ${what} ${x}`);
    for (const x of a) if (!b.includes(x)) lines.push(`- ${what} ${x}`);
  };
  set("link", before.links, after.links);
  set("netns", before.netns, after.netns);
  set("mount", before.mounts, after.mounts);
  set("cgroup", before.cgroups, after.cgroups);
  set("path", before.paths ?? [], after.paths);
  set("ipset", before.ipsets ?? [], after.ipsets ?? []);
  for (const k of new Set([...Object.keys(before.iptables), ...Object.keys(after.iptables)]))
    set(`iptables(${k})`, before.iptables[k] ?? [], after.iptables[k] ?? []);
  for (const [k, v] of Object.entries(before.sysctls)) if (after.sysctls[k] !== v) lines.push(`~ sysctl ${k} ${v} -> ${after.sysctls[k]}`);
  return lines;
}

/** SIGKILL every process in the kubelet's pod cgroups (containers and sandboxes). Returns how many. */
export function killPodProcesses(): number {
  let n = 0;
  for (const cg of podCgroups()) {
    let procs: string[] = [];
    try {
      procs = readFileSync(join(cg, "cgroup.procs"), "utf8").split("\n").filter(Boolean);
    } catch {
      continue;
    }
    for (const p of procs) {
      try {
        process.kill(Number(p), "SIGKILL");
        n++;
      } catch {
        /* gone */
      }
    }
  }
  return n;
}

/** rmdir the pod cgroups that were not there before (deepest first; a cgroup with processes stays). */
export function removePodCgroups(before: string[]): string[] {
  const left: string[] = [];
  for (const cg of podCgroups()) {
    if (before.includes(cg)) continue;
    try {
      rmdirSync(cg);
    } catch {
      left.push(cg);
    }
  }
  return left;
}

/** Unmounts every mount point under one of the prefixes, deepest first. */
export function unmountUnder(prefixes: string[]): void {
  const targets = mounts()
    .filter((m) => prefixes.some((p) => m === p || m.startsWith(p.endsWith("/") ? p : `${p}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of [...new Set(targets)]) sh("umount", ["-l", m], true);
}

export function deleteNetns(names: string[]): void {
  for (const n of names) sh("ip", ["netns", "delete", n], true);
}

export function deleteLinks(names: string[]): void {
  for (const n of names) sh("ip", ["link", "delete", n], true);
}

/**
 * Removes the iptables rules and chains that were not there before: first
 * every new rule (a jump into a new chain goes with it), then the new chains.
 */
export function restoreIptables(before: Record<string, string[]>): void {
  for (const [key, rules] of Object.entries(iptablesRules())) {
    const [family, table] = key.split(" ") as ["ipv4" | "ipv6", string];
    const bin = iptablesBinary(family);
    const old = new Set(before[key] ?? []);
    for (const r of rules) {
      if (old.has(r) || !r.startsWith("-A ")) continue;
      sh(bin, ["-t", table, "-D", ...splitRule(r.slice(3))], true);
    }
    for (const r of rules) {
      if (old.has(r) || !r.startsWith("-N ")) continue;
      const chain = r.slice(3).trim();
      sh(bin, ["-t", table, "-F", chain], true);
    }
    for (const r of rules) {
      if (old.has(r) || !r.startsWith("-N ")) continue;
      sh(bin, ["-t", table, "-X", r.slice(3).trim()], true);
    }
  }
}

/** Splits an `iptables -S` rule into arguments, keeping "quoted comments" whole. */
export function splitRule(rule: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) args.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : m[2]!);
  return args;
}

export function restoreSysctls(before: Record<string, string>): void {
  const now = readSysctls();
  for (const [k, v] of Object.entries(before)) {
    if (now[k] === v) continue;
    try {
      writeFileSync(`/proc/sys/${k}`, `${v}\n`);
    } catch {
      /* read-only here: nothing was changed either */
    }
  }
}

/** The veth pair that carries the node's IP (there is no dummy link type in every kernel). */
export function createNodeLink(hostIf: string, peerIf: string, ip: string): void {
  if (links().includes(hostIf)) return;
  sh("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", peerIf]);
  sh("ip", ["addr", "add", `${ip}/32`, "dev", hostIf]);
  sh("ip", ["link", "set", hostIf, "up"]);
  sh("ip", ["link", "set", peerIf, "up"]);
}

/**
 * Removes what the node left in FOOTPRINT_PATHS: the whole directory when it
 * was not there before, otherwise only entries naming the CNI network or
 * pointing into the cluster's directory.
 */
export function removeFootprint(before: string[] | undefined, dir: string, network: string): void {
  for (const p of FOOTPRINT_PATHS) {
    if (!existsSync(p)) continue;
    if (before && !before.includes(p)) {
      rmSync(p, { recursive: true, force: true });
      continue;
    }
    if (p === "/var/log/containers") {
      for (const f of readdirSync(p)) {
        try {
          if (readlinkSync(join(p, f)).startsWith(dir)) rmSync(join(p, f), { force: true });
        } catch {
          /* not a link */
        }
      }
    }
    if (p === "/var/lib/cni" && existsSync(join(p, "results"))) {
      for (const f of readdirSync(join(p, "results"))) if (f.startsWith(`${network}-`)) rmSync(join(p, "results", f), { force: true });
    }
  }
}

// The cluster's long-running processes. Each runs detached in its own process
// group with its output in <dir>/logs/<name>.log and its id in
// <dir>/pids/<name>.pid, so `npm run cluster -- down` (a later process) can
// stop exactly what `up` started, and nothing else.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Daemon {
  name: string;
  pid: number;
  log: string;
}

const pidFile = (dir: string, name: string) => join(dir, "pids", `${name}.pid`);
export const logFile = (dir: string, name: string) => join(dir, "logs", `${name}.log`);

export function startDaemon(dir: string, name: string, file: string, args: string[], env?: NodeJS.ProcessEnv, cwd?: string): Daemon {
  mkdirSync(join(dir, "pids"), { recursive: true });
  mkdirSync(join(dir, "logs"), { recursive: true });
  const log = logFile(dir, name);
  const fd = openSync(log, "a");
  const child = spawn(file, args, { cwd: cwd ?? dir, stdio: ["ignore", fd, fd], detached: true, env: env ?? process.env });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name} did not start (${file})`);
  child.unref();
  writeFileSync(pidFile(dir, name), `${child.pid}\n`);
  return { name, pid: child.pid, log };
}

/** Alive and still the program we started (a recycled pid runs something else). */
export function isAlive(pid: number, program?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/\) Z /.test(stat)) return false; // a zombie has exited
    if (!program) return true;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .some((a) => a.includes(program));
  } catch {
    return false;
  }
}

/** The daemons whose pid files are in dir, in the order they were started. */
export function recordedDaemons(dir: string): Daemon[] {
  const pids = join(dir, "pids");
  if (!existsSync(pids)) return [];
  return readdirSync(pids)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => {
      const path = join(pids, f);
      // pid files are written once, at start: their mtime orders the daemons.
      return { name: f.slice(0, -4), pid: Number(readFileSync(path, "utf8").trim()), log: logFile(dir, f.slice(0, -4)), started: statSync(path).mtimeMs };
    })
    .sort((a, b) => a.started - b.started)
    .map(({ name, pid, log }) => ({ name, pid, log }));
}

export function logTail(log: string, lines = 30): string {
  try {
    return readFileSync(log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM to the daemon's process group, SIGKILL after graceMs; resolves when it is gone. */
export async function stopDaemon(dir: string, d: Daemon, graceMs = 10_000): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-d.pid, s);
    } catch {
      try {
        process.kill(d.pid, s);
      } catch {
        /* already gone */
      }
    }
  };
  if (isAlive(d.pid)) {
    signal("SIGTERM");
    const deadline = Date.now() + graceMs;
    while (isAlive(d.pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(d.pid)) signal("SIGKILL");
    while (isAlive(d.pid)) await sleep(50);
  }
  // Children left in the group (a node program has no handler that would stop them).
  signal("SIGKILL");
  rmSync(pidFile(dir, d.name), { force: true });
}

/** Synchronous last resort for a test process that is exiting: SIGKILL every recorded group. */
export function killAllSync(dir: string): void {
  for (const d of recordedDaemons(dir)) {
    try {
      process.kill(-d.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

// The cluster's processes, started detached with a pid file each, so the same
// code serves a test (stopped in its after hook) and `npm run cluster up`
// (stopped by a later `npm run cluster down`).
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";

export interface Daemon {
  name: string;
  pid: number;
  log: string;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function startDaemon(dir: string, name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Daemon {
  mkdirSync(join(dir, "pids"), { recursive: true });
  mkdirSync(join(dir, "logs"), { recursive: true });
  const log = join(dir, "logs", `${name}.log`);
  const fd = openSync(log, "a");
  const child = spawn(cmd, args, { cwd: dir, stdio: ["ignore", fd, fd], detached: true, env });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${name} (${cmd})`);
  writeFileSync(join(dir, "pids", `${name}.pid`), String(child.pid));
  return { name, pid: child.pid, log };
}

export function daemons(dir: string): Daemon[] {
  const pids = join(dir, "pids");
  if (!existsSync(pids)) return [];
  return readdirSync(pids)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => {
      const name = f.slice(0, -4);
      return { name, pid: Number(readFileSync(join(pids, f), "utf8")), log: join(dir, "logs", `${name}.log`) };
    });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
    while (alive(pid)) await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopDaemon(dir: string, d: Daemon, graceMs?: number): Promise<void> {
  await stopPid(d.pid, graceMs);
  rmSync(join(dir, "pids", `${d.name}.pid`), { force: true });
}

export function logTail(log: string, lines = 30): string {
  try {
    return readFileSync(log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

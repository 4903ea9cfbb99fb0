// A containerd of the test's own (root, state, socket, runc root under one
// temporary directory; CRI off), for running the project's images with `ctr`
// without touching any other containerd on the machine. Needs root and
// Debian's containerd + runc: the test fails saying so when either is missing.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runProcess, ProcessRun } from "./process";

export interface TestContainerd {
  address: string;
  namespace: string;
  dir: string;
  /** `ctr -a <address> -n <namespace> ...` */
  ctr(args: string[], opts?: { allowFailure?: boolean; input?: string }): Promise<ProcessRun>;
  /** `ctr run --rm` with this containerd's runc root; resolves with the exit code and output */
  run(image: string, id: string, runArgs: string[], command: string[], opts?: { allowFailure?: boolean }): Promise<ProcessRun>;
  /** a detached container, output to <dir>/<id>.log; stop() kills it */
  start(image: string, id: string, runArgs: string[], command?: string[]): Promise<{ log: () => string; stop: (signal?: string) => Promise<void> }>;
  stop(): Promise<void>;
}

function which(cmd: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export function containerdPrerequisites(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("containers need root: run the tests as root");
  for (const cmd of ["containerd", "ctr", "runc"]) if (!which(cmd)) problems.push(`${cmd} is missing: apt-get install containerd runc`);
  return problems;
}

export async function startContainerd(): Promise<TestContainerd> {
  const problems = containerdPrerequisites();
  if (problems.length) throw new Error(`cannot start a test containerd: ${problems.join("; ")}`);
  // Short path: the socket's path must fit in 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), "pgs-ctrd-"));
  const address = join(dir, "c.sock");
  const runcRoot = join(dir, "runc");
  const namespace = "pgshift-test";
  writeFileSync(
    join(dir, "config.toml"),
    [
      "version = 2",
      `root = "${join(dir, "root")}"`,
      `state = "${join(dir, "state")}"`,
      // No CRI: nothing here is Kubernetes, and the CRI plugin would want CNI and a sandbox image.
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = "${address}"`,
      "",
    ].join("\n"),
  );
  const log = join(dir, "containerd.log");
  const child: ChildProcess = spawn("containerd", ["--config", join(dir, "config.toml")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
    writeFileSync(log, stderr);
  });
  const deadline = Date.now() + 20_000;
  while (!existsSync(address) || !stderr.includes("containerd successfully booted")) {
    if (child.exitCode !== null) throw new Error(`containerd exited ${child.exitCode}:\n${stderr}`);
    if (Date.now() > deadline) throw new Error(`containerd did not start within 20s:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const ctr = (args: string[], opts: { allowFailure?: boolean; input?: string } = {}) =>
    runProcess("ctr", ["-a", address, "-n", namespace, ...args], { ...opts, label: "ctr" });
  const containers: string[] = [];
  const remove = async (id: string, signal = "SIGKILL") => {
    await ctr(["tasks", "kill", "-s", signal, id], { allowFailure: true });
    for (let i = 0; i < 100; i++) {
      const ls = await ctr(["tasks", "ls"], { allowFailure: true });
      if (!new RegExp(`^${id}\\s+\\d+\\s+RUNNING`, "m").test(ls.stdout)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await ctr(["tasks", "delete", id], { allowFailure: true });
    await ctr(["containers", "delete", id], { allowFailure: true });
  };
  return {
    address,
    namespace,
    dir,
    ctr,
    run: (image, id, runArgs, command, opts = {}) => ctr(["run", "--rm", "--runc-root", runcRoot, ...runArgs, image, id, ...command], opts),
    async start(image, id, runArgs, command = []) {
      const logFile = join(dir, `${id}.log`);
      containers.push(id);
      await ctr(["run", "-d", "--log-uri", `file://${logFile}`, "--runc-root", runcRoot, ...runArgs, image, id, ...command]);
      return {
        log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
        stop: (signal?: string) => remove(id, signal),
      };
    },
    async stop() {
      for (const id of containers) await remove(id);
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
      // Unpacked layers are overlay mounts only while a container runs; what is left are plain files.
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

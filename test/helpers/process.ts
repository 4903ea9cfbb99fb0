// Runs a command-line tool for a test and collects its output.
import { spawn } from "node:child_process";

export interface ProcessRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `file` with `args`; rejects on a non-zero exit (with both outputs) unless allowFailure. */
export function runProcess(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; allowFailure?: boolean; label?: string } = {},
): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    // Decoded as a stream: a character split across two chunks (emoji in psql's output) stays whole.
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (stdout += d));
    child.stderr.on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0 && !opts.allowFailure) {
        reject(new Error(`${opts.label ?? file} ${args.join(" ")} exited ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
      } else resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

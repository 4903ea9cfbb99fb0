// Runs the project's own Pulumi engine (.toolchain/, built by toolchain/setup.sh)
// against a throwaway file backend, so tests never touch ~/.pulumi or a cloud.
import { mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runProcess, type ProcessRun } from "./process";

export const repoRoot = resolve(__dirname, "..", "..");
export const toolchainBin = join(repoRoot, ".toolchain", "bin");
export const projectPulumiHome = join(repoRoot, ".toolchain", "pulumi-home");

export type PulumiRun = ProcessRun;

export interface PulumiWorkspace {
  backendDir: string;
  env: NodeJS.ProcessEnv;
  run(args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv; allowFailure?: boolean }): Promise<PulumiRun>;
}

/** A fresh file backend plus the environment the engine needs to use only the project's toolchain. */
export function pulumiWorkspace(cwd: string, extraEnv: NodeJS.ProcessEnv = {}): PulumiWorkspace {
  if (!existsSync(join(toolchainBin, "pulumi"))) {
    throw new Error("The Pulumi toolchain is not built: run `bash toolchain/setup.sh` (npm test does this first).");
  }
  const backendDir = mkdtempSync(join(tmpdir(), "pgshift-state-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_HOME: projectPulumiHome,
    PULUMI_BACKEND_URL: `file://${backendDir}`,
    PULUMI_CONFIG_PASSPHRASE: "test-passphrase-" + process.pid,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
    PATH: `${toolchainBin}:${join(repoRoot, "node_modules", ".bin")}:${process.env.PATH ?? ""}`,
    ...extraEnv,
  };
  delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
  delete env.PULUMI_ACCESS_TOKEN;
  return {
    backendDir,
    env,
    run(args, opts = {}) {
      return runProcess(join(toolchainBin, "pulumi"), [...args, "--non-interactive"], {
        cwd: opts.cwd ?? cwd,
        env: { ...env, ...opts.env },
        allowFailure: opts.allowFailure,
        label: "pulumi",
      });
    },
  };
}

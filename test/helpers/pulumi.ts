// Runs the project's own Pulumi engine (.toolchain/, built by toolchain/setup.sh)
// in the project's environment (scripts/pulumi-env.ts) but against a throwaway
// file backend and passphrase, so tests never touch ~/.pulumi, a cloud or the
// developer's own stacks.
import { mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot, pulumiBinary, pulumiEnv, pulumiHome, readsSettings, toolchainBin, withConfigFile } from "../../scripts/pulumi-env";
import { runProcess, type ProcessRun } from "./process";

// Which commands take a stack's settings file: the same rule `npm run pulumi` follows.
export { readsSettings, toolchainBin, withConfigFile };
export const repoRoot = projectRoot;
export const projectPulumiHome = pulumiHome();

export type PulumiRun = ProcessRun;

export interface PulumiWorkspace {
  backendDir: string;
  env: NodeJS.ProcessEnv;
  run(args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv; allowFailure?: boolean }): Promise<PulumiRun>;
}

/** A fresh file backend plus the environment the engine needs to use only the project's toolchain. */
export function pulumiWorkspace(cwd: string, extraEnv: NodeJS.ProcessEnv = {}): PulumiWorkspace {
  if (!existsSync(pulumiBinary)) {
    throw new Error("The Pulumi toolchain is not built: run `bash toolchain/setup.sh` (npm test does this first).");
  }
  const backendDir = mkdtempSync(join(tmpdir(), "pgshift-state-"));
  const env: NodeJS.ProcessEnv = { ...pulumiEnv(process.env, { backendDir, passphrase: "test-passphrase-" + process.pid }), ...extraEnv };
  delete env.PULUMI_ACCESS_TOKEN;
  return {
    backendDir,
    env,
    run(args, opts = {}) {
      return runProcess(pulumiBinary, [...args, "--non-interactive"], {
        cwd: opts.cwd ?? cwd,
        env: { ...env, ...opts.env },
        allowFailure: opts.allowFailure,
        label: "pulumi",
      });
    },
  };
}

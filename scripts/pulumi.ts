// `npm run pulumi -- <args>`: runs the project's Pulumi with <args> in the
// environment scripts/pulumi-env.ts gives. On the local stack (named with
// --stack, or the selected one) a command that reads settings gets
// .local/Pulumi.local.yaml, the file `npm start` writes: the committed
// Pulumi.local.yaml only has the defaults (no port, no superuser password), and
// a preview or up with it would replace the stack's Secrets.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import {
  adoptLocalStackSalt,
  commandWords,
  forgetLocalStackConfig,
  isLocalStack,
  localStackArgs,
  localStackConfig,
  localStackTemplate,
  projectRoot,
  pulumiBinary,
  pulumiEnv,
  readsSettings,
  stackNamed,
} from "./pulumi-env";

const env = pulumiEnv();
const args = process.argv.slice(2);
const [cmd, sub] = commandWords(args);

/** The selected stack, for a command that names none. */
function selectedStack(): string | undefined {
  const r = spawnSync(pulumiBinary, ["stack", "--show-name", "--non-interactive"], { cwd: projectRoot, env, encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

let run = args;
let after: (() => void) | undefined;
if (cmd === "stack" && isLocalStack(stackNamed(args))) {
  if (sub === "init") {
    const template = readFileSync(localStackTemplate, "utf8");
    after = () => adoptLocalStackSalt(template);
  } else if (sub === "rm") {
    // Pulumi would delete the committed template; the settings that go are this machine's.
    run = [...args, "--preserve-config"];
    after = forgetLocalStackConfig;
  }
} else if (readsSettings(args) && isLocalStack(stackNamed(args) ?? selectedStack())) {
  if (!existsSync(localStackConfig)) {
    process.stderr.write(
      `The local stack's settings (${localStackConfig}) are written by \`npm start\`, which has not run here (or \`npm run clean\` removed them): run \`npm start\` first.\n`,
    );
    process.exit(2);
  }
  run = localStackArgs(args);
}

// Ctrl-C reaches Pulumi too, which cancels cleanly; this process waits for it and passes its exit status on.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => undefined);
const child = spawn(pulumiBinary, run, { cwd: projectRoot, env, stdio: "inherit" });
child.on("close", (code, signal) => {
  if (code === 0) after?.();
  process.exit(code ?? (signal ? 128 : 1));
});

// How pgshift runs Pulumi, said once: the engine setup put in .toolchain/bin, its
// plugins in the project's PULUMI_HOME (or PGSHIFT_PULUMI_HOME), state in a local
// file backend with a passphrase generated once, and the local stack's settings
// for this machine in .local/Pulumi.local.yaml. `npm run pulumi` (scripts/pulumi.ts),
// `npm start` (scripts/start.ts), scripts/env.sh and the tests
// (test/helpers/pulumi.ts) all take it from here, so a command typed by hand acts
// on the same stack, state and settings as the one `npm start` ran.
//
//   node --import tsx scripts/pulumi-env.ts --shell   # export lines for scripts/env.sh
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { moveEncryptionSalt } from "./stack-file";

export const projectRoot = resolve(__dirname, "..");
export const toolchainBin = join(projectRoot, ".toolchain", "bin");
export const pulumiBinary = join(toolchainBin, "pulumi");
/** The local file backend; also holds the generated passphrase. */
export const stateDir = join(projectRoot, ".pulumi-state");

/** The stack `npm start` runs. */
export const LOCAL_STACK = "local";
/** Its committed settings: the starting point, never written (its salt and this machine's values would show in git). */
export const localStackTemplate = join(projectRoot, "Pulumi.local.yaml");
/** Its settings on this machine (port, superuser password, source, salt): a copy of the template, git-ignored. */
export const localStackConfig = join(projectRoot, ".local", "Pulumi.local.yaml");

/** Where the engine finds its plugins; setup.sh links them there, so the engine never downloads one. */
export function pulumiHome(base: NodeJS.ProcessEnv = process.env): string {
  return base.PGSHIFT_PULUMI_HOME || join(projectRoot, ".toolchain", "pulumi-home");
}

/** The generated passphrase's file, made on first use. Never overwritten: losing it makes the stacks' secrets unreadable. */
export function passphraseFile(): string {
  const file = join(stateDir, "passphrase");
  if (!existsSync(file)) {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
  }
  return file;
}

export interface PulumiEnvOptions {
  /** a file backend of its own (tests), instead of PULUMI_BACKEND_URL or .pulumi-state */
  backendDir?: string;
  /** a passphrase of its own (tests), instead of the user's or the generated one */
  passphrase?: string;
}

/**
 * The environment every Pulumi command of the project runs in. The user's own
 * PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE(_FILE) are kept (a shared
 * backend for dev and prod); without them, the local backend and the generated
 * passphrase.
 */
export function pulumiEnv(base: NodeJS.ProcessEnv = process.env, opts: PulumiEnvOptions = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    PULUMI_HOME: pulumiHome(base),
    PULUMI_BACKEND_URL: opts.backendDir ? `file://${opts.backendDir}` : base.PULUMI_BACKEND_URL || `file://${stateDir}`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
    PULUMI_SKIP_CONFIRMATIONS: "true",
    PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true",
    PATH: [toolchainBin, join(projectRoot, "node_modules", ".bin"), base.PATH ?? ""].join(":"),
  };
  if (opts.passphrase !== undefined) {
    env.PULUMI_CONFIG_PASSPHRASE = opts.passphrase;
    delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
  } else if (!base.PULUMI_CONFIG_PASSPHRASE) {
    env.PULUMI_CONFIG_PASSPHRASE_FILE = base.PULUMI_CONFIG_PASSPHRASE_FILE || passphraseFile();
  }
  return env;
}

// Global flags that take a value: what follows them is not the command.
const GLOBAL_FLAGS_WITH_VALUE = new Set(["--cwd", "-C", "--color", "--verbose", "-v", "--tracing", "--profiling", "--memprofilerate"]);

/** The command words of a Pulumi command line (`["config", "set", …]`), flags left out. */
export function commandWords(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break;
    if (a.startsWith("-")) {
      if (GLOBAL_FLAGS_WITH_VALUE.has(a) || a === "--stack" || a === "-s" || a === "--config-file") i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** The commands that read a stack's settings and so take --config-file (the pulumi CLI's own list, with aliases). */
const READS_SETTINGS = new Set(["up", "update", "preview", "pre", "refresh", "destroy", "down", "dn", "import", "config"]);

export function readsSettings(args: string[]): boolean {
  return READS_SETTINGS.has(commandWords(args)[0] ?? "");
}

/** `args` with `--config-file file` added when the command reads settings and names no file itself. */
export function withConfigFile(args: string[], file: string): string[] {
  if (!readsSettings(args) || args.some((a) => a === "--config-file" || a.startsWith("--config-file="))) return args;
  const end = args.indexOf("--");
  return end < 0 ? [...args, "--config-file", file] : [...args.slice(0, end), "--config-file", file, ...args.slice(end)];
}

/** The stack a command line names with --stack/-s, or for `stack init|rm|select NAME` as its argument. */
export function stackNamed(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break;
    if (a === "--stack" || a === "-s") return args[i + 1];
    const m = /^(?:--stack|-s)=(.*)$/.exec(a);
    if (m) return m[1];
  }
  const [cmd, sub, name] = commandWords(args);
  return cmd === "stack" && (sub === "init" || sub === "rm" || sub === "select") ? name : undefined;
}

/** Whether a stack name (`local`, `pgshift/local`, `organization/pgshift/local`) is this project's local stack. */
export function isLocalStack(name: string | undefined): boolean {
  if (!name) return false;
  const parts = name.split("/");
  return parts[parts.length - 1] === LOCAL_STACK && (parts.length < 2 || parts[parts.length - 2] === "pgshift");
}

/** A command on the local stack: its settings file where the command reads settings. */
export function localStackArgs(args: string[]): string[] {
  return withConfigFile(args, localStackConfig);
}

/**
 * After `stack init local`: Pulumi wrote the new stack's salt into the committed
 * template. The salt goes into a fresh copy of the template under .local/ (values
 * encrypted with an older stack's salt could not be read) and the template is
 * put back as it was.
 */
export function adoptLocalStackSalt(templateBefore: string): void {
  mkdirSync(join(projectRoot, ".local"), { recursive: true });
  rmSync(localStackConfig, { force: true });
  moveEncryptionSalt(localStackTemplate, localStackConfig, templateBefore, templateBefore);
}

/** After `stack rm local`: its settings go with it (Pulumi removes Pulumi.<stack>.yaml; the wrapper keeps the template). */
export function forgetLocalStackConfig(): void {
  rmSync(localStackConfig, { force: true });
}

/** `export NAME='value'` lines for a shell (scripts/env.sh): only what differs from the shell's own environment. */
export function shellExports(env: NodeJS.ProcessEnv, base: NodeJS.ProcessEnv = process.env): string {
  const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  const lines = Object.entries(env)
    .filter(([k, v]) => v !== undefined && base[k] !== v)
    .map(([k, v]) => `export ${k}=${quote(v!)}`);
  const unset = Object.keys(base).filter((k) => k.startsWith("PULUMI_") && env[k] === undefined);
  return [...lines, ...unset.map((k) => `unset ${k}`)].join("\n") + "\n";
}

if (require.main === module && process.argv[2] === "--shell") {
  process.stdout.write(shellExports({ ...pulumiEnv(), PGSHIFT_ROOT: projectRoot }));
}

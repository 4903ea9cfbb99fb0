// `pulumi stack init` writes the stack's passphrase salt into
// Pulumi.<stack>.yaml beside Pulumi.yaml. pgshift keeps machine-specific stack
// config (ports, local paths, the local superuser password) in a copy outside
// the repository and passes it with --config-file, so the salt moves there and
// the committed file stays as it was.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const SALT = /^encryptionsalt:.*$/m;

/**
 * After `stack init`: puts the salt into `configFile` (created from `template`
 * when missing) and restores `stackFile` to `original` (or removes it when it
 * did not exist before).
 */
export function moveEncryptionSalt(stackFile: string, configFile: string, template: string, original: string | undefined): void {
  const salt = existsSync(stackFile) ? SALT.exec(readFileSync(stackFile, "utf8"))?.[0] : undefined;
  let config = existsSync(configFile) ? readFileSync(configFile, "utf8") : template;
  if (salt) config = SALT.test(config) ? config.replace(SALT, salt) : `${config.trimEnd()}\n${salt}\n`;
  writeFileSync(configFile, config);
  if (original === undefined) rmSync(stackFile, { force: true });
  else writeFileSync(stackFile, original);
}

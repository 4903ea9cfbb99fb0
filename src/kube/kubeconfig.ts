// The kubeconfig the kubernetes provider uses, found the same way it finds it
// (kubernetes:kubeconfig, then $KUBECONFIG, then ~/.kube/config), so the
// program's own port-forward goes to the same cluster as the manifests.
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import type * as k8s from "@kubernetes/client-node" with { "resolution-mode": "import" };

export interface ResolvedKubeconfig {
  /** kubeconfig YAML with every file reference made absolute; secret */
  contents: string;
  /** where it came from, for messages (never the contents) */
  source: string;
}

export class KubeconfigError extends Error {}

/**
 * `configValue` is kubernetes:kubeconfig (a path or the YAML itself, as the
 * provider accepts). Throws a KubeconfigError saying where it looked.
 */
export function resolveKubeconfig(configValue: string | undefined, env: NodeJS.ProcessEnv = process.env, home = homedir()): ResolvedKubeconfig {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node 20 loads ES modules with require()
  const { KubeConfig } = require("@kubernetes/client-node") as typeof k8s;
  const kc = new KubeConfig();
  let source: string;
  try {
    if (configValue && /\n|^\s*(apiVersion|kind|clusters):/.test(configValue)) {
      kc.loadFromString(configValue);
      source = "kubernetes:kubeconfig (inline)";
    } else {
      const candidates = configValue ? [configValue] : env.KUBECONFIG ? env.KUBECONFIG.split(delimiter).filter(Boolean) : [join(home, ".kube", "config")];
      const file = candidates.find((f) => existsSync(f));
      if (!file) {
        throw new KubeconfigError(
          `No kubeconfig found (looked at ${configValue ? "kubernetes:kubeconfig" : env.KUBECONFIG ? "$KUBECONFIG" : "~/.kube/config"}: ${candidates.join(", ")}). ` +
            "pgshift opens its port-forward with the same kubeconfig as the kubernetes provider: set KUBECONFIG or kubernetes:kubeconfig, " +
            "or reach PostgreSQL another way with pgshift:connection.via direct.",
        );
      }
      kc.loadFromFile(file);
      source = file;
    }
  } catch (e) {
    if (e instanceof KubeconfigError) throw e;
    throw new KubeconfigError(`The kubeconfig could not be read: ${(e as Error).message}`);
  }
  // Inline every referenced file so the port-forward does not depend on paths
  // that exist only on this machine at this moment.
  for (const c of kc.clusters) {
    if (c.caFile && !c.caData) Object.assign(c, { caData: readFileSync(c.caFile).toString("base64"), caFile: undefined });
  }
  for (const u of kc.users) {
    if (u.certFile && !u.certData) Object.assign(u, { certData: readFileSync(u.certFile).toString("base64"), certFile: undefined });
    if (u.keyFile && !u.keyData) Object.assign(u, { keyData: readFileSync(u.keyFile).toString("base64"), keyFile: undefined });
  }
  return { contents: kc.exportConfig(), source };
}

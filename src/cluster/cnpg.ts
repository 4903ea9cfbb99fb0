// CloudNativePG on the local cluster's node (`npm run cluster -- up --cnpg`,
// startCluster({ cloudnativePg: true })): the operator's manifests rendered by
// toolchain/cnpg/build.sh from the Go module pinned in toolchain/cnpg/go.mod
// (CRDs, RBAC, the cnpg-system namespace, the operator Deployment on the
// locally built image, its webhooks), applied server-side; then the CRDs are
// waited for until Established and, with a node, the operator until Available.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ApiClient } from "./api";
import { ClusterError } from "./errors";
import { imageManifest, repoRoot, toolchainBin } from "./paths";
import { CNPG_OPERATOR_IMAGE, CNPG_POSTGRES_IMAGE } from "../../toolchain/images/recipes";
import { CNPG_CLUSTER_CRD } from "../kube/operator-check";

export const CNPG_VERSION = "1.28.0";
/** written by toolchain/cnpg/build.sh */
export const cnpgOperatorManifests = join(repoRoot, ".toolchain", "cnpg", "operator.yaml");
/** imported into the node's containerd only when the cluster runs CloudNativePG */
export const CNPG_IMAGES: readonly string[] = [CNPG_OPERATOR_IMAGE, CNPG_POSTGRES_IMAGE];
export const CNPG_NAMESPACE = "cnpg-system";
export const CNPG_DEPLOYMENT = "cnpg-controller-manager";
const CRDS = [CNPG_CLUSTER_CRD, "backups.postgresql.cnpg.io", "scheduledbackups.postgresql.cnpg.io", "poolers.postgresql.cnpg.io"];

/** What is missing before the operator can be installed (its images only matter where pods run), each with what to do. */
export function cnpgPrerequisites(node: boolean): string[] {
  const problems: string[] = [];
  if (!existsSync(cnpgOperatorManifests))
    problems.push(`CloudNativePG's manifests (${cnpgOperatorManifests}) are not rendered: run \`bash toolchain/cnpg/build.sh\`.`);
  if (!existsSync(join(toolchainBin, "cnpg-manager")))
    problems.push(`CloudNativePG's manager is not built in ${toolchainBin}: run \`bash toolchain/cnpg/build.sh\`, then \`bash toolchain/images/build.sh\`.`);
  if (!node) return problems;
  const images = existsSync(imageManifest) ? (JSON.parse(readFileSync(imageManifest, "utf8")) as Record<string, string>) : {};
  const missing = CNPG_IMAGES.filter((ref) => !images[ref]);
  if (missing.length)
    problems.push(`${missing.join(", ")} not built (${imageManifest}): run \`bash toolchain/images/build.sh\` after toolchain/cnpg/build.sh.`);
  return problems;
}

type Wait = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number) => Promise<T>;

export async function installCloudNativePg(o: { kubeconfig: string; api: ApiClient; node: boolean; waitFor: Wait; log: (m: string) => void }): Promise<void> {
  const problems = cnpgPrerequisites(o.node);
  if (problems.length) throw new ClusterError(`CloudNativePG cannot be installed:\n- ${problems.join("\n- ")}`);
  o.log(`installing CloudNativePG ${CNPG_VERSION} (CRDs, RBAC, operator in ${CNPG_NAMESPACE})`);
  try {
    // Server-side: the Cluster CRD is larger than the last-applied annotation allows.
    execFileSync(join(toolchainBin, "kubectl"), ["--kubeconfig", o.kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", cnpgOperatorManifests], {
      stdio: ["ignore", "ignore", "pipe"],
    });
  } catch (e) {
    throw new ClusterError(
      `applying CloudNativePG's manifests (${cnpgOperatorManifests}) failed: ${(e as { stderr?: Buffer }).stderr?.toString() ?? (e as Error).message}`,
    );
  }
  for (const crd of CRDS) {
    await o.waitFor(`CRD ${crd} to be Established`, async () => {
      const r = await o.api.call<{ status?: { conditions?: { type: string; status: string }[] } }>(
        "GET",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`,
      );
      return r.status === 200 && r.body.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    });
  }
  if (!o.node) return; // without a node the operator's pod never runs: the CRDs are what a preview needs
  await o.waitFor(
    `the CloudNativePG operator (${CNPG_NAMESPACE}/${CNPG_DEPLOYMENT}) to become Available`,
    async () => {
      const r = await o.api.call<{ status?: { conditions?: { type: string; status: string }[] } }>(
        "GET",
        `/apis/apps/v1/namespaces/${CNPG_NAMESPACE}/deployments/${CNPG_DEPLOYMENT}`,
      );
      return r.status === 200 && r.body.status?.conditions?.some((c) => c.type === "Available" && c.status === "True");
    },
    180_000,
  );
}

// A stack with pgshift:database.engine cloudnative-pg declares a
// postgresql.cnpg.io/v1 Cluster, which only a cluster with CloudNativePG
// installed understands. Checked before anything is declared, so `pulumi
// preview` says what is missing instead of failing deep in the update with
// "no matches for kind Cluster".
import type * as k8s from "@kubernetes/client-node" with { "resolution-mode": "import" };

export const CNPG_CLUSTER_CRD = "clusters.postgresql.cnpg.io";

export class OperatorMissingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OperatorMissingError";
    // The message is the whole story (index.ts prints only the message of pgshift's own errors).
    this.stack = `${this.name}: ${message}`;
  }
}

/** Resolves when the Cluster CRD is present and serves v1; otherwise an OperatorMissingError saying what to do. */
export async function checkCloudNativePg(kubeconfig: string, context?: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node 20 loads ES modules with require()
  const client = require("@kubernetes/client-node") as typeof k8s;
  const kc = new client.KubeConfig();
  kc.loadFromString(kubeconfig);
  if (context) kc.setCurrentContext(context);
  const where = `context "${kc.getCurrentContext()}", API server ${kc.getCurrentCluster()?.server}`;
  const install =
    "Install the CloudNativePG operator first (its manifest cnpg-1.28.0.yaml, or the cloudnative-pg Helm chart; on pgshift's local cluster `npm run cluster -- up --cnpg`), " +
    'then run this again — or set pgshift:database.engine back to statefulset (docs/deploy.md, "Choosing the database engine").';
  let crd: { spec?: { versions?: { name: string; served?: boolean }[] } };
  try {
    crd = (await kc.makeApiClient(client.ApiextensionsV1Api).readCustomResourceDefinition({ name: CNPG_CLUSTER_CRD })) as typeof crd;
  } catch (e) {
    const code = (e as { code?: number }).code;
    if (code === 404)
      throw new OperatorMissingError(
        `pgshift:database.engine is cloudnative-pg, but the cluster (${where}) has no CloudNativePG: the CustomResourceDefinition ${CNPG_CLUSTER_CRD} does not exist. ${install}`,
      );
    if (code === 403)
      throw new OperatorMissingError(
        `pgshift:database.engine is cloudnative-pg: checking that CloudNativePG is installed needs get on customresourcedefinitions (apiextensions.k8s.io), which the kubeconfig's user may not (${where}, 403).`,
      );
    throw new OperatorMissingError(
      `pgshift:database.engine is cloudnative-pg: could not check for CloudNativePG's ${CNPG_CLUSTER_CRD} (${where}): ${(e as Error).message}`,
    );
  }
  if (!crd.spec?.versions?.some((v) => v.name === "v1" && v.served !== false)) {
    throw new OperatorMissingError(
      `pgshift:database.engine is cloudnative-pg, but ${CNPG_CLUSTER_CRD} on the cluster (${where}) does not serve postgresql.cnpg.io/v1. Upgrade the CloudNativePG operator (1.28 is what pgshift is tested with).`,
    );
  }
}

// The names pgshift gives the database's Kubernetes objects, from the stack's
// prefix (the seed's dev-/prod- overlays). Components read them from here and
// nothing else builds them: the Secrets need the Service's host name before the
// database component exists (it mounts one of them), so the host cannot come
// from the Service resource itself.
import * as pulumi from "@pulumi/pulumi";

/** `<prefix>postgres`: the StatefulSet (or CloudNativePG Cluster), its Service, ServiceAccount, PDB and NetworkPolicy. */
export function databaseObjectName(namePrefix: string): string {
  return `${namePrefix}postgres`;
}

/** `<prefix>postgres-<suffix>`: the objects around the database (config, headless, tls, exporter, backup, Secrets). */
export function databaseChildName(namePrefix: string, suffix: string): string {
  return `${databaseObjectName(namePrefix)}-${suffix}`;
}

/** how the database runs (pgshift:database.engine) */
export type DatabaseEngine = "statefulset" | "cloudnative-pg";

/**
 * The Service clients connect to: the StatefulSet's own, or the read-write Service CloudNativePG
 * creates for a Cluster (`<cluster>-rw`, always the current primary).
 */
export function databaseServiceName(namePrefix: string, engine: DatabaseEngine = "statefulset"): string {
  return engine === "cloudnative-pg" ? `${databaseObjectName(namePrefix)}-rw` : databaseObjectName(namePrefix);
}

/** The in-cluster DNS name of the database's ClusterIP Service (the read-write one for CloudNativePG). */
export function databaseServiceHost(namePrefix: string, namespace: pulumi.Input<string>, engine: DatabaseEngine = "statefulset"): pulumi.Output<string> {
  return pulumi.interpolate`${databaseServiceName(namePrefix, engine)}.${namespace}.svc.cluster.local`;
}

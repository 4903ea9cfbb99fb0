// The names pgshift gives the database's Kubernetes objects, from the stack's
// prefix (the seed's dev-/prod- overlays). Components read them from here and
// nothing else builds them: the Secrets need the Service's host name before the
// database component exists (it mounts one of them), so the host cannot come
// from the Service resource itself.
import * as pulumi from "@pulumi/pulumi";

/** `<prefix>postgres`: the StatefulSet, its Service, ServiceAccount, PDB and NetworkPolicy. */
export function databaseObjectName(namePrefix: string): string {
  return `${namePrefix}postgres`;
}

/** `<prefix>postgres-<suffix>`: the objects around the database (config, headless, tls, exporter, backup, Secrets). */
export function databaseChildName(namePrefix: string, suffix: string): string {
  return `${databaseObjectName(namePrefix)}-${suffix}`;
}

/** The in-cluster DNS name of the database's ClusterIP Service. */
export function databaseServiceHost(namePrefix: string, namespace: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.interpolate`${databaseObjectName(namePrefix)}.${namespace}.svc.cluster.local`;
}

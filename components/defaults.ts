// Every default the components share, in one place.
export const POSTGRES_PORT = 5432;
export const EXPORTER_PORT = 9187;
/**
 * uid/gid the database runs as. The official image runs initdb as any uid as
 * long as PGDATA is a subdirectory it can create (fsGroup makes the volume
 * writable), and its socket directory is world-writable.
 */
export const POSTGRES_UID = 999;
export const POSTGRES_GID = 999;
export const PGDATA = "/var/lib/postgresql/data/pgdata";
export const DATA_MOUNT = "/var/lib/postgresql/data";
export const BACKUP_MOUNT = "/backups";
export const TLS_MOUNT = "/etc/postgresql/tls";
export const SUPERUSER = "postgres";

/** Kubernetes recommended labels (app.kubernetes.io/*). */
export function recommendedLabels(name: string, component: string, instance: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/instance": instance,
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/part-of": "pgshift",
    "app.kubernetes.io/managed-by": "pulumi",
  };
}

/** The label set the NetworkPolicy and Services select the database pod by. */
export function databaseSelector(instance: string): Record<string, string> {
  return { "app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": instance };
}

export const restrictedContainerSecurity = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: false,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
};

import type * as pulumi from "@pulumi/pulumi";

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
/** where the superuser password file is mounted (POSTGRES_PASSWORD_FILE) */
export const SUPERUSER_SECRET_MOUNT = "/run/secrets/postgres";
/** components/postgres/{entrypoint,postgres}.sh are mounted here; the wrapper puts it first on PATH */
export const SHIM_DIR = "/opt/pgshift/bin";
export const DEFAULT_SHM_SIZE = "256Mi";
/** where pgshift's own pods find the CA that signed the server certificate */
export const CA_MOUNT = "/etc/postgresql/ca";
export const CA_FILE = `${CA_MOUNT}/ca.crt`;

/** Only the ca.crt key of the database's TLS Secret (never its private key), readable by any uid. */
export function caVolume(tlsSecretName: pulumi.Input<string>) {
  return { name: "ca", secret: { secretName: tlsSecretName, items: [{ key: "ca.crt", path: "ca.crt" }], defaultMode: 0o444 } };
}

/** An image reference pinned to a digest when one is given (config: …imageDigest). */
export function pinnedImage(image: string, digest?: string): string {
  if (!digest) return image;
  return `${image.replace(/@sha256:[0-9a-f]{64}$/, "")}@${digest}`;
}

/** The Pod Security Standards level every pgshift pod meets; the namespace enforces it. */
export const POD_SECURITY_LABELS = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
  "pod-security.kubernetes.io/warn": "restricted",
  "pod-security.kubernetes.io/audit": "restricted",
};

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

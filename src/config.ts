// Stack configuration: one zod schema with every default in one place. A bad
// or missing value stops `pulumi preview` with the key's name and what is
// allowed, before anything is created.
import { z } from "zod";
import { settingsSchema } from "./engine/options";
import { closestKey, keysAt } from "./config-keys";
import { SUPERUSER } from "../components/defaults";

const quantity = z.string().regex(/^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/, "a Kubernetes quantity such as 500m, 512Mi or 10Gi");
const cron = z.string().regex(/^(\S+\s+){4}\S+$/, 'a cron schedule with five fields, e.g. "0 2 * * *"');
const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, "a DNS label: lowercase letters, digits and -");

// Names pg_hba.conf reads as something other than a name when unquoted. The
// rendered file quotes every name (components/pg-hba.ts), and these are refused
// as well: issue 25's `roles.app: all` let the superuser in from the network.
const HBA_KEYWORDS = ["all", "sameuser", "samerole", "samegroup", "replication"];
/** Names CREATE ROLE refuses (PostgreSQL reserves them), caught at preview instead of mid-`up`. */
const RESERVED_ROLES = ["public", "none", "current_user", "current_role", "session_user"];

/** Why a role or database name cannot be used, or undefined. */
export function nameProblem(name: string, kind: "role" | "database"): string | undefined {
  if (HBA_KEYWORDS.includes(name))
    return `"${name}" is a pg_hba keyword (${HBA_KEYWORDS.join(", ")}): as a name it would widen who may connect; choose another name`;
  if (name.startsWith("+")) return `"${name}": a name starting with + means "members of" in pg_hba.conf; choose a name without it`;
  if (name.startsWith("@")) return `"${name}": a name starting with @ means "the names in this file" in pg_hba.conf; choose a name without it`;
  if (name.startsWith("pg_"))
    return `"${name}": names starting with pg_ are reserved for PostgreSQL's own roles (pg_monitor, pg_read_all_data, …); choose another name`;
  if (kind === "role" && name === SUPERUSER) return `"${name}" is the superuser's name; pgshift's roles must be ordinary roles with names of their own`;
  if (kind === "role" && RESERVED_ROLES.includes(name)) return `"${name}" is reserved by PostgreSQL (CREATE ROLE refuses it); choose another name`;
  if (kind === "database" && name === "postgres")
    return `"postgres" is the maintenance database the superuser and pgshift's role changes use; the owner must not own it: choose another name`;
  if (kind === "database" && (name === "template0" || name === "template1"))
    return `"${name}" is a template database every new database is copied from; choose another name`;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) return "lowercase letters, digits and _, starting with a letter or _, at most 63 characters";
  return undefined;
}
const pgName = (kind: "role" | "database") =>
  z.string().superRefine((name, ctx) => {
    const problem = nameProblem(name, kind);
    if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
  });
const roleName = pgName("role");
const labels = z.record(z.string(), z.string());
/** how long the app may take to stop, to start, and to pass its health check at a switch, unless cutover.timeout says */
export const CUTOVER_TIMEOUT_SECONDS = 300;
const ipv4Cidr = (example: string) =>
  z.string().refine(
    (c) =>
      /^(\d{1,3})(\.\d{1,3}){3}\/(\d|[12]\d|3[0-2])$/.test(c) &&
      c
        .split("/")[0]!
        .split(".")
        .every((o) => Number(o) <= 255),
    {
      message: `must be an IPv4 CIDR such as ${example}`,
    },
  );
export const DATABASE_ENGINES = ["statefulset", "cloudnative-pg"] as const;
export type DatabaseEngine = (typeof DATABASE_ENGINES)[number];
/** CloudNativePG's PostgreSQL images run postgres as uid 26 and carry what its instance manager calls. */
export const DEFAULT_IMAGES: Record<DatabaseEngine, string> = { statefulset: "postgres:16-alpine", "cloudnative-pg": "ghcr.io/cloudnative-pg/postgresql:16" };
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/, "an image digest: sha256: and 64 lowercase hex digits");

export const configSchema = z
  .object({
    /** Kubernetes namespace the database lives in */
    namespace: dnsLabel,
    /** prefix of every object's name, like the seed's dev-/prod- overlays */
    namePrefix: z
      .string()
      .regex(/^([a-z0-9-]*)$/, "lowercase letters, digits and -")
      .default(""),
    /** render manifests into this directory instead of applying them (the local stack) */
    renderDir: z.string().optional(),
    /** create the namespace (the seed's overlays usually already have) */
    createNamespace: z.boolean().default(false),
    /** Pulumi's kubernetes provider waits for readiness unless false (a test cluster without kubelet) */
    awaitReadiness: z.boolean().default(true),
    database: z
      .object({
        /**
         * statefulset (default): one PostgreSQL pod pgshift manages itself. cloudnative-pg: a CloudNativePG
         * `Cluster` (primary + synchronous replicas, automatic failover); the operator must be installed (docs/deploy.md).
         */
        engine: z.enum(DATABASE_ENGINES).default("statefulset"),
        /** PostgreSQL instances with cloudnative-pg (one primary, the rest replicas); the statefulset engine runs one */
        instances: z.number().int().min(1).max(9).optional(),
        name: pgName("database").default("piyasa_db"),
        /** default: postgres:16-alpine for the statefulset engine, CloudNativePG's own image for cloudnative-pg */
        image: z.string().min(1).optional(),
        /** pin the image (and the backup job's, which uses it) to this digest: sha256:<64 hex> */
        imageDigest: digest.optional(),
        /** memory-backed /dev/shm for parallel queries; default in components/defaults.ts */
        shmSize: quantity.optional(),
        /** node drains: "allow" evicts the single instance (it restarts elsewhere), "block" waits for an operator */
        drains: z.enum(["allow", "block"]).default("allow"),
        storageClass: z.string().optional(),
        storageSize: quantity.default("10Gi"),
        requests: z
          .object({ cpu: quantity.default("250m"), memory: quantity.default("512Mi") })
          .strict()
          .default({}),
        limits: z
          .object({ cpu: quantity.default("1"), memory: quantity.default("1Gi") })
          .strict()
          .default({}),
        /** TLS for client connections; the server certificate comes from tlsSecret, or is generated */
        tls: z.boolean().default(false),
        tlsSecret: z.string().optional(),
        /** protect the StatefulSet and keep its volume on delete/replace (prod) */
        protect: z.boolean().default(false),
        /** keep the data volume claim when the StatefulSet is deleted (`pulumi destroy`); unset: same as protect */
        keepVolumeOnDelete: z.boolean().optional(),
        maxConnections: z.number().int().min(10).max(5000).default(100),
        sharedBuffers: quantity.default("128Mi"),
      })
      .strict()
      .default({})
      .transform((d) => ({ ...d, image: d.image ?? DEFAULT_IMAGES[d.engine], instances: d.instances ?? (d.engine === "cloudnative-pg" ? 3 : 1) })),
    roles: z
      .object({
        owner: roleName.default("piyasa_user"),
        app: roleName.default("piyasa_app"),
        monitor: roleName.default("piyasa_monitor"),
        backup: roleName.default("piyasa_backup"),
      })
      .strict()
      .default({}),
    networkPolicy: z
      .object({
        enabled: z.boolean().default(true),
        /** pod label sets allowed to reach 5432 (the seed's api and worker) */
        allowFrom: z.array(labels).default([{ app: "piyasa-api" }, { app: "piyasa-worker" }]),
        /**
         * where the database may send DNS queries besides pods labelled k8s-app=kube-dns: the cluster DNS's
         * address when it is not a pod (NodeLocal DNSCache's 169.254.20.10/32, a resolver on the node)
         */
        dnsCidrs: z.array(ipv4Cidr("169.254.20.10/32")).default([]),
        /**
         * with database.engine cloudnative-pg: the Kubernetes API server's addresses (`kubectl get endpoints kubernetes`),
         * which CloudNativePG's instance managers watch from the database pods
         */
        apiServerCidrs: z.array(ipv4Cidr("172.20.0.10/32")).default([]),
      })
      .strict()
      .default({}),
    backup: z
      .object({
        enabled: z.boolean().default(true),
        schedule: cron.default("0 2 * * *"),
        keepDaily: z.number().int().min(1).max(365).default(7),
        keepWeekly: z.number().int().min(0).max(104).default(4),
        keepMonthly: z.number().int().min(0).max(120).default(6),
        storageSize: quantity.default("20Gi"),
        storageClass: z.string().optional(),
        /**
         * Removed: the upload needed an aws CLI the database image does not have,
         * so it could never run. Refused rather than ignored (docs/security.md).
         */
        s3: z
          .unknown()
          .refine(
            (v) => v === undefined,
            "backup.s3 was removed (the backup image has no object-store client); copy the backup volume off-site yourself, see docs/security.md",
          )
          .optional(),
      })
      .strict()
      .default({}),
    exporter: z
      .object({
        enabled: z.boolean().default(true),
        image: z.string().default("quay.io/prometheuscommunity/postgres-exporter:v0.15.0"),
        imageDigest: digest.optional(),
        serviceMonitor: z.boolean().default(false),
      })
      .strict()
      .default({}),
    /**
     * How pgshift reaches PostgreSQL for roles, grants, the schema command and the copy.
     * port-forward (default): the program opens a port-forward to the database pod itself, over the
     * kubeconfig/context the kubernetes provider uses, once the pod is Ready.
     * direct: connect to host:port (a VPN, a LoadBalancer, a managed database, the local stack).
     */
    connection: z
      .object({
        via: z.enum(["port-forward", "direct"]).default("port-forward"),
        host: z.string().default("127.0.0.1"),
        port: z.number().int().min(1).max(65535).default(5432),
        sslmode: z.enum(["disable", "prefer", "require", "verify-ca", "verify-full"]).default("disable"),
      })
      .strict()
      .default({}),
    // The engine's settings (src/engine/options.ts: defaults and checks), and what only the stack needs.
    migration: settingsSchema
      .extend({
        /** the app's SQLite database; relative to the project directory */
        source: z.string().min(1).optional(),
        /** change to copy again on purpose after cutover (e.g. after a rollback to SQLite) */
        runId: z.string().default(""),
        /** run before the copy in --schema existing mode, with DATABASE_URL for the owner role (e.g. "python -m alembic upgrade head") */
        schemaCommand: z.string().optional(),
        backupDir: z.string().optional(),
      })
      .strict()
      .default({}),
    app: z
      .object({
        /** the app's Secret that carries DATABASE_URL */
        secretName: z.string().default("piyasa-secrets"),
        /**
         * with TLS: where the app's pods mount the database CA (key DATABASE_CA_CERT of the
         * app's Secret); its URLs then verify the server (sslmode=verify-full)
         */
        caCertPath: z.string().regex(/^\//, "an absolute path").optional(),
        /** what DATABASE_URL is before cutover (and after a rollback) */
        sqliteUrl: z.string().default("sqlite:///./app.db"),
        /** workloads restarted when DATABASE_URL changes */
        workloads: z.array(z.object({ kind: z.enum(["Deployment", "StatefulSet"]), name: z.string().min(1) }).strict()).default([]),
      })
      .strict()
      .default({}),
    /**
     * true: the app moves to PostgreSQL (stop app.workloads, final sync, switch, restart, health check);
     * false again rolls back to SQLite, copying PostgreSQL's writes back. Or an object:
     * { enabled, healthCheck: { service, port, path }, timeout (seconds), readerImage }
     */
    cutover: z.preprocess(
      // `pgshift:cutover true` stays the short form of { enabled: true }.
      (v) => (v === undefined ? { enabled: false } : typeof v === "boolean" ? { enabled: v } : v),
      z
        .object({
          enabled: z.boolean(),
          /** GET http://<a Ready pod of service>:<port><path> must answer 2xx after the switch, like the seed's /healthz */
          healthCheck: z
            .object({
              service: dnsLabel,
              port: z.union([z.number().int().min(1).max(65535), z.string().regex(/^[a-z0-9-]{1,15}$/, "a port name")]),
              path: z.string().regex(/^\/\S*$/, "an absolute HTTP path such as /healthz"),
            })
            .strict()
            .optional(),
          /** seconds the app may take to stop, to be Ready again, and to pass the health check (each) */
          timeout: z.number().int().min(10).max(3600).default(CUTOVER_TIMEOUT_SECONDS),
          /** image of the short-lived pod that reads a pod: source's file once the app is stopped (default: the app's own image) */
          readerImage: z.string().min(1).optional(),
        })
        .strict(),
    ),
    rollback: z
      .object({
        /** roll back without copying PostgreSQL's writes back into SQLite (the update says how many rows it leaves behind) */
        discardPostgresWrites: z.boolean().default(false),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    // pg_hba gives each role its own line and the grants tell them apart: one
    // name for two roles would hand the app the owner's rights (or worse).
    const seen = new Map<string, string>();
    for (const [key, name] of Object.entries(c.roles)) {
      const earlier = seen.get(name);
      if (earlier)
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["roles", key],
          message: `"${name}" is the same name as roles.${earlier}; the four roles (owner, app, monitor, backup) must have distinct names`,
        });
      else seen.set(name, key);
    }
    const d = c.database;
    if (d.engine === "statefulset" && d.instances !== 1) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["database", "instances"],
        message: `the statefulset engine runs one PostgreSQL instance; for ${d.instances} (a primary with replicas and failover) set database.engine to cloudnative-pg`,
      });
    }
    if (d.engine === "cloudnative-pg") {
      if (d.instances < 2) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["database", "instances"],
          message:
            "cloudnative-pg needs at least 2 instances: every commit waits for one synchronous standby, so it survives the primary's loss (3 is the default)",
        });
      }
      if (d.drains === "block") {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["database", "drains"],
          message: '"block" is for the single StatefulSet pod; CloudNativePG moves the primary away from a drained node itself (remove the key)',
        });
      }
      if (c.networkPolicy.enabled && c.networkPolicy.apiServerCidrs.length === 0) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["networkPolicy", "apiServerCidrs"],
          message:
            "with database.engine cloudnative-pg the database pods must reach the Kubernetes API (its instance manager watches the Cluster): set the API server's addresses (`kubectl get endpoints kubernetes -n default`), or networkPolicy.enabled false",
        });
      }
    }
    if (c.renderDir && c.connection.via === "port-forward") {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ["connection", "via"],
        message: 'must be "direct" when renderDir is set: rendered manifests run no pod to forward to',
      });
    }
  });

export type StackConfig = z.infer<typeof configSchema>;

export interface CutoverSettings {
  enabled: boolean;
  healthCheck?: { service: string; port: number | string; path: string };
  timeoutSeconds: number;
  readerImage?: string;
}

/** pgshift:cutover as a plain true/false, or with its options. */
export function cutoverSettings(c: StackConfig): CutoverSettings {
  const x = c.cutover;
  return {
    enabled: x.enabled,
    timeoutSeconds: x.timeout,
    ...(x.healthCheck ? { healthCheck: x.healthCheck } : {}),
    ...(x.readerImage ? { readerImage: x.readerImage } : {}),
  };
}

export class ConfigError extends Error {}

/** Validates raw config (key → parsed YAML value) and explains every problem by its key. */
export function parseConfig(raw: Record<string, unknown>): StackConfig {
  const connection = raw.connection as Record<string, unknown> | undefined;
  if (connection && typeof connection === "object" && "enabled" in connection) {
    // The two-phase deploy (up without the database, port-forward by hand, up again) is gone.
    throw new ConfigError(
      "Invalid stack configuration:\n  pgshift:connection.enabled: no longer used. `pulumi up` now opens its own port-forward to the database pod " +
        "(pgshift:connection.via: port-forward, the default), so one `up` does the whole job.\n" +
        "Remove it with: pulumi config rm --path pgshift:connection.enabled (and stop any kubectl port-forward you started for pgshift).",
    );
  }
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.flatMap((i) => {
    const key = i.path.length ? `pgshift:${i.path.join(".")}` : "pgshift";
    if (i.code !== "unrecognized_keys") return [`  ${key}: ${i.message}`];
    // A misspelt key would otherwise leave its setting at the default without a word: name it and the key meant.
    const known = keysAt(configSchema, i.path);
    return i.keys.map((k) => {
      const meant = closestKey(k, known);
      const where = i.path.length ? `${key}.${k}` : `pgshift:${k}`;
      const suggestion = meant ? `; did you mean ${i.path.length ? `${key}.${meant}` : `pgshift:${meant}`}?` : "";
      return `  ${where}: unknown key${suggestion} (known: ${known.join(", ")}). Remove it with: pulumi config rm --path '${where}'`;
    });
  });
  throw new ConfigError(`Invalid stack configuration:\n${lines.join("\n")}\nSet a value with: pulumi config set --path 'pgshift:<key>' <value>`);
}

/**
 * The stack's pgshift:* keys as `pulumi config` stores them (objects as JSON),
 * all of them, so a misspelt key is reported instead of ignored. Secret keys
 * (adminPassword) are read separately as secrets.
 */
export function rawConfig(all: Record<string, string>, secretKeys: string[] = ["adminPassword"]): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [full, v] of Object.entries(all)) {
    if (!full.startsWith("pgshift:")) continue;
    const key = full.slice("pgshift:".length);
    if (secretKeys.includes(key)) continue;
    try {
      raw[key] = JSON.parse(v);
    } catch {
      raw[key] = v;
    }
  }
  return raw;
}

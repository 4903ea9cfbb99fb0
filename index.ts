// pgshift: read and validate the stack's configuration, wire the components,
// export what a person needs to see. Nothing else lives here.
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { join, resolve } from "node:path";
import { AppCutover } from "./components/app-cutover";
import { BackupCronJob } from "./components/backup-cronjob";
import { DatabaseRoles } from "./components/database-roles";
import { DatabaseNetworkPolicy } from "./components/network-policy";
import { PostgresDatabase } from "./components/postgres-database";
import { CNPG_REPLICATION_ROLE, CnpgDatabase } from "./components/cnpg-cluster";
import { PgHbaNameError } from "./components/pg-hba";
import { PostgresExporter } from "./components/postgres-exporter";
import { renderSecretsWithoutValues } from "./components/rendered-secrets";
import { DatabaseSecrets } from "./components/secrets";
import { POD_SECURITY_LABELS, pinnedImage } from "./components/defaults";
import { SqliteMigration } from "./components/sqlite-migration";
import { ConfigError, cutoverSettings, parseConfig, rawConfig } from "./src/config";
import { STACK_PREFIX, withDefaults } from "./src/engine/options";
import { resolveKubeconfig } from "./src/kube/kubeconfig";
import { OperatorMissingError, checkCloudNativePg } from "./src/kube/operator-check";
import type { TunnelTarget } from "./src/kube/port-forward";
import { updateTunnelEndpoint } from "./src/kube/update-tunnel";
import { existingRoles, settled } from "./src/provider/existing-roles";

const runWithTunnelScript = join(__dirname, "src", "kube", "run-with-tunnel.ts");

// Async: which roles already exist decides, before they are declared, which
// the postgresql provider takes over instead of creating (DatabaseRoles).
export = (async () => {
  const cfg = parseConfig(rawConfig(pulumi.runtime.allConfig()));
  const cutoverCfg = cutoverSettings(cfg);
  const secretConfig = new pulumi.Config("pgshift");
  const databaseImage = pinnedImage(cfg.database.image, cfg.database.imageDigest);

  if (!cfg.awaitReadiness) {
    // A test API server has no kubelet: nothing ever becomes ready.
    pulumi.runtime.registerStackTransformation((r) => {
      if (!r.type.startsWith("kubernetes:") || !r.props.metadata) return undefined;
      r.props.metadata = { ...r.props.metadata, annotations: { ...(r.props.metadata.annotations ?? {}), "pulumi.com/skipAwait": "true" } };
      return { props: r.props, opts: r.opts };
    });
  }

  if (cfg.database.protect) {
    // Prod: without this, `pulumi destroy` deletes the Services, Secrets and roles
    // and only then stops at the protected StatefulSet. Protected as a whole, it
    // is refused before anything is touched.
    pulumi.runtime.registerStackTransformation((r) => ({ props: r.props, opts: pulumi.mergeOptions(r.opts, { protect: true }) }));
  }

  if (cfg.renderDir) pulumi.runtime.registerStackTransformation(renderSecretsWithoutValues);

  const provider = new k8s.Provider("kubernetes", cfg.renderDir ? { renderYamlToDirectory: cfg.renderDir } : {});
  const k8sOpts = { provider };
  const namespace = cfg.createNamespace
    ? new k8s.core.v1.Namespace("namespace", { metadata: { name: cfg.namespace, labels: POD_SECURITY_LABELS } }, k8sOpts).metadata.name
    : pulumi.output(cfg.namespace);

  const kubeConfig = new pulumi.Config("kubernetes");
  const kubeconfig = () => resolveKubeconfig(kubeConfig.get("kubeconfig")).contents;
  const cnpg = cfg.database.engine === "cloudnative-pg";
  // The Cluster kind exists only where the operator is installed: say so before declaring anything.
  if (cnpg && !cfg.renderDir) await checkCloudNativePg(kubeconfig(), kubeConfig.get("context"));

  const secrets = new DatabaseSecrets(
    "secrets",
    {
      namespace,
      namePrefix: cfg.namePrefix,
      database: cfg.database.name,
      roles: cfg.roles,
      tls: cfg.database.tls,
      superuserPassword: secretConfig.getSecret("adminPassword"),
      ...(cnpg ? { engine: cfg.database.engine } : {}),
    },
    k8sOpts,
  );

  const databaseArgs = {
    ...cfg.database,
    image: databaseImage,
    namespace,
    namePrefix: cfg.namePrefix,
    database: cfg.database.name,
    superuserSecretName: secrets.superuserSecretName,
    roles: Object.values(cfg.roles),
  };
  const database = cnpg
    ? new CnpgDatabase("postgres", { ...databaseArgs, owner: cfg.roles.owner }, k8sOpts)
    : new PostgresDatabase("postgres", databaseArgs, k8sOpts);

  if (cfg.networkPolicy.enabled) {
    new DatabaseNetworkPolicy(
      "network-policy",
      {
        namespace,
        namePrefix: cfg.namePrefix,
        databaseInstance: database.instance,
        allowFrom: cfg.networkPolicy.allowFrom,
        dnsCidrs: cfg.networkPolicy.dnsCidrs,
        ...(database instanceof CnpgDatabase ? { cloudnativePg: { clusterName: database.clusterName, apiServerCidrs: cfg.networkPolicy.apiServerCidrs } } : {}),
      },
      k8sOpts,
    );
  }
  if (cfg.backup.enabled) {
    new BackupCronJob(
      "backup",
      {
        ...cfg.backup,
        namespace,
        namePrefix: cfg.namePrefix,
        databaseInstance: database.instance,
        image: databaseImage,
        credentialsSecretName: secrets.backupSecretName,
        caSecretName: database.tlsSecretName,
        protect: cfg.database.protect,
      },
      k8sOpts,
    );
  }
  if (cfg.exporter.enabled) {
    new PostgresExporter(
      "exporter",
      {
        namespace,
        namePrefix: cfg.namePrefix,
        databaseInstance: database.instance,
        image: pinnedImage(cfg.exporter.image, cfg.exporter.imageDigest),
        dsnSecretName: secrets.exporterSecretName,
        caSecretName: database.tlsSecretName,
        serviceMonitor: cfg.exporter.serviceMonitor,
      },
      k8sOpts,
    );
  }

  // Roles, grants, the schema command and the copy reach PostgreSQL through a
  // port-forward the program opens itself once the pod is Ready (or directly).
  const conn = cfg.connection;
  const viaTunnel = conn.via === "port-forward";
  const dbHost = viaTunnel ? database.serviceHost : conn.host;
  const dbPort = viaTunnel ? 5432 : conn.port;
  const tunnel: pulumi.Output<TunnelTarget> | undefined = viaTunnel
    ? pulumi.secret(
        pulumi.all([database.podName, namespace]).apply(([pod, ns]) => ({
          kubeconfig: kubeconfig(),
          context: kubeConfig.get("context") ?? "",
          namespace: ns,
          pod,
          // CloudNativePG's primary moves at a failover: the tunnel finds the current one when it opens.
          ...(database instanceof CnpgDatabase ? { selector: database.primarySelector } : {}),
          port: 5432,
        })),
      )
    : undefined;
  const url = (role: string, password: pulumi.Input<string>) =>
    pulumi.secret(
      pulumi.interpolate`postgresql://${role}:${pulumi.output(password).apply(encodeURIComponent)}@${dbHost}:${dbPort}/${cfg.database.name}?sslmode=${conn.sslmode}`,
    );
  // The postgresql provider's way in: the port-forward this update keeps open
  // (src/kube/update-tunnel.ts), or the server itself.
  const adminEndpoint = tunnel
    ? updateTunnelEndpoint(tunnel, `${pulumi.getProject()}/${pulumi.getStack()}/${process.cwd()}`)
    : pulumi.output({ host: conn.host, port: conn.port });
  const roleNames = [cfg.roles.owner, cfg.roles.app, cfg.roles.monitor, cfg.roles.backup];
  // Unknown (a preview before the database exists): none.
  const existing = await settled(
    pulumi
      .all([adminEndpoint, secrets.passwords.superuser])
      .apply(([e, password]) =>
        existingRoles({ host: e.host, port: e.port, user: "postgres", password, database: cfg.database.name, sslmode: conn.sslmode }, roleNames),
      ),
    [],
  );
  let migration: SqliteMigration | undefined;
  const roles = new DatabaseRoles(
    "roles",
    {
      adminUrl: url("postgres", secrets.passwords.superuser),
      tunnel,
      admin: {
        host: adminEndpoint.host,
        port: adminEndpoint.port,
        username: "postgres",
        password: secrets.passwords.superuser,
        sslmode: conn.sslmode,
      },
      existingRoles: existing,
      ...(cnpg ? { maintenanceLogins: [CNPG_REPLICATION_ROLE] } : {}),
      database: cfg.database.name,
      owner: { name: cfg.roles.owner, password: secrets.passwords.owner },
      app: { name: cfg.roles.app, password: secrets.passwords.app },
      monitor: { name: cfg.roles.monitor, password: secrets.passwords.monitor },
      backup: { name: cfg.roles.backup, password: secrets.passwords.backup },
    },
    { dependsOn: [database] },
  );
  const ownerUrl = url(cfg.roles.owner, secrets.passwords.owner);
  const schemaCommand =
    cfg.migration.schema === "existing" && cfg.migration.schemaCommand
      ? new command.local.Command(
          "schema-command",
          {
            // Through the same tunnel: run-with-tunnel opens it, sets DATABASE_URL, runs the command, closes it.
            create: tunnel ? `node --import tsx ${JSON.stringify(runWithTunnelScript)} -- ${cfg.migration.schemaCommand}` : cfg.migration.schemaCommand,
            // The app's migrations (Alembic) run as the owner, so the app role gets the tables through default privileges.
            environment: {
              DATABASE_URL: ownerUrl.apply((u) => u.replace(/^postgresql:/, "postgresql+psycopg:")),
              PGSHIFT_OWNER_URL: ownerUrl,
              ...(tunnel ? { PGSHIFT_TUNNEL: pulumi.secret(tunnel.apply((t) => JSON.stringify(t))) } : {}),
            },
          },
          { dependsOn: [roles], additionalSecretOutputs: ["stdout", "stderr"] },
        )
      : undefined;
  if (cfg.migration.source) {
    migration = new SqliteMigration(
      "migration",
      {
        ...cfg.migration,
        source: cfg.migration.source,
        // The settings came from the stack: messages name them as its keys (pgshift:migration.excludeTables).
        settingsPrefix: STACK_PREFIX,
        kube: { kubeconfig, context: kubeConfig.get("context"), namespace: cfg.namespace },
        targetUrl: ownerUrl,
        tunnel,
        cutover: cutoverCfg.enabled,
      },
      { dependsOn: schemaCommand ? [roles, schemaCommand] : [roles] },
    );
  }

  const cutover = new AppCutover(
    "app",
    {
      namespace,
      databaseInstance: database.instance,
      secretName: cfg.app.secretName,
      cutover: cutoverCfg.enabled,
      sqliteUrl: cfg.app.sqliteUrl,
      host: database.serviceHost,
      database: cfg.database.name,
      appRole: cfg.roles.app,
      appPassword: secrets.passwords.app,
      tls: cfg.database.tls,
      caCert: database.caCert,
      caCertPath: cfg.app.caCertPath,
      workloads: cfg.app.workloads,
      // The ordered switch: stop the app, bring the data level (either way), switch, restart, check.
      steps: migration
        ? {
            kube: cfg.renderDir ? undefined : pulumi.secret({ kubeconfig: kubeconfig(), context: kubeConfig.get("context") ?? "", namespace: cfg.namespace }),
            source: migration.source,
            data: pulumi.secret(
              pulumi.all([ownerUrl, tunnel ?? pulumi.output(null)]).apply(([targetUrl, t]) => ({
                sqlitePath: migration!.sqlitePath,
                targetUrl,
                tunnel: t,
                ...withDefaults(cfg.migration),
                backupDir: cfg.migration.backupDir ? resolve(cfg.migration.backupDir) : "",
              })),
            ),
            healthCheck: cutoverCfg.healthCheck,
            timeoutSeconds: cutoverCfg.timeoutSeconds,
            discardPostgresWrites: cfg.rollback.discardPostgresWrites,
            readerImage: cutoverCfg.readerImage,
            sourceFingerprint: migration.fingerprint,
            migratedFingerprint: migration.migratedFingerprint,
          }
        : undefined,
    },
    { ...k8sOpts, dependsOn: migration ? [migration] : [] },
  );

  return {
    namespaceName: namespace,
    databaseService: database.serviceHost,
    appRole: cfg.roles.app,
    ownerRole: cfg.roles.owner,
    appPassword: secrets.passwords.app,
    appBackend: cutover.backend,
    cutoverStatus: cutover.status,
    writeDowntimeSeconds: cutover.writeDowntimeSeconds,
    rowsSynced: cutover.rowsSynced,
    migrationPlan: migration?.plan,
    migrationReport: migration?.report,
    migrationStatus: migration?.status,
    sqliteBackup: migration?.backupFile,
    manifestsDir: cfg.renderDir,
  };
})().catch((e: unknown) => {
  // Pulumi prints other errors with util.inspect, which on this Node fails on the stack of an error thrown after an
  // await ("RangeError: Invalid string length", in markNodeModules) and hides the message; a RunError it prints as
  // text. pgshift's own errors say what failed and what to do: their message is enough. Anything else keeps its stack.
  const ours = e instanceof ConfigError || e instanceof OperatorMissingError || e instanceof PgHbaNameError;
  throw new pulumi.RunError(e instanceof Error ? (ours ? e.message : (e.stack ?? e.message)) : String(e));
});

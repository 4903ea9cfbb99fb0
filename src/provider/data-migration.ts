// DataMigration: the SQLite → PostgreSQL copy and its verification as a Pulumi
// resource; what it does at each step is data-migration-handler.ts (and through
// it the engine), loaded at run time (handler.ts).
import * as pulumi from "@pulumi/pulumi";
import type { MigrationSettings } from "../engine/options";
import type { MigrationInputs, MigrationOutputs } from "./data-migration-handler";
import { loadHandler } from "./handler";
import type { TunnelTarget } from "./tunnel";

// Captured as a plain string when the provider is serialized.
const handlerPath: string = require.resolve("./data-migration-handler");
const load = () => loadHandler<typeof import("./data-migration-handler")>(handlerPath);

export const dataMigrationProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds: MigrationInputs, news: MigrationInputs) {
    return load().check(olds, news);
  },
  async diff(id: string, olds: MigrationOutputs, news: MigrationInputs) {
    return load().diff(id, olds, news);
  },
  async create(inputs: MigrationInputs) {
    return load().create(inputs);
  },
  async update(id: string, olds: MigrationOutputs, news: MigrationInputs) {
    return load().update(id, olds, news);
  },
  // The migrated data belongs to the app now: removing this resource from the
  // stack never drops or truncates anything in PostgreSQL.
  async delete() {},
};

/** The engine's settings (src/engine/options.ts), defaults already applied (SqliteMigration), and what only this resource needs. */
export type DataMigrationArgs = { [K in keyof MigrationSettings]: pulumi.Input<MigrationSettings[K]> } & {
  /** path of the SQLite database file */
  source: pulumi.Input<string>;
  /** content fingerprint of `source` (engine's fingerprintSqlite), so a changed file is noticed */
  sourceFingerprint: pulumi.Input<string>;
  /** PostgreSQL URL for the owner role; kept secret */
  targetUrl: pulumi.Input<string>;
  /** reach PostgreSQL through this port-forward, opened only when data is copied; secret */
  tunnel?: pulumi.Input<TunnelTarget>;
  /** once true, the app writes to PostgreSQL and the source is never copied again */
  cutover?: pulumi.Input<boolean>;
  /** change to copy again on purpose (e.g. after a cutover was rolled back and SQLite took writes) */
  runId?: pulumi.Input<string>;
  /** where the timestamped SQLite backup goes (default: next to the source) */
  backupDir?: pulumi.Input<string>;
  /** how messages name the settings: "pgshift:migration." when they came from the stack; "" (default) as this resource's inputs */
  settingsPrefix?: pulumi.Input<string>;
};

export class DataMigration extends pulumi.dynamic.Resource {
  declare public readonly report: pulumi.Output<MigrationOutputs["report"]>;
  declare public readonly backupFile: pulumi.Output<string>;
  declare public readonly status: pulumi.Output<string>;
  declare public readonly migratedFingerprint: pulumi.Output<string>;
  declare public readonly copiedAt: pulumi.Output<string>;
  declare public readonly everCutover: pulumi.Output<boolean>;

  constructor(name: string, args: DataMigrationArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      dataMigrationProvider,
      name,
      {
        ...args,
        targetUrl: pulumi.secret(args.targetUrl),
        tunnel: args.tunnel ? pulumi.secret(args.tunnel) : null,
        cutover: args.cutover ?? false,
        runId: args.runId ?? "",
        backupDir: args.backupDir ?? "",
        report: undefined,
        backupFile: undefined,
        status: undefined,
        migratedFingerprint: undefined,
        copiedAt: undefined,
        everCutover: undefined,
      },
      { ...opts, additionalSecretOutputs: ["targetUrl", "tunnel"] },
    );
  }
}

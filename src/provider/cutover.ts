// Cutover: the app's switch between SQLite and PostgreSQL as one Pulumi
// resource, so that stopping the writers, the final sync, the switch, the
// restart and the health check happen in order inside `pulumi up` and a
// failure stops the rest. What it does is cutover-handler.ts, loaded at run
// time (handler.ts).
import * as pulumi from "@pulumi/pulumi";
import type { HealthCheck, KubeAccess, Workload } from "../kube/app-workloads";
import type { DataSettings } from "./cutover-data";
import type { CutoverInputs, CutoverOutputs } from "./cutover-handler";
import { loadHandler } from "./handler";

// Captured as a plain string when the provider is serialized.
const handlerPath: string = require.resolve("./cutover-handler");
const load = () => loadHandler<typeof import("./cutover-handler")>(handlerPath);

export const cutoverProvider: pulumi.dynamic.ResourceProvider = {
  async check(olds: CutoverInputs, news: CutoverInputs) {
    return load().check(olds, news);
  },
  async diff(id: string, olds: CutoverOutputs, news: CutoverInputs) {
    return load().diff(id, olds, news);
  },
  async create(inputs: CutoverInputs) {
    return load().create(inputs);
  },
  async update(id: string, olds: CutoverOutputs, news: CutoverInputs) {
    return load().update(id, olds, news);
  },
  // Removing the resource leaves the app on whatever it uses now.
  async delete() {},
};

export interface CutoverArgs {
  cutover: boolean;
  kube?: pulumi.Input<KubeAccess>;
  workloads: Workload[];
  secretName: string;
  sqliteData: pulumi.Input<Record<string, string>>;
  postgresData: pulumi.Input<Record<string, pulumi.Input<string>>>;
  manageSecret: boolean;
  source: string;
  data: pulumi.Input<DataSettings>;
  healthCheck?: HealthCheck;
  timeoutSeconds: number;
  discardPostgresWrites: boolean;
  readerImage?: string;
}

export class Cutover extends pulumi.dynamic.Resource {
  declare public readonly backend: pulumi.Output<string>;
  declare public readonly status: pulumi.Output<string>;
  declare public readonly writeDowntimeSeconds: pulumi.Output<number>;
  declare public readonly rowsSynced: pulumi.Output<number>;
  declare public readonly replicas: pulumi.Output<Record<string, number>>;
  declare public readonly steps: pulumi.Output<string[]>;
  declare public readonly finalFingerprint: pulumi.Output<string>;

  constructor(name: string, args: CutoverArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      cutoverProvider,
      name,
      {
        cutover: args.cutover,
        kube: args.kube ? pulumi.secret(args.kube) : null,
        workloads: args.workloads,
        secretName: args.secretName,
        sqliteData: args.sqliteData,
        postgresData: pulumi.secret(args.postgresData),
        manageSecret: args.manageSecret,
        source: args.source,
        data: pulumi.secret(args.data),
        healthCheck: args.healthCheck ?? null,
        timeoutSeconds: args.timeoutSeconds,
        discardPostgresWrites: args.discardPostgresWrites,
        readerImage: args.readerImage ?? "",
        backend: undefined,
        status: undefined,
        writeDowntimeSeconds: undefined,
        rowsSynced: undefined,
        replicas: undefined,
        steps: undefined,
        switchedAt: undefined,
        finalFingerprint: undefined,
      },
      { ...opts, additionalSecretOutputs: ["kube", "postgresData", "data"] },
    );
  }
}

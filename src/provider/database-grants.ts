// DatabaseGrants: the privilege model (database-grants-handler.ts) as a Pulumi
// resource, applied in one transaction; a thin provider over the handler (handler.ts).
import * as pulumi from "@pulumi/pulumi";
import type { GrantsInputs } from "./database-grants-handler";
import { loadHandler } from "./handler";
import type { TunnelTarget } from "./tunnel";

export { grantStatements, type GrantsInputs } from "./database-grants-handler";

// Captured as a plain string when the provider is serialized.
const handlerPath: string = require.resolve("./database-grants-handler");
const load = () => loadHandler<typeof import("./database-grants-handler")>(handlerPath);

export const grantsProvider: pulumi.dynamic.ResourceProvider = {
  diff: async (id: string, olds: GrantsInputs, news: GrantsInputs) => load().diff(id, olds, news),
  create: async (inputs: GrantsInputs) => load().create(inputs),
  update: async (id: string, olds: GrantsInputs, news: GrantsInputs) => load().update(id, olds, news),
  // Taking grants away would break the running app and cannot give back data;
  // deleting this resource leaves the database as it is.
  delete: async () => {},
};

export interface DatabaseGrantsArgs {
  adminUrl: pulumi.Input<string>;
  tunnel?: pulumi.Input<TunnelTarget>;
  database: pulumi.Input<string>;
  schema?: pulumi.Input<string>;
  owner: pulumi.Input<string>;
  app: pulumi.Input<string>;
  connectOnly?: pulumi.Input<pulumi.Input<string>[]>;
}

export class DatabaseGrants extends pulumi.dynamic.Resource {
  constructor(name: string, args: DatabaseGrantsArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      grantsProvider,
      name,
      {
        adminUrl: pulumi.secret(args.adminUrl),
        tunnel: args.tunnel ? pulumi.secret(args.tunnel) : null,
        database: args.database,
        schema: args.schema ?? "public",
        owner: args.owner,
        app: args.app,
        connectOnly: args.connectOnly ?? [],
      },
      { ...opts, additionalSecretOutputs: ["adminUrl", "tunnel"] },
    );
  }
}

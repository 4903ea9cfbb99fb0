// AdminRolePin: the admin role's own session settings (search_path pinned,
// statement logging off) that @pulumi/postgresql's sessions rely on; see
// admin-role-pin-handler.ts for why. A dynamic resource because the package
// has no way to set a role's log settings, nor to manage the admin role it
// connects as. A thin provider over the handler (handler.ts).
import * as pulumi from "@pulumi/pulumi";
import type { PinInputs } from "./admin-role-pin-handler";
import { loadHandler } from "./handler";
import type { TunnelTarget } from "./tunnel";

// Captured as a plain string when the provider is serialized.
const handlerPath: string = require.resolve("./admin-role-pin-handler");
const load = () => loadHandler<typeof import("./admin-role-pin-handler")>(handlerPath);

export const adminRolePinProvider: pulumi.dynamic.ResourceProvider = {
  diff: async (id: string, olds: PinInputs, news: PinInputs) => load().diff(id, olds, news),
  create: async (inputs: PinInputs) => load().create(inputs),
  update: async (id: string, olds: PinInputs, news: PinInputs) => load().update(id, olds, news),
  // Left in place: the settings protect any later admin session too.
  delete: async () => {},
};

export interface AdminRolePinArgs {
  adminUrl: pulumi.Input<string>;
  tunnel?: pulumi.Input<TunnelTarget>;
}

export class AdminRolePin extends pulumi.dynamic.Resource {
  constructor(name: string, args: AdminRolePinArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      adminRolePinProvider,
      name,
      { adminUrl: pulumi.secret(args.adminUrl), tunnel: args.tunnel ? pulumi.secret(args.tunnel) : null, settings: undefined },
      { ...opts, additionalSecretOutputs: ["adminUrl", "tunnel"] },
    );
  }
}

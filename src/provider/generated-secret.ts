// Secrets generated once and kept in the stack's state as Pulumi secrets
// (encrypted): passwords, and a CA plus the server certificate it signs. They
// stand in for @pulumi/random and @pulumi/tls, whose plugins cannot be built
// here. What each does is generated-secret-handler.ts (handler.ts).
import * as pulumi from "@pulumi/pulumi";
import type { CertInputs, PasswordInputs } from "./generated-secret-handler";
import { loadHandler } from "./handler";

// Captured as a plain string when the providers are serialized.
const handlerPath: string = require.resolve("./generated-secret-handler");
const load = () => loadHandler<typeof import("./generated-secret-handler")>(handlerPath);

export const passwordProvider: pulumi.dynamic.ResourceProvider = {
  check: async (olds: PasswordInputs, news: PasswordInputs) => load().password.check(olds, news),
  diff: async (id: string, olds: PasswordInputs, news: PasswordInputs) => load().password.diff(id, olds, news),
  create: async (inputs: PasswordInputs) => load().password.create(inputs),
};

export class GeneratedPassword extends pulumi.dynamic.Resource {
  declare public readonly value: pulumi.Output<string>;
  constructor(name: string, args: { length?: number; rotation?: number } = {}, opts?: pulumi.CustomResourceOptions) {
    super(
      passwordProvider,
      name,
      { length: args.length ?? 32, rotation: args.rotation ?? 0, value: undefined },
      { ...opts, additionalSecretOutputs: ["value"] },
    );
  }
}

export const certificateProvider: pulumi.dynamic.ResourceProvider = {
  diff: async (id: string, olds: CertInputs & { caCert?: string }, news: CertInputs) => load().certificate.diff(id, olds, news),
  create: async (inputs: CertInputs) => load().certificate.create(inputs),
};

/** PostgreSQL's server certificate, signed by a CA generated for the stack (clients verify with caCert). */
export class ServerCertificate extends pulumi.dynamic.Resource {
  declare public readonly caCert: pulumi.Output<string>;
  declare public readonly cert: pulumi.Output<string>;
  declare public readonly key: pulumi.Output<string>;
  constructor(
    name: string,
    args: { commonName: pulumi.Input<string>; dnsNames: pulumi.Input<pulumi.Input<string>[]>; validityDays?: number },
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      certificateProvider,
      name,
      { ...args, validityDays: args.validityDays ?? 825, caCert: undefined, caKey: undefined, cert: undefined, key: undefined },
      { ...opts, additionalSecretOutputs: ["key", "caKey"] },
    );
  }
}

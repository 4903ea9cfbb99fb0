// Secrets generated once and kept in the stack's state as Pulumi secrets
// (encrypted): passwords, and a self-signed server certificate for TLS. They
// stand in for @pulumi/random and @pulumi/tls, whose plugins cannot be built
// here. A value changes only when its inputs do, so every `up` sees the same one.
import * as pulumi from "@pulumi/pulumi";

interface PasswordInputs {
  length: number;
  /** bump to rotate */
  rotation: number;
}

export const passwordProvider: pulumi.dynamic.ResourceProvider = {
  async check(_olds: PasswordInputs, news: PasswordInputs) {
    const failures = Number.isInteger(news.length) && news.length >= 16 && news.length <= 128 ? [] : [{ property: "length", reason: "length must be 16 to 128" }];
    return { inputs: news, failures };
  },
  async diff(_id: string, olds: PasswordInputs, news: PasswordInputs) {
    const replaces = olds.length !== news.length || olds.rotation !== news.rotation ? ["length"] : [];
    return { changes: replaces.length > 0, replaces };
  },
  async create(inputs: PasswordInputs) {
    const { randomBytes, randomUUID } = require("node:crypto") as typeof import("node:crypto");
    // URL-safe alphabet: the password goes into connection strings unescaped.
    const value = randomBytes(inputs.length).toString("base64url").slice(0, inputs.length);
    return { id: randomUUID(), outs: { ...inputs, value } };
  },
};

export class GeneratedPassword extends pulumi.dynamic.Resource {
  declare public readonly value: pulumi.Output<string>;
  constructor(name: string, args: { length?: number; rotation?: number } = {}, opts?: pulumi.CustomResourceOptions) {
    super(passwordProvider, name, { length: args.length ?? 32, rotation: args.rotation ?? 0, value: undefined }, { ...opts, additionalSecretOutputs: ["value"] });
  }
}

interface CertInputs {
  commonName: string;
  dnsNames: string[];
  validityDays: number;
}

export const certificateProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: CertInputs, news: CertInputs) {
    const changed = olds.commonName !== news.commonName || JSON.stringify(olds.dnsNames) !== JSON.stringify(news.dnsNames) || olds.validityDays !== news.validityDays;
    return { changes: changed, replaces: changed ? ["dnsNames"] : [] };
  },
  async create(inputs: CertInputs) {
    const selfsigned = require("selfsigned") as {
      generate(attrs: { name: string; value: string }[], opts: Record<string, unknown>): { cert: string; private: string; fingerprint: string };
    };
    const pems = selfsigned.generate([{ name: "commonName", value: inputs.commonName }], {
      days: inputs.validityDays,
      keySize: 2048,
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: false },
        { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
        { name: "extKeyUsage", serverAuth: true },
        { name: "subjectAltName", altNames: inputs.dnsNames.map((value) => ({ type: 2, value })) },
      ],
    });
    return { id: pems.fingerprint, outs: { ...inputs, cert: pems.cert, key: pems.private } };
  },
};

/** A self-signed server certificate for PostgreSQL's TLS (sslmode=require encrypts; verify-full needs a CA-issued one). */
export class SelfSignedCertificate extends pulumi.dynamic.Resource {
  declare public readonly cert: pulumi.Output<string>;
  declare public readonly key: pulumi.Output<string>;
  constructor(name: string, args: { commonName: pulumi.Input<string>; dnsNames: pulumi.Input<pulumi.Input<string>[]>; validityDays?: number }, opts?: pulumi.CustomResourceOptions) {
    super(certificateProvider, name, { ...args, validityDays: args.validityDays ?? 825, cert: undefined, key: undefined }, { ...opts, additionalSecretOutputs: ["key"] });
  }
}

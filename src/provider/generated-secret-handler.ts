// What the generated secrets (generated-secret.ts) do at each step: a password,
// and a CA with the server certificate it signs. Loaded at run time by the
// dynamic provider (handler.ts). A value changes only when its inputs do.
import type * as pulumi from "@pulumi/pulumi";
import { randomBytes, randomUUID } from "node:crypto";

export interface PasswordInputs {
  length: number;
  /** bump to rotate */
  rotation: number;
}

export const password = {
  async check(_olds: PasswordInputs, news: PasswordInputs): Promise<pulumi.dynamic.CheckResult> {
    const failures =
      Number.isInteger(news.length) && news.length >= 16 && news.length <= 128 ? [] : [{ property: "length", reason: "length must be 16 to 128" }];
    return { inputs: news, failures };
  },
  async diff(_id: string, olds: PasswordInputs, news: PasswordInputs): Promise<pulumi.dynamic.DiffResult> {
    const replaces = olds.length !== news.length || olds.rotation !== news.rotation ? ["length"] : [];
    return { changes: replaces.length > 0, replaces };
  },
  async create(inputs: PasswordInputs): Promise<pulumi.dynamic.CreateResult> {
    // URL-safe alphabet: the password goes into connection strings unescaped.
    const value = randomBytes(inputs.length).toString("base64url").slice(0, inputs.length);
    return { id: randomUUID(), outs: { ...inputs, value } };
  },
};

export interface CertInputs {
  commonName: string;
  dnsNames: string[];
  validityDays: number;
}

/**
 * A certificate authority made for this stack, and the server certificate it
 * signs. Clients that trust the CA (sslmode=verify-full with sslrootcert) know
 * they talk to this server: a self-signed certificate can only be accepted
 * blindly. The CA's key stays in the state (a secret) so a new server
 * certificate for other names is signed by the same CA the clients trust.
 */
export const certificate = {
  async diff(_id: string, olds: CertInputs & { caCert?: string }, news: CertInputs): Promise<pulumi.dynamic.DiffResult> {
    const changed =
      olds.commonName !== news.commonName || JSON.stringify(olds.dnsNames) !== JSON.stringify(news.dnsNames) || olds.validityDays !== news.validityDays;
    // A certificate made before the stack had its own CA is replaced by a CA-signed one.
    const replace = changed || !olds.caCert;
    return { changes: replace, replaces: replace ? ["dnsNames"] : [] };
  },
  async create(inputs: CertInputs): Promise<pulumi.dynamic.CreateResult> {
    /* eslint-disable @typescript-eslint/no-explicit-any -- node-forge ships no types */
    const forge = require("node-forge") as any;
    const make = (
      subject: { name: string; value: string }[],
      issuer: { name: string; value: string }[],
      publicKey: unknown,
      signingKey: unknown,
      days: number,
      extensions: unknown[],
    ) => {
      const cert = forge.pki.createCertificate();
      cert.publicKey = publicKey;
      // Positive serial numbers, unique per certificate.
      cert.serialNumber = "01" + randomBytes(15).toString("hex");
      cert.validity.notBefore = new Date(Date.now() - 5 * 60 * 1000);
      cert.validity.notAfter = new Date(Date.now() + days * 24 * 3600 * 1000);
      cert.setSubject(subject);
      cert.setIssuer(issuer);
      cert.setExtensions(extensions);
      cert.sign(signingKey, forge.md.sha256.create());
      return cert;
    };
    const caKeys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
    const caName = [{ name: "commonName", value: `pgshift CA for ${inputs.commonName}` }];
    const ca = make(caName, caName, caKeys.publicKey, caKeys.privateKey, inputs.validityDays + 365, [
      { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
      { name: "subjectKeyIdentifier" },
    ]);
    const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
    const server = make([{ name: "commonName", value: inputs.commonName }], caName, keys.publicKey, caKeys.privateKey, inputs.validityDays, [
      { name: "basicConstraints", cA: false, critical: true },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: inputs.dnsNames.map((value) => ({ type: 2, value })) },
      { name: "authorityKeyIdentifier", keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    ]);
    const pem = (c: unknown) => forge.pki.certificateToPem(c);
    const fingerprint = forge.md.sha256
      .create()
      .update(forge.asn1.toDer(forge.pki.certificateToAsn1(server)).getBytes())
      .digest()
      .toHex();
    return {
      id: fingerprint,
      outs: {
        ...inputs,
        caCert: pem(ca),
        caKey: forge.pki.privateKeyToPem(caKeys.privateKey),
        cert: pem(server),
        key: forge.pki.privateKeyToPem(keys.privateKey),
      },
    };
    /* eslint-enable @typescript-eslint/no-explicit-any */
  },
};

// The cluster's throwaway PKI, made with openssl: a CA, the API server's
// serving certificate, an admin client certificate (system:masters) that every
// component and the user's kubeconfig use, and the service-account key pair.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ClusterError } from "./errors";

const run = promisify(execFile);

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd: dir });
  } catch (e) {
    throw new ClusterError(`openssl ${args[0]} failed while making the cluster's certificates (is openssl installed?): ${(e as Error).message}`, "openssl");
  }
}

/** Writes ca.*, apiserver.*, admin.*, sa.key and sa.pub into dir. `days`: how long they are valid. */
export async function makeCertificates(dir: string, days: number): Promise<void> {
  const valid = ["-days", String(days)];
  await openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=pgshift-local-ca", ...valid]);
  writeFileSync(
    join(dir, "server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\nextendedKeyUsage=serverAuth\n",
  );
  writeFileSync(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, subj, ext] of [
    ["apiserver", "/CN=kube-apiserver", "server.ext"],
    ["admin", "/O=system:masters/CN=pgshift-admin", "client.ext"],
  ] as const) {
    await openssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subj]);
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-extfile",
      ext,
      ...valid,
    ]);
  }
  await openssl(dir, ["genrsa", "-out", "sa.key", "2048"]);
  await openssl(dir, ["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

export function kubeconfigYaml(server: string, dir: string): string {
  const b64 = (f: string) => readFileSync(join(dir, f)).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: pgshift",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64("ca.crt")}`,
    "users:",
    "- name: admin",
    "  user:",
    `    client-certificate-data: ${b64("admin.crt")}`,
    `    client-key-data: ${b64("admin.key")}`,
    "contexts:",
    "- name: pgshift",
    "  context: { cluster: pgshift, user: admin }",
    "current-context: pgshift",
    "",
  ].join("\n");
}

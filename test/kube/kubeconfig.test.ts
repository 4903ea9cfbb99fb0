import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeconfigError, resolveKubeconfig } from "../../src/kube/kubeconfig";

function kubeconfig(dir: string, name: string): string {
  writeFileSync(join(dir, "ca.crt"), "CA-BYTES");
  writeFileSync(join(dir, "admin.crt"), "CERT-BYTES");
  writeFileSync(join(dir, "admin.key"), "KEY-BYTES");
  const file = join(dir, name);
  writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:6443', certificate-authority: ca.crt } }]",
      "users: [{ name: u, user: { client-certificate: admin.crt, client-key: admin.key } }]",
      "contexts: [{ name: ctx, context: { cluster: c, user: u } }]",
      "current-context: ctx",
      "",
    ].join("\n"),
  );
  return file;
}

test("found where the kubernetes provider looks, with every referenced file inlined", () => {
  const dir = mkdtempSync(join(tmpdir(), "pgshift-kc-"));
  try {
    const file = kubeconfig(dir, "config");
    const fromEnv = resolveKubeconfig(undefined, { KUBECONFIG: `/nonexistent:${file}` }, "/nowhere");
    assert.equal(fromEnv.source, file);
    const parsed = JSON.parse(fromEnv.contents);
    assert.equal(parsed.clusters[0].cluster["certificate-authority-data"], Buffer.from("CA-BYTES").toString("base64"));
    assert.equal(parsed.users[0].user["client-key-data"], Buffer.from("KEY-BYTES").toString("base64"));
    assert.equal(parsed.clusters[0].cluster["certificate-authority"], undefined, "no path left that exists only on this machine");
    // kubernetes:kubeconfig as a path outranks $KUBECONFIG; ~/.kube/config is the last resort.
    assert.equal(resolveKubeconfig(file, { KUBECONFIG: "/nonexistent" }).source, file);
    mkdirSync(join(dir, "home", ".kube"), { recursive: true });
    kubeconfig(join(dir, "home", ".kube"), "config");
    assert.equal(resolveKubeconfig(undefined, {}, join(dir, "home")).source, join(dir, "home", ".kube", "config"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a missing kubeconfig says where it looked and what to do", () => {
  assert.throws(
    () => resolveKubeconfig(undefined, { KUBECONFIG: "/no/such/kubeconfig" }, "/nowhere"),
    (e: unknown) => e instanceof KubeconfigError && /\/no\/such\/kubeconfig/.test(e.message) && /connection\.via direct/.test(e.message),
  );
});

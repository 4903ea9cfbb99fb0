// The dev and prod stacks rendered by the real engine, every manifest checked
// strictly against the Kubernetes API types of the pinned kubernetes provider
// (its schema.json, generated from the Kubernetes OpenAPI spec and unpacked by
// toolchain/setup.sh): an unknown or misspelt field, a wrong type or a missing
// required field fails.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jsYaml from "js-yaml";
import { pulumiWorkspace, repoRoot, type PulumiWorkspace } from "../helpers/pulumi";
import { moveEncryptionSalt } from "../../scripts/stack-file";
import { startPostgres, type TestPostgres } from "../helpers/postgres";

const schemaPath = join(repoRoot, ".toolchain", "src", "kubernetes-provider", "cmd", "pulumi-resource-kubernetes", "schema.json");

interface Prop {
  type?: string;
  $ref?: string;
  items?: Prop;
  additionalProperties?: Prop;
  oneOf?: Prop[];
}
interface TypeSpec {
  properties?: Record<string, Prop>;
  required?: string[];
  type?: string;
}
let schema: { types: Record<string, TypeSpec>; resources: Record<string, { inputProperties: Record<string, Prop>; requiredInputs?: string[] }> };

function token(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  return `kubernetes:${group}/${version}:${kind}`;
}

/** Strict structural validation of one value against a schema property. */
function check(value: unknown, prop: Prop, path: string, errors: string[]): void {
  if (value === null || value === undefined) return;
  if (prop.$ref) {
    if (prop.$ref.startsWith("pulumi.json#/")) return; // Any / Json
    const name = decodeURIComponent(prop.$ref.replace("#/types/", ""));
    const t = schema.types[name];
    if (!t) return (errors.push(`${path}: unknown type ${name}`), undefined);
    return checkObject(value, t.properties ?? {}, t.required ?? [], path, errors, t.type);
  }
  if (prop.oneOf) {
    const ok = prop.oneOf.some((p) => {
      const e: string[] = [];
      check(value, p, path, e);
      return e.length === 0;
    });
    if (!ok) errors.push(`${path}: ${JSON.stringify(value)} matches none of ${prop.oneOf.map((p) => p.type ?? p.$ref).join(", ")}`);
    return;
  }
  switch (prop.type) {
    case "string":
      if (typeof value !== "string") errors.push(`${path}: expected a string, got ${JSON.stringify(value)}`);
      return;
    case "integer":
      if (!Number.isInteger(value)) errors.push(`${path}: expected an integer, got ${JSON.stringify(value)}`);
      return;
    case "number":
      if (typeof value !== "number") errors.push(`${path}: expected a number`);
      return;
    case "boolean":
      if (typeof value !== "boolean") errors.push(`${path}: expected a boolean, got ${JSON.stringify(value)}`);
      return;
    case "array":
      if (!Array.isArray(value)) return (errors.push(`${path}: expected an array`), undefined);
      value.forEach((v, i) => check(v, prop.items ?? {}, `${path}[${i}]`, errors));
      return;
    case "object":
      if (typeof value !== "object" || Array.isArray(value)) return (errors.push(`${path}: expected an object`), undefined);
      for (const [k, v] of Object.entries(value as object)) check(v, prop.additionalProperties ?? {}, `${path}.${k}`, errors);
      return;
  }
}

function checkObject(value: unknown, props: Record<string, Prop>, required: string[], path: string, errors: string[], type?: string): void {
  if (type && type !== "object") return check(value, { type }, path, errors);
  if (typeof value !== "object" || value === null || Array.isArray(value)) return (errors.push(`${path}: expected an object`), undefined);
  for (const [k, v] of Object.entries(value)) {
    const p = props[k];
    if (!p) errors.push(`${path}.${k}: unknown field (not in the Kubernetes API)`);
    else check(v, p, `${path}.${k}`, errors);
  }
  for (const r of required) if (!(r in value)) errors.push(`${path}.${r}: required field missing`);
}

export function validateManifest(obj: Record<string, unknown>): string[] {
  const errors: string[] = [];
  const t = token(String(obj.apiVersion), String(obj.kind));
  const res = schema.resources[t];
  if (!res) return [`${obj.kind}: ${t} is not a Kubernetes type this provider knows`];
  const props = { ...res.inputProperties };
  checkObject(obj, props, res.requiredInputs ?? [], `${obj.kind}/${(obj.metadata as { name?: string })?.name ?? "?"}`, errors);
  return errors;
}

function loadManifests(dir: string): Record<string, unknown>[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => jsYaml.loadAll(readFileSync(join(dir, f), "utf8")) as Record<string, unknown>[])
    .filter(Boolean);
}

const rendered: Record<string, Record<string, unknown>[]> = {};
let ws: PulumiWorkspace;
let work: string;
let pgs: TestPostgres;

before(async () => {
  assert.ok(existsSync(schemaPath), `the kubernetes provider's schema is unpacked by toolchain/setup.sh (${schemaPath})`);
  schema = JSON.parse(readFileSync(schemaPath, "utf8"));
  ws = pulumiWorkspace(repoRoot);
  work = mkdtempSync(join(tmpdir(), "pgshift-render-"));
  // Rendering runs no pod to forward to: roles and grants go to a local server.
  pgs = await startPostgres();
  // The image creates the application database (POSTGRES_DB); grants run inside it.
  await pgs.query("CREATE DATABASE piyasa_db");
  for (const stack of ["dev", "prod"]) {
    const name = `render-${stack}`;
    const configFile = join(work, `Pulumi.${name}.yaml`);
    await ws.run(["stack", "init", name, "--secrets-provider", "passphrase"]);
    moveEncryptionSalt(join(repoRoot, `Pulumi.${name}.yaml`), configFile, readFileSync(join(repoRoot, `Pulumi.${stack}.yaml`), "utf8"), undefined);
    const dir = join(work, stack);
    const set = (k: string, v: string) => ws.run(["config", "set", "--path", k, v, "--config-file", configFile, "--stack", name]);
    await set("pgshift:renderDir", dir);
    await set("pgshift:createNamespace", "true");
    await set("pgshift:connection.via", "direct");
    await set("pgshift:connection.port", String(pgs.port));
    await set("pgshift:connection.sslmode", "disable");
    await ws.run(["config", "set", "--secret", "pgshift:adminPassword", pgs.password, "--config-file", configFile, "--stack", name]);
    await ws.run(["config", "rm", "--path", "pgshift:migration.source", "--config-file", configFile, "--stack", name]);
    // Patching the app's workloads needs a live cluster, not a render.
    const doc = jsYaml.load(readFileSync(configFile, "utf8")) as { config: Record<string, { workloads?: unknown[] }> };
    doc.config["pgshift:app"]!.workloads = [];
    writeFileSync(configFile, jsYaml.dump(doc));
    const preview = await ws.run(["preview", "--stack", name, "--config-file", configFile]);
    for (const t of ["StatefulSet", "NetworkPolicy", "CronJob", "Deployment", "PodDisruptionBudget", "DatabaseSecrets", "BackupCronJob", "PostgresExporter"]) {
      assert.match(preview.stdout, new RegExp(t), `preview of ${stack} lists ${t}`);
    }
    await ws.run(["up", "--yes", "--skip-preview", "--stack", name, "--config-file", configFile]);
    rendered[stack] = loadManifests(dir);
  }
});

after(async () => {
  for (const s of ["render-dev", "render-prod"]) await ws?.run(["stack", "rm", "--yes", "--force", s], { allowFailure: true });
  if (work) rmSync(work, { recursive: true, force: true });
  if (ws) rmSync(ws.backendDir, { recursive: true, force: true });
  await pgs?.stop();
});

for (const stack of ["dev", "prod"]) {
  test(`${stack}: every rendered manifest is valid against the Kubernetes API types`, () => {
    const objs = rendered[stack]!;
    const kinds = objs.map((o) => o.kind).sort();
    for (const k of [
      "ConfigMap",
      "CronJob",
      "Deployment",
      "Namespace",
      "NetworkPolicy",
      "PersistentVolumeClaim",
      "PodDisruptionBudget",
      "Secret",
      "Service",
      "StatefulSet",
    ]) {
      assert.ok(kinds.includes(k), `${k} rendered (${[...new Set(kinds)].join(", ")})`);
    }
    const errors = objs.flatMap(validateManifest);
    assert.deepEqual(errors, []);
  });
}

test("the validator catches a misspelt field, a wrong type and a missing required field", () => {
  const sts = structuredClone(rendered.prod!.find((o) => o.kind === "StatefulSet")!) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(validateManifest(sts), []);
  sts.spec.template.spec.containers[0].imagee = "typo";
  sts.spec.replicas = "one";
  delete sts.spec.selector;
  const errors = validateManifest(sts).join("\n");
  assert.match(errors, /containers\[0\]\.imagee: unknown field/);
  assert.match(errors, /spec\.replicas: expected an integer/);
  assert.match(errors, /spec\.selector: required field missing/);
});

test("prod: TLS, protection and retention are in the rendered manifests", () => {
  const prod = rendered.prod!;
  const sts = prod.find((o) => o.kind === "StatefulSet") as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(sts.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
  const cm = prod.find((o) => o.kind === "ConfigMap" && (o as any).data?.["pg_hba.conf"]) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.match(cm.data["pg_hba.conf"], /hostssl/);
  assert.ok(prod.some((o) => o.kind === "Secret" && (o as any).type === "kubernetes.io/tls")); // eslint-disable-line @typescript-eslint/no-explicit-any
  // A namespace pgshift creates enforces the restricted Pod Security Standard (what it admits: test/components/defaults.test.ts).
  for (const stack of ["dev", "prod"]) {
    const ns = rendered[stack]!.find((o) => o.kind === "Namespace") as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted", stack);
  }
  const dev = rendered.dev!.find((o) => o.kind === "StatefulSet") as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.equal(dev.metadata.namespace, "piyasa-chatbot-dev");
  assert.equal(dev.metadata.name, "dev-postgres");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { captureResources, settle } from "../helpers/mocks";
import { DatabaseSecrets } from "../../components/secrets";
import { KEYS_NOT_RENDERED, renderSecretsWithoutValues } from "../../components/rendered-secrets";

test("a rendered Secret holds the names of its keys, not one value; other objects are left as they are", async () => {
  const resources = captureResources();
  const secrets = new DatabaseSecrets(
    "secrets",
    {
      namespace: "ns",
      namePrefix: "local-",
      database: "piyasa_db",
      roles: { owner: "piyasa_user", app: "piyasa_app", monitor: "piyasa_monitor", backup: "piyasa_backup" },
      tls: false,
      superuserPassword: pulumi.secret("superuser-pw-xyz"),
    },
    { transformations: [renderSecretsWithoutValues] },
  );
  new k8s.core.v1.ConfigMap("config", { metadata: { name: "c" }, data: { a: "b" } }, { transformations: [renderSecretsWithoutValues] });
  await settle();
  const rendered = resources.filter((r) => r.type === "kubernetes:core/v1:Secret");
  assert.equal(rendered.length, 3);
  for (const s of rendered) {
    assert.equal(s.inputs.data, undefined, s.name);
    assert.equal(s.inputs.stringData, undefined, s.name);
  }
  const keys = Object.fromEntries(rendered.map((s) => [s.inputs.metadata.name, s.inputs.metadata.annotations[KEYS_NOT_RENDERED]]));
  assert.deepEqual(keys, {
    "local-postgres-superuser": "POSTGRES_PASSWORD,POSTGRES_USER",
    "local-postgres-exporter": "DATA_SOURCE_NAME",
    "local-postgres-backup": "PGDATABASE,PGHOST,PGPASSWORD,PGPORT,PGSSLMODE,PGUSER",
  });
  // The labels stay; the values are nowhere in what the provider is given.
  assert.equal(rendered[0]!.inputs.metadata.labels["app.kubernetes.io/part-of"], "pgshift");
  const everything = JSON.stringify(rendered.map((r) => r.inputs));
  assert.ok(!everything.includes("superuser-pw-xyz") && !everything.includes("generated-password-0123456789"), everything);
  assert.ok(await pulumi.isSecret(secrets.passwords.superuser), "the password itself is still there for the roles, as a secret");
  assert.deepEqual(resources.find((r) => r.type === "kubernetes:core/v1:ConfigMap")!.inputs.data, { a: "b" });
});

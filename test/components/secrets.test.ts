import { test } from "node:test";
import assert from "node:assert/strict";
import { captureResources, settle } from "../helpers/mocks";
import { DatabaseSecrets } from "../../components/secrets";

test("every role gets a generated password, kept secret, and Kubernetes Secrets hold them", async () => {
  const resources = captureResources();
  const s = new DatabaseSecrets("secrets", {
    namespace: "ns",
    namePrefix: "dev-",
    database: "piyasa_db",
    roles: { owner: "piyasa_user", app: "piyasa_app", monitor: "piyasa_monitor", backup: "piyasa_backup" },
    tls: true,
  });
  await settle();
  const generated = resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource" && r.name.endsWith("-password"));
  assert.deepEqual(generated.map((g) => g.name).sort(), [
    "secrets-app-password",
    "secrets-backup-password",
    "secrets-monitor-password",
    "secrets-owner-password",
    "secrets-superuser-password",
  ]);
  for (const key of ["superuser", "owner", "app", "monitor", "backup"] as const) {
    assert.equal(await (s.passwords[key] as unknown as { isSecret: Promise<boolean> }).isSecret, true, `${key} password is a secret`);
  }
  const names = resources
    .filter((r) => r.type === "kubernetes:core/v1:Secret")
    .map((r) => r.inputs.metadata.name)
    .sort();
  // No "roles" Secret: the owner's password is in no Kubernetes object (only in the state, encrypted).
  assert.deepEqual(names, ["dev-postgres-backup", "dev-postgres-exporter", "dev-postgres-superuser"]);
  const everything = JSON.stringify(resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => r.inputs));
  assert.ok(!everything.includes("piyasa_user"), "the owner role is not mentioned in any Kubernetes object");
  const exporter = resources.find((r) => r.inputs.metadata?.name === "dev-postgres-exporter")!;
  assert.match(
    exporter.inputs.stringData.DATA_SOURCE_NAME,
    /^postgresql:\/\/piyasa_monitor:.+@dev-postgres\.ns\.svc\.cluster\.local:5432\/piyasa_db\?sslmode=verify-full&sslrootcert=\/etc\/postgresql\/ca\/ca\.crt$/,
  );
  const backup = resources.find((r) => r.inputs.metadata?.name === "dev-postgres-backup")!;
  assert.equal(backup.inputs.stringData.PGUSER, "piyasa_backup");
  assert.equal(backup.inputs.stringData.PGSSLMODE, "verify-full");
  assert.equal(backup.inputs.stringData.PGSSLROOTCERT, "/etc/postgresql/ca/ca.crt");
});

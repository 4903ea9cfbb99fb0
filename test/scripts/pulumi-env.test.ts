import { test } from "node:test";
import assert from "node:assert/strict";
import { isLocalStack, localStackConfig, pulumiEnv, stackNamed, withConfigFile } from "../../scripts/pulumi-env";

test("one environment: PGSHIFT_PULUMI_HOME, the user's backend and passphrase are kept; a test's own backend and passphrase win", () => {
  const user = pulumiEnv({ PATH: "/usr/bin", PGSHIFT_PULUMI_HOME: "/opt/ph", PULUMI_BACKEND_URL: "s3://b", PULUMI_CONFIG_PASSPHRASE: "p" });
  assert.equal(user.PULUMI_HOME, "/opt/ph");
  assert.equal(user.PULUMI_BACKEND_URL, "s3://b");
  assert.equal(user.PULUMI_CONFIG_PASSPHRASE_FILE, undefined);
  assert.match(user.PATH!, /\.toolchain\/bin:.*node_modules\/\.bin:\/usr\/bin$/);
  const own = pulumiEnv({ PULUMI_CONFIG_PASSPHRASE_FILE: "/x" }, { backendDir: "/tmp/b", passphrase: "t" });
  assert.equal(own.PULUMI_BACKEND_URL, "file:///tmp/b");
  assert.equal(own.PULUMI_CONFIG_PASSPHRASE, "t");
  assert.equal(own.PULUMI_CONFIG_PASSPHRASE_FILE, undefined);
});

test("the settings file goes to exactly the commands that read settings", () => {
  assert.deepEqual(withConfigFile(["up", "--yes", "--stack", "local"], "f"), ["up", "--yes", "--stack", "local", "--config-file", "f"]);
  assert.deepEqual(withConfigFile(["--cwd", ".", "config", "set", "--path", "a", "b"], "f").slice(-2), ["--config-file", "f"]);
  assert.deepEqual(withConfigFile(["destroy", "--", "x"], "f"), ["destroy", "--config-file", "f", "--", "x"]);
  assert.deepEqual(withConfigFile(["pre", "--config-file", "mine"], "f"), ["pre", "--config-file", "mine"]);
  for (const args of [
    ["stack", "output"],
    ["stack", "history"],
    ["-s", "local", "stack", "export"],
  ])
    assert.deepEqual(withConfigFile(args, "f"), args);
  assert.ok(localStackConfig.endsWith(".local/Pulumi.local.yaml"));
});

test("which stack a command line names, and whether it is the local one", () => {
  assert.equal(stackNamed(["up", "--stack", "local"]), "local");
  assert.equal(stackNamed(["up", "-s=dev"]), "dev");
  assert.equal(stackNamed(["stack", "init", "local", "--secrets-provider", "passphrase"]), "local");
  assert.equal(stackNamed(["preview"]), undefined);
  for (const n of ["local", "pgshift/local", "organization/pgshift/local"]) assert.ok(isLocalStack(n), n);
  for (const n of ["dev", "other/local", "locale", undefined]) assert.ok(!isLocalStack(n), String(n));
});

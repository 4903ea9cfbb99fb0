// The key a misspelt stack key most likely meant (src/config-keys.ts); the
// errors that name it are config.test.ts's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { closestKey, keysAt } from "../src/config-keys";
import { configSchema } from "../src/config";

test("the closest key: a case slip, a swapped pair or a missing letter finds it; an unrelated word finds none", () => {
  const known = keysAt(configSchema, ["migration"]);
  assert.ok(known.includes("excludeTables") && known.includes("source"), known.join(", "));
  assert.equal(closestKey("exludeTables", known), "excludeTables");
  assert.equal(closestKey("EXCLUDETABLES", known), "excludeTables");
  assert.equal(closestKey("souce", known), "source");
  assert.equal(closestKey("jbos", known), "jobs");
  assert.equal(closestKey("parallelism", known), undefined);
  assert.deepEqual(keysAt(configSchema, ["app", "workloads", 0]), ["kind", "name"]);
  assert.deepEqual(keysAt(configSchema, ["cutover", "healthCheck"]), ["service", "port", "path"]);
  assert.deepEqual(keysAt(configSchema, ["namespace"]), []);
});

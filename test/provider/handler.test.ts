// The provider/handler pattern in a plain Node.js process, as Pulumi's
// dynamic-provider host runs it: one process serves every dynamic resource, so
// handlers are loaded dozens of times in an `up`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { repoRoot } from "../helpers/pulumi";

test("tsx is registered once however many handlers load: better-sqlite3's addon probe still resolves at once", () => {
  // Each register() used to stack a resolver; `bindings` probes missing paths,
  // which then retried every layer inside every other (14 layers: 2 s, each
  // two more about 3x): a one-up's migration never started.
  const script = `
    require("tsx/cjs/api").register();
    const { loadHandler } = require("./src/provider/handler.ts");
    const path = require.resolve("./src/provider/generated-secret-handler.ts");
    for (let i = 0; i < 40; i++) loadHandler(path);
    const started = Date.now();
    const Database = require("better-sqlite3");
    new Database(":memory:").close();
    console.log(Date.now() - started);`;
  const r = spawnSync(process.execPath, ["-e", script], { cwd: repoRoot, encoding: "utf8", timeout: 60_000, env: { ...process.env, NODE_OPTIONS: "" } });
  assert.equal(r.status, 0, r.stderr || `killed after 60 s (${r.signal})`);
  assert.ok(Number(r.stdout.trim()) < 5_000, `loading better-sqlite3 took ${r.stdout.trim()} ms`);
});

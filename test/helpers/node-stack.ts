// The node tests of a committed stack (test/stacks-cluster.test.ts,
// test/stacks-cnpg-node.test.ts) start the same way: a node cluster, the
// writing sample app, its SQLite file in a directory the app's pods mount (uid
// 1000), and a throwaway Pulumi backend with the stack's committed settings
// copied aside; and they end by putting the committed stack file back and
// checking the node left nothing behind.
import assert from "node:assert/strict";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSampleAppDb } from "../../scripts/sample-app-db";
import { moveEncryptionSalt } from "../../scripts/stack-file";
import { sampleAppManifest } from "../../src/cluster/sample-app";
import { startTestCluster, type TestCluster } from "./kube";
import { pulumiWorkspace, readsSettings, repoRoot, type PulumiRun } from "./pulumi";

/** the sample app's uid: its pods write the SQLite file and their ack logs */
export const APP_UID = 1000;

export class NodeStack {
  readonly work: string;
  /** the directory the app's pods mount at /app */
  readonly appDir: string;
  /** the app's SQLite file, the stack's migration.source */
  readonly source: string;
  private readonly stackFile: string;
  private readonly configFile: string;
  private readonly committed: string;
  cluster!: TestCluster;
  ws!: ReturnType<typeof pulumiWorkspace>;

  constructor(
    readonly stack: string,
    private readonly opts: { messages: number; cloudnativePg?: boolean },
  ) {
    this.work = mkdtempSync(join(tmpdir(), `pgshift-${stack}-node-`));
    this.appDir = join(this.work, "app");
    this.source = join(this.appDir, "app.db");
    this.stackFile = join(repoRoot, `Pulumi.${stack}.yaml`);
    this.committed = readFileSync(this.stackFile, "utf8");
    this.configFile = join(this.work, `Pulumi.${stack}.yaml`);
  }

  /** pulumi with the stack's settings file (the committed one stays as it is) */
  pulumi(args: string[], allowFailure = false): Promise<PulumiRun> {
    return this.ws.run(readsSettings(args) ? [...args, "--config-file", this.configFile, "--stack", this.stack] : args, { allowFailure });
  }

  async start(): Promise<void> {
    const t0 = Date.now();
    this.cluster = await startTestCluster({ node: true, ...(this.opts.cloudnativePg ? { cloudnativePg: true } : {}) });
    console.log(`node cluster${this.opts.cloudnativePg ? " with CloudNativePG" : ""} up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    // The namespace and the app, idle until it has a database to write to.
    await this.cluster.kubectl(["apply", "-f", "-"], { input: sampleAppManifest() });
    // The directory the app's pods mount at /app (hostPath: the node is this machine), writable for their uid and its journals.
    mkdirSync(this.appDir);
    chmodSync(this.appDir, 0o777);
    createSampleAppDb(this.source, { messages: this.opts.messages });
    chownSync(this.appDir, APP_UID, APP_UID);
    chownSync(this.source, APP_UID, APP_UID);
    this.ws = pulumiWorkspace(repoRoot, this.cluster.env);
    await this.ws.run(["stack", "init", this.stack, "--secrets-provider", "passphrase"]);
    moveEncryptionSalt(this.stackFile, this.configFile, this.committed, this.committed);
    await this.pulumi(["config", "set", "--path", "pgshift:migration.source", this.source]);
  }

  async stop(): Promise<void> {
    if (this.ws) await this.ws.run(["stack", "rm", "--yes", "--force", "--preserve-config", this.stack], { allowFailure: true });
    if (!existsSync(this.stackFile) || readFileSync(this.stackFile, "utf8") !== this.committed) writeFileSync(this.stackFile, this.committed);
    if (this.ws) rmSync(this.ws.backendDir, { recursive: true, force: true });
    const left = await this.cluster?.stop();
    rmSync(this.work, { recursive: true, force: true });
    assert.deepEqual(left ?? [], [], "the node left nothing behind");
  }
}

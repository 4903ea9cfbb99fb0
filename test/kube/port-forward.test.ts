// The port-forward pgshift opens itself, on the test cluster's node: bytes go
// both ways, a pod that never becomes Ready and a kubeconfig the API server
// refuses fail with messages that say so, and a tunnel whose pod goes away
// closes its connections instead of hanging.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yaml from "js-yaml";
import { startTestCluster, type TestCluster } from "../helpers/kube";
import { openTunnel, TunnelError, withTunnel } from "../../src/kube/port-forward";
import { openUpdateTunnel, tunnelPorts } from "../../src/kube/update-tunnel";
import { spawn } from "node:child_process";
import { createServer } from "node:net";

let cluster: TestCluster;
let kubeconfig: string;
const ns = "tunnel-test";

before(async () => {
  cluster = await startTestCluster({ node: true });
  kubeconfig = readFileSync(cluster.kubeconfig, "utf8");
  await cluster.kubectl(["create", "namespace", ns]);
  // An echo server on 5432 (busybox nc: the image's own nc is OpenBSD's, without -e) and a pod that can never start.
  await cluster.kubectl(["apply", "-n", ns, "-f", "-"], {
    input: `apiVersion: v1
kind: Pod
metadata: { name: echo }
spec:
  containers:
  - name: echo
    image: pgshift.local/app:busybox
    imagePullPolicy: Never
    command: ["/bin/busybox", "nc", "-ll", "-p", "5432", "-e", "/bin/cat"]
    readinessProbe: { exec: { command: ["true"] }, periodSeconds: 1 }
---
apiVersion: v1
kind: Pod
metadata: { name: never-ready }
spec:
  containers: [{ name: c, image: pgshift.local/no-such-image:1, imagePullPolicy: Never }]
`,
  });
  await cluster.waitFor(
    "the echo pod to be Ready",
    async () => {
      const p = await cluster.get<{ status: { conditions?: { type: string; status: string }[] } }>("pod", "echo", ns);
      return p?.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    },
    120_000,
  );
});

after(async () => {
  await cluster?.stop();
});

function exchange(port: number, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => s.write(message));
    let got = "";
    s.on("data", (d) => {
      got += d.toString();
      if (got.length >= message.length) {
        s.end();
        resolve(got);
      }
    });
    s.on("error", reject);
    // A tunnel that is going away may accept and then close without an answer: that is "closed", not a hang
    // (a pending promise with nothing left on the event loop fails every test still to run).
    s.on("close", () => reject(new Error(`the connection on port ${port} closed before the echo (${got.length} of ${message.length} bytes)`)));
  });
}

test("bytes go through the tunnel both ways, on several connections, and close() stops it", async () => {
  const tunnel = await openTunnel({ kubeconfig, namespace: ns, pod: "echo", port: 5432 });
  try {
    assert.equal(await exchange(tunnel.port, "hello through the port-forward"), "hello through the port-forward");
    const big = "x".repeat(1 << 20);
    assert.equal((await exchange(tunnel.port, big)).length, big.length, "a megabyte comes back whole");
  } finally {
    await tunnel.close();
  }
  await assert.rejects(exchange(tunnel.port, "after close"), /ECONNREFUSED/);
});

test("withTunnel points the URL at the tunnel's local end and closes it after, also on failure", async () => {
  let seen = "";
  await assert.rejects(
    withTunnel("postgresql://u:p@db.example.svc.cluster.local:5432/app", { kubeconfig, namespace: ns, pod: "echo", port: 5432 }, async (url) => {
      seen = url;
      throw new Error("the operation failed");
    }),
    /the operation failed/,
  );
  const u = new URL(seen);
  assert.equal(u.hostname, "127.0.0.1");
  assert.notEqual(u.port, "5432");
  assert.equal(u.pathname, "/app");
  await assert.rejects(exchange(Number(u.port), "closed?"), /ECONNREFUSED/, "the tunnel is closed after a failure");
});

test("a pod that never becomes Ready is reported with what to look at", async () => {
  await assert.rejects(openTunnel({ kubeconfig, namespace: ns, pod: "never-ready", port: 5432 }, { readyTimeoutMs: 3000 }), (e: unknown) => {
    assert.ok(e instanceof TunnelError);
    assert.match(e.message, new RegExp(`pod ${ns}/never-ready .* did not become Ready within 3 s`));
    assert.match(e.message, /kubectl describe pod never-ready -n tunnel-test/);
    return true;
  });
  await assert.rejects(
    openTunnel({ kubeconfig, namespace: ns, pod: "no-such-pod", port: 5432 }, { readyTimeoutMs: 2000 }),
    /did not become Ready within 2 s \(not found\)/,
  );
});

test("a kubeconfig the API server refuses, or a context it does not have, fails before anything is touched", async () => {
  // Same server, a client certificate signed by nobody the API server trusts.
  const dir = mkdtempSync(join(tmpdir(), "pgshift-stranger-"));
  try {
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-subj", "/O=system:masters/CN=stranger", "-days", "1"],
      { cwd: dir, stdio: "ignore" },
    );
    const cfg = yaml.load(kubeconfig) as { users: { user: Record<string, string> }[] };
    cfg.users[0]!.user["client-certificate-data"] = readFileSync(join(dir, "c.pem")).toString("base64");
    cfg.users[0]!.user["client-key-data"] = readFileSync(join(dir, "k.pem")).toString("base64");
    await assert.rejects(openTunnel({ kubeconfig: yaml.dump(cfg), namespace: ns, pod: "echo", port: 5432 }, { readyTimeoutMs: 2000 }), (e: unknown) => {
      assert.ok(e instanceof TunnelError);
      assert.match(e.message, /refused the kubeconfig's credentials \(401\)|may not read or port-forward to pod tunnel-test\/echo .*\(403\)/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(
    openTunnel({ kubeconfig, context: "no-such-context", namespace: ns, pod: "echo", port: 5432 }),
    /The kubeconfig has no context "no-such-context"/,
  );
});

// The postgresql provider's tunnel (src/kube/update-tunnel.ts): a process of
// its own, on the same port every time for the same stack, that outlives the
// program and ends with the process it watches (the language host).
test("the update's tunnel: the stack's own port, open until the watched process ends; a taken port moves it to the next", async () => {
  const key = `test/${process.pid}/update-tunnel`;
  const watched = spawn("sleep", ["600"], { stdio: "ignore" });
  try {
    const first = await openUpdateTunnel({ kubeconfig, namespace: ns, pod: "echo", port: 5432 }, key, { watchPid: watched.pid! });
    assert.equal(first.port, tunnelPorts(key)[0], "the first port derived from the stack");
    assert.deepEqual(tunnelPorts(key), tunnelPorts(key), "derived, not random");
    assert.equal(await exchange(first.port, "through the update's tunnel"), "through the update's tunnel");
    // A second tunnel for the same stack while the first still runs: the next port.
    const second = await openUpdateTunnel({ kubeconfig, namespace: ns, pod: "echo", port: 5432 }, key, { watchPid: watched.pid! });
    assert.equal(second.port, tunnelPorts(key)[1]);
    assert.equal(await exchange(second.port, "second"), "second");
    watched.kill();
    // Each tunnel process notices on its own: both must end, in either order.
    const deadline = Date.now() + 10_000;
    for (const port of [first.port, second.port]) {
      for (;;) {
        // Refused, not merely reset: a process on its way out may still accept and drop a connection.
        const closed = await exchange(port, "gone?").then(
          () => false,
          (e: unknown) => /ECONNREFUSED/.test(String(e)),
        );
        if (closed) break;
        assert.ok(Date.now() < deadline, `the tunnel process on port ${port} did not end within 10 s of the watched process`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await assert.rejects(exchange(second.port, "gone?"), /ECONNREFUSED/);
  } finally {
    watched.kill();
  }
  // Every port of the stack taken: a clear error, not a hang.
  const blockers = await Promise.all(
    tunnelPorts(key).map(
      (p) =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const srv = createServer();
          srv.once("error", () => resolve(srv));
          srv.listen(p, "127.0.0.1", () => resolve(srv));
        }),
    ),
  );
  try {
    await assert.rejects(
      openUpdateTunnel({ kubeconfig, namespace: ns, pod: "echo", port: 5432 }, key),
      /every local port tried for the port-forward is in use/,
    );
  } finally {
    for (const b of blockers) b.close();
  }
  await assert.rejects(
    openUpdateTunnel({ kubeconfig, namespace: ns, pod: "no-such-pod", port: 5432 }, key, { readyTimeoutMs: 0 }),
    /no-such-pod .*did not become Ready/,
  );
});

test("when the pod goes away mid-connection, the connection closes instead of hanging", async () => {
  const tunnel = await openTunnel({ kubeconfig, namespace: ns, pod: "echo", port: 5432 });
  try {
    const closed = new Promise<void>((resolve) => {
      const s = connect(tunnel.port, "127.0.0.1", () => s.write("ping"));
      s.on("data", () => void cluster.kubectl(["delete", "pod", "echo", "-n", ns, "--grace-period=0", "--force", "--wait=false"]));
      s.on("close", () => resolve());
      s.on("error", () => undefined);
    });
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("the connection did not close within 60 s of the pod's deletion")), 60_000));
    await Promise.race([closed, timeout]);
  } finally {
    await tunnel.close();
  }
});

// The generated secrets' decisions: which lengths are refused, when a password
// or certificate is replaced (only when its inputs change), and what create
// makes. The certificate against a real server: generated-secret.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { certificate, password, type CertInputs, type PasswordInputs } from "../../src/provider/generated-secret-handler";

test("password check: 16 to 128 characters", async () => {
  const cases: [number, boolean][] = [
    [15, false],
    [16, true],
    [32, true],
    [128, true],
    [129, false],
    [20.5, false],
  ];
  for (const [length, ok] of cases) {
    const r = await password.check({ length: 32, rotation: 0 }, { length, rotation: 0 });
    assert.equal(r.failures!.length === 0, ok, `length ${length}`);
  }
});

test("password diff: replaced when its length or rotation changes, otherwise kept", async () => {
  const olds: PasswordInputs = { length: 32, rotation: 0 };
  const cases: [string, PasswordInputs, boolean][] = [
    ["same inputs", { length: 32, rotation: 0 }, false],
    ["rotation bumped", { length: 32, rotation: 1 }, true],
    ["longer", { length: 40, rotation: 0 }, true],
  ];
  for (const [what, news, replaced] of cases) {
    const r = await password.diff("id", olds, news);
    assert.deepEqual({ changes: r.changes, replaces: r.replaces }, { changes: replaced, replaces: replaced ? ["length"] : [] }, what);
  }
});

test("password create: the length asked for, URL-safe, different every time", async () => {
  const made = await Promise.all([16, 32, 32, 128].map((length) => password.create({ length, rotation: 0 })));
  for (const [i, length] of [16, 32, 32, 128].entries()) {
    assert.equal(made[i]!.outs.value.length, length);
    assert.match(made[i]!.outs.value, /^[A-Za-z0-9_-]+$/);
  }
  assert.notEqual(made[1]!.outs.value, made[2]!.outs.value);
  assert.notEqual(made[1]!.id, made[2]!.id);
});

test("certificate diff: replaced when the names or validity change, or when it predates the stack's CA", async () => {
  const olds = { commonName: "postgres.ns.svc", dnsNames: ["postgres.ns.svc", "postgres"], validityDays: 825, caCert: "CA" };
  const cases: [string, Partial<CertInputs & { caCert?: string }>, Partial<CertInputs>, boolean][] = [
    ["same inputs", {}, {}, false],
    ["another namespace", {}, { commonName: "postgres.other.svc", dnsNames: ["postgres.other.svc", "postgres"] }, true],
    ["one more name", {}, { dnsNames: ["postgres.ns.svc", "postgres", "postgres.ns.svc.cluster.local"] }, true],
    ["another validity", {}, { validityDays: 365 }, true],
    ["made before the stack had a CA", { caCert: undefined }, {}, true],
  ];
  for (const [what, o, n, replaced] of cases) {
    const r = await certificate.diff("id", { ...olds, ...o }, { commonName: olds.commonName, dnsNames: olds.dnsNames, validityDays: olds.validityDays, ...n });
    assert.deepEqual({ changes: r.changes, replaces: r.replaces }, { changes: replaced, replaces: replaced ? ["dnsNames"] : [] }, what);
  }
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import jsYaml from "js-yaml";
import { CUTOVER_TIMEOUT_SECONDS, ConfigError, cutoverSettings, parseConfig, rawConfig } from "../src/config";

/** The stack files' pgshift: keys, as `pulumi config` would hand them to the program (JSON for objects). */
function stackConfig(file: string): Record<string, string> {
  const text = readFileSync(join(__dirname, "..", file), "utf8");
  // A small YAML reader is enough for these files; the real engine reads them in test/index.test.ts.
  const yaml = { load: (s: string) => jsYaml.load(s) as { config: Record<string, unknown> } };
  const cfg = yaml.load(text).config;
  return Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

test("dev and prod stack files are valid and say what the seed says", () => {
  const dev = parseConfig(rawConfig(stackConfig("Pulumi.dev.yaml")));
  assert.equal(dev.namespace, "piyasa-chatbot-dev");
  assert.equal(dev.database.name, "piyasa_db");
  assert.equal(dev.database.image, "postgres:16-alpine");
  assert.equal(dev.backup.schedule, "0 2 * * *");
  assert.deepEqual(dev.app.workloads, [
    { kind: "Deployment", name: "dev-api" },
    { kind: "StatefulSet", name: "dev-worker" },
  ]);
  const prod = parseConfig(rawConfig(stackConfig("Pulumi.prod.yaml")));
  assert.equal(prod.namespace, "piyasa-chatbot");
  assert.equal(prod.database.tls, true);
  assert.equal(prod.database.protect, true);
  const local = parseConfig(rawConfig(stackConfig("Pulumi.local.yaml")));
  assert.equal(local.renderDir, "out/manifests");
});

test("every checked-in stack file parses, with no key the schema does not know", () => {
  for (const file of ["Pulumi.dev.yaml", "Pulumi.prod.yaml", "Pulumi.local.yaml", "Pulumi.cluster.yaml", "Pulumi.cluster-ha.yaml"])
    assert.doesNotThrow(() => parseConfig(rawConfig(stackConfig(file))), file);
});

test("a misspelt key anywhere stops with its name and the key it most likely meant, instead of leaving the setting at its default", () => {
  const base = { "pgshift:namespace": "ns" };
  const fails = (raw: Record<string, unknown>, ...patterns: RegExp[]) =>
    assert.throws(
      () => parseConfig(rawConfig({ ...base, ...Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, JSON.stringify(v)])) })),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        for (const p of patterns) assert.match(e.message, p);
        return true;
      },
    );
  fails(
    { "pgshift:migration": { exludeTables: ["sessions"], jobs: 2 } },
    /pgshift:migration\.exludeTables: unknown key; did you mean pgshift:migration\.excludeTables\?/,
    /known: .*excludeTables/,
    /pulumi config rm --path 'pgshift:migration\.exludeTables'/,
  );
  fails({ "pgshift:migration": { Jobs: 4 } }, /pgshift:migration\.Jobs: unknown key; did you mean pgshift:migration\.jobs\?/);
  fails({ "pgshift:migration": { copyEverything: true } }, /pgshift:migration\.copyEverything: unknown key \(known: /);
  fails({ "pgshift:database": { storagesize: "1Gi" } }, /pgshift:database\.storagesize: unknown key; did you mean pgshift:database\.storageSize\?/);
  fails({ "pgshift:database": { requests: { cpus: "1" } } }, /pgshift:database\.requests\.cpus: .*did you mean pgshift:database\.requests\.cpu\?/);
  fails({ "pgshift:backup": { keepDialy: 3 } }, /pgshift:backup\.keepDialy: .*did you mean pgshift:backup\.keepDaily\?/);
  fails({ "pgshift:roles": { onwer: "x_owner" } }, /pgshift:roles\.onwer: .*did you mean pgshift:roles\.owner\?/);
  fails({ "pgshift:networkPolicy": { allowfrom: [] } }, /pgshift:networkPolicy\.allowfrom: .*did you mean pgshift:networkPolicy\.allowFrom\?/);
  fails({ "pgshift:exporter": { enable: false } }, /pgshift:exporter\.enable: .*did you mean pgshift:exporter\.enabled\?/);
  fails({ "pgshift:app": { secretname: "s" } }, /pgshift:app\.secretname: .*did you mean pgshift:app\.secretName\?/);
  fails(
    { "pgshift:app": { workloads: [{ kind: "Deployment", nmae: "api" }] } },
    /pgshift:app\.workloads\.0\.nmae: .*did you mean pgshift:app\.workloads\.0\.name\?/,
  );
});

test("bad values stop with the key's name and what is allowed", () => {
  const bad = {
    "pgshift:namespace": "Not_A_Label",
    "pgshift:backup": JSON.stringify({ schedule: "daily" }),
    "pgshift:databse": JSON.stringify({}),
    "pgshift:connection": JSON.stringify({ port: 99999 }),
  };
  assert.throws(
    () => parseConfig(rawConfig(bad)),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const m = (e as Error).message;
      assert.match(m, /pgshift:namespace: a DNS label/);
      assert.match(m, /pgshift:backup\.schedule: a cron schedule/);
      assert.match(m, /pgshift:databse: unknown key; did you mean pgshift:database\?/);
      assert.match(m, /pgshift:connection\.port/);
      return true;
    },
  );
  assert.throws(() => parseConfig(rawConfig({})), /pgshift:namespace: Required/);
});

test("connection: a port-forward by default, direct on request, the removed two-phase key explained", () => {
  const base = { "pgshift:namespace": "ns" };
  assert.equal(parseConfig(rawConfig(base)).connection.via, "port-forward");
  assert.equal(parseConfig(rawConfig({ ...base, "pgshift:connection": JSON.stringify({ via: "direct", port: 6543 }) })).connection.port, 6543);
  assert.throws(
    () => parseConfig(rawConfig({ ...base, "pgshift:connection": JSON.stringify({ enabled: false }) })),
    (e: unknown) =>
      e instanceof ConfigError &&
      /pgshift:connection\.enabled: no longer used/.test(e.message) &&
      /pulumi config rm --path pgshift:connection\.enabled/.test(e.message),
  );
  assert.throws(
    () => parseConfig(rawConfig({ ...base, "pgshift:renderDir": "out", "pgshift:connection": JSON.stringify({ via: "port-forward" }) })),
    /pgshift:connection\.via: must be "direct" when renderDir is set/,
  );
  assert.equal(parseConfig(rawConfig(stackConfig("Pulumi.dev.yaml"))).connection.via, "port-forward");
  assert.equal(parseConfig(rawConfig(stackConfig("Pulumi.local.yaml"))).connection.via, "direct");
});

test("backup.s3 is refused, not ignored: the backup image has no object-store client", () => {
  const raw = { "pgshift:namespace": "ns", "pgshift:backup": JSON.stringify({ s3: { bucket: "b", credentialsSecret: "s" } }) };
  assert.throws(() => parseConfig(rawConfig(raw)), /pgshift:backup\.s3: backup\.s3 was removed/);
});

test("migration.casts carries per-column casts (as --cast) to the engine; none by default", () => {
  const base = stackConfig("Pulumi.dev.yaml");
  assert.deepEqual(parseConfig(rawConfig(base)).migration.casts, {});
  const withCasts = { ...base, "pgshift:migration": JSON.stringify({ casts: { "events.at": "timestamp:epoch-ms" } }) };
  assert.deepEqual(parseConfig(rawConfig(withCasts)).migration.casts, { "events.at": "timestamp:epoch-ms" });
  assert.throws(
    () => parseConfig(rawConfig({ ...base, "pgshift:migration": JSON.stringify({ casts: { "events.at": 3 } }) })),
    /pgshift:migration\.casts\.events\.at/,
  );
});

test("image digests: a well-formed sha256 digest is taken, anything else refused with the key's name", () => {
  const digest = "sha256:" + "0123456789abcdef".repeat(4);
  const cfg = parseConfig(
    rawConfig({
      "pgshift:namespace": "ns",
      "pgshift:database": JSON.stringify({ imageDigest: digest }),
      "pgshift:exporter": JSON.stringify({ imageDigest: digest }),
    }),
  );
  assert.equal(cfg.database.imageDigest, digest);
  assert.equal(cfg.exporter.imageDigest, digest);
  assert.equal(cfg.database.drains, "allow");
  assert.throws(
    () => parseConfig(rawConfig({ "pgshift:namespace": "ns", "pgshift:database": JSON.stringify({ imageDigest: "latest" }) })),
    /pgshift:database\.imageDigest: an image digest/,
  );
});

test("networkPolicy.dnsCidrs: none by default, the cluster stack names the node's DNS, a bad CIDR names the key", () => {
  const base = { "pgshift:namespace": "ns" };
  assert.deepEqual(parseConfig(rawConfig(base)).networkPolicy.dnsCidrs, []);
  assert.deepEqual(parseConfig(rawConfig(stackConfig("Pulumi.cluster.yaml"))).networkPolicy.dnsCidrs, ["10.243.255.1/32"]);
  for (const bad of ["10.0.0.1", "10.0.0.300/32", "10.0.0.0/33", "0.0.0.0/0; rm -rf /"]) {
    assert.throws(
      () => parseConfig(rawConfig({ ...base, "pgshift:networkPolicy": JSON.stringify({ dnsCidrs: [bad] }) })),
      /pgshift:networkPolicy\.dnsCidrs\.0: must be an IPv4 CIDR/,
      bad,
    );
  }
});

// pg_hba reads some names as keywords (all, sameuser, samerole, samegroup,
// replication), +name as "members of" and @name as "names listed in a file";
// issue 25 rendered `roles.app: all` as a line that let the superuser in from
// the network. Such names, the superuser's, PostgreSQL's own (pg_…) and the
// maintenance databases are refused at preview, each under its own key.
const withNames = (roles: Record<string, string>, database?: string) => ({
  "pgshift:namespace": "ns",
  "pgshift:roles": JSON.stringify(roles),
  ...(database === undefined ? {} : { "pgshift:database": JSON.stringify({ name: database }) }),
});
const refusal = (raw: Record<string, string>): string => {
  try {
    parseConfig(rawConfig(raw));
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail(`accepted ${JSON.stringify(raw)}`);
};

/** Names refused as roles and as databases alike, with what the refusal says. */
const hbaSpecials = (name: string): [string, RegExp][] => [
  ...["all", "sameuser", "samerole", "samegroup", "replication"].map((k): [string, RegExp] => [k, /pg_hba keyword/]),
  [`+${name}`, /\+.*members of/],
  [`@${name}`, /@.*file/],
  [`pg_${name}`, /pg_.*reserved/],
];

for (const key of ["owner", "app", "monitor", "backup"] as const) {
  test(`roles.${key}: pg_hba keywords, +/@ names, the superuser and pg_… are refused naming the key`, () => {
    for (const [name, why] of [...hbaSpecials("piyasa_user"), ["postgres", /superuser/], ["pg_monitor", /pg_.*reserved/], ["public", /reserved/]] as const) {
      const m = refusal(withNames({ [key]: name }));
      assert.match(m, new RegExp(`pgshift:roles\\.${key}: `), `${name}: ${m}`);
      assert.match(m, why, `${name}: ${m}`);
    }
  });
}

test("database.name: pg_hba keywords, +/@ names, the maintenance databases and pg_… are refused naming the key", () => {
  for (const [name, why] of [
    ...hbaSpecials("piyasa_db"),
    ["postgres", /maintenance database/],
    ["template0", /template database/],
    ["template1", /template database/],
  ] as const) {
    const m = refusal(withNames({}, name));
    assert.match(m, /pgshift:database\.name: /, `${name}: ${m}`);
    assert.match(m, why, `${name}: ${m}`);
  }
  assert.equal(parseConfig(rawConfig(withNames({}, "app_db"))).database.name, "app_db");
});

test("the four roles must be distinct: a repeated name is refused under the later key, naming the earlier", () => {
  const m = refusal(withNames({ owner: "piyasa", app: "piyasa" }));
  assert.match(m, /pgshift:roles\.app: .*same name as roles\.owner/);
  const m2 = refusal(withNames({ monitor: "piyasa_app" }));
  assert.match(m2, /pgshift:roles\.monitor: .*same name as roles\.app/);
  const m3 = refusal(withNames({ owner: "x_owner", app: "x_app", monitor: "x_backup", backup: "x_backup" }));
  assert.match(m3, /pgshift:roles\.backup: .*same name as roles\.monitor/);
  assert.deepEqual(parseConfig(rawConfig(withNames({ owner: "a", app: "b", monitor: "c", backup: "d" }))).roles, {
    owner: "a",
    app: "b",
    monitor: "c",
    backup: "d",
  });
});

test("cutover: true/false, or with a health check, timeout and reader image; rollback.discardPostgresWrites; bad values name the key", () => {
  const base = { namespace: "ns" };
  assert.deepEqual(cutoverSettings(parseConfig({ ...base, cutover: true })), { enabled: true, timeoutSeconds: CUTOVER_TIMEOUT_SECONDS });
  assert.deepEqual(cutoverSettings(parseConfig({ ...base })), { enabled: false, timeoutSeconds: CUTOVER_TIMEOUT_SECONDS });
  const full = parseConfig({
    ...base,
    cutover: { enabled: true, healthCheck: { service: "dev-api", port: 8000, path: "/healthz" }, timeout: 90, readerImage: "busybox" },
  });
  assert.deepEqual(cutoverSettings(full), {
    enabled: true,
    healthCheck: { service: "dev-api", port: 8000, path: "/healthz" },
    timeoutSeconds: 90,
    readerImage: "busybox",
  });
  assert.equal(parseConfig({ ...base }).rollback.discardPostgresWrites, false);
  assert.equal(parseConfig({ ...base, rollback: { discardPostgresWrites: true } }).rollback.discardPostgresWrites, true);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ cutover: { enabled: true, healthCheck: { service: "api", port: 80, path: "healthz" } } }, /pgshift:cutover\.healthCheck\.path: an absolute HTTP path/],
    [{ cutover: { enabled: true, timeout: 1 } }, /pgshift:cutover\.timeout: Number must be greater than or equal to 10/],
    [{ cutover: "soon" }, /pgshift:cutover: Expected object/],
    [
      { rollback: { discardPostgresWrite: true } },
      /pgshift:rollback\.discardPostgresWrite: unknown key; did you mean pgshift:rollback\.discardPostgresWrites\?/,
    ],
    [{ rollback: { discardPostgresWrites: "yes" } }, /pgshift:rollback\.discardPostgresWrites: Expected boolean/],
  ];
  for (const [raw, re] of bad)
    assert.throws(
      () => parseConfig({ ...base, ...raw }),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify(raw),
    );
});

test("database.engine: statefulset by default (one instance); cloudnative-pg defaults to 3 instances and CloudNativePG's image", () => {
  const dev = parseConfig(rawConfig(stackConfig("Pulumi.dev.yaml")));
  assert.equal(dev.database.engine, "statefulset");
  assert.equal(dev.database.instances, 1);
  const ha = parseConfig({ namespace: "ns", database: { engine: "cloudnative-pg" }, networkPolicy: { apiServerCidrs: ["10.0.0.1/32"] } });
  assert.equal(ha.database.engine, "cloudnative-pg");
  assert.equal(ha.database.instances, 3);
  assert.equal(ha.database.image, "ghcr.io/cloudnative-pg/postgresql:16");
  assert.equal(
    parseConfig({ namespace: "ns", database: { engine: "cloudnative-pg", instances: 5, image: "my/pg:16" }, networkPolicy: { enabled: false } }).database
      .instances,
    5,
  );
  const stack = parseConfig(rawConfig(stackConfig("Pulumi.cluster-ha.yaml")));
  assert.equal(stack.database.engine, "cloudnative-pg");
  assert.equal(stack.database.instances, 3);
  assert.equal(stack.database.image, "pgshift.local/cnpg-postgres:15");
  assert.deepEqual(stack.networkPolicy.apiServerCidrs, ["10.243.255.1/32"]);
});

test("database.engine: an unknown engine, replicas without CloudNativePG, one CloudNativePG instance and a missing API address name their keys", () => {
  const fails = (raw: Record<string, unknown>, ...patterns: RegExp[]) =>
    assert.throws(
      () => parseConfig({ namespace: "ns", ...raw }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        for (const p of patterns) assert.match((e as Error).message, p);
        return true;
      },
    );
  fails({ database: { engine: "patroni" } }, /pgshift:database\.engine: .*'statefulset' \| 'cloudnative-pg'/);
  fails({ database: { instances: 3 } }, /pgshift:database\.instances: the statefulset engine runs one PostgreSQL instance; .*cloudnative-pg/);
  fails(
    { database: { engine: "cloudnative-pg", instances: 1 }, networkPolicy: { enabled: false } },
    /pgshift:database\.instances: cloudnative-pg needs at least 2 instances/,
  );
  fails(
    { database: { engine: "cloudnative-pg" } },
    /pgshift:networkPolicy\.apiServerCidrs: with database\.engine cloudnative-pg the database pods must reach the Kubernetes API/,
  );
  fails(
    { database: { engine: "cloudnative-pg", drains: "block" }, networkPolicy: { enabled: false } },
    /pgshift:database\.drains: "block" is for the single StatefulSet pod/,
  );
  fails({ networkPolicy: { apiServerCidrs: ["10.0.0.300/32"] } }, /pgshift:networkPolicy\.apiServerCidrs\.0: must be an IPv4 CIDR/);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { databaseChildName, databaseObjectName, databaseServiceHost } from "../../components/names";

const value = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));

test("the database's objects are named after the stack's prefix, the way the seed's overlays name them", async () => {
  assert.equal(databaseObjectName("dev-"), "dev-postgres");
  assert.equal(databaseObjectName(""), "postgres");
  assert.equal(databaseChildName("prod-", "exporter"), "prod-postgres-exporter");
  assert.equal(await value(databaseServiceHost("dev-", "piyasa-chatbot-dev")), "dev-postgres.piyasa-chatbot-dev.svc.cluster.local");
  assert.equal(await value(databaseServiceHost("", pulumi.output("ns"))), "postgres.ns.svc.cluster.local");
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { OwnWrites } from "./own-writes";

type Obj = { metadata: { name: string; namespace: string; uid: string; resourceVersion: string }; status?: { phase: string } };
const obj = (resourceVersion: string, phase: string, uid = "u1"): Obj => ({ metadata: { name: "r", namespace: "ns", uid, resourceVersion }, status: { phase } });

void test("a write's result is read back until the cache moves past the version it was based on", async () => {
  let cache: Obj | undefined = obj("10", "Pending");
  const reads = new OwnWrites<Obj>(() => cache);
  assert.equal(reads.get("ns", "r")?.status?.phase, "Pending", "nothing written: the cache");
  await reads.write("ns", "r", async () => obj("11", "Scheduling"));
  assert.equal(reads.get("ns", "r")?.metadata.resourceVersion, "11", "the cache still shows 10: our write is newer");
  cache = obj("11", "Scheduling");
  assert.equal(reads.get("ns", "r"), cache, "the cache caught up");
  await reads.write("ns", "r", async () => obj("12", "Running"));
  cache = obj("13", "Running"); // someone else wrote after us
  assert.equal(reads.get("ns", "r")?.metadata.resourceVersion, "13");
  cache = obj("12", "Pending"); // an older version never comes back into use once dropped
  assert.equal(reads.get("ns", "r")?.metadata.resourceVersion, "12");
});

void test("a deleted object, or a new one under the same name, is not answered from an old write", async () => {
  let cache: Obj | undefined = obj("10", "Pending");
  const reads = new OwnWrites<Obj>(() => cache);
  await reads.write("ns", "r", async () => obj("11", "Running"));
  cache = undefined;
  assert.equal(reads.get("ns", "r"), undefined);
  cache = obj("10", "Pending", "u2");
  await reads.write("ns", "r", async () => obj("11", "Running", "u1"));
  assert.equal(reads.get("ns", "r")?.metadata.uid, "u2");
});

void test("two writes in a row (finalizers, then status): the cache passing through the first one's version still serves the second", async () => {
  let cache: Obj | undefined = obj("10", "");
  const reads = new OwnWrites<Obj>(() => cache);
  await reads.write("ns", "r", async () => obj("11", "")); // the finalizer patch
  await reads.write("ns", "r", async () => obj("12", "Scheduling")); // the status patch
  assert.equal(reads.get("ns", "r")?.metadata.resourceVersion, "12", "the cache still shows 10");
  cache = obj("11", "");
  assert.equal(reads.get("ns", "r")?.status?.phase, "Scheduling", "the cache shows the finalizer patch, not yet the status");
  cache = obj("12", "Scheduling");
  assert.equal(reads.get("ns", "r"), cache, "the cache caught up");
  cache = obj("11", "");
  assert.equal(reads.get("ns", "r")?.metadata.resourceVersion, "11", "once dropped, the kept object does not come back");
});

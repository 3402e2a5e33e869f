import { test } from "node:test";
import assert from "node:assert/strict";
import { Tombstones } from "./tombstones";

type Pod = { metadata: { uid: string; labels?: Record<string, string> } };
const pod = (uid: string, run?: string): Pod => ({ metadata: { uid, labels: run ? { run } : {} } });

void test("deleted objects are kept by group, bounded by age and by count", () => {
  let now = 0;
  const store = new Tombstones<Pod>({ ttlMs: 1000, max: 2, groupOf: (o) => (o as Pod).metadata.labels?.run, now: () => now });
  store.remember(pod("a", "r1"));
  store.remember(pod("x")); // no group: not kept
  now = 500;
  store.remember(pod("b", "r2"));
  assert.deepEqual(store.of("r1").map((p) => p.metadata.uid), ["a"]);
  now = 900;
  store.remember(pod("c", "r1"));
  assert.equal(store.size, 2, "the oldest goes when the count is exceeded");
  assert.deepEqual(store.of("r1").map((p) => p.metadata.uid), ["c"]);
  now = 1700;
  assert.deepEqual(store.of("r2"), [], "expired");
  assert.deepEqual(store.of("r1").map((p) => p.metadata.uid), ["c"]);
});

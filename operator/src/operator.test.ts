import { test } from "node:test";
import assert from "node:assert/strict";
import { statusOnlyUpdate } from "./operator";
import { runFixture } from "./reconcile/fixtures";

void test("status-only updates of a run are told apart from spec, deletion and metadata changes; resyncs are not updates", () => {
  const run = runFixture();
  const bump = (r: typeof run, change: (r: typeof run) => void) => {
    const next = structuredClone(r);
    next.metadata.resourceVersion = String(Number(r.metadata.resourceVersion) + 1);
    change(next);
    return next;
  };
  assert.equal(statusOnlyUpdate(run, undefined), false, "an add");
  assert.equal(statusOnlyUpdate(run, run), false, "a resync re-delivers the same version");
  assert.equal(statusOnlyUpdate(bump(run, (r) => (r.status = { nauc: 0.9 })), run), true);
  assert.equal(statusOnlyUpdate(bump(run, (r) => (r.metadata.generation = 2)), run), false, "a spec change");
  assert.equal(statusOnlyUpdate(bump(run, (r) => (r.metadata.deletionTimestamp = "2025-01-01T00:00:00Z")), run), false, "a deletion");
  assert.equal(statusOnlyUpdate(bump(run, (r) => (r.metadata.labels = { a: "b" })), run), false, "a label");
});

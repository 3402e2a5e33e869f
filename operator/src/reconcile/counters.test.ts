import { test } from "node:test";
import assert from "node:assert/strict";
import type { AutoClintRunStatus } from "@autoclint/api";
import { holdTickingCounters } from "./counters";
import { patchOwnedStatus } from "./status";

const stored: AutoClintRunStatus = {
  phase: "Running", message: "training", attempts: 1, gpuWaitSeconds: 4, computeSeconds: 100,
  attemptHistory: [{ attempt: 0, job: "r-a0", phase: "Running", gpuWaitSeconds: 4, computeSeconds: 100 }],
};
const planned = (computeSeconds: number, changes: Record<string, unknown> = {}) => ({
  phase: "Running", message: "training", attempts: 1, gpuWaitSeconds: 4, computeSeconds,
  attemptHistory: [{ attempt: 0, job: "r-a0", phase: "Running", gpuWaitSeconds: 4, computeSeconds }], ...changes,
});

void test("a ticking counter alone is held at its stored value until it has moved a step", () => {
  assert.deepEqual(holdTickingCounters(stored, planned(129), 30), { ...planned(100) }, "29 s on: held, nothing to write");
  assert.deepEqual(holdTickingCounters(stored, planned(130), 30), planned(130), "a step on: written");
  assert.deepEqual(holdTickingCounters(undefined, planned(101), 30), planned(101), "nothing stored yet");
});

void test("a long-running counter's step grows with it: a fifth of its stored value once that is more than the fixed step", () => {
  const long = { ...stored, computeSeconds: 1000, attemptHistory: [{ ...stored.attemptHistory![0]!, computeSeconds: 1000 }] };
  const at = (computeSeconds: number) => ({ ...planned(computeSeconds) });
  const held = { ...planned(1000) };
  assert.deepEqual(holdTickingCounters(long, at(1199), 30), held, "199 s on at 1,000 s: held");
  assert.deepEqual(holdTickingCounters(long, at(1200), 30), at(1200), "a fifth on: written");
  // An hour of a running run, reconciled every 30 s: how many writes its counter makes.
  let status: AutoClintRunStatus = { ...stored, computeSeconds: 0, attemptHistory: [{ ...stored.attemptHistory![0]!, computeSeconds: 0 }] };
  let writes = 0;
  for (let t = 30; t <= 3600; t += 30) {
    const fields = holdTickingCounters(status, planned(t), 30);
    if (fields.computeSeconds === t) [writes, status] = [writes + 1, fields as AutoClintRunStatus];
  }
  assert.ok(writes >= 15 && writes <= 30, `${writes} writes in an hour (a fixed 30 s step: 120)`);
});

void test("any other change writes the counters exact", () => {
  assert.deepEqual(holdTickingCounters(stored, planned(101, { phase: "Succeeded" }), 30), planned(101, { phase: "Succeeded" }));
  const failed = planned(101);
  failed.attemptHistory[0]!.phase = "Failed";
  assert.deepEqual(holdTickingCounters(stored, failed, 30), failed, "an attempt's phase");
  const retried = planned(101);
  retried.attemptHistory.push({ attempt: 1, job: "r-a1", phase: "Scheduling", gpuWaitSeconds: 0, computeSeconds: 0 });
  assert.deepEqual(holdTickingCounters(stored, retried, 30), retried, "a new attempt");
});

void test("a held status is no write at all", async () => {
  let writes = 0;
  const run = { metadata: { name: "r", namespace: "ns", uid: "u" }, status: stored };
  const store = { get: () => Promise.resolve(run), patchStatus: () => Promise.resolve((writes++, run)) };
  await patchOwnedStatus(store, run, holdTickingCounters(stored, planned(110), 30));
  assert.equal(writes, 0);
  await patchOwnedStatus(store, run, holdTickingCounters(stored, planned(140), 30));
  assert.equal(writes, 1);
});

void test("the trainer pod's name and the start-up story ride with the counters while the phase holds; never once the run is finished", () => {
  const scheduling: AutoClintRunStatus = {
    phase: "Scheduling", message: "waiting for a node", attempts: 1, gpuWaitSeconds: 1, computeSeconds: 0,
    attemptHistory: [{ attempt: 0, job: "r-a0", phase: "Scheduling", gpuWaitSeconds: 1, computeSeconds: 0 }],
  };
  const podSeen = (gpuWaitSeconds: number, changes: Record<string, unknown> = {}) => ({
    phase: "Scheduling", message: "waiting for a node", attempts: 1, gpuWaitSeconds, computeSeconds: 0, trainerPod: "r-a0-x", startup: { mode: "cold", queuedSeconds: 0 },
    attemptHistory: [{ attempt: 0, job: "r-a0", phase: "Scheduling", gpuWaitSeconds, computeSeconds: 0, pod: "r-a0-x" }], ...changes,
  });
  const held = holdTickingCounters(scheduling, podSeen(5), 30);
  assert.deepEqual(held, { ...scheduling, trainerPod: undefined, startup: undefined }, "the pod appeared 4 s on: held");
  assert.deepEqual(holdTickingCounters(scheduling, podSeen(31), 30), podSeen(31), "a step on: written");
  const running = podSeen(5, { phase: "Running", message: "attempt 0 running" });
  assert.deepEqual(holdTickingCounters(scheduling, running, 30), running, "a new phase writes the details too");
  const finished: AutoClintRunStatus = { ...stored, phase: "Succeeded", startup: { mode: "cold", queuedSeconds: 0 } };
  const finalStory = { ...finished, startup: { mode: "cold", queuedSeconds: 0, alcApplyClock: 0.8 } };
  assert.deepEqual(holdTickingCounters(finished, finalStory, 30), finalStory, "a finished run's last story (the apply-clock ALC) is written");
});

/**
 * Regression tests for issue 11's defects 1-3 at the plan level: finished runs stay finished,
 * attempt numbers never go down or repeat, failure causes seen once are kept, a container the
 * kubelet cannot start fails the attempt now (with the kubelet's reason) and releases its Job.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { AutoClintRunStatus } from "@autoclint/api";
import { observeAttempt } from "./observe";
import { planRun } from "./plan";
import { validateRunSpec } from "./validate";
import { T0, jobFixture, podFixture, runFixture } from "./fixtures";

const NOW = T0 + 100_000;
const plan = (status: AutoClintRunStatus | undefined, attempts: ReturnType<typeof observeAttempt>[], spec = {}, now = NOW) =>
  planRun({ run: runFixture(spec, status), attempts, specProblems: [], now });

void test("a Succeeded run whose Job is deleted stays Succeeded: no new attempt, status unchanged", () => {
  const pod = podFixture(0, { phase: "Succeeded", scheduled: { status: "True", at: 5 }, terminated: { exitCode: 0, started: 6, finished: 80 } });
  const done = plan(undefined, [observeAttempt(jobFixture(0, [{ type: "Complete", at: 81 }]), [pod], NOW)]);
  assert.equal(done.status.phase, "Succeeded");
  // The pod has succeeded before its Job says Complete: the Job is not deleted (it is about to complete).
  const podDone = plan(undefined, [observeAttempt(jobFixture(0), [pod], NOW)]);
  assert.equal(podDone.status.phase, "Succeeded");
  assert.deepEqual(podDone.deleteJobs, []);
  assert.deepEqual(plan(podDone.status, [observeAttempt(jobFixture(0), [pod], NOW)]).deleteJobs, []);
  const afterDelete = plan(done.status, []);
  assert.equal(afterDelete.createAttempt, undefined);
  assert.deepEqual(afterDelete.status, done.status);
  assert.deepEqual(afterDelete.events, []);
});

void test("a Failed (OOMKilled) run whose pod was garbage-collected stays OOMKilled, not NodeLost, and is not retried", () => {
  const failedJob = jobFixture(0, [{ type: "Failed", reason: "BackoffLimitExceeded", at: 60 }]);
  const oom = podFixture(0, { phase: "Failed", terminated: { exitCode: 137, reason: "OOMKilled", started: 1, finished: 50 } });
  const failed = plan(undefined, [observeAttempt(failedJob, [oom], NOW)], { retries: { limit: 3, onFailure: ["NodeLost"] } });
  assert.equal(failed.status.phase, "Failed");
  assert.equal(failed.status.attemptHistory![0]!.failureClass, "OOMKilled");
  const podGone = plan(failed.status, [observeAttempt(failedJob, [], NOW)], { retries: { limit: 3, onFailure: ["NodeLost"] } });
  assert.equal(podGone.createAttempt, undefined);
  assert.equal(podGone.status.phase, "Failed");
  assert.equal(podGone.status.attemptHistory![0]!.failureClass, "OOMKilled");
});

void test("while a run is still active, a recorded cause beats the pod-gone guess, and attempt numbers never repeat", () => {
  // Attempt 0 was seen being evicted (DisruptionTarget) while it ran; then its pod vanished and the Job failed.
  const evicting = podFixture(0, { phase: "Running", scheduled: { status: "True", at: 2 }, running: 3, disruption: "EvictionByEvictionAPI" });
  const running = plan(undefined, [observeAttempt(jobFixture(0), [evicting], NOW)]);
  assert.equal(running.status.phase, "Running");
  assert.equal(running.status.attemptHistory![0]!.failureClass, "Evicted");
  const failedJob = jobFixture(0, [{ type: "Failed", reason: "BackoffLimitExceeded", at: 60 }]);
  const retry = plan(running.status, [observeAttempt(failedJob, [], NOW)]);
  assert.equal(retry.status.attemptHistory![0]!.failureClass, "Evicted", "not NodeLost");
  assert.equal(retry.createAttempt, 1);
  // Attempt 1 runs; then both Jobs are deleted by hand. The run does not restart at -a0.
  const retried = { ...retry.status, attempts: 2, attemptHistory: [...retry.status.attemptHistory!, { attempt: 1, job: "fmnist-a1", phase: "Running" as const }] };
  const jobsGone = plan(retried, [], { retries: { limit: 2, onFailure: ["Evicted", "JobDeleted"] } });
  assert.equal(jobsGone.status.attempts, 2, "attempts never go down");
  assert.equal(jobsGone.createAttempt, 2, "the next attempt number is new");
  assert.equal(jobsGone.status.attemptHistory![1]!.failureClass, "JobDeleted");
  const noRetry = plan(retried, []);
  assert.equal(noRetry.status.phase, "Failed");
  assert.match(noRetry.status.message!, /JobDeleted: trainer Job fmnist-a1 was deleted while the attempt was Running/);
});

void test("a container the kubelet cannot start fails the attempt now, with the kubelet's reason, and its Job is deleted", () => {
  for (const [reason, failureClass] of [["ErrImagePull", "ImagePull"], ["ImagePullBackOff", "ImagePull"], ["InvalidImageName", "ImagePull"], ["CreateContainerConfigError", "ContainerConfig"]] as const) {
    const pod = podFixture(0, { phase: "Pending", scheduled: { status: "True", at: 2 }, waiting: { reason, message: `kubelet says ${reason}` } });
    const attempt = observeAttempt(jobFixture(0), [pod], NOW);
    assert.equal(attempt.phase, "Failed");
    const p = plan(undefined, [attempt]);
    assert.equal(p.status.phase, "Failed", reason);
    assert.match(p.status.message!, new RegExp(`^${failureClass}: ${reason}: kubelet says ${reason}`));
    assert.equal(p.status.conditions!.find((c) => c.type === "Succeeded")!.reason, failureClass);
    assert.deepEqual(p.deleteJobs, ["fmnist-a0"], "the GPU is released now, not at the deadline");
    // The next look (Job deleted or not yet) keeps the reason and deletes again if needed.
    assert.deepEqual(plan(p.status, [attempt]).deleteJobs, ["fmnist-a0"]);
    assert.deepEqual(plan(p.status, []).status, p.status);
  }
});

void test("a kubelet admission rejection is NodeRejected and retried; an Eviction-API eviction is Evicted", () => {
  const failedJob = jobFixture(0, [{ type: "Failed", reason: "BackoffLimitExceeded", at: 10 }]);
  const rejected = podFixture(0, { phase: "Failed", reason: "UnexpectedAdmissionError", message: "Allocate failed due to no healthy devices present" });
  const p = plan(undefined, [observeAttempt(failedJob, [rejected], NOW)]);
  assert.equal(p.status.attemptHistory![0]!.failureClass, "NodeRejected");
  assert.equal(p.createAttempt, 1);
  const evicted = podFixture(0, { phase: "Failed", disruption: "EvictionByEvictionAPI", terminated: { exitCode: 143, started: 1, finished: 9 } });
  assert.equal(observeAttempt(failedJob, [evicted], NOW).failure!.failureClass, "Evicted");
});

void test("a pod not placed within maxGpuWaitSeconds fails with the scheduler's last reason and gives its Job up", () => {
  const unschedulable = podFixture(0, { scheduled: { status: "False", reason: "Unschedulable", message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", at: 1 } });
  const waiting = plan(undefined, [observeAttempt(jobFixture(0), [unschedulable], NOW)], { scheduling: { maxGpuWaitSeconds: 600 } });
  assert.equal(waiting.status.phase, "Scheduling");
  const late = T0 + 700_000;
  const timedOut = plan(waiting.status, [observeAttempt(jobFixture(0), [unschedulable], late)], { scheduling: { maxGpuWaitSeconds: 600 } }, late);
  assert.equal(timedOut.status.phase, "Failed");
  assert.match(timedOut.status.message!, /DeadlineExceeded: no node within scheduling.maxGpuWaitSeconds \(600 s\): 0\/3 nodes are available: 3 Insufficient nvidia.com\/gpu/);
  assert.deepEqual(timedOut.deleteJobs, ["fmnist-a0"]);
  // The Job's own deadline, pod already deleted by the Job controller: the reason survives in the message.
  const deadlineJob = jobFixture(0, [{ type: "Failed", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline", at: 650 }]);
  const byJob = plan(waiting.status, [observeAttempt(deadlineJob, [], late)], {}, late);
  assert.match(byJob.status.message!, /never placed: 0\/3 nodes are available/);
});

void test("a Job name held by another owner becomes a condition naming it; the run waits without creating", () => {
  const first = plan(undefined, []);
  assert.equal(first.createAttempt, 0);
  const taken = planRun({ run: runFixture({}, first.status), attempts: [], specProblems: [], now: NOW, nameTaken: { job: "fmnist-a0", owner: "AutoClintRun fmnist (uid old)" } });
  assert.equal(taken.createAttempt, undefined);
  assert.equal(taken.status.phase, "Pending");
  const condition = taken.status.conditions!.find((c) => c.type === "JobCreated")!;
  assert.equal(condition.status, "False");
  assert.equal(condition.reason, "NameTaken");
  assert.match(condition.message, /fmnist-a0 already exists and is not this run's \(controller: AutoClintRun fmnist \(uid old\)\)/);
  assert.ok(taken.events.some((e) => e.reason === "NameTaken"));
});

void test("any spec problem becomes a line naming the field, never a throw: a URL the schema refuses, wrong types, bad values", () => {
  const spaced = validateRunSpec(runFixture({ dataset: { source: { url: "https://exa mple.com/d.tar" } } }).spec);
  assert.equal(spaced.length, 1);
  assert.match(spaced[0]!, /^dataset\.source\.url: /);
  const badPort = validateRunSpec(runFixture({ dataset: { source: { url: "https://example.com:99999/d.tar" } } }).spec);
  assert.match(badPort[0]!, /^dataset\.source\.url: /);
  const wrongType = validateRunSpec({ ...runFixture().spec, timeBudgetSeconds: "300" as unknown as number, resources: { gpu: -1 } });
  assert.deepEqual(wrongType.map((p) => p.split(":")[0]), ["timeBudgetSeconds", "resources.gpu"]);
  const run = runFixture({ dataset: { source: { url: "https://exa mple.com/d.tar" } } });
  const p = planRun({ run, attempts: [], specProblems: validateRunSpec(run.spec), now: NOW });
  assert.equal(p.status.phase, "Failed");
  const condition = p.status.conditions!.find((c) => c.type === "SpecValid")!;
  assert.equal(condition.status, "False");
  assert.match(condition.message, /dataset\.source\.url/);
  assert.equal(p.createAttempt, undefined);
});

void test("spec.cancel ends an active run as Failed (Cancelled) and deletes its Job; a finished run stays as it was", () => {
  const pod = podFixture(0, { phase: "Running", scheduled: { status: "True", at: 2 }, running: 3 });
  const running = plan(undefined, [observeAttempt(jobFixture(0), [pod], NOW)]);
  const cancelled = plan(running.status, [observeAttempt(jobFixture(0), [pod], NOW)], { cancel: true });
  assert.equal(cancelled.status.phase, "Failed");
  assert.equal(cancelled.status.conditions!.find((c) => c.type === "Succeeded")!.reason, "Cancelled");
  assert.deepEqual(cancelled.deleteJobs, ["fmnist-a0"]);
  assert.equal(cancelled.createAttempt, undefined);
  const fresh = plan(undefined, [], { cancel: true });
  assert.equal(fresh.createAttempt, undefined, "a run cancelled before its first Job never gets one");
  const done = plan(undefined, [observeAttempt(jobFixture(0, [{ type: "Complete", at: 50 }]), [], NOW)]);
  assert.equal(plan(done.status, [], { cancel: true }).status.phase, "Succeeded");
});

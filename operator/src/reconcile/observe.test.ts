import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyFailure, observeAttempt } from "./observe";
import { decideRetry } from "./retry";
import { validateRunSpec } from "./validate";
import { eventsAcrossCreate, planRun } from "./plan";
import { T0, jobFixture, podFixture, runFixture } from "./fixtures";

const NOW = T0 + 100_000;

void test("a pod the scheduler cannot place: Scheduling, with the scheduler's reason, and GPU wait counting", () => {
  const pod = podFixture(0, { scheduled: { status: "False", reason: "Unschedulable", message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", at: 2 } });
  const attempt = observeAttempt(jobFixture(0), [pod], NOW);
  assert.equal(attempt.phase, "Scheduling");
  assert.deepEqual(attempt.unschedulable, { reason: "Unschedulable", message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." });
  assert.equal(attempt.gpuWaitSeconds, 100);
  assert.equal(attempt.computeSeconds, 0);
  const plan = planRun({ run: runFixture(), attempts: [attempt], specProblems: [], now: NOW });
  assert.equal(plan.status.phase, "Scheduling");
  const scheduled = plan.status.conditions!.find((c) => c.type === "Scheduled")!;
  assert.equal(scheduled.status, "False");
  assert.match(scheduled.message, /Insufficient nvidia.com\/gpu/);
  assert.deepEqual(plan.events.map((e) => e.reason), ["Scheduling", "FailedScheduling"]);
  const later = planRun({ run: runFixture({}, plan.status), attempts: [attempt], specProblems: [], now: NOW + 5000 });
  assert.deepEqual(later.events, [], "reported once");
});

void test("a running pod: Running; GPU wait ends at placement, compute starts with the container", () => {
  const pod = podFixture(0, { phase: "Running", scheduled: { status: "True", at: 30 }, running: 40 });
  const attempt = observeAttempt(jobFixture(0), [pod], NOW);
  assert.equal(attempt.phase, "Running");
  assert.equal(attempt.gpuWaitSeconds, 30);
  assert.equal(attempt.computeSeconds, 60);
});

void test("a complete Job: Succeeded with its completion time", () => {
  const pod = podFixture(0, { phase: "Succeeded", scheduled: { status: "True", at: 5 }, terminated: { exitCode: 0, started: 6, finished: 80 } });
  const attempt = observeAttempt(jobFixture(0, [{ type: "Complete", at: 81 }]), [pod], NOW);
  assert.equal(attempt.phase, "Succeeded");
  assert.equal(attempt.computeSeconds, 74);
  const plan = planRun({ run: runFixture(), attempts: [attempt], specProblems: [], now: NOW });
  assert.equal(plan.status.phase, "Succeeded");
  assert.equal(plan.status.completionTime, "2025-01-01T00:01:21Z");
  assert.equal(plan.createAttempt, undefined);
});

void test("failures are classified: OOMKilled, the trainer's own error, eviction, node loss, deadline", () => {
  const failed = jobFixture(0, [{ type: "Failed", reason: "BackoffLimitExceeded", at: 90 }]);
  const oom = podFixture(0, { phase: "Failed", terminated: { exitCode: 137, reason: "OOMKilled", started: 1, finished: 50 } });
  assert.equal(classifyFailure(failed, oom).failureClass, "OOMKilled");
  const error = podFixture(0, { phase: "Failed", terminated: { exitCode: 2, reason: "Error", message: "dataset: no metadata.textproto in /data/x", started: 1, finished: 50 } });
  assert.deepEqual(classifyFailure(failed, error), { failureClass: "Error", message: "dataset: no metadata.textproto in /data/x" });
  const bare = podFixture(0, { phase: "Failed", terminated: { exitCode: 3, started: 1, finished: 5 } });
  assert.equal(classifyFailure(failed, bare).message, "the trainer exited with code 3");
  const evicted = podFixture(0, { phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory." });
  assert.equal(classifyFailure(failed, evicted).failureClass, "Evicted");
  const preempted = podFixture(0, { phase: "Failed", disruption: "PreemptionByScheduler", terminated: { exitCode: 143, started: 1, finished: 5 } });
  assert.equal(classifyFailure(failed, preempted).failureClass, "Evicted");
  const lost = podFixture(0, { phase: "Failed", disruption: "DeletionByTaintManager" });
  assert.equal(classifyFailure(failed, lost).failureClass, "NodeLost");
  assert.equal(classifyFailure(failed, undefined).failureClass, "NodeLost");
  const deadline = jobFixture(0, [{ type: "Failed", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline", at: 90 }]);
  assert.equal(classifyFailure(deadline, podFixture(0, { phase: "Failed", terminated: { exitCode: 143, started: 1, finished: 89 } })).failureClass, "DeadlineExceeded");
});

void test("retries follow the spec's policy; infrastructure failures are retried by default, trainer errors are not", () => {
  assert.deepEqual(decideRetry(undefined, 1, "Evicted"), { retry: true });
  assert.equal(decideRetry(undefined, 1, "Error").retry, false);
  assert.equal(decideRetry(undefined, 3, "NodeLost").retry, false);
  assert.equal(decideRetry({ limit: 1, onFailure: ["OOMKilled"] }, 1, "OOMKilled").retry, true);
  assert.equal(decideRetry({ limit: 1, onFailure: ["OOMKilled"] }, 2, "OOMKilled").retry, false);
  assert.equal(decideRetry({ limit: 0 }, 1, "Evicted").retry, false);
});

void test("a retried attempt creates the next Job and counts attempts truthfully; the last failure fails the run", () => {
  const failed = jobFixture(0, [{ type: "Failed", at: 50 }]);
  const evicted = observeAttempt(failed, [podFixture(0, { phase: "Failed", reason: "Evicted" })], NOW);
  const retry = planRun({ run: runFixture({ retries: { limit: 1 } }), attempts: [evicted], specProblems: [], now: NOW });
  assert.equal(retry.createAttempt, 1);
  assert.equal(retry.status.attempts, 1);
  assert.ok(retry.events.some((e) => e.reason === "Retrying"));
  const evictedAgain = { ...evicted, attempt: 1, job: "fmnist-a1" };
  const final = planRun({ run: runFixture({ retries: { limit: 1 } }), attempts: [evicted, evictedAgain], specProblems: [], now: NOW });
  assert.equal(final.createAttempt, undefined);
  assert.equal(final.status.phase, "Failed");
  assert.equal(final.status.attempts, 2);
  assert.match(final.status.message!, /retry limit reached/);
  assert.equal(final.status.attemptHistory![1]!.failureClass, "Evicted");
});

void test("no Job yet: Pending and create attempt 0; an invalid spec never gets a Job", () => {
  const fresh = planRun({ run: runFixture(), attempts: [], specProblems: [], now: NOW });
  assert.equal(fresh.status.phase, "Pending");
  assert.equal(fresh.createAttempt, 0);
  const problems = validateRunSpec(runFixture({ dataset: { format: "idx", source: { url: "https://data.example/fmnist.zip" } } }).spec);
  assert.equal(problems.length, 1);
  const invalid = planRun({ run: runFixture(), attempts: [], specProblems: problems, now: NOW });
  assert.equal(invalid.createAttempt, undefined);
  assert.equal(invalid.status.phase, "Failed");
  const condition = invalid.status.conditions!.find((c) => c.type === "SpecValid")!;
  assert.equal(condition.status, "False");
  assert.equal(condition.reason, "InvalidSpec");
});

void test("a condition keeps its transition time while its status holds; events only on a phase change", () => {
  const pod = podFixture(0, { phase: "Running", scheduled: { status: "True", at: 3 }, running: 4 });
  const attempt = observeAttempt(jobFixture(0), [pod], NOW);
  const first = planRun({ run: runFixture(), attempts: [attempt], specProblems: [], now: NOW });
  const second = planRun({ run: runFixture({}, first.status), attempts: [attempt], specProblems: [], now: NOW + 60_000 });
  assert.deepEqual(second.events, []);
  assert.deepEqual(second.status.conditions, first.status.conditions);
});

void test("a reconcile that creates the Job records one phase Event, for the phase its status shows", () => {
  const fresh = runFixture();
  const beforeCreate = planRun({ run: fresh, attempts: [], specProblems: [], now: NOW });
  const created = observeAttempt(jobFixture(0), [], NOW);
  const afterCreate = planRun({ run: { ...fresh, status: beforeCreate.status }, attempts: [created], specProblems: [], now: NOW });
  assert.equal(afterCreate.status.phase, "Scheduling");
  assert.deepEqual(eventsAcrossCreate(beforeCreate, afterCreate).map((e) => e.reason), ["Scheduling"], "no Event for the Pending the status never showed");

  // A retry keeps its Retrying warning (it says why); only the passing Pending goes.
  const failed = observeAttempt(jobFixture(0, [{ type: "Failed", at: 50 }]), [podFixture(0, { phase: "Failed", reason: "Evicted" })], NOW);
  const retrying = runFixture({ retries: { limit: 1 } }, { phase: "Running" });
  const retry = planRun({ run: retrying, attempts: [failed], specProblems: [], now: NOW });
  const next = observeAttempt(jobFixture(1), [], NOW);
  const retried = planRun({ run: { ...retrying, status: { ...retrying.status, ...retry.status } }, attempts: [failed, next], specProblems: [], now: NOW });
  assert.deepEqual(eventsAcrossCreate(retry, retried).map((e) => e.reason), ["Retrying", "Scheduling"]);

  // A name taken by another owner leaves the run Pending: that Pending is what status shows, so its Event stays.
  const taken = planRun({ run: { ...fresh, status: beforeCreate.status }, attempts: [], specProblems: [], now: NOW, nameTaken: { job: "fmnist-a0", owner: "no controller" } });
  assert.equal(taken.status.phase, "Pending");
  assert.deepEqual(eventsAcrossCreate(beforeCreate, taken).map((e) => e.reason), ["Pending", "NameTaken"]);
});

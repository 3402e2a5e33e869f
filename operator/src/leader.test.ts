import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Lease } from "@kubernetes/client-node";
import { KubeApiError } from "./errors";
import { LeaderElector, leaseAction, microTime, type LeaseApi } from "./leader";
import { silentLogger } from "./log";

const T = Date.parse("2025-01-01T00:00:00Z");
const lease = (holder: string | undefined, renewTime: number) => ({
  spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime: new Date(renewTime) },
});

void test("expiry is judged by when we observed the record, never by the holder's timestamps", () => {
  assert.equal(leaseAction(undefined, "me", T, T), "create");
  assert.equal(leaseAction(lease("me", T), "me", T, T), "renew");
  assert.equal(leaseAction(lease(undefined, T), "me", T, T), "takeover");
  // The holder's clock is an hour behind ours: its renewTime looks ancient, but we saw it change just now.
  assert.equal(leaseAction(lease("other", T - 3_600_000), "me", T, T), "wait");
  // Its clock is ahead: renewTime in our future, yet unchanged for 15 s as we observed it.
  assert.equal(leaseAction(lease("other", T + 3_600_000), "me", T + 15_000, T), "takeover");
  assert.equal(leaseAction(lease("other", T), "me", T + 14_999, T), "wait");
});

void test("MicroTime carries six fractional digits", () => {
  assert.equal(String(microTime(T + 123)), "2025-01-01T00:00:00.123000Z");
});

/** A Lease store with resourceVersion conflicts, like the API server; calls can be made to hang. */
class MemoryLeases implements LeaseApi {
  lease: V1Lease | undefined;
  hang = false;
  private version = 0;
  private maybeHang<T>(value: () => T): Promise<T> {
    return this.hang ? new Promise<T>(() => undefined) : Promise.resolve().then(value);
  }
  get(): Promise<V1Lease | undefined> {
    return this.maybeHang(() => structuredClone(this.lease));
  }
  create(lease: V1Lease): Promise<V1Lease> {
    return this.maybeHang(() => {
      if (this.lease) throw new KubeApiError("create lease", 409, "AlreadyExists", "exists");
      this.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.version) } };
      return structuredClone(this.lease);
    });
  }
  replace(lease: V1Lease): Promise<V1Lease> {
    return this.maybeHang(() => {
      if (lease.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw new KubeApiError("update lease", 409, "Conflict", "modified");
      this.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.version) } };
      return structuredClone(this.lease);
    });
  }
}

function elector(api: LeaseApi, identity: string, clock: { now: number }) {
  const events: string[] = [];
  const e = new LeaderElector({
    api, namespace: "ns", name: "lease", identity, leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, callTimeoutMs: 50,
    log: silentLogger, now: () => clock.now,
  });
  const callbacks = { onStartedLeading: () => events.push("start"), onStoppedLeading: () => events.push("stop") };
  return { e, events, step: () => e.step(callbacks) };
}

void test("one leader at a time: a frozen leader stops holding at the renew deadline, before a candidate can take over", async () => {
  const api = new MemoryLeases();
  const clock = { now: T };
  const a = elector(api, "a", clock);
  const b = elector(api, "b", clock);
  await a.step();
  assert.deepEqual(a.events, ["start"]);
  assert.ok(a.e.holds());
  await b.step();
  assert.equal(b.e.isLeader, false, "b waits");
  // a freezes (no more steps). b keeps looking; a's own fence drops at 10 s, b may take over only at 15 s.
  for (let t = 2_000; t <= 14_000; t += 2_000) {
    clock.now = T + t;
    await b.step();
    assert.equal(b.e.isLeader, false, `b still waits at ${t} ms`);
    assert.equal(a.e.holds(), t < 10_000, `a holds at ${t} ms only within the renew deadline`);
  }
  clock.now = T + 16_000;
  await b.step();
  assert.equal(b.e.isLeader, true, "b took over once the record was unchanged for leaseDuration on b's clock");
  assert.equal(api.lease?.spec?.leaseTransitions, 1);
  // a resumes: it may not write (fence), and its next step finds b's Lease and stops leading.
  assert.equal(a.e.holds(), false);
  await a.step();
  assert.deepEqual(a.events, ["start", "stop"]);
  assert.equal(api.lease?.spec?.holderIdentity, "b");
});

void test("a hanging Lease call times out; a leader that cannot renew stops at the renew deadline", async () => {
  const api = new MemoryLeases();
  const clock = { now: T };
  const a = elector(api, "a", clock);
  await a.step();
  api.hang = true;
  clock.now = T + 4_000;
  await a.step(); // times out after 50 ms instead of hanging
  assert.equal(a.e.isLeader, true, "still within the deadline");
  clock.now = T + 10_000;
  await a.step();
  assert.deepEqual(a.events, ["start", "stop"]);
  assert.equal(a.e.holds(), false);
});

void test("the timings must leave the leader room to stop: leaseDuration > renewDeadline > retryPeriod", () => {
  assert.throws(
    () => new LeaderElector({ api: new MemoryLeases(), namespace: "n", name: "l", identity: "i", leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, log: silentLogger }),
    RangeError,
  );
});

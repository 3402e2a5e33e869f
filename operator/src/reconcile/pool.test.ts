import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import type { AutoClintPool } from "@autoclint/api";
import { T0, at, runFixture } from "./fixtures";
import { ANNOTATION_CLAIMED_AT, LABEL_ATTEMPT, LABEL_POOL_UID, LABEL_RUN_UID } from "./labels";
import { observeClaimedPod } from "./observe";
import { observeAttempts } from "./run";
import { PoolDemand, isClaimable, planPool, renderPoolPod, waitingRunsOf, whyPoolCannotServe } from "./pool";

const IMAGES = { torch: "trainer:1", tfjs: "trainer-tfjs:1" };

function poolFixture(spec: Partial<AutoClintPool["spec"]> = {}, status?: AutoClintPool["status"]): AutoClintPool {
  const pool: AutoClintPool = {
    apiVersion: "autoclint.io/v1alpha1",
    kind: "AutoClintPool",
    metadata: { name: "gpu1", namespace: "team-a", uid: "pool-uid", generation: 2, creationTimestamp: at(0) },
    spec: { minWarm: 2, maxWarm: 4, idleSeconds: 300, resources: { gpu: 1 }, ...spec },
  };
  if (status) pool.status = status;
  return pool;
}

let serial = 0;
function warmPod(shape: { ready?: boolean; phase?: string; claimedAt?: number; deleting?: boolean; created?: number; node?: string } = {}): V1Pod {
  const labels: Record<string, string> = { [LABEL_POOL_UID]: "pool-uid" };
  const annotations: Record<string, string> = {};
  if (shape.claimedAt !== undefined) Object.assign(labels, { [LABEL_RUN_UID]: "uid-1", [LABEL_ATTEMPT]: "0" });
  if (shape.claimedAt !== undefined) annotations[ANNOTATION_CLAIMED_AT] = at(shape.claimedAt);
  return {
    metadata: {
      name: `gpu1-${serial++}`, namespace: "team-a", labels, annotations, resourceVersion: "5",
      creationTimestamp: new Date(T0 + (shape.created ?? 0) * 1000), ...(shape.deleting ? { deletionTimestamp: new Date(T0) } : {}),
    },
    ...(shape.node === undefined ? {} : { spec: { nodeName: shape.node, containers: [] } }),
    status: { phase: shape.phase ?? "Running", conditions: [{ type: "Ready", status: shape.ready ? "True" : "False" }] },
  };
}

const plan = (pool: AutoClintPool, pods: V1Pod[], nowSeconds: number, extra: { waitingRuns?: number; refusedRuns?: number; creating?: number; lastDemand?: number } = {}) =>
  planPool({
    pool, pods, creating: extra.creating ?? 0, waitingRuns: extra.waitingRuns ?? 0, refusedRuns: extra.refusedRuns ?? 0, now: T0 + nowSeconds * 1000,
    ...(extra.lastDemand === undefined ? {} : { lastDemandMs: T0 + extra.lastDemand * 1000 }),
  });

void test("a new pool creates minWarm pods, counting the ones it created that the cache does not show yet", () => {
  assert.equal(plan(poolFixture(), [], 1).create, 2);
  assert.equal(plan(poolFixture(), [warmPod()], 1).create, 1);
  assert.equal(plan(poolFixture(), [warmPod()], 1, { creating: 1 }).create, 0);
  const status = plan(poolFixture(), [warmPod({ ready: true }), warmPod(), warmPod({ claimedAt: 0 })], 1).status;
  assert.deepEqual([status.desired, status.ready, status.starting, status.claimed], [2, 1, 1, 1]);
});

void test("the pool grows to the most runs that waited at once, up to maxWarm, holds that until idle, and replaces a claimed pod", () => {
  const waited = plan(poolFixture(), [], 1, { waitingRuns: 3 });
  assert.deepEqual([waited.status.desired, waited.status.peakWaitingRuns, waited.create], [3, 3, 0], "nothing is created while runs wait");
  const placed = plan(poolFixture({}, waited.status), [], 2);
  assert.deepEqual([placed.status.desired, placed.create], [3, 3], "once they are placed, it grows to what waited");
  assert.equal(plan(poolFixture({}, { peakWaitingRuns: 9 }), [], 2).create, 4, "capped by maxWarm");
  const idle = plan(poolFixture({}, { peakWaitingRuns: 3, lastClaimTime: at(0) }), [], 301);
  assert.deepEqual([idle.status.desired, idle.status.peakWaitingRuns], [0, 0], "idle forgets the peak");
  // Two ready pods, one claimed since: it no longer counts, one more is made.
  assert.equal(plan(poolFixture(), [warmPod({ ready: true }), warmPod({ claimedAt: 1 })], 2).create, 1);
});

void test("runs before spares: while runs of its class wait the pool creates nothing; spares give way to runs the scheduler refused", () => {
  // The burst: 3 warm pods claimed, 7 runs went cold and wait for the one node.
  const pool = poolFixture({ minWarm: 3, maxWarm: 3 });
  const claimed = [warmPod({ claimedAt: 1, node: "n" }), warmPod({ claimedAt: 1, node: "n" }), warmPod({ claimedAt: 1, node: "n" })];
  const burst = plan(pool, claimed, 2, { waitingRuns: 7 });
  assert.deepEqual([burst.create, burst.delete.length], [0, 0], "no replacement competes with the cold runs for the node");
  assert.match(burst.status.message ?? "", /once the 7 waiting run/);
  assert.ok(burst.requeueAfterMs !== undefined && burst.requeueAfterMs <= 5000, "looks again soon: no event of a cold pod reaches the pool");
  assert.equal(plan(pool, claimed, 3).create, 3, "it replenishes once they are placed");
  // Spares made before the runs went cold: the ones without a node only queue against the refused runs;
  // of those with a node, one per refused run goes, not-ready first, then the newest.
  const unplaced = warmPod({ created: 1 });
  const oldReady = warmPod({ ready: true, node: "n", created: 1 });
  const newReady = warmPod({ ready: true, node: "n", created: 2 });
  const starting = warmPod({ ready: false, node: "n", created: 3 });
  const spares = [oldReady, newReady, starting, unplaced];
  const four = poolFixture({ minWarm: 4, maxWarm: 4 });
  const names = (pods: V1Pod[]) => pods.map((p) => p.metadata?.name).sort();
  assert.deepEqual(names(plan(four, spares, 4, { waitingRuns: 2, refusedRuns: 0 }).delete), [], "waiting, not refused: nothing is taken away");
  assert.deepEqual(names(plan(four, spares, 4, { waitingRuns: 2, refusedRuns: 1 }).delete), names([unplaced, starting]));
  assert.deepEqual(names(plan(four, spares, 4, { waitingRuns: 2, refusedRuns: 2 }).delete), names([unplaced, starting, newReady]));
  assert.equal(plan(four, spares, 4, { waitingRuns: 2, refusedRuns: 2 }).create, 0);
});

void test("after idleSeconds with no claim and no demand the pool scales to zero; a claim or a cold run wakes it", () => {
  const pods = [warmPod({ ready: true }), warmPod({ ready: true })];
  const busy = plan(poolFixture(), pods, 299);
  assert.equal(busy.delete.length, 0);
  assert.ok(busy.requeueAfterMs !== undefined && busy.requeueAfterMs <= 1100, "looks again at the idle deadline");
  const idle = plan(poolFixture(), pods, 301);
  assert.equal(idle.status.desired, 0);
  assert.equal(idle.delete.length, 2);
  assert.equal(idle.requeueAfterMs, undefined, "an idle pool waits for demand, it does not poll");
  assert.equal(plan(poolFixture(), [warmPod({ claimedAt: 200 })], 400).status.desired, 2, "a claim at 200 s keeps it active until 500 s");
  assert.equal(plan(poolFixture(), [], 1000, { lastDemand: 990 }).create, 2, "a run that went cold wakes it");
  assert.equal(plan(poolFixture({}, { lastClaimTime: at(900) }), [], 1000).create, 2, "the idle clock survives a restart in status");
});

void test("spares go not-ready first; pods that ended without a run are deleted; terminating pods do not count", () => {
  const ready = warmPod({ ready: true, created: 1 });
  const starting = warmPod({ ready: false, created: 2 });
  const extra = plan(poolFixture({ minWarm: 1, maxWarm: 1 }), [ready, starting], 10);
  assert.deepEqual(extra.delete.map((p) => p.metadata?.name), [starting.metadata?.name]);
  const dead = warmPod({ phase: "Failed" });
  assert.deepEqual(plan(poolFixture(), [ready, dead], 10).delete.map((p) => p.metadata?.name), [dead.metadata?.name]);
  assert.equal(plan(poolFixture(), [ready, warmPod({ ready: true, deleting: true })], 10).create, 1, "a pod being deleted is replaced");
});

void test("a pool serves a run of its exact class only", () => {
  const pool = poolFixture({ datasetClaims: ["datasets"], resources: { gpu: 1, memory: "3Gi" } });
  const run = (spec: Parameters<typeof runFixture>[0]) => runFixture({ dataset: { source: { pvc: "datasets", path: "mnist" } }, resources: { gpu: 1 }, ...spec });
  assert.equal(whyPoolCannotServe(pool, run({}), IMAGES), undefined);
  assert.equal(whyPoolCannotServe(pool, run({ resources: { gpu: 1, memory: "3Gi" } }), IMAGES), undefined);
  assert.match(whyPoolCannotServe(pool, run({ resources: { gpu: 2 } }), IMAGES)!, /GPUs 2/);
  assert.match(whyPoolCannotServe(pool, run({ resources: { gpu: 1, memory: "8Gi" } }), IMAGES)!, /memory 8Gi/);
  assert.match(whyPoolCannotServe(pool, run({ image: "other:2" }), IMAGES)!, /image/);
  assert.match(whyPoolCannotServe(pool, run({ engine: "tfjs" }), IMAGES)!, /another image/, "a tfjs run needs the tfjs image");
  assert.equal(whyPoolCannotServe({ ...pool, spec: { ...pool.spec, engine: "tfjs" } }, run({ engine: "tfjs" }), IMAGES), undefined);
  assert.match(whyPoolCannotServe(pool, run({ dataset: { source: { pvc: "elsewhere", path: "x" } } }), IMAGES)!, /claim elsewhere/);
  assert.equal(whyPoolCannotServe(pool, run({ dataset: { source: { url: "https://d.example/x.tar" } } }), IMAGES), undefined);
  assert.match(whyPoolCannotServe({ ...pool, metadata: { ...pool.metadata, namespace: "team-b" } }, run({}), IMAGES)!, /namespace/);
  const waiting = [run({}), run({}), runFixture({ dataset: { source: { pvc: "datasets", path: "m" } }, resources: { gpu: 1 } }, { phase: "Running" })];
  const refused = runFixture({ dataset: { source: { pvc: "datasets", path: "m" } }, resources: { gpu: 1 } }, {
    phase: "Scheduling", conditions: [{ type: "Scheduled", status: "False", reason: "Unschedulable", message: "0/1 nodes are available: 1 Insufficient cpu.", lastTransitionTime: at(1) }],
  });
  assert.deepEqual(waitingRunsOf(pool, waiting, IMAGES), { waiting: 2, refused: 0 });
  assert.deepEqual(waitingRunsOf(pool, [...waiting, refused], IMAGES), { waiting: 3, refused: 1 });
});

void test("a warm pod is restricted, has no service-account token, no run and no credentials, and is ready only when its standby trainer says so", () => {
  const pod = renderPoolPod(poolFixture({ datasetClaims: ["datasets"], scheduling: { nodeSelector: { gpu: "a" } } }), { images: IMAGES, runAsUser: 10001 });
  const spec = pod.spec!;
  const container = spec.containers[0]!;
  assert.equal(spec.automountServiceAccountToken, false);
  assert.equal(spec.securityContext?.runAsNonRoot, true);
  assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext?.capabilities?.drop, ["ALL"]);
  assert.deepEqual(container.args?.slice(0, 1), ["standby"]);
  assert.ok(!(container.env ?? []).some((e) => /NATS|RUN_/.test(e.name)), "nothing of a run in a warm pod");
  assert.equal(container.readinessProbe?.httpGet?.path, "/readyz");
  assert.deepEqual(container.resources?.limits, { "nvidia.com/gpu": "1" });
  assert.ok(container.volumeMounts?.some((m) => m.mountPath === "/data/datasets" && m.readOnly));
  assert.deepEqual(spec.nodeSelector, { gpu: "a" });
  assert.equal(pod.metadata?.ownerReferences?.[0]?.kind, "AutoClintPool");
  assert.equal(pod.metadata?.labels?.[LABEL_POOL_UID], "pool-uid");
  assert.equal(container.image, "trainer:1");
  assert.equal(renderPoolPod(poolFixture({ engine: "tfjs" }), { images: IMAGES, runAsUser: 10001 }).spec!.containers[0]!.image, "trainer-tfjs:1");
});

void test("claimability: ready, unclaimed, running, not going away", () => {
  assert.ok(isClaimable(warmPod({ ready: true })));
  assert.ok(!isClaimable(warmPod({ ready: false })));
  assert.ok(!isClaimable(warmPod({ ready: true, claimedAt: 0 })));
  assert.ok(!isClaimable(warmPod({ ready: true, deleting: true })));
});

void test("a claimed warm pod is its attempt: no GPU wait, compute from the claim, and deleted before it ended it failed", () => {
  const running = warmPod({ ready: false, claimedAt: 50 });
  running.status!.containerStatuses = [{ name: "trainer", image: "i", imageID: "", ready: true, restartCount: 0, state: { running: { startedAt: new Date(T0) } } }];
  const [attempt] = observeAttempts([], [running], T0 + 80_000);
  assert.deepEqual([attempt!.attempt, attempt!.phase, attempt!.gpuWaitSeconds, attempt!.computeSeconds, attempt!.jobActive], [0, "Running", 0, 30, true]);
  const deleted = { ...running, metadata: { ...running.metadata, deletionTimestamp: new Date(T0 + 60_000) } };
  const gone = observeClaimedPod(deleted, T0 + 50_000, T0 + 80_000);
  assert.equal(gone.phase, "Failed");
  assert.equal(gone.failure?.failureClass, "JobDeleted");
  assert.equal(gone.jobActive, false);
  const done = { ...running, status: { ...running.status, phase: "Succeeded" } };
  assert.deepEqual([observeClaimedPod(done, T0 + 50_000, T0 + 80_000).phase, observeClaimedPod(done, T0 + 50_000, T0 + 80_000).jobActive], ["Succeeded", false]);
});

void test("PoolDemand: creations count until the cache shows them, deletions until it drops them, both expire", () => {
  const demand = new PoolDemand(1000);
  demand.expectCreated("p", "a", 0);
  demand.expectDeleted("p", "b", 0);
  assert.deepEqual(demand.pending("p", new Set(["b"]), 10), { creating: 1, deleting: new Set(["b"]) });
  assert.deepEqual(demand.pending("p", new Set(["a"]), 20), { creating: 0, deleting: new Set() });
  demand.expectCreated("p", "c", 0);
  assert.equal(demand.pending("p", new Set(), 5000).creating, 0, "an expectation the cache never met expires");
  demand.record("p", 7);
  demand.record("p", 3);
  assert.equal(demand.last("p"), 7);
});

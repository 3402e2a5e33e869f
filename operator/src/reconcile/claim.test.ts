/**
 * The claimer's decisions, against an in-memory stand-in for its edges (the Kubernetes API's pod
 * patch and delete, and the standby endpoint's POST): a pod that refuses the hand-over is marked
 * and deleted and the next ready pod is claimed, or the run goes cold. The real API server and
 * standby trainers are exercised by the real-node suite (test-e2e/src/realnode.run.test.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import type { AutoClintPool } from "@autoclint/api";
import { KubeApiError } from "../errors";
import { silentLogger } from "../log";
import { WarmPodClaimer, type ClaimApi } from "./claim";
import { runFixture } from "./fixtures";
import { ANNOTATION_HANDOVER_FAILED, LABEL_ATTEMPT, LABEL_POOL_UID, LABEL_RUN_UID } from "./labels";
import { isAbandoned, PoolDemand } from "./pool";
import { observeAttempts } from "./run";

const pool: AutoClintPool = {
  apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintPool",
  metadata: { name: "gpu1", namespace: "team-a", uid: "pool-uid" },
  spec: { minWarm: 1, maxWarm: 3, resources: { gpu: 1 } },
};

const readyPod = (name: string, ip: string): V1Pod => ({
  metadata: { name, namespace: "team-a", resourceVersion: "1", labels: { [LABEL_POOL_UID]: "pool-uid" } },
  status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: "True" }] },
});

/** Pods by name, merge-patched in place; `refuse` names the pod IPs whose standby endpoint fails the POST. */
function standIn(pods: V1Pod[], refuse: Set<string>, conflict = new Set<string>()) {
  const byName = new Map(pods.map((p) => [p.metadata!.name!, structuredClone(p)]));
  const calls: string[] = [];
  const api: ClaimApi = {
    poolsIn: () => [pool],
    podsOf: () => [...byName.values()],
    patchPod: (_ns, name, patch) => {
      const pod = byName.get(name);
      if (!pod) return Promise.reject(new KubeApiError("patch pod", 404, "NotFound", name));
      const meta = (patch.metadata ?? {}) as { labels?: Record<string, string>; annotations?: Record<string, string> };
      if (meta.labels && conflict.has(name)) return Promise.reject(new KubeApiError("patch pod", 409, "Conflict", "the object has been modified"));
      calls.push(`patch ${name}${meta.labels ? " claim" : ""}${meta.annotations?.[ANNOTATION_HANDOVER_FAILED] ? " abandon" : ""}`);
      pod.metadata = { ...pod.metadata, labels: { ...pod.metadata?.labels, ...meta.labels }, annotations: { ...pod.metadata?.annotations, ...meta.annotations } };
      return Promise.resolve(structuredClone(pod));
    },
    deletePod: (_ns, name) => {
      calls.push(`delete ${name}`);
      byName.delete(name);
      return Promise.resolve();
    },
    assign: (url) => {
      const ip = new URL(url).hostname;
      calls.push(`assign ${ip}`);
      return refuse.has(ip) ? Promise.reject(new Error(`${url} answered 500: engine crashed`)) : Promise.resolve();
    },
  };
  return { api, calls, byName };
}

function claimer(api: ClaimApi) {
  const counted = { claims: 0, cold: 0 };
  const claim = new WarmPodClaimer({
    api, demand: new PoolDemand(), images: { torch: "trainer:1", tfjs: "trainer-tfjs:1" }, natsUrl: "nats://nats:4222", graceSeconds: 60,
    metrics: { observeClaim: () => void counted.claims++, countColdFallback: () => void counted.cold++ },
    enqueuePool: () => undefined,
    // Near 1: Fisher-Yates swaps each pod with itself, so candidates are tried in cache order.
    random: () => 0.999,
  });
  return { claim, counted };
}

void test("a pod that refuses the hand-over is marked and deleted, and the run is handed to the next ready pod", async () => {
  const { api, calls, byName } = standIn([readyPod("a", "10.0.0.1"), readyPod("b", "10.0.0.2")], new Set(["10.0.0.1"]));
  const { claim, counted } = claimer(api);
  const run = runFixture();
  const pod = await claim.claim(run, 0, silentLogger);
  assert.equal(pod?.metadata?.name, "b");
  assert.deepEqual(calls, ["patch a claim", "assign 10.0.0.1", "patch a abandon", "delete a", "patch b claim", "assign 10.0.0.2"]);
  assert.deepEqual(counted, { claims: 1, cold: 0 });
  assert.ok(!byName.has("a"), "the refusing pod is gone: it may hold the run's spec, so it never serves another run");
  // Until the delete is seen, the marked pod is not the run's attempt: the run has one attempt, on b.
  const marked = { ...readyPod("a", "10.0.0.1"), metadata: { name: "a", labels: { [LABEL_POOL_UID]: "pool-uid", [LABEL_RUN_UID]: "uid-1", [LABEL_ATTEMPT]: "0" }, annotations: { [ANNOTATION_HANDOVER_FAILED]: "x" } } };
  assert.ok(isAbandoned(marked));
  assert.deepEqual(observeAttempts([], [marked, byName.get("b")!], Date.now()).map((a) => a.pod), ["b"]);
});

void test("when every ready pod refuses (or another run claimed it first) the run goes cold, and the fallback is counted", async () => {
  const { api, calls } = standIn([readyPod("a", "10.0.0.1"), readyPod("b", "10.0.0.2"), readyPod("c", "10.0.0.3")], new Set(["10.0.0.1", "10.0.0.3"]), new Set(["b"]));
  const { claim, counted } = claimer(api);
  assert.equal(await claim.claim(runFixture(), 0, silentLogger), undefined);
  assert.deepEqual(calls, ["patch a claim", "assign 10.0.0.1", "patch a abandon", "delete a", "patch c claim", "assign 10.0.0.3", "patch c abandon", "delete c"]);
  assert.deepEqual(counted, { claims: 0, cold: 1 });
});

void test("a pod this attempt already claimed is handed the run again first; refusing, it is replaced by a fresh claim", async () => {
  const mine = readyPod("mine", "10.0.0.9");
  mine.metadata!.labels = { ...mine.metadata!.labels, [LABEL_RUN_UID]: "uid-1", [LABEL_ATTEMPT]: "0" };
  const { api, calls } = standIn([readyPod("a", "10.0.0.1"), mine], new Set(["10.0.0.9"]));
  const { claim } = claimer(api);
  const pod = await claim.claim(runFixture(), 0, silentLogger);
  assert.equal(pod?.metadata?.name, "a");
  assert.deepEqual(calls, ["assign 10.0.0.9", "patch mine abandon", "delete mine", "patch a claim", "assign 10.0.0.1"]);
});

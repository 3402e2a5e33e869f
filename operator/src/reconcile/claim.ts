/**
 * Claiming: a run's attempt takes a ready warm pod of a pool that serves it. The claim is one
 * merge patch of the pod carrying the resourceVersion the cache showed, so the API server refuses
 * it (409) when anything changed the pod since, another run's claim included: two runs can never
 * claim one pod. The patch labels the pod with the run and attempt, makes the run its controller
 * (it goes with the run, not the pool) and bounds it by the run's budget; then the run's manifest
 * and run environment are POSTed to the pod's standby endpoint: the pod gets them only now.
 * No claimable pod: the run goes cold (a Job, as without pools) and the pool hears of the demand.
 */
import type { V1Pod } from "@kubernetes/client-node";
import { API_VERSION, STANDBY_ASSIGN_PATH, STANDBY_PORT, type AutoClintPool, type AutoClintRun } from "@autoclint/api";
import type { ReconcileContext } from "../controller/controller";
import { KubeApiError } from "../errors";
import { trainerManifest, trainerRunEnvironment, type TrainerImages } from "./job";
import { ANNOTATION_CLAIMED_AT, ANNOTATION_RUN, LABEL_ATTEMPT, LABEL_POOL_UID, LABEL_RUN_UID } from "./labels";
import { toMillis } from "./observe";
import { isClaimable, poolDataRoot, whyPoolCannotServe, type PoolDemand } from "./pool";

export interface ClaimApi {
  /** Pools in a namespace and a pool's pods: informer caches. */
  poolsIn(namespace: string): AutoClintPool[];
  podsOf(namespace: string, poolUid: string): V1Pod[];
  /** JSON merge patch of a pod; a resourceVersion in the patch is a precondition (409 when stale). */
  patchPod(namespace: string, name: string, patch: Record<string, unknown>): Promise<V1Pod>;
  deletePod(namespace: string, name: string): Promise<void>;
  /** POSTs the assignment to the pod's standby endpoint; throws unless it is accepted. */
  assign(url: string, body: { manifest: unknown; env: Record<string, string> }): Promise<void>;
}

export interface ClaimMetrics {
  observeClaim(namespace: string, pool: string, seconds: number): void;
  countColdFallback(namespace: string, pool: string): void;
}

export interface ClaimOptions {
  api: ClaimApi;
  metrics: ClaimMetrics;
  demand: PoolDemand;
  /** The operator's trainer images (what a run or pool without one gets, by engine). */
  images: TrainerImages;
  natsUrl: string;
  graceSeconds: number;
  /** Tells a pool's reconciler to look again (a claim or a cold run changed what it wants). */
  enqueuePool(namespace: string, name: string): void;
  now?: () => number;
  random?: () => number;
}

export class WarmPodClaimFailed extends Error {
  override name = "WarmPodClaimFailed";
  constructor(
    readonly pod: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class WarmPodClaimer {
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: ClaimOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /**
   * Gives the run's attempt a warm pod and hands it the run; the claimed pod, or undefined when
   * the run goes cold. A pod this run already claimed for this attempt (an earlier reconcile that
   * ended before its status write) is handed the run again: the standby endpoint takes a repeat.
   */
  async claim(run: AutoClintRun, attempt: number, log: ReconcileContext["log"]): Promise<V1Pod | undefined> {
    const { api, demand, metrics } = this.options;
    const namespace = run.metadata.namespace ?? "";
    const pools = api.poolsIn(namespace).filter((pool) => whyPoolCannotServe(pool, run, this.options.images) === undefined);
    if (pools.length === 0) return undefined;
    const started = this.now();
    const pods = pools.flatMap((pool) => api.podsOf(namespace, pool.metadata.uid ?? "").map((pod) => ({ pool, pod })));
    const mine = pods.find(({ pod }) => pod.metadata?.labels?.[LABEL_RUN_UID] === run.metadata.uid && pod.metadata?.labels?.[LABEL_ATTEMPT] === String(attempt));
    const claimed = mine ?? (await this.claimOne(run, attempt, this.shuffled(pods.filter(({ pod }) => isClaimable(pod)))));
    for (const pool of pools) {
      demand.record(pool.metadata.uid ?? "", started);
      this.options.enqueuePool(namespace, pool.metadata.name);
    }
    if (!claimed) {
      for (const pool of pools) metrics.countColdFallback(namespace, pool.metadata.name);
      log.info("no warm pod to claim: going cold", { pools: pools.map((p) => p.metadata.name) });
      return undefined;
    }
    await this.handOver(run, attempt, claimed.pool, claimed.pod);
    metrics.observeClaim(namespace, claimed.pool.metadata.name, (this.now() - started) / 1000);
    log.info("claimed warm pod", { pod: claimed.pod.metadata?.name, pool: claimed.pool.metadata.name, attempt });
    return claimed.pod;
  }

  private shuffled<T>(items: T[]): T[] {
    // Concurrent claimers read the same cache: random order spreads them over the ready pods.
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  private async claimOne(run: AutoClintRun, attempt: number, candidates: { pool: AutoClintPool; pod: V1Pod }[]): Promise<{ pool: AutoClintPool; pod: V1Pod } | undefined> {
    for (const { pool, pod } of candidates) {
      try {
        return { pool, pod: await this.options.api.patchPod(pod.metadata?.namespace ?? "", pod.metadata?.name ?? "", this.claimPatch(run, attempt, pod)) };
      } catch (error) {
        // Changed since the cache saw it (another run claimed it, it is going away) or gone: next.
        if (error instanceof KubeApiError && (error.conflict || error.notFound)) continue;
        throw error;
      }
    }
    return undefined;
  }

  private claimPatch(run: AutoClintRun, attempt: number, pod: V1Pod): Record<string, unknown> {
    const now = this.now();
    const started = toMillis(pod.status?.startTime) ?? now;
    return {
      metadata: {
        resourceVersion: pod.metadata?.resourceVersion,
        labels: { [LABEL_RUN_UID]: run.metadata.uid ?? "", [LABEL_ATTEMPT]: String(attempt) },
        annotations: { [ANNOTATION_RUN]: run.metadata.name, [ANNOTATION_CLAIMED_AT]: new Date(now).toISOString() },
        ownerReferences: [{ apiVersion: API_VERSION, kind: "AutoClintRun", name: run.metadata.name, uid: run.metadata.uid ?? "", controller: true, blockOwnerDeletion: true }],
      },
      // The pod's deadline counts from its start: the time it stood warm, then the run's budget and grace.
      spec: { activeDeadlineSeconds: Math.ceil((now - started) / 1000) + run.spec.timeBudgetSeconds + this.options.graceSeconds },
    };
  }

  /** POSTs the run to the pod; a pod that will not take it is deleted (it is the run's now) and the attempt fails with why. */
  private async handOver(run: AutoClintRun, attempt: number, pool: AutoClintPool, pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? "";
    const claim = run.spec.dataset.source.pvc;
    const body = {
      manifest: trainerManifest(run, claim ? poolDataRoot(claim) : undefined),
      env: trainerRunEnvironment(run, attempt, { natsUrl: this.options.natsUrl }),
    };
    try {
      if (!pod.status?.podIP) throw new Error("the pod has no IP");
      await this.options.api.assign(`http://${pod.status.podIP}:${STANDBY_PORT}${STANDBY_ASSIGN_PATH}`, body);
    } catch (error) {
      await this.options.api.deletePod(pod.metadata?.namespace ?? "", name);
      throw new WarmPodClaimFailed(name, `warm pod ${name} of pool ${pool.metadata.name} did not take run ${run.metadata.name}: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** The assignment POST, over fetch with a deadline. */
export async function postAssignment(url: string, body: { manifest: unknown; env: Record<string, string> }, timeoutMs = 5000): Promise<void> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  if (response.status !== 202) throw new Error(`${url} answered ${response.status}: ${(await response.text()).slice(0, 500)}`);
}

/** The pool a claimed pod came from (by uid), for metrics and logs. */
export const poolUidOf = (pod: V1Pod) => pod.metadata?.labels?.[LABEL_POOL_UID];

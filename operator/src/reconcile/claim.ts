/**
 * Claiming: a run's attempt takes a ready warm pod of a pool that serves it. The claim is one
 * merge patch of the pod carrying the resourceVersion the cache showed, so the API server refuses
 * it (409) when anything changed the pod since, another run's claim included: two runs can never
 * claim one pod. The patch labels the pod with the run and attempt, makes the run its controller
 * (it goes with the run, not the pool) and bounds it by the run's budget; then the run's manifest
 * and run environment are POSTed to the pod's standby endpoint: the pod gets them only now.
 * A pod that does not take the run (the POST fails: it crashed, its endpoint hangs) is marked and
 * deleted, and the run claims the next ready pod; it may have been handed the run before failing,
 * so it is never released to serve another. No pod left: the run goes cold (a Job, as without
 * pools) and the pool hears of the demand.
 */
import type { V1Pod } from "@kubernetes/client-node";
import { API_VERSION, shuffled, STANDBY_ASSIGN_PATH, STANDBY_PORT, type AutoClintPool, type AutoClintRun } from "@autoclint/api";
import type { ReconcileContext } from "../controller/controller";
import { KubeApiError } from "../errors";
import type { TrainerGrant } from "../events/credentials";
import { attemptGrant, trainerManifest, trainerRunEnvironment, type AttemptCredential, type TrainerImages } from "./job";
import { ANNOTATION_CLAIMED_AT, ANNOTATION_HANDOVER_FAILED, ANNOTATION_RUN, LABEL_ATTEMPT, LABEL_POOL_UID, LABEL_RUN_UID } from "./labels";
import { toMillis } from "./observe";
import { isAbandoned, isClaimable, poolDataRoot, whyPoolCannotServe, type PoolDemand } from "./pool";

export interface ClaimApi {
  /** Pools in a namespace and a pool's pods: informer caches. */
  poolsIn(namespace: string): AutoClintPool[];
  podsOf(namespace: string, poolUid: string): V1Pod[];
  /** JSON merge patch of a pod; a resourceVersion in the patch is a precondition (409 when stale). */
  patchPod(namespace: string, name: string, patch: Record<string, unknown>): Promise<V1Pod>;
  deletePod(namespace: string, name: string): Promise<void>;
  /** POSTs the assignment to the pod's standby endpoint; throws unless it is accepted. */
  assign(url: string, body: Assignment): Promise<void>;
}

/** The POST body: the run's manifest, its run environment and (NATS in JWT mode) the attempt's `.creds` text. */
export interface Assignment {
  manifest: unknown;
  env: Record<string, string>;
  natsCreds?: string;
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
  /** Issues the attempt's NATS credential (as for a cold Job); without it the pod gets none. */
  issueCredential?: (grant: TrainerGrant) => Promise<AttemptCredential>;
  /** Tells a pool's reconciler to look again (a claim or a cold run changed what it wants). */
  enqueuePool(namespace: string, name: string): void;
  now?: () => number;
  random?: () => number;
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
    // A dataset credential reaches a pod only by reference from its spec, which a warm pod cannot take any more.
    if (run.spec.dataset.source.secretRef) return undefined;
    const pools = api.poolsIn(namespace).filter((pool) => whyPoolCannotServe(pool, run, this.options.images) === undefined);
    if (pools.length === 0) return undefined;
    const started = this.now();
    const pods = pools.flatMap((pool) => api.podsOf(namespace, pool.metadata.uid ?? "").map((pod) => ({ pool, pod })));
    const isMine = (pod: V1Pod) => pod.metadata?.labels?.[LABEL_RUN_UID] === run.metadata.uid && pod.metadata?.labels?.[LABEL_ATTEMPT] === String(attempt) && !isAbandoned(pod);
    // Concurrent claimers read the same cache: random order spreads them over the ready pods.
    const candidates = [...pods.filter(({ pod }) => isMine(pod)), ...shuffled(pods.filter(({ pod }) => isClaimable(pod)), this.random)];
    const claimed = await this.claimAndHandOver(run, attempt, candidates, log);
    for (const pool of pools) {
      demand.record(pool.metadata.uid ?? "", started);
      this.options.enqueuePool(namespace, pool.metadata.name);
    }
    if (!claimed) {
      for (const pool of pools) metrics.countColdFallback(namespace, pool.metadata.name);
      log.info("no warm pod to claim: going cold", { pools: pools.map((p) => p.metadata.name) });
      return undefined;
    }
    metrics.observeClaim(namespace, claimed.pool.metadata.name, (this.now() - started) / 1000);
    log.info("claimed warm pod", { pod: claimed.pod.metadata?.name, pool: claimed.pool.metadata.name, attempt });
    return claimed.pod;
  }

  /** The first candidate that this run claims and that takes the run; undefined when none does. */
  private async claimAndHandOver(
    run: AutoClintRun, attempt: number, candidates: { pool: AutoClintPool; pod: V1Pod }[], log: ReconcileContext["log"],
  ): Promise<{ pool: AutoClintPool; pod: V1Pod } | undefined> {
    for (const candidate of candidates) {
      const pod = candidate.pod.metadata?.labels?.[LABEL_RUN_UID] === run.metadata.uid ? candidate.pod : await this.claimOne(run, attempt, candidate.pod);
      if (!pod) continue;
      const refused = await this.handOver(run, attempt, pod);
      if (refused === undefined) return { pool: candidate.pool, pod };
      log.warn("a claimed warm pod did not take the run: deleted, trying the next", { pod: pod.metadata?.name, pool: candidate.pool.metadata.name, error: refused });
      await this.abandon(pod, refused);
    }
    return undefined;
  }

  /** The pod with this run's claim on it, or undefined when another claim (or its going away) came first. */
  private async claimOne(run: AutoClintRun, attempt: number, pod: V1Pod): Promise<V1Pod | undefined> {
    try {
      return await this.options.api.patchPod(pod.metadata?.namespace ?? "", pod.metadata?.name ?? "", this.claimPatch(run, attempt, pod));
    } catch (error) {
      // Changed since the cache saw it (another run claimed it, it is going away) or gone: next.
      if (error instanceof KubeApiError && (error.conflict || error.notFound)) return undefined;
      throw error;
    }
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

  /** POSTs the run to the pod: undefined when it took it, else why not. */
  private async handOver(run: AutoClintRun, attempt: number, pod: V1Pod): Promise<string | undefined> {
    const claim = run.spec.dataset.source.pvc;
    if (!pod.status?.podIP) return "the pod has no IP";
    try {
      // Counted from the claim: the pod waits for no GPU any more, but the grant stays the cold Job's.
      const credential = await this.options.issueCredential?.(attemptGrant(run, attempt, this.options.graceSeconds, new Date(this.now())));
      const body: Assignment = {
        manifest: trainerManifest(run, claim ? poolDataRoot(claim) : undefined),
        env: trainerRunEnvironment(run, attempt, { natsUrl: this.options.natsUrl }, credential),
        ...(credential ? { natsCreds: credential.creds } : {}),
      };
      await this.options.api.assign(`http://${pod.status.podIP}:${STANDBY_PORT}${STANDBY_ASSIGN_PATH}`, body);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  /**
   * A claimed pod that did not take the run: it may hold the run's spec (the POST may have failed
   * after it arrived), so it is never released to another run. Marked first, so that the run does
   * not count it as its attempt (and the pool deletes it should this delete fail), then deleted.
   */
  private async abandon(pod: V1Pod, why: string): Promise<void> {
    const namespace = pod.metadata?.namespace ?? "";
    const name = pod.metadata?.name ?? "";
    try {
      await this.options.api.patchPod(namespace, name, { metadata: { annotations: { [ANNOTATION_HANDOVER_FAILED]: why.slice(0, 1000) } } });
    } catch (error) {
      if (error instanceof KubeApiError && error.notFound) return;
      throw error;
    }
    await this.options.api.deletePod(namespace, name);
  }
}

/** The assignment POST, over fetch with a deadline. */
export async function postAssignment(url: string, body: Assignment, timeoutMs = 5000): Promise<void> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  if (response.status !== 202) throw new Error(`${url} answered ${response.status}: ${(await response.text()).slice(0, 500)}`);
}

/** The pool a claimed pod came from (by uid), for metrics and logs. */
export const poolUidOf = (pod: V1Pod) => pod.metadata?.labels?.[LABEL_POOL_UID];

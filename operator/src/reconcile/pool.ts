/**
 * Warm pools. A pool's pods are bare pods it owns (no Job: a claim must be one atomic update of
 * one object), each running `autoclint standby`. The pool reconciler is level-triggered: from the
 * pool, its pods (informer cache) and the runs of its class waiting for a pod, it creates or
 * deletes unclaimed pods towards the number it wants now and writes the counts in status.
 * Claiming (a run taking a pod) is claim.ts; which runs a pool serves is `poolServes`.
 */
import type { V1Pod } from "@kubernetes/client-node";
import {
  API_VERSION, DEFAULT_GPU_RESOURCE_NAME, STANDBY_PORT, STANDBY_READY_PATH, type AutoClintPool, type AutoClintPoolStatus, type AutoClintRun,
} from "@autoclint/api";
import type { Reconciler, ReconcileContext, ReconcileRequest, ReconcileResult } from "../controller/controller";
import { resourceRequirements, scratchVolumes, TRAINER_CONTAINER, TRAINER_CONTAINER_SECURITY_CONTEXT, TRAINER_SCRATCH_ENV, trainerImage, trainerPodSecurityContext, type TrainerImages } from "./job";
import { ANNOTATION_CLAIMED_AT, ANNOTATION_HANDOVER_FAILED, LABEL_MANAGED_BY, LABEL_NAME, LABEL_POOL, LABEL_POOL_UID, LABEL_RUN_UID, MANAGED_BY } from "./labels";
import { toMillis } from "./observe";
import { isTerminal } from "./plan";
import { patchOwnedStatus, type StatusPatcher } from "./status";

export const DEFAULT_IDLE_SECONDS = 600;
/** Where a pool pod mounts each of its dataset claims. */
export const poolDataRoot = (claim: string) => `/data/${claim}`;

/** Why a pool cannot serve a run, or undefined when it can. Pure. */
export function whyPoolCannotServe(pool: AutoClintPool, run: AutoClintRun, images: TrainerImages): string | undefined {
  if (pool.metadata.namespace !== run.metadata.namespace) return "another namespace";
  if (pool.metadata.deletionTimestamp) return "being deleted";
  const want = run.spec.resources ?? {};
  const have = pool.spec.resources ?? {};
  if ((want.gpu ?? 1) !== (have.gpu ?? 1)) return `GPUs ${want.gpu ?? 1} vs the pool's ${have.gpu ?? 1}`;
  if ((want.gpuResourceName ?? DEFAULT_GPU_RESOURCE_NAME) !== (have.gpuResourceName ?? DEFAULT_GPU_RESOURCE_NAME)) return "another GPU resource";
  for (const key of ["cpu", "memory", "shmSize"] as const) {
    if (want[key] !== undefined && String(want[key]) !== String(have[key] ?? "")) return `${key} ${String(want[key])} vs the pool's ${String(have[key] ?? "unset")}`;
  }
  if (trainerImage(run.spec, images) !== trainerImage(pool.spec, images)) return "another image";
  if ((run.spec.engine ?? "torch") !== (pool.spec.engine ?? "torch")) return "another engine";
  const claim = run.spec.dataset.source.pvc;
  if (claim && !(pool.spec.datasetClaims ?? []).includes(claim)) return `the pool does not mount the dataset claim ${claim}`;
  return undefined;
}

export const isPoolPod = (pod: V1Pod) => pod.metadata?.labels?.[LABEL_POOL_UID] !== undefined;
export const isClaimed = (pod: V1Pod) => pod.metadata?.labels?.[LABEL_RUN_UID] !== undefined;
/** A claimed pod that did not take its run (claim.ts): neither the run's attempt nor the pool's to keep. */
export const isAbandoned = (pod: V1Pod) => pod.metadata?.annotations?.[ANNOTATION_HANDOVER_FAILED] !== undefined;
const isFinished = (pod: V1Pod) => pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
export const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
/** A pod a run may claim: the pool's, unclaimed, not going away, its standby trainer warm. */
export const isClaimable = (pod: V1Pod) => isPoolPod(pod) && !isClaimed(pod) && !pod.metadata?.deletionTimestamp && !isFinished(pod) && isReady(pod);

export interface PoolRenderOptions {
  images: TrainerImages;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  runAsUser: number;
}

/** One warm pod of the pool, as plain data: a cold trainer pod's security, no run in it. */
export function renderPoolPod(pool: AutoClintPool, options: PoolRenderOptions): V1Pod {
  const { name, namespace, uid = "" } = pool.metadata;
  const scratch = scratchVolumes(pool.spec.resources);
  const claims = pool.spec.datasetClaims ?? [];
  const scheduling = pool.spec.scheduling ?? {};
  const pod: V1Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `${name.slice(0, 50)}-`,
      namespace,
      labels: { [LABEL_NAME]: "autoclint-trainer", [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_POOL]: name, [LABEL_POOL_UID]: uid },
      ownerReferences: [{ apiVersion: API_VERSION, kind: "AutoClintPool", name, uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      restartPolicy: "Never",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: trainerPodSecurityContext(options.runAsUser),
      containers: [
        {
          name: TRAINER_CONTAINER,
          image: trainerImage(pool.spec, options.images),
          imagePullPolicy: options.imagePullPolicy,
          args: ["standby", "--port", String(STANDBY_PORT), "--engine", pool.spec.engine ?? "torch"],
          ports: [{ name: "standby", containerPort: STANDBY_PORT }],
          readinessProbe: { httpGet: { path: STANDBY_READY_PATH, port: STANDBY_PORT }, periodSeconds: 1, failureThreshold: 1 },
          env: TRAINER_SCRATCH_ENV,
          resources: resourceRequirements(pool.spec.resources),
          volumeMounts: [...scratch.mounts, ...claims.map((claim) => ({ name: `data-${claims.indexOf(claim)}`, mountPath: poolDataRoot(claim), readOnly: true }))],
          terminationMessagePolicy: "FallbackToLogsOnError",
          securityContext: TRAINER_CONTAINER_SECURITY_CONTEXT,
        },
      ],
      volumes: [...scratch.volumes, ...claims.map((claim, i) => ({ name: `data-${i}`, persistentVolumeClaim: { claimName: claim, readOnly: true } }))],
    },
  };
  const spec = pod.spec!;
  if (scheduling.nodeSelector) spec.nodeSelector = scheduling.nodeSelector;
  if (scheduling.tolerations) spec.tolerations = scheduling.tolerations;
  if (scheduling.affinity) spec.affinity = scheduling.affinity as NonNullable<V1Pod["spec"]>["affinity"];
  if (scheduling.priorityClassName) spec.priorityClassName = scheduling.priorityClassName;
  if (scheduling.runtimeClassName) spec.runtimeClassName = scheduling.runtimeClassName;
  return pod;
}

export interface PoolPlanInput {
  pool: AutoClintPool;
  /** The pool's pods, from the cache, less those this operator deleted and the cache still shows. */
  pods: V1Pod[];
  /** Pods this operator created that the cache does not show yet (counted as starting). */
  creating: number;
  /** Runs of the pool's class with no pod running them yet: about to claim, or gone cold and not yet placed. */
  waitingRuns: number;
  /** Of those, the runs whose cold pod the scheduler refused (no node has room for it now). */
  refusedRuns: number;
  /** The latest moment a run of this class wanted a pod (claimed one or went cold); undefined when none. */
  lastDemandMs?: number;
  now: number;
}

export interface PoolPlan {
  status: AutoClintPoolStatus;
  create: number;
  /** Unclaimed pods to delete (spares past what the pool wants, or finished without a run). */
  delete: V1Pod[];
  /** When to look again with nothing else happening (the idle deadline); undefined: no need. */
  requeueAfterMs?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * What the pool wants now. Active (a claim or a cold run within idleSeconds, or runs waiting):
 * unclaimed pods between minWarm and maxWarm, as many as the most runs that waited at once since
 * it was last idle (it holds that size until idle: a burst that went cold asks for more spares next
 * time); idle: none. Pure.
 *
 * Runs before spares. A run that went cold cannot take a warm pod any more, and a spare competes
 * with its pod for the same node (same class: the same resources). So while any run of the class
 * waits, the pool creates nothing (it replenishes once they are placed); and when the scheduler has
 * refused runs of its class, it deletes its spares that have no node yet (they only queue against
 * those runs) and, for each refused run, one spare that holds a node (not-ready first, then the
 * newest). Without the last rule a spare placed just before a run went cold keeps that run out
 * until the run's scheduling deadline, while the waiting run keeps the pool from ever going idle.
 *
 * Why not a lower PriorityClass for spares (the cluster-overprovisioning pattern, where the
 * scheduler preempts them for runs): a pod's priority is fixed at creation, so a claimed pod,
 * which is a run from then on, would keep the spare's low priority and could itself be preempted
 * by any cold run; and the chart would have to ship a cluster-scoped PriorityClass that a
 * namespaced install cannot create. The pool knows which pods are spares; it yields them itself.
 */
export function planPool({ pool, pods, creating, waitingRuns, refusedRuns, lastDemandMs, now }: PoolPlanInput): PoolPlan {
  const idleMs = (pool.spec.idleSeconds ?? DEFAULT_IDLE_SECONDS) * 1000;
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
  const unclaimed = live.filter((p) => !isClaimed(p) && !isFinished(p));
  const finishedUnclaimed = live.filter((p) => !isClaimed(p) && isFinished(p));
  const claimed = live.filter((p) => isClaimed(p) && !isFinished(p) && !isAbandoned(p));
  // Their claimer deletes them; should that delete have failed, the pool does it.
  const abandoned = live.filter(isAbandoned);
  const claimTimes = live.map((p) => toMillis(p.metadata?.annotations?.[ANNOTATION_CLAIMED_AT])).filter((t): t is number => t !== undefined);
  const lastActive = Math.max(
    toMillis(pool.status?.lastClaimTime) ?? toMillis(pool.metadata.creationTimestamp) ?? now,
    lastDemandMs ?? 0,
    ...claimTimes,
    waitingRuns > 0 ? now : 0,
  );
  const idle = now - lastActive >= idleMs;
  const peakWaitingRuns = idle ? 0 : Math.max(waitingRuns, pool.status?.peakWaitingRuns ?? 0);
  const desired = idle ? 0 : Math.min(pool.spec.maxWarm, Math.max(pool.spec.minWarm, peakWaitingRuns));
  const have = unclaimed.length + creating;
  // Spares go not-ready first (they cost the most to bring back least), then the newest ready ones.
  const byReadiness = [...unclaimed].sort((a, b) => Number(isReady(a)) - Number(isReady(b)) || (toMillis(b.metadata?.creationTimestamp) ?? 0) - (toMillis(a.metadata?.creationTimestamp) ?? 0));
  const surplus = have > desired ? byReadiness.slice(0, Math.min(unclaimed.length, have - desired)) : [];
  const yielded = refusedRuns > 0 ? spareToYield(byReadiness.filter((p) => !surplus.includes(p)), refusedRuns) : [];
  const ready = unclaimed.filter(isReady).length;
  const status: AutoClintPoolStatus = {
    observedGeneration: pool.metadata.generation,
    desired,
    ready,
    starting: unclaimed.length - ready + creating,
    claimed: claimed.length,
    waitingRuns,
    peakWaitingRuns,
    lastClaimTime: iso(lastActive),
    message: idle ? "idle: scaled to zero until a run of its class comes" : poolMessage(ready, desired, waitingRuns, refusedRuns),
  };
  const create = waitingRuns > 0 ? 0 : Math.max(0, desired - have);
  const plan: PoolPlan = { status, create, delete: [...surplus, ...yielded, ...finishedUnclaimed, ...abandoned] };
  // While runs wait, look again soon: the pool replenishes once they are placed, and no event of a cold pod reaches it.
  if (!idle) plan.requeueAfterMs = Math.max(1000, Math.min(lastActive + idleMs - now + 100, waitingRuns > 0 ? 5000 : 30_000));
  return plan;
}

/** The spares that give way to `refused` runs the scheduler could not place: all without a node, and one with a node per run. */
function spareToYield(byReadiness: V1Pod[], refused: number): V1Pod[] {
  const placed = byReadiness.filter((p) => p.spec?.nodeName);
  return [...byReadiness.filter((p) => !p.spec?.nodeName), ...placed.slice(0, refused)];
}

function poolMessage(ready: number, desired: number, waiting: number, refused: number): string {
  if (refused > 0) return `${ready} ready of ${desired} wanted; ${refused} run(s) of its class wait for a node: spares give way to them`;
  if (waiting > 0) return `${ready} ready of ${desired} wanted; replenishing once the ${waiting} waiting run(s) of its class are placed`;
  return `${ready} ready of ${desired} wanted`;
}

/** The Kubernetes calls and caches the pool reconciler needs. */
export interface PoolApi extends StatusPatcher<AutoClintPool> {
  /** The pool's pods, from the pod informer's cache. */
  podsOf(namespace: string, poolUid: string): V1Pod[];
  /** Runs in a namespace, from the run informer's cache. */
  runsIn(namespace: string): AutoClintRun[];
  createPod(pod: V1Pod): Promise<V1Pod>;
  /** Deletes a pod if it still has this resourceVersion (a claim in between wins); gone or changed is no error. */
  deletePod(namespace: string, name: string, resourceVersion?: string): Promise<void>;
}

export interface PoolMetrics {
  setPoolPods(namespace: string, pool: string, counts: { ready: number; starting: number; claimed: number }): void;
  forgetPool(namespace: string, pool: string): void;
}

export interface PoolReconcilerOptions {
  api: PoolApi;
  metrics: PoolMetrics;
  pod: PoolRenderOptions;
  /** Latest demand per pool uid, told by the run reconciler (a claim, or a run that went cold). */
  demand: PoolDemand;
  now?: () => number;
}

/** What this operator knows and the cache may not show yet: demand for a pool, and pods it created or deleted. */
export class PoolDemand {
  private readonly lastDemand = new Map<string, number>();
  private readonly created = new Map<string, Map<string, number>>();
  private readonly deleted = new Map<string, Map<string, number>>();

  constructor(private readonly expectationTtlMs = 60_000) {}

  record(poolUid: string, at: number): void {
    this.lastDemand.set(poolUid, Math.max(at, this.lastDemand.get(poolUid) ?? 0));
  }

  last(poolUid: string): number | undefined {
    return this.lastDemand.get(poolUid);
  }

  expectCreated(poolUid: string, name: string, now: number): void {
    this.expect(this.created, poolUid, name, now);
  }

  expectDeleted(poolUid: string, name: string, now: number): void {
    this.expect(this.deleted, poolUid, name, now);
  }

  /** Created pods the cache has not shown yet, and deleted ones it still shows, given what it shows now. */
  pending(poolUid: string, cachedNames: Set<string>, now: number): { creating: number; deleting: Set<string> } {
    const creating = this.prune(this.created, poolUid, now, (name) => !cachedNames.has(name));
    const deleting = this.prune(this.deleted, poolUid, now, (name) => cachedNames.has(name));
    return { creating: creating.size, deleting };
  }

  forget(poolUid: string): void {
    for (const map of [this.lastDemand, this.created, this.deleted]) map.delete(poolUid);
  }

  private expect(map: Map<string, Map<string, number>>, poolUid: string, name: string, now: number): void {
    const names = map.get(poolUid) ?? new Map<string, number>();
    names.set(name, now);
    map.set(poolUid, names);
  }

  /** Keeps the names still pending (by `keep`) and not expired; returns them. */
  private prune(map: Map<string, Map<string, number>>, poolUid: string, now: number, keep: (name: string) => boolean): Set<string> {
    const names = map.get(poolUid) ?? new Map<string, number>();
    for (const [name, at] of names) if (!keep(name) || now - at > this.expectationTtlMs) names.delete(name);
    return new Set(names.keys());
  }
}

/**
 * Runs a pool serves that have no pod running them yet (no claimed pod, phase Pending or
 * Scheduling), and of those the ones the scheduler refused a node (condition Scheduled False).
 */
export function waitingRunsOf(pool: AutoClintPool, runs: AutoClintRun[], images: TrainerImages): { waiting: number; refused: number } {
  const waiting = runs.filter((run) => {
    const phase = run.status?.phase;
    if (isTerminal(phase) || run.spec.cancel || run.metadata.deletionTimestamp) return false;
    if (phase !== undefined && phase !== "Pending" && phase !== "Scheduling") return false;
    return whyPoolCannotServe(pool, run, images) === undefined;
  });
  const refused = waiting.filter((run) => run.status?.phase === "Scheduling" && run.status.conditions?.some((c) => c.type === "Scheduled" && c.status === "False"));
  return { waiting: waiting.length, refused: refused.length };
}

export class PoolReconciler implements Reconciler {
  readonly kind = "AutoClintPool";
  private readonly now: () => number;

  constructor(private readonly options: PoolReconcilerOptions) {
    this.now = options.now ?? Date.now;
  }

  async reconcile({ namespace, name }: ReconcileRequest, { log }: ReconcileContext): Promise<ReconcileResult | void> {
    const { api, metrics, demand } = this.options;
    const pool = await api.get(namespace, name);
    if (!pool || pool.metadata.deletionTimestamp) {
      // Its unclaimed pods go with it (owner references); claimed ones belong to their runs.
      metrics.forgetPool(namespace, name);
      return;
    }
    const uid = pool.metadata.uid ?? "";
    const now = this.now();
    const cached = api.podsOf(namespace, uid);
    const { creating, deleting } = demand.pending(uid, new Set(cached.map((p) => p.metadata?.name ?? "")), now);
    const pods = cached.filter((p) => !deleting.has(p.metadata?.name ?? ""));
    const { waiting: waitingRuns, refused: refusedRuns } = waitingRunsOf(pool, api.runsIn(namespace), this.options.pod.images);
    const lastDemandMs = demand.last(uid);
    const plan = planPool({ pool, pods, creating, waitingRuns, refusedRuns, now, ...(lastDemandMs === undefined ? {} : { lastDemandMs }) });
    for (const pod of plan.delete) {
      const podName = pod.metadata?.name ?? "";
      await api.deletePod(namespace, podName, pod.metadata?.resourceVersion);
      demand.expectDeleted(uid, podName, now);
      log.info("deleted warm pod", { pod: podName, ready: isReady(pod), node: pod.spec?.nodeName, refusedRuns });
    }
    for (let i = 0; i < plan.create; i++) {
      const created = await api.createPod(renderPoolPod(pool, this.options.pod));
      demand.expectCreated(uid, created.metadata?.name ?? "", now);
      log.info("created warm pod", { pod: created.metadata?.name });
    }
    metrics.setPoolPods(namespace, name, { ready: plan.status.ready ?? 0, starting: plan.status.starting ?? 0, claimed: plan.status.claimed ?? 0 });
    await patchOwnedStatus(api, pool, plan.status as Record<string, unknown>);
    return plan.requeueAfterMs === undefined ? undefined : { requeueAfterMs: plan.requeueAfterMs };
  }
}

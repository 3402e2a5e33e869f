/**
 * The AutoClintRun reconciler. Level-triggered: every call re-reads the run, its Jobs and their
 * Pods, derives the phase from them, makes sure the current attempt's Job exists (one per attempt,
 * deterministic name, so a repeated create is a no-op) and writes the status it owns.
 */
import type { CoreV1Event, V1Job, V1Pod, V1Secret } from "@kubernetes/client-node";
import type { AutoClintRun, AutoClintRunStatus, RunPhase } from "@autoclint/api";
import type { Reconciler, ReconcileContext, ReconcileRequest, ReconcileResult } from "../controller/controller";
import { KubeApiError } from "../errors";
import type { TrainerGrant } from "../events/credentials";
import { attemptGrant, renderAttemptSecret, renderTrainerJob, type AttemptCredential, type TrainerJobOptions } from "./job";
import type { WarmPodClaimer } from "./claim";
import { ANNOTATION_CLAIMED_AT, FINALIZER_PURGE_EVENTS, LABEL_ATTEMPT, LABEL_RUN_UID } from "./labels";
import { attemptOfJob, observeAttempt, observeClaimedPod, toMillis, type AttemptObservation } from "./observe";
import { isAbandoned, isClaimed, isPoolPod } from "./pool";
import { startupStory } from "./startup";
import { holdTickingCounters } from "./counters";
import { eventsAcrossCreate, isTerminal, planRun, RECONCILER_STATUS_FIELDS, type KubeEventSpec, type NameTaken } from "./plan";
import { patchOwnedStatus, type StatusPatcher } from "./status";
import { validateRunSpec } from "./validate";

/** The Kubernetes calls the run reconciler needs. */
export interface RunApi extends StatusPatcher<AutoClintRun> {
  /** The run's Jobs and pods: from the informer caches (indexed by run uid), so possibly a little behind. */
  jobsOf(namespace: string, runUid: string): V1Job[];
  podsOf(namespace: string, runUid: string): V1Pod[];
  /** The final state of the run's pods deleted lately (the watch saw them go); [] when unknown. */
  deletedPods?(runUid: string): V1Pod[];
  createJob(job: V1Job): Promise<V1Job>;
  /** Creates an attempt's Secret (manifest and NATS credential); throws AlreadyExists (409) when it exists. */
  createSecret(secret: V1Secret): Promise<unknown>;
  getJob(namespace: string, name: string): Promise<V1Job | undefined>;
  /** Deletes a Job and, in the background, its pods; a Job already gone is no error. */
  deleteJob(namespace: string, name: string): Promise<void>;
  /** Deletes a pod (a claimed warm pod: the attempt's stand-in for a Job); one already gone is no error. */
  deletePod(namespace: string, name: string): Promise<void>;
  /** Hands a Kubernetes Event over to be recorded off the reconcile path (recorder.ts); returns at once. */
  recordEvent(event: CoreV1Event): void;
  /** Sets the run's finalizers (merge patch, guarded by uid and resourceVersion). */
  setFinalizers(run: AutoClintRun, finalizers: string[]): Promise<unknown>;
  /** Purges the run's events from the event store; throws when it cannot (yet). */
  purgeEvents(namespace: string, name: string, uid: string): Promise<unknown>;
}

export interface RunMetrics {
  setRunPhase(namespace: string, name: string, phase: RunPhase): void;
  setRunGpuWait(namespace: string, name: string, seconds: number): void;
  forgetRun(namespace: string, name: string): void;
  countStatusWrite(writer: "reconciler"): void;
}

export interface RunReconcilerOptions {
  api: RunApi;
  metrics: RunMetrics;
  job: TrainerJobOptions;
  /** How often an active run is looked at again even without a watch event (time counters move). */
  activeRequeueMs: number;
  /** Who records Events (the operator pod's name). */
  instance: string;
  /**
   * Issues an attempt's NATS credential (credentials.ts, with the operator's authority); without it
   * (NATS without authentication) trainers get none.
   */
  issueCredential?: (grant: TrainerGrant) => Promise<AttemptCredential>;
  /** Gives a new attempt a warm pool pod when one serves it; without it every attempt is a cold Job. */
  claimer?: Pick<WarmPodClaimer, "claim">;
  now?: () => number;
}

/** Attempts from the run's Jobs and their pods, and from the warm pods it claimed (no Job). */
export function observeAttempts(jobs: V1Job[], pods: V1Pod[], now: number): AttemptObservation[] {
  const jobPods = pods.filter((p) => !isPoolPod(p));
  const fromJobs = jobs
    .filter((job) => attemptOfJob(job) >= 0)
    .map((job) => {
      const attempt = String(attemptOfJob(job));
      return observeAttempt(job, jobPods.filter((p) => p.metadata?.labels?.[LABEL_ATTEMPT] === attempt), now);
    });
  const claimed = pods.filter((p) => isPoolPod(p) && isClaimed(p) && !isAbandoned(p)).map((p) => observeClaimedPod(p, toMillis(p.metadata?.annotations?.[ANNOTATION_CLAIMED_AT]), now));
  return [...fromJobs, ...claimed].sort((a, b) => a.attempt - b.attempt);
}

export function kubeEvent(run: AutoClintRun, spec: KubeEventSpec, now: number, instance: string): CoreV1Event {
  const time = new Date(now);
  return {
    metadata: { name: `${run.metadata.name}.${now.toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: run.metadata.namespace },
    involvedObject: {
      apiVersion: run.apiVersion, kind: run.kind, name: run.metadata.name, namespace: run.metadata.namespace,
      uid: run.metadata.uid, resourceVersion: run.metadata.resourceVersion,
    },
    type: spec.type,
    reason: spec.reason,
    message: spec.message,
    source: { component: "autoclint-operator" },
    reportingComponent: "autoclint.io/operator",
    reportingInstance: instance,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}

function ownedFields(status: AutoClintRunStatus | undefined): Record<string, unknown> {
  return Object.fromEntries(RECONCILER_STATUS_FIELDS.map((field) => [field, status?.[field]]));
}

export class RunReconciler implements Reconciler {
  readonly kind = "AutoClintRun";
  private readonly now: () => number;

  constructor(private readonly options: RunReconcilerOptions) {
    this.now = options.now ?? Date.now;
  }

  async reconcile({ namespace, name }: ReconcileRequest, { log }: ReconcileContext): Promise<ReconcileResult | void> {
    const { api, metrics } = this.options;
    const run = await api.get(namespace, name);
    if (!run || run.metadata.deletionTimestamp) {
      // Its Jobs go with it: garbage collection follows their owner references.
      metrics.forgetRun(namespace, name);
      await this.finalize(run, log);
      return;
    }
    await this.ensureFinalizer(run);
    const uid = run.metadata.uid ?? "";
    const livePods = api.podsOf(namespace, uid);
    const live = new Set(livePods.map((p) => p.metadata?.uid));
    const pods = [...livePods, ...(api.deletedPods?.(uid) ?? []).filter((p) => !live.has(p.metadata?.uid))];
    const claimedPods = new Set(pods.filter(isPoolPod).map((p) => p.metadata?.name ?? ""));
    const jobs = await this.confirmMissingJobs(run, api.jobsOf(namespace, uid), claimedPods);
    const now = this.now();
    const specProblems = isTerminal(run.status?.phase) ? [] : validateRunSpec(run.spec);
    let attempts = observeAttempts(jobs, pods, now);
    let claimedNow: V1Pod | undefined;
    let plan = planRun({ run, attempts, specProblems, now });
    let events = plan.events;
    if (plan.createAttempt !== undefined) {
      const beforeCreate = plan;
      const warm = await this.options.claimer?.claim(run, plan.createAttempt, log);
      claimedNow = warm;
      if (warm) claimedPods.add(warm.metadata?.name ?? "");
      const created = warm ? { claimed: observeClaimedPod(warm, now, now) } : await this.createAttemptJob(run, plan.createAttempt, log);
      if ("refused" in created) {
        // The API server refused the Job rendered from this spec: retrying cannot help, the spec must change.
        plan = planRun({ run, attempts, specProblems: [`the API server refused the trainer Job: ${created.refused}`], now });
      } else {
        const started = "job" in created ? observeAttempt(created.job, [], now) : "claimed" in created ? created.claimed : undefined;
        if (started) attempts = [...attempts.filter((a) => a.attempt !== plan.createAttempt), started];
        // Plan again with the Job that now exists (or the name that is taken), from the phase the first plan moved to.
        const afterCreate: AutoClintRun = { ...run, status: { ...run.status, ...plan.status } };
        const nameTaken = "taken" in created ? created.taken : undefined;
        plan = planRun({ run: afterCreate, attempts, specProblems, now, nameTaken });
      }
      events = eventsAcrossCreate(beforeCreate, plan);
    }
    const latest = attempts.filter((a) => a.pod === plan.status.trainerPod).at(-1);
    const story = startupStory(run, pods.find((p) => p.metadata?.name === plan.status.trainerPod) ?? claimedNow, latest?.createdAt);
    const fields = { ...ownedFields(plan.status), startup: story ?? run.status?.startup };
    await this.writeStatus(run, holdTickingCounters(run.status, fields, this.options.activeRequeueMs / 1000));
    // After the status says why: a deleted Job's pod takes the reason with it.
    for (const job of plan.deleteJobs) await this.deleteJob(namespace, job, claimedPods.has(job), log);
    for (const event of events) api.recordEvent(kubeEvent(run, event, now, this.options.instance));
    const phase = plan.status.phase ?? "Pending";
    if (events.length > 0) log.info("run phase", { phase, message: plan.status.message, attempts: plan.status.attempts });
    metrics.setRunPhase(namespace, name, phase);
    metrics.setRunGpuWait(namespace, name, plan.status.gpuWaitSeconds ?? 0);
    // A finished run's last events may still be on their way: look once more for the ALC on the apply clock.
    const finalEventsDue = isTerminal(phase) && run.status?.finalAlc === undefined && now - (Date.parse(plan.status.completionTime ?? "") || now) < 60_000;
    if (finalEventsDue && story) return { requeueAfterMs: 2000 };
    return isTerminal(phase) ? undefined : { requeueAfterMs: this.options.activeRequeueMs };
  }

  /** Before any Job exists, so that no event of the run can outlive it. */
  private async ensureFinalizer(run: AutoClintRun): Promise<void> {
    const finalizers = run.metadata.finalizers ?? [];
    if (!finalizers.includes(FINALIZER_PURGE_EVENTS)) await this.options.api.setFinalizers(run, [...finalizers, FINALIZER_PURGE_EVENTS]);
  }

  /** A deleted run: purge its events, then let it go. A failed purge throws (and is retried). */
  private async finalize(run: AutoClintRun | undefined, log: ReconcileContext["log"]): Promise<void> {
    const finalizers = run?.metadata.finalizers ?? [];
    if (!run || !finalizers.includes(FINALIZER_PURGE_EVENTS)) return;
    const { namespace = "", name, uid = "" } = run.metadata;
    await this.options.api.purgeEvents(namespace, name, uid);
    await this.options.api.setFinalizers(run, finalizers.filter((f) => f !== FINALIZER_PURGE_EVENTS));
    log.info("purged a deleted run's events and released it", { uid });
  }

  /**
   * The cache may not have a Job this operator created a moment ago: before an attempt the status
   * remembers as unfinished is judged deleted, its Job is looked up on the API server.
   */
  private async confirmMissingJobs(run: AutoClintRun, cached: V1Job[], claimedPods: Set<string>): Promise<V1Job[]> {
    if (isTerminal(run.status?.phase)) return cached;
    const names = new Set([...cached.map((job) => job.metadata?.name), ...claimedPods]);
    const missing = (run.status?.attemptHistory ?? []).filter((a) => !isTerminal(a.phase) && !names.has(a.job));
    const found = await Promise.all(missing.map((a) => this.options.api.getJob(run.metadata.namespace ?? "", a.job)));
    return [...cached, ...found.filter((job): job is V1Job => job !== undefined && job.metadata?.labels?.[LABEL_RUN_UID] === run.metadata.uid)];
  }

  /**
   * The attempt's Secret, then its Job. A Secret that exists already was made by an earlier
   * reconcile of this attempt (its name holds the run's uid): the Job mounts it as it is.
   */
  private async createAttemptSecret(run: AutoClintRun, attempt: number): Promise<AttemptCredential | undefined> {
    const credential = await this.options.issueCredential?.(attemptGrant(run, attempt, this.options.job.graceSeconds, new Date(this.now())));
    try {
      await this.options.api.createSecret(renderAttemptSecret(run, attempt, credential));
    } catch (error) {
      if (!(error instanceof KubeApiError && error.alreadyExists)) throw error;
    }
    return credential;
  }

  /** Creates the attempt's Job; a same-named Job that another owner controls is reported, never taken for ours. */
  private async createAttemptJob(run: AutoClintRun, attempt: number, log: ReconcileContext["log"]): Promise<{ job: V1Job } | { taken: NameTaken } | { refused: string }> {
    const credential = await this.createAttemptSecret(run, attempt);
    const job = renderTrainerJob(run, attempt, this.options.job, credential);
    const { namespace = "" } = run.metadata;
    const jobName = job.metadata?.name ?? "";
    try {
      const created = await this.options.api.createJob(job);
      log.info("created trainer job", { job: jobName, attempt });
      return { job: created };
    } catch (error) {
      if (error instanceof KubeApiError && error.code === 422) return { refused: error.message };
      if (!(error instanceof KubeApiError && error.alreadyExists)) throw error;
    }
    const existing = await this.options.api.getJob(namespace, jobName);
    if (!existing) throw new KubeApiError(`create job ${namespace}/${jobName}`, 409, "AlreadyExists", "the Job existed and then vanished: retrying");
    const owner = existing.metadata?.ownerReferences?.find((ref) => ref.controller);
    if (owner?.uid === run.metadata.uid) return { job: existing }; // our own, created by an earlier reconcile
    const by = owner ? `${owner.kind} ${owner.name} (uid ${owner.uid})` : "no controller";
    log.warn("trainer job name taken by another owner", { job: jobName, owner: by });
    return { taken: { job: jobName, owner: by } };
  }

  private async deleteJob(namespace: string, job: string, claimedPod: boolean, log: ReconcileContext["log"]): Promise<void> {
    if (claimedPod) {
      await this.options.api.deletePod(namespace, job);
      log.info("deleted claimed warm pod", { pod: job });
      return;
    }
    await this.options.api.deleteJob(namespace, job);
    log.info("deleted trainer job", { job });
  }

  private async writeStatus(run: AutoClintRun, fields: Record<string, unknown>): Promise<void> {
    const written = await patchOwnedStatus(this.options.api, run, fields);
    if (written !== run) this.options.metrics.countStatusWrite("reconciler");
  }
}

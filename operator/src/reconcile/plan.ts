/**
 * The run's level-triggered decision: from the run and what its attempts look like now, the status
 * the reconciler owns, whether to start an attempt, and the Kubernetes Events to record. Pure.
 */
import type { AttemptStatus, AutoClintRun, AutoClintRunStatus, Condition, RunPhase } from "@autoclint/api";
import { findCondition, setCondition, type ConditionInput } from "./conditions";
import { DEFAULT_MAX_GPU_WAIT_SECONDS } from "./job";
import type { AttemptObservation } from "./observe";
import { decideRetry } from "./retry";

/** The status fields the reconciler writes; the event consumer owns the others. */
export const RECONCILER_STATUS_FIELDS = [
  "phase", "observedGeneration", "conditions", "message", "attempts", "attemptHistory", "trainerPod",
  "startTime", "completionTime", "gpuWaitSeconds", "computeSeconds",
] as const;
export type ReconcilerStatus = Pick<AutoClintRunStatus, (typeof RECONCILER_STATUS_FIELDS)[number]>;

export interface KubeEventSpec {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface RunPlan {
  status: ReconcilerStatus;
  /** Attempt number whose Job should exist and does not. */
  createAttempt?: number;
  /** Jobs that must go: attempts judged failed (or a finished run's leftovers) that still hold a node. */
  deleteJobs: string[];
  events: KubeEventSpec[];
}

export interface PlanInput {
  run: AutoClintRun;
  /** Observed attempts, by attempt number. */
  attempts: AttemptObservation[];
  specProblems: string[];
  now: number;
  /** The Job the plan wanted to create exists under a name another owner controls. */
  nameTaken?: NameTaken;
}

export interface NameTaken {
  job: string;
  /** Who controls it, in words. */
  owner: string;
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z"));

export const isTerminal = (phase: RunPhase | undefined) => phase === "Succeeded" || phase === "Failed";

function history(attempts: AttemptObservation[]): AttemptStatus[] {
  return attempts.slice(-16).map((a) => {
    const entry: AttemptStatus = { attempt: a.attempt, job: a.job, phase: a.phase, gpuWaitSeconds: a.gpuWaitSeconds, computeSeconds: a.computeSeconds };
    if (a.pod) entry.pod = a.pod;
    if (a.failure) Object.assign(entry, { failureClass: a.failure.failureClass, message: a.failure.message });
    return entry;
  });
}

function fromHistory(entry: AttemptStatus): AttemptObservation {
  const observation: AttemptObservation = {
    attempt: entry.attempt, job: entry.job, phase: entry.phase === "Pending" ? "Scheduling" : entry.phase, jobActive: false,
    gpuWaitSeconds: entry.gpuWaitSeconds ?? 0, computeSeconds: entry.computeSeconds ?? 0,
  };
  if (entry.pod) observation.pod = entry.pod;
  if (entry.failureClass) observation.failure = { failureClass: entry.failureClass, message: entry.message ?? "" };
  if (!isTerminal(entry.phase)) {
    // Its Job went away before it ended (the caller made sure it is really gone): the attempt is over.
    observation.phase = "Failed";
    observation.failure ??= { failureClass: "JobDeleted", message: `trainer Job ${entry.job} was deleted while the attempt was ${entry.phase}` };
  }
  return observation;
}

/**
 * The attempts as the status remembers them, updated by what is observed now. An attempt whose
 * Job is gone keeps its recorded outcome, and a cause recorded while the pod existed beats a guess
 * made without it: what was seen once is not re-derived from what is left.
 */
export function mergeAttempts(recorded: readonly AttemptStatus[], observed: readonly AttemptObservation[]): AttemptObservation[] {
  const byNumber = new Map(recorded.map((entry) => [entry.attempt, fromHistory(entry)]));
  for (const seen of observed) {
    const before = recorded.find((entry) => entry.attempt === seen.attempt);
    const merged = { ...seen };
    if (seen.failure?.podGone && before?.failureClass) merged.failure = { failureClass: before.failureClass, message: before.message ?? "" };
    byNumber.set(seen.attempt, merged);
  }
  return [...byNumber.values()].sort((a, b) => a.attempt - b.attempt);
}

interface PhaseDecision {
  phase: RunPhase;
  message: string;
  createAttempt?: number;
  conditions: ConditionInput[];
}

function scheduledCondition(latest: AttemptObservation): ConditionInput {
  if (latest.unschedulable) return { type: "Scheduled", status: "False", reason: latest.unschedulable.reason, message: latest.unschedulable.message };
  if (latest.pod && latest.phase !== "Scheduling") return { type: "Scheduled", status: "True", reason: "Scheduled", message: `pod ${latest.pod} placed` };
  return { type: "Scheduled", status: "Unknown", reason: "Waiting", message: "waiting for the trainer pod to be placed" };
}

/**
 * The latest attempt as it stands once the operator's own limits are applied: a pod the scheduler
 * has not placed within maxGpuWaitSeconds fails, and a deadline that ran out while waiting names
 * the scheduler's last reason (the Job controller deletes the pod that carried it).
 */
function applyGpuWaitLimit(run: AutoClintRun, latest: AttemptObservation): AttemptObservation {
  const limit = run.spec.scheduling?.maxGpuWaitSeconds ?? DEFAULT_MAX_GPU_WAIT_SECONDS;
  const lastReason = latest.unschedulable?.message ?? findCondition(run.status?.conditions, "Scheduled")?.message;
  const wasUnschedulable = latest.unschedulable !== undefined || findCondition(run.status?.conditions, "Scheduled")?.status === "False";
  if (latest.phase === "Scheduling" && latest.gpuWaitSeconds >= limit) {
    const why = lastReason && wasUnschedulable ? lastReason : "the trainer pod was not placed";
    return { ...latest, phase: "Failed", failure: { failureClass: "DeadlineExceeded", message: `no node within scheduling.maxGpuWaitSeconds (${limit} s): ${why}` } };
  }
  return wasUnschedulable && lastReason ? withNeverPlacedReason(latest, lastReason) : latest;
}

/** A Job deadline that ran out before the trainer ever ran: its message names why it was never placed. */
function withNeverPlacedReason(latest: AttemptObservation, lastReason: string): AttemptObservation {
  const { failure } = latest;
  if (latest.phase !== "Failed" || failure?.failureClass !== "DeadlineExceeded" || latest.computeSeconds !== 0) return latest;
  if (failure.message.includes(lastReason)) return latest;
  return { ...latest, failure: { failureClass: "DeadlineExceeded", message: `${failure.message}; never placed: ${lastReason}` } };
}

function decideFromLatest(run: AutoClintRun, latest: AttemptObservation | undefined, attemptsMade: number): PhaseDecision {
  if (!latest) return { phase: "Pending", message: "creating the trainer Job", createAttempt: attemptsMade, conditions: [] };
  const scheduled = scheduledCondition(latest);
  switch (latest.phase) {
    case "Scheduling":
      return { phase: "Scheduling", message: latest.unschedulable?.message ?? "waiting for a node", conditions: [scheduled] };
    case "Running":
      return { phase: "Running", message: `attempt ${latest.attempt} running`, conditions: [scheduled] };
    case "Succeeded":
      return { phase: "Succeeded", message: "the trainer finished", conditions: [scheduled, { type: "Succeeded", status: "True", reason: "Completed", message: "the trainer finished" }] };
    case "Failed": {
      const failure = latest.failure ?? { failureClass: "Unknown" as const, message: "the attempt failed" };
      const decision = decideRetry(run.spec.retries, attemptsMade, failure.failureClass);
      if (decision.retry) {
        return { phase: "Pending", message: `attempt ${latest.attempt} failed (${failure.failureClass}: ${failure.message}); retrying`, createAttempt: attemptsMade, conditions: [scheduled] };
      }
      const message = `${failure.failureClass}: ${failure.message}`;
      return { phase: "Failed", message: `${message} (${decision.reason})`, conditions: [scheduled, { type: "Succeeded", status: "False", reason: failure.failureClass, message }] };
    }
  }
}

function phaseEvent(phase: RunPhase, message: string): KubeEventSpec {
  return { type: phase === "Failed" ? "Warning" : "Normal", reason: phase, message };
}

/** A finished run stays finished: its status is final, and nothing of it may hold a node. */
function planFinished(run: AutoClintRun, attempts: AttemptObservation[]): RunPlan {
  const previous = run.status ?? {};
  const status = Object.fromEntries(RECONCILER_STATUS_FIELDS.map((field) => [field, previous[field]])) as ReconcilerStatus;
  return { status, deleteJobs: attempts.filter((a) => a.jobActive && a.phase !== "Succeeded").map((a) => a.job), events: [] };
}

/** The phase, message, conditions and next attempt, from the spec, the attempts and what the create found. */
function decide(run: AutoClintRun, attempts: AttemptObservation[], attemptsMade: number, specProblems: string[], nameTaken: NameTaken | undefined): PhaseDecision {
  if (run.spec.cancel === true) {
    const message = "cancelled: spec.cancel is true";
    return { phase: "Failed", message, conditions: [{ type: "Succeeded", status: "False", reason: "Cancelled", message }] };
  }
  if (attempts.length === 0 && specProblems.length > 0) {
    const message = `invalid spec: ${specProblems.join("; ")}`;
    return { phase: "Failed", message, conditions: [{ type: "SpecValid", status: "False", reason: "InvalidSpec", message }] };
  }
  let decision = decideFromLatest(run, attempts.at(-1), attemptsMade);
  if (nameTaken && decision.createAttempt !== undefined) {
    const message = `Job ${nameTaken.job} already exists and is not this run's (controller: ${nameTaken.owner}); the run waits until it is deleted`;
    decision = { phase: "Pending", message, conditions: [{ type: "JobCreated", status: "False", reason: "NameTaken", message }] };
  } else if (findCondition(run.status?.conditions, "JobCreated")?.status === "False") {
    decision.conditions.push({ type: "JobCreated", status: "True", reason: "Created", message: "the trainer Job's name is free again" });
  }
  decision.conditions.unshift({ type: "SpecValid", status: "True", reason: "Valid", message: "spec accepted" });
  return decision;
}

/** The Kubernetes Events that go with moving from `previous` to `decision`. */
function planEvents(previous: AutoClintRunStatus, decision: PhaseDecision, latest: AttemptObservation | undefined, nameTaken: NameTaken | undefined): KubeEventSpec[] {
  const events: KubeEventSpec[] = [];
  if (previous.phase !== decision.phase) events.push(phaseEvent(decision.phase, decision.message));
  if (nameTaken && findCondition(previous.conditions, "JobCreated")?.status !== "False") events.push({ type: "Warning", reason: "NameTaken", message: decision.message });
  // The scheduler's verdict gets its own Event when it turns negative, whatever the phase did.
  const unschedulable = latest?.unschedulable;
  const wasUnschedulable = previous.conditions?.some((c) => c.type === "Scheduled" && c.status === "False");
  if (unschedulable && !wasUnschedulable) events.push({ type: "Warning", reason: "FailedScheduling", message: unschedulable.message });
  if (decision.createAttempt !== undefined && decision.createAttempt > 0) {
    events.push({ type: "Warning", reason: "Retrying", message: `starting attempt ${decision.createAttempt}: ${decision.message}` });
  }
  return events;
}

/**
 * The Events of a reconcile that planned twice: before creating the attempt (`beforeCreate`) and
 * with the attempt created (`afterCreate`, planned from the phase the first moved to). The status
 * is written once, with the second plan's phase; when that differs from the first's, the first
 * phase's Event ("Pending: creating the trainer Job") names a state the status never showed, so
 * it goes: one Event POST fewer for every run started. The first plan's other Events stay.
 */
export function eventsAcrossCreate(beforeCreate: RunPlan, afterCreate: RunPlan): KubeEventSpec[] {
  const transient = beforeCreate.status.phase !== afterCreate.status.phase ? beforeCreate.status.phase : undefined;
  return [...beforeCreate.events.filter((event) => event.reason !== transient), ...afterCreate.events];
}

export function planRun({ run, attempts: observed, specProblems, now, nameTaken }: PlanInput): RunPlan {
  const previous = run.status ?? {};
  if (isTerminal(previous.phase)) return planFinished(run, observed);
  const generation = run.metadata.generation;
  const attempts = mergeAttempts(previous.attemptHistory ?? [], observed);
  const last = attempts.at(-1);
  if (last) attempts[attempts.length - 1] = applyGpuWaitLimit(run, last);
  // Attempt numbers are never reused (events are keyed by them): the next one is past every one recorded or seen.
  const attemptsMade = Math.max(previous.attempts ?? 0, (last?.attempt ?? -1) + 1);
  const decision = decide(run, attempts, attemptsMade, specProblems, nameTaken);
  const conditions = decision.conditions.reduce<Condition[]>((all, condition) => setCondition(all, condition, iso(now) ?? "", generation), previous.conditions ?? []);
  const created = attempts.map((a) => a.createdAt).filter((t): t is number => t !== undefined);
  const terminal = isTerminal(decision.phase);
  const status: ReconcilerStatus = {
    phase: decision.phase,
    observedGeneration: generation,
    conditions,
    message: decision.message,
    attempts: attemptsMade,
    attemptHistory: history(attempts),
    trainerPod: attempts.at(-1)?.pod,
    startTime: previous.startTime ?? iso(created.length > 0 ? Math.min(...created) : undefined),
    completionTime: terminal ? (previous.completionTime ?? iso(attempts.at(-1)?.finishedAt ?? now)) : undefined,
    gpuWaitSeconds: attempts.reduce((sum, a) => sum + a.gpuWaitSeconds, 0),
    computeSeconds: attempts.reduce((sum, a) => sum + a.computeSeconds, 0),
  };
  // An attempt the operator judged failed (or any but the latest, or any of a finished run) must not
  // keep its GPU until the Job's deadline. A succeeded pod's Job is about to complete: it stays.
  const deleteJobs = attempts
    .filter((a, i) => a.jobActive && a.phase !== "Succeeded" && (terminal || a.phase === "Failed" || i < attempts.length - 1))
    .map((a) => a.job);
  const plan: RunPlan = { status, deleteJobs, events: planEvents(previous, decision, attempts.at(-1), nameTaken) };
  if (decision.createAttempt !== undefined) plan.createAttempt = decision.createAttempt;
  return plan;
}

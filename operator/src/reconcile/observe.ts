/**
 * What one attempt's Job and Pod say, as plain data: its phase, why it failed, how long it waited
 * for a node and how long it computed. Pure functions of the observed objects and the clock.
 */
import type { V1Job, V1JobCondition, V1Pod, V1PodCondition } from "@kubernetes/client-node";
import type { FailureClass, RunPhase } from "@autoclint/api";
import { LABEL_ATTEMPT } from "./labels";
import { TRAINER_CONTAINER } from "./job";

export type Timestamp = Date | string | undefined | null;

/** Milliseconds since the epoch; typed API results carry Dates, watch events carry strings. */
export function toMillis(value: Timestamp): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

export interface Unschedulable {
  reason: string;
  message: string;
}

export interface AttemptFailure {
  failureClass: FailureClass;
  message: string;
  /** Classified without a pod to look at: a cause recorded while the pod existed wins. */
  podGone?: boolean;
}

export interface AttemptObservation {
  attempt: number;
  job: string;
  pod?: string;
  phase: Exclude<RunPhase, "Pending">;
  /** The Job has not ended by its own conditions: it may still hold a node and a GPU. */
  jobActive: boolean;
  unschedulable?: Unschedulable;
  /**
   * Why a failed attempt failed; on a running one, why it is ending (its pod is being evicted or
   * its node lost), kept because the pod may be gone by the time the Job says it failed.
   */
  failure?: AttemptFailure;
  createdAt?: number;
  finishedAt?: number;
  gpuWaitSeconds: number;
  computeSeconds: number;
}

export function attemptOfJob(job: V1Job): number {
  return Number(job.metadata?.labels?.[LABEL_ATTEMPT] ?? -1);
}

function jobCondition(job: V1Job, type: string) {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

function podCondition(pod: V1Pod | undefined, type: string): V1PodCondition | undefined {
  return pod?.status?.conditions?.find((c) => c.type === type);
}

function trainerState(pod: V1Pod | undefined) {
  const statuses = pod?.status?.containerStatuses ?? [];
  return (statuses.find((s) => s.name === TRAINER_CONTAINER) ?? statuses[0])?.state;
}

const EVICTION_REASONS = new Set(["Evicted", "Preempting", "EvictionByEvictionAPI", "PreemptionByScheduler", "TerminationByKubelet"]);
const NODE_LOSS_REASONS = new Set(["NodeLost", "NodeShutdown", "Shutdown", "Terminated", "DeletionByTaintManager", "DeletionByPodGC"]);
/** Pod reasons of a kubelet admission rejection: the node refused the pod, another node may take it. */
const ADMISSION_REASONS = new Set(["UnexpectedAdmissionError", "NodeAffinity", "NodeName", "InvalidNodeInfo", "NodeSelectorMismatching"]);
/** Container waiting reasons the kubelet does not get past on its own: the attempt fails now, not at its deadline. */
const WAITING_FAILURES = new Map<string, FailureClass>([
  ["ErrImagePull", "ImagePull"],
  ["ImagePullBackOff", "ImagePull"],
  ["InvalidImageName", "ImagePull"],
  ["ErrImageNeverPull", "ImagePull"],
  ["CreateContainerConfigError", "ContainerConfig"],
  ["CreateContainerError", "ContainerConfig"],
]);

/** A trainer container the kubelet cannot start, as a failure naming the kubelet's reason. */
export function startFailure(pod: V1Pod | undefined): AttemptFailure | undefined {
  const waiting = trainerState(pod)?.waiting;
  const failureClass = WAITING_FAILURES.get(waiting?.reason ?? "");
  if (!waiting || !failureClass) return undefined;
  return { failureClass, message: `${waiting.reason ?? ""}: ${waiting.message ?? "the kubelet cannot start the trainer container"}` };
}

/** Why a pod is being taken away while it still runs (its DisruptionTarget condition). */
export function disruption(pod: V1Pod | undefined): AttemptFailure | undefined {
  const condition = podCondition(pod, "DisruptionTarget");
  if (condition?.status !== "True") return undefined;
  const reason = condition.reason ?? "";
  const message = condition.message ?? reason;
  if (NODE_LOSS_REASONS.has(reason)) return { failureClass: "NodeLost", message };
  if (EVICTION_REASONS.has(reason)) return { failureClass: "Evicted", message };
  return undefined;
}

/** What a failure rule looks at: the pod (if any) and the Job's failure condition (if any). */
interface FailureEvidence {
  pod: V1Pod | undefined;
  failed: V1JobCondition | undefined;
  podReason: string;
  /** The DisruptionTarget condition's reason while it is True, else "". */
  disruptionReason: string;
}

/** The pod's own message, else its DisruptionTarget condition's, else `fallback`. */
function podMessage(pod: V1Pod | undefined, fallback: string): string {
  return pod?.status?.message ?? podCondition(pod, "DisruptionTarget")?.message ?? fallback;
}

const isReason = (reasons: ReadonlySet<string>) => (e: FailureEvidence) => reasons.has(e.podReason) || reasons.has(e.disruptionReason);

/** Each rule names one cause, or passes; classifyFailure takes the first that names one. */
const FAILURE_RULES: ((e: FailureEvidence) => AttemptFailure | undefined)[] = [
  ({ failed, pod }) =>
    failed?.reason === "DeadlineExceeded" || pod?.status?.reason === "DeadlineExceeded"
      ? { failureClass: "DeadlineExceeded", message: failed?.message ?? pod?.status?.message ?? "the attempt ran past budget plus grace" }
      : undefined,
  (e) => (isReason(NODE_LOSS_REASONS)(e) ? { failureClass: "NodeLost", message: podMessage(e.pod, "the trainer's node went away") } : undefined),
  (e) => (isReason(EVICTION_REASONS)(e) ? { failureClass: "Evicted", message: podMessage(e.pod, "the trainer pod was evicted") } : undefined),
  ({ pod, podReason }) =>
    ADMISSION_REASONS.has(podReason) || podReason.startsWith("OutOf")
      ? { failureClass: "NodeRejected", message: `${podReason}: ${pod?.status?.message ?? "the kubelet refused the pod"}` }
      : undefined,
  ({ pod }) => startFailure(pod),
  ({ pod }) => (trainerState(pod)?.terminated?.reason === "OOMKilled" ? { failureClass: "OOMKilled", message: "the trainer ran out of memory (OOMKilled)" } : undefined),
  ({ pod }) => {
    const terminated = trainerState(pod)?.terminated;
    if (!terminated || terminated.exitCode === 0) return undefined;
    return { failureClass: "Error", message: terminated.message?.trim() || `the trainer exited with code ${terminated.exitCode}` };
  },
  // A failed Job whose pod is gone: the pod went with its node (unless an earlier look said otherwise; see planRun).
  ({ pod, failed }) => (pod ? undefined : { failureClass: "NodeLost", message: failed?.message ?? "the trainer pod disappeared", podGone: true }),
];

/** Why a failed attempt failed, most specific cause first. */
export function classifyFailure(job: V1Job, pod: V1Pod | undefined): AttemptFailure {
  const failed = jobCondition(job, "Failed") ?? jobCondition(job, "FailureTarget");
  const disruption = podCondition(pod, "DisruptionTarget");
  const evidence: FailureEvidence = { pod, failed, podReason: pod?.status?.reason ?? "", disruptionReason: disruption?.status === "True" ? (disruption.reason ?? "") : "" };
  for (const rule of FAILURE_RULES) {
    const failure = rule(evidence);
    if (failure) return failure;
  }
  return { failureClass: "Unknown", message: failed?.message ?? pod?.status?.message ?? "the attempt failed" };
}

function jobEnded(job: V1Job): boolean {
  return ["Complete", "SuccessCriteriaMet", "Failed", "FailureTarget"].some((type) => jobCondition(job, type));
}

function attemptPhase(job: V1Job, pod: V1Pod | undefined): AttemptObservation["phase"] {
  if (jobCondition(job, "Complete") || jobCondition(job, "SuccessCriteriaMet")) return "Succeeded";
  if (jobCondition(job, "Failed") || jobCondition(job, "FailureTarget")) return "Failed";
  if (startFailure(pod)) return "Failed";
  switch (pod?.status?.phase) {
    case "Succeeded":
      return "Succeeded";
    case "Failed":
      return "Failed";
    case "Running":
      return "Running";
    default:
      // No pod yet, or a pod waiting for a node, for its image or for its containers to start.
      return "Scheduling";
  }
}

function newestPod(pods: V1Pod[]): V1Pod | undefined {
  return [...pods].sort((a, b) => (toMillis(a.metadata?.creationTimestamp) ?? 0) - (toMillis(b.metadata?.creationTimestamp) ?? 0)).at(-1);
}

function seconds(from: number | undefined, to: number | undefined): number {
  if (from === undefined || to === undefined) return 0;
  return Math.max(0, Math.round((to - from) / 1000));
}

/** When a finished attempt's Job ended (its condition's time, else its completion time, else now). */
function endedAt(job: V1Job, now: number): number {
  const ended = jobCondition(job, "Complete") ?? jobCondition(job, "Failed");
  return toMillis(ended?.lastTransitionTime) ?? toMillis(job.status?.completionTime) ?? now;
}

/** When the trainer container started, and when it stopped (`otherwise` while it runs). */
function trainerRan(pod: V1Pod | undefined, otherwise: number): { startedAt?: number; stoppedAt: number } {
  const state = trainerState(pod);
  return { startedAt: toMillis(state?.running?.startedAt ?? state?.terminated?.startedAt), stoppedAt: toMillis(state?.terminated?.finishedAt) ?? otherwise };
}

type AttemptTimes = Pick<AttemptObservation, "createdAt" | "finishedAt" | "gpuWaitSeconds" | "computeSeconds">;

/** When the attempt was created and ended, how long it waited for a node, how long its trainer ran. */
function attemptTimes(job: V1Job, pod: V1Pod | undefined, phase: AttemptObservation["phase"], now: number): AttemptTimes {
  const createdAt = toMillis(job.metadata?.creationTimestamp);
  const finishedAt = phase === "Succeeded" || phase === "Failed" ? endedAt(job, now) : undefined;
  const scheduled = podCondition(pod, "PodScheduled");
  const scheduledAt = scheduled?.status === "True" ? toMillis(scheduled.lastTransitionTime) : undefined;
  const { startedAt, stoppedAt } = trainerRan(pod, finishedAt ?? now);
  return {
    createdAt,
    finishedAt,
    // Waiting ends when the scheduler places the pod; an attempt that never got placed waited until it ended.
    gpuWaitSeconds: seconds(createdAt, scheduledAt ?? finishedAt ?? now),
    computeSeconds: seconds(startedAt, startedAt === undefined ? undefined : stoppedAt),
  };
}

/** Observes one attempt from its Job and that Job's pods at time `now` (ms). */
export function observeAttempt(job: V1Job, pods: V1Pod[], now: number): AttemptObservation {
  const pod = newestPod(pods);
  const phase = attemptPhase(job, pod);
  const observation: AttemptObservation = {
    attempt: attemptOfJob(job),
    job: job.metadata?.name ?? "",
    phase,
    jobActive: !jobEnded(job),
    ...attemptTimes(job, pod, phase, now),
  };
  if (pod?.metadata?.name) observation.pod = pod.metadata.name;
  const scheduled = podCondition(pod, "PodScheduled");
  if (phase === "Scheduling" && scheduled?.status === "False") {
    observation.unschedulable = { reason: scheduled.reason ?? "Unschedulable", message: scheduled.message ?? "the scheduler cannot place the trainer pod" };
  }
  const failure = phase === "Failed" ? classifyFailure(job, pod) : disruption(pod);
  if (failure) observation.failure = failure;
  return observation;
}

/**
 * A claimed warm pod stands in for its attempt's Job: observed like one, from the pod alone. Its
 * clock starts at the claim (the pod stood warm before; that was the pool's time, not the run's),
 * so it waited for no GPU; a pod deleted before it finished failed.
 */
export function observeClaimedPod(pod: V1Pod, claimedAt: number | undefined, now: number): AttemptObservation {
  const standIn: V1Job = { metadata: { name: pod.metadata?.name ?? "", labels: pod.metadata?.labels ?? {} } };
  if (claimedAt !== undefined) standIn.metadata!.creationTimestamp = new Date(claimedAt);
  const observation = observeAttempt(standIn, [pod], now);
  const finished = observation.phase === "Succeeded" || observation.phase === "Failed";
  observation.jobActive = !finished && !pod.metadata?.deletionTimestamp;
  if (!finished && pod.metadata?.deletionTimestamp) {
    observation.phase = "Failed";
    observation.failure = disruption(pod) ?? { failureClass: "JobDeleted", message: `the claimed warm pod ${pod.metadata.name ?? ""} was deleted while it served the run` };
  }
  // Only ready pods are claimed: it was placed (and had its GPU) before the run existed for it.
  observation.gpuWaitSeconds = 0;
  const stoppedAt = toMillis(trainerState(pod)?.terminated?.finishedAt) ?? now;
  observation.computeSeconds = seconds(claimedAt, claimedAt === undefined ? undefined : stoppedAt);
  return observation;
}

/**
 * The start-up story of a run's latest attempt, told in status: warm or cold, where the seconds
 * between `kubectl apply` and the first prediction went, and ALC on both clocks (the trainer's,
 * which starts when the trainer starts, and the user's, which starts at apply). Pure: from the
 * run, the attempt's pod and what the trainer's events put in status.
 *
 * Kubernetes timestamps (creation, conditions, container start) have one-second resolution; the
 * claim time of a warm pod is the operator's own, to the millisecond. The seconds here are exact
 * to about a second, which the status says by rounding to 0.1 s and bench/ measures exactly.
 */
import type { V1Pod } from "@kubernetes/client-node";
import { alc, type AutoClintRun, type RunStartup } from "@autoclint/api";
import { ANNOTATION_CLAIMED_AT, LABEL_POOL } from "./labels";
import { toMillis } from "./observe";
import { isPoolPod } from "./pool";

const round = (seconds: number) => Math.round(seconds * 10) / 10;
const between = (from: number | undefined, to: number | undefined) => (from === undefined || to === undefined ? undefined : round(Math.max(0, (to - from) / 1000)));

function containerStartedAt(pod: V1Pod): number | undefined {
  const state = pod.status?.containerStatuses?.[0]?.state;
  return toMillis(state?.running?.startedAt ?? state?.terminated?.startedAt);
}

/**
 * The story, or undefined before the attempt has a pod. `attemptCreatedAt`: when the operator
 * started the attempt (its Job's creation; a warm pod's claim).
 */
export function startupStory(run: AutoClintRun, pod: V1Pod | undefined, attemptCreatedAt: number | undefined): RunStartup | undefined {
  if (!pod) return undefined;
  const applied = toMillis(run.metadata.creationTimestamp);
  const warm = isPoolPod(pod);
  const claimedAt = toMillis(pod.metadata?.annotations?.[ANNOTATION_CLAIMED_AT]);
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "True");
  const scheduledAt = toMillis(scheduled?.lastTransitionTime);
  const containerStarted = containerStartedAt(pod);
  // The trainer's clock starts at the claim (warm) or when its container starts (cold).
  const trainerStart = warm ? claimedAt : containerStarted;
  const story: RunStartup = { mode: warm ? "warm" : "cold" };
  if (warm) {
    story.pool = pod.metadata?.labels?.[LABEL_POOL] ?? "";
    story.queuedSeconds = between(applied, claimedAt);
    Object.assign(story, { schedulingSeconds: 0, pullingSeconds: 0 });
  } else {
    story.queuedSeconds = between(applied, attemptCreatedAt);
    story.schedulingSeconds = between(toMillis(pod.metadata?.creationTimestamp) ?? attemptCreatedAt, scheduledAt);
    story.pullingSeconds = between(scheduledAt, containerStarted);
  }
  const curve = run.status?.learningCurve ?? [];
  const offset = between(applied, trainerStart);
  if (offset !== undefined) story.trainerStartSeconds = offset;
  if (offset !== undefined && curve.length > 0) {
    story.firstPredictionSeconds = round(offset + curve[0]!.t);
    story.alcApplyClock = alc(curve.map((p) => ({ t: p.t + offset, nauc: p.nauc })), run.spec.timeBudgetSeconds);
  }
  return story;
}

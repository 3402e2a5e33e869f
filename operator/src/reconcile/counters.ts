/**
 * The run's time counters (gpuWaitSeconds, computeSeconds, in total and per attempt) grow with the
 * clock while an attempt waits or runs, so every reconcile computes new values. Written each time,
 * they made a status write of nearly every reconcile: each pod or Job event of a run (more of them
 * reach the reconciler, unmerged, when more workers drain the queue) and each write a watch event
 * for every client of runs. Here a counter that is the only change is held at its stored value
 * until it has moved `stepSeconds` (the active requeue interval) or a fifth of its stored value,
 * whichever is more; any other change writes them exact. The relative step is for scale: with a
 * fixed 30 s step each of 1,000 active runs wrote its status every 30 s for as long as it ran, 33
 * writes a second on their own: more than the 23-33 run status writes a second a 2-core control
 * plane's API server managed in bench/events-latency.ts, all taken from the trainers' events. With
 * it a running run's counter costs 20 writes in its first hour, not 120, and they stay within a
 * fifth of the truth (the GPU-wait gauge and the GPU-wait limit use the exact values).
 *
 * The attempt's details ride with the counters: the trainer pod's name (`trainerPod`, an attempt's
 * `pod`) and the start-up story (`startup`: seconds queued, scheduling, pulling, to the trainer's
 * start and first prediction) change as the pod is created, placed and started, each a status
 * write of its own before, while the phase stayed the same: at 1,000 runs applied at once that
 * was one to two of a run's three to five status writes. While the phase is active they are
 * held the same way, so they are at most a step late; a change of phase, condition, message or
 * attempt writes everything, and a finished run's story is never held.
 */
import type { AttemptStatus, AutoClintRunStatus } from "@autoclint/api";
import { isTerminal } from "./plan";
import { sameJson } from "./status";

const COUNTERS = ["gpuWaitSeconds", "computeSeconds"] as const;
/** Status fields that describe the current attempt more finely, held with the counters. */
const DETAILS = ["trainerPod", "startup"] as const;
/** A counter is held while it moved less than this share of its stored value (or the fixed step, if more). */
const RELATIVE_STEP = 0.2;
type Counted = Partial<Record<(typeof COUNTERS)[number], number>>;

function withoutCountersAndPod(entry: AttemptStatus): Omit<AttemptStatus, (typeof COUNTERS)[number] | "pod"> {
  const { gpuWaitSeconds: _wait, computeSeconds: _compute, pod: _pod, ...rest } = entry;
  return rest;
}

function movedLessThan(stored: Counted, planned: Counted, stepSeconds: number): boolean {
  return COUNTERS.every((counter) => {
    const was = stored[counter] ?? 0;
    return Math.abs((planned[counter] ?? 0) - was) < Math.max(stepSeconds, RELATIVE_STEP * was);
  });
}

const HELD = new Set<string>([...COUNTERS, ...DETAILS, "attemptHistory"]);

/**
 * `fields` (the reconciler's status fields, about to be written) with the stored counters and
 * details in place of the planned ones, when only they changed and each counter moved less than
 * its step (stepSeconds, or a fifth of its stored value if more); otherwise `fields` as they are.
 */
export function holdTickingCounters(stored: AutoClintRunStatus | undefined, fields: Record<string, unknown>, stepSeconds: number): Record<string, unknown> {
  if (!stored || isTerminal(fields.phase as AutoClintRunStatus["phase"])) return fields;
  const storedHistory = stored.attemptHistory ?? [];
  const plannedHistory = (fields.attemptHistory as AttemptStatus[] | undefined) ?? [];
  if (storedHistory.length !== plannedHistory.length) return fields;
  if (!movedLessThan(stored, fields as Counted, stepSeconds)) return fields;
  const sameAttempt = (entry: AttemptStatus, i: number) =>
    movedLessThan(storedHistory[i]!, entry, stepSeconds) && sameJson(withoutCountersAndPod(storedHistory[i]!), withoutCountersAndPod(entry));
  if (!plannedHistory.every(sameAttempt)) return fields;
  const storedFields = stored as Record<string, unknown>;
  if (!Object.entries(fields).every(([key, value]) => HELD.has(key) || sameJson(storedFields[key], value))) return fields;
  const held: Record<string, unknown> = { ...fields };
  for (const key of HELD) if (key in fields) held[key] = storedFields[key];
  return held;
}

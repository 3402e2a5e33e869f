/**
 * The run's time counters (gpuWaitSeconds, computeSeconds, in total and per attempt) grow with the
 * clock while an attempt waits or runs, so every reconcile computes new values. Written each time,
 * they made a status write of nearly every reconcile: each pod or Job event of a run (more of them
 * reach the reconciler, unmerged, when more workers drain the queue) and each write a watch event
 * for every client of runs. Here a counter that is the only change is held at its stored value
 * until it has moved `stepSeconds` (the active requeue interval, so a waiting or running run's
 * counters are at most that stale); any other change writes them exact.
 */
import type { AttemptStatus, AutoClintRunStatus } from "@autoclint/api";
import { sameJson } from "./status";

const COUNTERS = ["gpuWaitSeconds", "computeSeconds"] as const;
type Counted = Partial<Record<(typeof COUNTERS)[number], number>>;

function withoutCounters<T extends Counted>(value: T): Omit<T, (typeof COUNTERS)[number]> {
  const { gpuWaitSeconds: _wait, computeSeconds: _compute, ...rest } = value;
  return rest;
}

function movedLessThan(stored: Counted, planned: Counted, stepSeconds: number): boolean {
  return COUNTERS.every((counter) => Math.abs((planned[counter] ?? 0) - (stored[counter] ?? 0)) < stepSeconds);
}

/**
 * `fields` (the reconciler's status fields, about to be written) with the stored counters in place
 * of the planned ones, when the counters are all that changed and each moved less than stepSeconds;
 * otherwise `fields` as they are.
 */
export function holdTickingCounters(stored: AutoClintRunStatus | undefined, fields: Record<string, unknown>, stepSeconds: number): Record<string, unknown> {
  if (!stored) return fields;
  const storedHistory = stored.attemptHistory ?? [];
  const plannedHistory = (fields.attemptHistory as AttemptStatus[] | undefined) ?? [];
  if (storedHistory.length !== plannedHistory.length) return fields;
  if (!movedLessThan(stored, fields as Counted, stepSeconds)) return fields;
  if (!plannedHistory.every((entry, i) => movedLessThan(storedHistory[i]!, entry, stepSeconds) && sameJson(withoutCounters(storedHistory[i]!), withoutCounters(entry)))) return fields;
  const storedFields = stored as Record<string, unknown>;
  const others = Object.entries(fields).filter(([key]) => key !== "attemptHistory" && !(COUNTERS as readonly string[]).includes(key));
  if (!others.every(([key, value]) => sameJson(storedFields[key], value))) return fields;
  const held: Record<string, unknown> = { ...fields };
  for (const counter of COUNTERS) if (counter in fields) held[counter] = stored[counter];
  if ("attemptHistory" in fields) held.attemptHistory = stored.attemptHistory;
  return held;
}

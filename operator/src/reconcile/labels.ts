/** Labels and annotations the operator puts on what it creates, and reads back. */
import { createHash } from "node:crypto";

export const MANAGED_BY = "autoclint-operator";
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_NAME = "app.kubernetes.io/name";
export const LABEL_RUN_UID = "autoclint.io/run-uid";
export const LABEL_ATTEMPT = "autoclint.io/attempt";
export const LABEL_BENCHMARK_UID = "autoclint.io/benchmark-uid";
/** A warm pool pod: its pool's name and uid (kept after a claim: the pool counts the pods it served). */
export const LABEL_POOL = "autoclint.io/pool";
export const LABEL_POOL_UID = "autoclint.io/pool-uid";
/** Annotations, not labels: names may be longer than a label value allows. */
export const ANNOTATION_RUN = "autoclint.io/run";
export const ANNOTATION_BENCHMARK = "autoclint.io/benchmark";
/** When a run claimed a warm pod (RFC 3339 with milliseconds): the run's clock starts about then. */
export const ANNOTATION_CLAIMED_AT = "autoclint.io/claimed-at";
/**
 * On a claimed warm pod that would not take its run (the hand-over POST failed): why. The pod is
 * deleted; until it is gone its run does not count it as an attempt and the pool deletes it again.
 */
export const ANNOTATION_HANDOVER_FAILED = "autoclint.io/handover-failed";

/**
 * The run finalizer: a deleted run's NATS events are purged (by its uid's subjects) before the API
 * server lets the run go, also when the run was deleted while the operator was down.
 */
export const FINALIZER_PURGE_EVENTS = "autoclint.io/purge-events";

export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;

/**
 * A deterministic child name within `max` characters: `<base>-<suffix>`, with the base shortened
 * and a hash of the full base added when too long. Deterministic names are what make creation
 * idempotent: a second create of the same attempt meets AlreadyExists.
 */
export function childName(base: string, suffix: string, max = 63): string {
  const full = `${base}-${suffix}`;
  if (full.length <= max) return full;
  const hash = createHash("sha256").update(base).digest("hex").slice(0, 8);
  const room = max - suffix.length - hash.length - 2;
  return `${base.slice(0, room).replace(/[-.]+$/, "")}-${hash}-${suffix}`;
}

/** Whether a failed attempt is retried: the spec's retry policy, applied in one place. */
import type { FailureClass, Retries } from "@autoclint/api";

export const DEFAULT_RETRY_LIMIT = 2;
export const DEFAULT_RETRY_ON: readonly FailureClass[] = ["Evicted", "NodeLost", "NodeRejected"];

export type RetryDecision = { retry: true } | { retry: false; reason: string };

/** `attemptsMade` counts every attempt so far, the failed one included. */
export function decideRetry(policy: Retries | undefined, attemptsMade: number, failureClass: FailureClass): RetryDecision {
  const limit = policy?.limit ?? DEFAULT_RETRY_LIMIT;
  const retryOn = policy?.onFailure ?? DEFAULT_RETRY_ON;
  if (!retryOn.includes(failureClass)) return { retry: false, reason: `${failureClass} is not retried (retries.onFailure: ${retryOn.join(", ") || "none"})` };
  if (attemptsMade > limit) return { retry: false, reason: `retry limit reached (${attemptsMade} attempts, retries.limit ${limit})` };
  return { retry: true };
}

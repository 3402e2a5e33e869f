/**
 * The operator's error family. Callers test `instanceof`, never message text.
 */

/** A reconcile that cannot succeed by being retried (e.g. an object the operator cannot act on). Counted, never retried. */
export class TerminalError extends Error {
  override name = "TerminalError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A Kubernetes API call failed; `code` is the HTTP status (0 when none came back). */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  constructor(
    readonly operation: string,
    readonly code: number,
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${code} ${reason}: ${message}`, options);
  }
  get notFound(): boolean {
    return this.code === 404;
  }
  get conflict(): boolean {
    return this.code === 409 && this.reason !== "AlreadyExists";
  }
  get alreadyExists(): boolean {
    return this.code === 409 && this.reason === "AlreadyExists";
  }
  get gone(): boolean {
    return this.code === 410;
  }
}

/** A write refused because this replica no longer holds (or never held) the leader Lease. */
export class NotLeaderError extends Error {
  override name = "NotLeaderError";
  constructor(readonly operation = "write") {
    super(`${operation} refused: this replica does not hold the leader Lease`);
  }
}

/**
 * The controller: workers take keys from the work queue and call the reconciler of the key's kind.
 * The contract is controller-runtime's: a request carries only namespace and name (the reconciler
 * re-reads current state), the result is "done" or "requeue after", and a throw is an error.
 * `applyOutcome` is the one place that decides what happens next.
 */
import { randomBytes } from "node:crypto";
import { TerminalError, KubeApiError } from "../errors";
import type { Logger } from "../log";
import type { WorkQueue } from "./queue";

export interface ReconcileRequest {
  namespace: string;
  name: string;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface ReconcileContext {
  reconcileId: string;
  /** Carries the reconcile id and the object's key on every line. */
  log: Logger;
}

export interface Reconciler {
  readonly kind: string;
  reconcile(request: ReconcileRequest, context: ReconcileContext): Promise<ReconcileResult | void>;
}

export type ReconcileOutcome = "success" | "requeue" | "error" | "conflict" | "terminal";

export interface ControllerMetrics {
  observeReconcile(kind: string, outcome: ReconcileOutcome, seconds: number): void;
  setQueueDepth(depth: number): void;
}

export function objectKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function parseKey(key: string): { kind: string; namespace: string; name: string } {
  const [kind = "", namespace = "", name = ""] = key.split("/");
  return { kind, namespace, name };
}

type QueueActions = Pick<WorkQueue, "forget" | "addAfter" | "addRateLimited">;

/** Maps a reconcile's result or error to forget / requeue / backoff. The only retry decision there is. */
export function applyOutcome(queue: QueueActions, key: string, result: ReconcileResult | void, error?: unknown): ReconcileOutcome {
  if (error === undefined) {
    queue.forget(key);
    if (result?.requeueAfterMs !== undefined) {
      queue.addAfter(key, result.requeueAfterMs);
      return "requeue";
    }
    return "success";
  }
  if (error instanceof TerminalError) {
    queue.forget(key);
    return "terminal";
  }
  queue.addRateLimited(key);
  const conflict = error instanceof KubeApiError && error.conflict;
  return conflict ? "conflict" : "error";
}

export interface ControllerOptions {
  workers: number;
  log: Logger;
  metrics: ControllerMetrics;
}

export class Controller {
  private readonly reconcilers = new Map<string, Reconciler>();
  private running: Promise<void>[] = [];

  constructor(
    private readonly queue: WorkQueue,
    reconcilers: Reconciler[],
    private readonly options: ControllerOptions,
  ) {
    for (const r of reconcilers) this.reconcilers.set(r.kind, r);
  }

  enqueue(kind: string, namespace: string, name: string): void {
    this.queue.add(objectKey(kind, namespace, name));
    this.options.metrics.setQueueDepth(this.queue.length);
  }

  start(): void {
    for (let i = 0; i < this.options.workers; i++) this.running.push(this.work());
  }

  /** Stops taking keys and waits for the reconciles in flight. */
  async stop(): Promise<void> {
    await this.queue.shutDown();
    await Promise.all(this.running);
    this.running = [];
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.processKey(key);
      } finally {
        this.queue.done(key);
        this.options.metrics.setQueueDepth(this.queue.length);
      }
    }
  }

  private async processKey(key: string): Promise<void> {
    const { kind, namespace, name } = parseKey(key);
    const reconcileId = randomBytes(6).toString("hex");
    const log = this.options.log.child({ reconcileId, kind, namespace, name });
    const reconciler = this.reconcilers.get(kind);
    const started = performance.now();
    let result: ReconcileResult | void = undefined;
    let error: unknown;
    try {
      if (!reconciler) throw new TerminalError(`no reconciler for kind ${kind}`);
      result = await reconciler.reconcile({ namespace, name }, { reconcileId, log });
    } catch (caught) {
      error = caught ?? new Error("reconcile threw undefined");
    }
    const outcome = applyOutcome(this.queue, key, result, error);
    const seconds = (performance.now() - started) / 1000;
    this.options.metrics.observeReconcile(kind, outcome, seconds);
    if (error !== undefined) log.warn("reconcile failed", { outcome, error, failures: this.queue.failures(key) });
    else log.debug("reconciled", { outcome, seconds, requeueAfterMs: result?.requeueAfterMs });
  }
}

/**
 * Kubernetes Events recorded off the reconcile path, as client-go's EventRecorder does: a reconcile
 * hands its Events over and goes on. A new run's first reconcile made its calls one after the
 * other (finalizer, Secret, Job, status, then an Event per phase it passed), and with few workers
 * the next run's Job waited for all of them; now it waits for none of the Events. Up to
 * `concurrency` POSTs are in flight; past `maxPending`
 * waiting Events a new one is dropped, as client-go's broadcaster drops past its queue, so that a
 * slow API server holds neither a reconcile nor unbounded memory hostage to Events, which are
 * best effort. A failed POST is reported and not retried.
 */

export interface EventRecorderOptions<E> {
  send: (event: E) => Promise<unknown>;
  /** POSTs in flight at most. */
  concurrency: number;
  /** Events waiting to be sent at most; more are dropped. */
  maxPending: number;
  onError: (error: unknown, event: E) => void;
  onDrop: (event: E) => void;
}

export class EventRecorder<E> {
  private readonly pending: E[] = [];
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: EventRecorderOptions<E>) {}

  /** Queues the Event and returns at once. */
  record(event: E): void {
    if (this.pending.length >= this.options.maxPending) {
      this.options.onDrop(event);
      return;
    }
    this.pending.push(event);
    this.pump();
  }

  /** Forgets the Events not yet sent (a replica that lost the lease must not write); returns how many. */
  discardWaiting(): number {
    return this.pending.splice(0).length;
  }

  /** Resolves once nothing is waiting or in flight, or after `timeoutMs`, whichever comes first. */
  async drain(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0 && this.pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
  }

  private pump(): void {
    while (this.inFlight < this.options.concurrency && this.pending.length > 0) {
      const event = this.pending.shift()!;
      this.inFlight++;
      void this.options.send(event)
        .catch((error: unknown) => this.options.onError(error, event))
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && this.pending.length === 0) for (const idle of this.idleWaiters.splice(0)) idle();
        });
    }
  }
}

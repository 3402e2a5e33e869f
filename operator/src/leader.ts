/**
 * Leader election through a coordination.k8s.io Lease, the way client-go's leaderelection does it:
 *
 * - Expiry is judged by the local clock only: a candidate notes when it first saw the current
 *   Lease record (holder, renewTime, transitions) and takes over only after leaseDuration has
 *   passed on its own clock with no change. The other replica's timestamps are never compared
 *   with ours, so clock skew cannot make two leaders.
 * - Every API call has a timeout; a leader that has not renewed for renewDeadline (< leaseDuration)
 *   stops leading, and so stops its controllers and consumer, before any candidate can take over.
 * - `holds()` is the fence for writes: it is false as soon as the last successful renewal is older
 *   than renewDeadline by the local clock, even before the renew loop has noticed (a process that
 *   was frozen, e.g. SIGSTOP, and resumes must not write on the strength of an old renewal).
 */
import type { V1Lease } from "@kubernetes/client-node";
import { KubeApiError } from "./errors";
import type { Logger } from "./log";

export interface LeaseApi {
  get(namespace: string, name: string): Promise<V1Lease | undefined>;
  create(lease: V1Lease): Promise<V1Lease>;
  replace(lease: V1Lease): Promise<V1Lease>;
}

/**
 * A MicroTime as the API server parses it (six fractional digits). The client serializes a Date
 * with three, which the server refuses, so the value travels as a preformatted string.
 */
export function microTime(ms: number): Date {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z") as unknown as Date;
}

export type LeaseAction = "create" | "renew" | "takeover" | "wait";

/** What the Lease record says, as one comparable string: it changes whenever its holder renews. */
export function leaseRecord(lease: V1Lease | undefined): string {
  const spec = lease?.spec ?? {};
  return JSON.stringify([spec.holderIdentity ?? "", String(spec.renewTime ?? ""), String(spec.acquireTime ?? ""), spec.leaseTransitions ?? 0, spec.leaseDurationSeconds ?? 0]);
}

/**
 * What to do with the Lease, given when (by our clock) its current record was first observed.
 * Pure. A Lease whose record has not changed for its leaseDuration, as we observed it, is expired.
 */
export function leaseAction(lease: V1Lease | undefined, identity: string, now: number, observedSince: number): LeaseAction {
  if (!lease) return "create";
  const holder = lease.spec?.holderIdentity;
  if (holder === identity) return "renew";
  if (!holder) return "takeover";
  const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
  return observedSince + durationMs <= now ? "takeover" : "wait";
}

export interface LeaderElectorOptions {
  api: LeaseApi;
  namespace: string;
  name: string;
  identity: string;
  /** How long a candidate waits, on its own clock, for a Lease record to change before taking it over. */
  leaseDurationMs: number;
  /** How long a leader keeps leading without a successful renewal. Must be shorter than leaseDurationMs. */
  renewDeadlineMs: number;
  /** Time between tries, leading or not. */
  retryPeriodMs: number;
  /** Each Lease call is abandoned after this long (default: retryPeriodMs). */
  callTimeoutMs?: number;
  log: Logger;
  now?: () => number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaseTimeoutError extends Error {
  override name = "LeaseTimeoutError";
  constructor(
    readonly operation: string,
    readonly ms: number,
  ) {
    super(`${operation} of the leader Lease took longer than ${ms} ms`);
  }
}

function withTimeout<T>(operation: string, ms: number, call: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LeaseTimeoutError(operation, ms)), ms);
  });
  return Promise.race([call(), timeout]).finally(() => clearTimeout(timer));
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** Local time at which the last successful renewal was sent (a renewal lands no earlier). */
  private lastRenewal = 0;
  private observedRecord = "";
  private observedAt = 0;
  private readonly now: () => number;

  constructor(private readonly options: LeaderElectorOptions) {
    this.now = options.now ?? Date.now;
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = options;
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs && retryPeriodMs > 0)) {
      throw new RangeError(`leader election needs leaseDuration > renewDeadline > retryPeriod > 0, got ${leaseDurationMs} / ${renewDeadlineMs} / ${retryPeriodMs} ms`);
    }
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Whether this replica may write now: it leads and its last renewal is within renewDeadline. */
  holds(): boolean {
    return this.leading && this.now() - this.lastRenewal < this.options.renewDeadlineMs;
  }

  start(callbacks: LeaderCallbacks): void {
    const tick = async () => {
      if (this.stopped) return;
      await this.step(callbacks);
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.options.retryPeriodMs);
    };
    void tick();
  }

  /** Tries to take or keep the Lease once. */
  async step(callbacks: LeaderCallbacks): Promise<void> {
    const { api, namespace, name, identity, log } = this.options;
    const callTimeout = this.options.callTimeoutMs ?? this.options.retryPeriodMs;
    const started = this.now();
    try {
      const lease = await withTimeout("get", callTimeout, () => api.get(namespace, name));
      this.observe(lease);
      const action = leaseAction(lease, identity, this.now(), this.observedAt);
      if (action === "wait") return this.lose(callbacks, `${lease?.spec?.holderIdentity ?? "another replica"} holds the lease`);
      const time = microTime(started);
      const spec = {
        ...lease?.spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(this.options.leaseDurationMs / 1000),
        renewTime: time,
        acquireTime: action === "renew" ? (lease?.spec?.acquireTime ?? time) : time,
        leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (action === "takeover" ? 1 : 0),
      };
      const body = { metadata: { ...lease?.metadata, name, namespace }, spec };
      const written = action === "create" ? await withTimeout("create", callTimeout, () => api.create(body)) : await withTimeout("update", callTimeout, () => api.replace(body));
      // A renewal that came back after the deadline does not extend leadership: it is judged by when it was sent.
      if (this.leading && !this.holds()) return this.lose(callbacks, "renewal came back after the renew deadline");
      this.lastRenewal = started;
      this.observe(written);
      if (!this.leading) {
        this.leading = true;
        log.info("became leader", { lease: `${namespace}/${name}`, identity });
        callbacks.onStartedLeading();
      }
      this.armDeadline(callbacks);
    } catch (error) {
      const lostRace = error instanceof KubeApiError && (error.conflict || error.alreadyExists);
      if (!lostRace) log.warn("lease call failed", { error });
      if (this.leading && !this.holds()) this.lose(callbacks, "could not renew the lease within the renew deadline");
    }
  }

  private observe(lease: V1Lease | undefined): void {
    const record = leaseRecord(lease);
    if (record === this.observedRecord) return;
    this.observedRecord = record;
    this.observedAt = this.now();
  }

  /** Stops leading at the renew deadline even if the renew loop is stuck. */
  private armDeadline(callbacks: LeaderCallbacks): void {
    clearTimeout(this.deadlineTimer);
    const left = this.lastRenewal + this.options.renewDeadlineMs - this.now();
    this.deadlineTimer = setTimeout(() => {
      if (this.leading && !this.holds()) this.lose(callbacks, "no renewal within the renew deadline");
    }, Math.max(0, left));
    this.deadlineTimer.unref();
  }

  private lose(callbacks: LeaderCallbacks, why: string): void {
    if (!this.leading) return;
    this.leading = false;
    clearTimeout(this.deadlineTimer);
    this.options.log.warn("stopped leading", { why });
    callbacks.onStoppedLeading();
  }

  /** Stops electing; a leader that still holds the Lease gives it up so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadlineTimer);
    if (!this.leading) return;
    const holds = this.holds();
    this.leading = false;
    if (!holds) return;
    const { api, namespace, name, identity } = this.options;
    const callTimeout = this.options.callTimeoutMs ?? this.options.retryPeriodMs;
    try {
      const lease = await withTimeout("get", callTimeout, () => api.get(namespace, name));
      if (lease?.spec?.holderIdentity === identity) {
        await withTimeout("release", callTimeout, () => api.replace({ ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1 } }));
      }
    } catch (error) {
      this.options.log.warn("releasing the lease failed", { error });
    }
  }
}

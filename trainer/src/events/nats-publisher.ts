/**
 * Publishes trainer events to JetStream without ever holding up the training loop.
 *
 * `emit` only appends to an in-memory queue; one background pump publishes the queue head, in
 * order, with `msgID = <run uid>/<attempt>/<seq>` and waits for its PubAck before moving on. When
 * NATS is down or unreachable the pump keeps the events, retries with exponential backoff and
 * reconnects; when the server comes back the backlog is replayed in order. A retried publish whose
 * first attempt did reach the stream is dropped by JetStream's duplicate window, so the stream
 * ends up holding every event exactly once. The queue is bounded: past `maxQueue` the oldest
 * unsent events are dropped, counted and logged (events.jsonl still has them all).
 */
import {
  eventMessageId,
  eventSubject,
  STREAM_NAME,
  STREAM_SUBJECTS,
  type TrainerEvent,
} from "@autoclint/api";
import {
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  StorageType,
  type JetStreamClient,
} from "@nats-io/jetstream";
import { connect, credsAuthenticator, nanos, type NatsConnection } from "@nats-io/transport-node";

/**
 * Who owns the AUTOCLINT stream.
 *  - "ensure": the trainer creates the stream when it is missing (file storage, `duplicateWindowMs`)
 *    and leaves an existing one as it is. For local runs and dev clusters. When the identity may
 *    not create streams, the trainer says so once and carries on publishing.
 *  - "publish-only": the trainer never touches stream configuration (in a cluster the Helm chart
 *    or operator creates it, and the trainer's NATS user may only publish). Until the stream
 *    exists, publishes fail and events wait in the queue.
 */
export type StreamSetup = "ensure" | "publish-only";

export interface EventLogger {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * A per-attempt NATS identity (the operator's issueTrainerCredential): a `.creds` file's text and the
 * inbox prefix it may subscribe under (JetStream's publish acks come back there).
 */
export interface NatsCredentials {
  creds: string;
  inboxPrefix: string;
}

/** Opens one NATS connection; injected so tests (and other transports) can replace it. */
export type NatsConnector = (options: { servers: string[]; name: string; timeoutMs: number; credentials?: NatsCredentials }) => Promise<NatsConnection>;

export interface NatsPublisherOptions {
  servers: string | string[];
  stream: StreamSetup;
  logger: EventLogger;
  /** JetStream duplicate window when the trainer creates the stream (default 2 min). */
  duplicateWindowMs?: number;
  /** Most events kept while NATS is unreachable (default 10,000). */
  maxQueue?: number;
  /** Retry delays: starts at initialMs, doubles up to maxMs (default 250 ms .. 10 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** How long one publish waits for its PubAck (default 5 s). */
  publishTimeoutMs?: number;
  connectTimeoutMs?: number;
  connectionName?: string;
  /** Connect as this identity; it may only publish, so the stream is never touched ("publish-only"). */
  credentials?: NatsCredentials;
  connector?: NatsConnector;
}

export interface PublisherStats {
  /** Events stored by JetStream on this publisher's behalf. */
  published: number;
  /** Events JetStream reported as duplicates (already stored by an earlier attempt). */
  duplicates: number;
  /** Events waiting to be published. */
  pending: number;
  /** Events dropped because the queue was full. */
  dropped: number;
  /** Failed publish or connect attempts. */
  failures: number;
  connected: boolean;
}

export interface PublisherReport extends PublisherStats {
  /** Sequence numbers of the events that never reached JetStream (queued at close). */
  undeliveredSeqs: number[];
}

const DEFAULTS = {
  duplicateWindowMs: 120_000,
  maxQueue: 10_000,
  backoff: { initialMs: 250, maxMs: 10_000 },
  publishTimeoutMs: 5_000,
  connectTimeoutMs: 5_000,
};

/** The real connector: one plain connection, no client-side reconnect (the pump reconnects). */
export const connectNats: NatsConnector = ({ servers, name, timeoutMs, credentials }) =>
  connect({
    servers, name, timeout: timeoutMs, reconnect: false,
    ...(credentials ? { authenticator: credsAuthenticator(new TextEncoder().encode(credentials.creds)), inboxPrefix: credentials.inboxPrefix } : {}),
  });

/** A wake-up call for the pump: resolves on notify() or after ms. */
class Signal {
  private resolve: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  wait(ms?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.resolve = resolve;
      if (ms !== undefined) this.timer = setTimeout(() => this.notify(), ms);
    });
  }

  notify(): void {
    clearTimeout(this.timer);
    const resolve = this.resolve;
    this.resolve = undefined;
    resolve?.();
  }
}

function message(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export class NatsEventPublisher {
  private readonly servers: string[];
  private readonly settings: typeof DEFAULTS;
  private readonly connector: NatsConnector;
  private readonly queue: TrainerEvent[] = [];
  /** Wakes the idle pump when an event arrives or close() begins. */
  private readonly arrival = new Signal();
  /** Cuts a backoff sleep short; only when close() gives up. */
  private readonly interrupt = new Signal();
  private readonly pumpDone: Promise<void>;
  private connection: NatsConnection | undefined;
  private client: JetStreamClient | undefined;
  private inFlight: TrainerEvent | undefined;
  private closing = false;
  private abandoned = false;
  private lastFailure: string | undefined;
  private readonly counters = { published: 0, duplicates: 0, dropped: 0, failures: 0 };

  constructor(private readonly options: NatsPublisherOptions) {
    this.servers = Array.isArray(options.servers) ? options.servers : [options.servers];
    this.settings = {
      duplicateWindowMs: options.duplicateWindowMs ?? DEFAULTS.duplicateWindowMs,
      maxQueue: Math.max(1, options.maxQueue ?? DEFAULTS.maxQueue),
      backoff: options.backoff ?? DEFAULTS.backoff,
      publishTimeoutMs: options.publishTimeoutMs ?? DEFAULTS.publishTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    };
    this.connector = options.connector ?? connectNats;
    this.pumpDone = this.pump().catch((error: unknown) => {
      this.options.logger.warn(`event publisher stopped unexpectedly: ${message(error)}`);
    });
  }

  /** Queues an event for JetStream; returns at once. */
  publish(event: TrainerEvent): void {
    if (this.closing) throw new Error("event publisher is closed");
    this.queue.push(event);
    if (this.queue.length > this.settings.maxQueue) this.dropOldest();
    this.arrival.notify();
  }

  stats(): PublisherStats {
    return {
      ...this.counters,
      pending: this.queue.length,
      connected: this.connection !== undefined && !this.connection.isClosed(),
    };
  }

  /**
   * Stops accepting events, waits up to timeoutMs for the backlog to reach JetStream, then
   * closes the connection. The report says what could not be delivered (and it is logged).
   */
  async close(timeoutMs = 10_000): Promise<PublisherReport> {
    this.closing = true;
    this.arrival.notify();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), timeoutMs)));
    const outcome = await Promise.race([this.pumpDone.then(() => "drained" as const), deadline]);
    clearTimeout(timer);
    if (outcome === "late") {
      this.abandoned = true;
      this.interrupt.notify();
    }
    await this.disconnect();
    await this.pumpDone;
    const report: PublisherReport = { ...this.stats(), connected: false, undeliveredSeqs: this.queue.map((e) => e.seq) };
    if (report.pending > 0 || report.dropped > 0) {
      this.options.logger.warn(
        `NATS: ${report.pending} event(s) not delivered after ${timeoutMs} ms` +
          (report.dropped > 0 ? ` and ${report.dropped} dropped from a full queue` : "") +
          "; events.jsonl has every event",
      );
    }
    return report;
  }

  // ----------------------------------------------------------------------------------------------

  private dropOldest(): void {
    // The head may be on the wire right now; it stays, the next oldest goes.
    const index = this.inFlight !== undefined && this.queue[0] === this.inFlight ? 1 : 0;
    this.queue.splice(index, 1);
    this.counters.dropped++;
    if (this.counters.dropped === 1 || this.counters.dropped % 1000 === 0) {
      this.options.logger.warn(
        `NATS event queue full (${this.settings.maxQueue}): dropped ${this.counters.dropped} oldest unsent event(s) so far; events.jsonl keeps them`,
      );
    }
  }

  private async pump(): Promise<void> {
    let delayMs = this.settings.backoff.initialMs;
    while (!this.abandoned) {
      const event = this.queue[0];
      if (event === undefined) {
        if (this.closing) return;
        await this.arrival.wait();
        continue;
      }
      try {
        await this.send(event);
        delayMs = this.settings.backoff.initialMs;
      } catch (error) {
        this.onFailure(error);
        if (this.abandoned) return;
        await this.interrupt.wait(delayMs);
        delayMs = Math.min(delayMs * 2, this.settings.backoff.maxMs);
      }
    }
  }

  private async send(event: TrainerEvent): Promise<void> {
    const js = await this.jetstream();
    this.inFlight = event;
    try {
      const ack = await js.publish(eventSubject(event.run, event.type), JSON.stringify(event), {
        msgID: eventMessageId(event),
        timeout: this.settings.publishTimeoutMs,
      });
      if (ack.duplicate) this.counters.duplicates++;
      else this.counters.published++;
    } finally {
      this.inFlight = undefined;
    }
    if (this.queue[0] === event) this.queue.shift();
    if (this.lastFailure !== undefined) {
      this.options.logger.info(`NATS: publishing again; ${this.queue.length} queued event(s) left to replay`);
      this.lastFailure = undefined;
    }
  }

  private onFailure(error: unknown): void {
    this.counters.failures++;
    const text = message(error);
    if (text !== this.lastFailure && !this.abandoned) {
      this.options.logger.warn(
        `NATS publish failed (${text}); keeping ${this.queue.length} event(s) queued and retrying with backoff`,
      );
    }
    this.lastFailure = text;
    if (this.connection?.isClosed()) {
      this.connection = undefined;
      this.client = undefined;
    }
  }

  private async jetstream(): Promise<JetStreamClient> {
    if (this.client && this.connection && !this.connection.isClosed()) return this.client;
    const connection = await this.connector({
      servers: this.servers,
      name: this.options.connectionName ?? "autoclint-trainer",
      timeoutMs: this.settings.connectTimeoutMs,
      ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
    });
    if (this.abandoned) {
      await connection.close();
      throw new Error("event publisher closed while connecting");
    }
    this.connection = connection;
    if (this.options.stream === "ensure" && !this.options.credentials) await this.ensureStream(connection);
    this.client = jetstream(connection);
    return this.client;
  }

  /** Creates the AUTOCLINT stream when it is missing; an existing stream is left as it is. */
  private async ensureStream(connection: NatsConnection): Promise<void> {
    const jsm = await jetstreamManager(connection, { timeout: this.settings.publishTimeoutMs });
    try {
      await jsm.streams.info(STREAM_NAME);
      return;
    } catch (error) {
      const missing = error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound;
      if (!missing) throw error;
    }
    try {
      await jsm.streams.add({
        name: STREAM_NAME,
        subjects: [...STREAM_SUBJECTS],
        storage: StorageType.File,
        duplicate_window: nanos(this.settings.duplicateWindowMs),
      });
      this.options.logger.info(`NATS: created JetStream stream ${STREAM_NAME} over ${STREAM_SUBJECTS.join(", ")}`);
    } catch (error) {
      // Not allowed to create it (or raced another creator): publishing will tell whether it exists.
      this.options.logger.warn(`NATS: could not create stream ${STREAM_NAME} (${message(error)}); publishing anyway`);
    }
  }

  private async disconnect(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.client = undefined;
    if (connection && !connection.isClosed()) await connection.close().catch(() => undefined);
  }
}

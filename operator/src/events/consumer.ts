/**
 * The trainer-event consumer: a durable JetStream pull consumer with explicit acks on the AUTOCLINT
 * stream. Each event is folded into its run's state (deduplicated, see fold.ts) and the run's status
 * is written through the status subresource before the message is acked, so an event is never
 * acked unapplied; a failed write is retried with its messages still unacked, and a redelivery is
 * harmless.
 *
 * Throughput: messages are pulled in batches and folded as they come, different runs in parallel
 * (one run's events strictly in stream order, queued behind its first read of the run); each run's
 * events within `coalesceMs` become one status write, and up to `maxAckPending` events may wait
 * on their run's write at once (the JetStream consumer delivers no more until some are acked).
 */
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, StorageType, type ConsumerMessages, type JetStreamManager, type JsMsg,
} from "@nats-io/jetstream";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import {
  STREAM_NAME, STREAM_SUBJECTS, SUBJECT_ROOT, TrainerEvent, parseEventSubject, runSubjects, type AutoClintRun,
} from "@autoclint/api";
import type { Logger } from "../log";
import type { EventOutcome, ForgeryReason, OperatorMetrics } from "../metrics";
import { patchOwnedStatus, type StatusPatcher } from "../reconcile/status";
import { foldEvent, foldFromStatus, statusOfFold, type RunFold } from "./fold";

const DEFAULT_KEEP_TRIALS = 5;
/** Delivered, unacked events at most. Acks wait on status writes: throughput is at most this per write cycle. */
export const DEFAULT_MAX_ACK_PENDING = 20_000;
/** Messages one pull asks for. */
const PULL_BATCH = 512;
/** The schema check of every event, compiled once (TypeBox's Value.Check interprets the schema per call). */
const trainerEventCheck = TypeCompiler.Compile(TrainerEvent);
export const DEFAULT_STREAM_MAX_AGE_MS = 7 * 86_400_000;
export const DEFAULT_STREAM_MAX_BYTES = 1024 ** 3;

export interface EventConsumerOptions {
  natsUrl: string;
  /**
   * The operator's own NATS credential (a `.creds` text, credentials.ts), asked for at each start;
   * undefined connects without one (a NATS without authentication).
   */
  credentials?: () => string | undefined;
  /** Durable consumer name: survives operator restarts (acked events are not delivered again). */
  durable: string;
  stream?: string;
  subjects?: string[];
  /** JetStream's de-duplication window for message ids, used when the stream is created here. */
  duplicateWindowMs?: number;
  /** Events older than this leave the stream (default 7 days). */
  streamMaxAgeMs?: number;
  /** The stream keeps at most this many bytes, dropping the oldest events (default 1 GiB). */
  streamMaxBytes?: number;
  /** How long an unacked message waits before redelivery. */
  ackWaitMs?: number;
  /** Delivered events not yet acked, at most (default DEFAULT_MAX_ACK_PENDING); an existing durable consumer is updated to it. */
  maxAckPending?: number;
  /** Delay before a failed status write, or a failed first read of a run, is tried again. */
  retryDelayMs?: number;
  /** How often the stream and the durable consumer are checked, and re-created when gone (default 5 s). */
  checkIntervalMs?: number;
  /**
   * A run's events arriving within this long go into one status write (each run on its own timer,
   * so runs are written in parallel). Messages are acked only after the write that holds them.
   */
  coalesceMs?: number;
  runs: StatusPatcher<AutoClintRun>;
  /**
   * The name of the run with this uid in the namespace, when known (the operator's run cache): an
   * event whose subject uid belongs to one run while its body names another is a forgery. Asked
   * only when the run the body names does not have the subject's uid.
   */
  runNameOfUid?: (namespace: string, uid: string) => string | undefined;
  metrics: Pick<OperatorMetrics, "countEvent" | "countForgedEvent" | "observeEventLag" | "setRunScores" | "countStatusWrite" | "countEventStoreRecreated">;
  log: Logger;
  now?: () => number;
}

interface PendingMessage {
  message: Pick<JsMsg, "ack" | "nak">;
  type: string;
  outcome: EventOutcome;
  /** Set for applied events: when the trainer sent it (for the lag histogram). */
  wallTime?: string;
}

interface RunEntry {
  fold: RunFold;
  /** The fold holds events the status does not have yet. */
  unwritten: boolean;
  /** The run as last read or written: its uid guards each patch, its status says what is already there. */
  stored: AutoClintRun;
  budgetSeconds: number;
  keepTrials: number;
  /** Messages folded in and not acked yet: acked once a status write holds them (a failed write is retried). */
  pending: PendingMessage[];
  flushTimer?: NodeJS.Timeout;
  flushing?: Promise<void>;
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

export class EventConsumer {
  private connection: NatsConnection | undefined;
  private manager: JetStreamManager | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly runs = new Map<string, RunEntry>();
  /** Per run: the last of its events being handled, so the next one waits its turn (different runs do not wait on each other). */
  private readonly runQueues = new Map<string, Promise<unknown>>();
  private stopped = false;
  /** The last check found the stream and the durable consumer, and messages are being pulled. */
  private healthy = false;
  private supervisor: Promise<void> | undefined;
  private readonly wake = { timer: undefined as NodeJS.Timeout | undefined, resolve: undefined as (() => void) | undefined };
  private readonly now: () => number;

  constructor(private readonly options: EventConsumerOptions) {
    this.now = options.now ?? Date.now;
  }

  get streamName(): string {
    return this.options.stream ?? STREAM_NAME;
  }

  get connected(): boolean {
    return this.connection !== undefined && !this.connection.isClosed();
  }

  /** Why events are not being consumed now, or undefined when they are (for /readyz). */
  get notConsumingReason(): string | undefined {
    if (!this.connected) return "not connected to NATS";
    if (!this.healthy) return `the event stream ${this.streamName} or its durable consumer ${this.options.durable} is missing or unreachable`;
    return undefined;
  }

  /** Connects (retrying until the server answers), makes sure stream and consumer exist, starts consuming. */
  async start(): Promise<void> {
    const { log } = this.options;
    const creds = this.options.credentials?.();
    this.connection = await connect({
      servers: this.options.natsUrl,
      ...(creds ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : {}),
      name: "autoclint-operator",
      waitOnFirstConnect: true,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
    });
    void this.watchConnection(this.connection);
    this.manager = await jetstreamManager(this.connection);
    await this.startConsuming(this.manager);
    this.supervisor = this.supervise(this.manager);
    log.info("consuming trainer events", { stream: this.streamName, durable: this.options.durable, server: this.options.natsUrl });
  }

  private async startConsuming(manager: JetStreamManager): Promise<void> {
    await this.ensureStream(manager);
    await this.ensureConsumer(manager);
    const consumer = await jetstream(this.connection!).consumers.get(this.streamName, this.options.durable);
    this.messages = await consumer.consume({ max_messages: PULL_BATCH });
    this.loop = this.consume(this.messages);
    this.healthy = true;
  }

  /**
   * Every checkIntervalMs: are the stream and the durable consumer still there? Someone (or a lost
   * store) may delete either; then both are made again and consumption restarts. Events the fold
   * already has come back as duplicates and change nothing.
   */
  private async supervise(manager: JetStreamManager): Promise<void> {
    while (!this.stopped) {
      await new Promise<void>((resolve) => {
        this.wake.resolve = resolve;
        this.wake.timer = setTimeout(resolve, this.options.checkIntervalMs ?? 5000);
      });
      if (this.stopped) return;
      try {
        await manager.consumers.info(this.streamName, this.options.durable);
        this.healthy = true;
      } catch (error) {
        this.healthy = false;
        const gone = error instanceof JetStreamApiError && (error.code === JetStreamApiCodes.StreamNotFound || error.code === JetStreamApiCodes.ConsumerNotFound);
        if (!gone) continue; // disconnected or slow: the client reconnects; check again later
        this.options.log.warn("the event stream or the durable consumer is gone: re-creating them", { stream: this.streamName, durable: this.options.durable, error });
        await this.restartConsuming(manager).catch((failure: unknown) => this.options.log.warn("re-creating the event stream or consumer failed: retrying", { error: failure }));
      }
    }
  }

  private async restartConsuming(manager: JetStreamManager): Promise<void> {
    await this.messages?.close();
    await this.loop;
    if (this.stopped) return;
    await this.startConsuming(manager);
    this.options.metrics.countEventStoreRecreated();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.healthy = false;
    clearTimeout(this.wake.timer);
    this.wake.resolve?.();
    await this.supervisor;
    await this.messages?.close();
    await this.loop;
    await Promise.all(this.runQueues.values());
    // Write what was folded and ack it now, rather than leave it to a redelivery.
    await Promise.all([...this.runs].map(([key, entry]) => this.flush(key, entry)));
    // A write that failed even now is left to a redelivery to the next leader.
    for (const entry of this.runs.values()) clearTimeout(entry.flushTimer);
    const connection = this.connection;
    if (!connection || connection.isClosed()) return;
    // Drain flushes pending acks; it needs a server, so give up on it after a while and close.
    const drained = connection.drain().catch(() => undefined);
    const timeout = new Promise((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([drained, timeout]);
    if (!connection.isClosed()) await connection.close();
  }

  /**
   * A run is gone: forget its state and purge its events from the stream, by its uid's subjects
   * (a later run with the same name keeps its own). Returns how many events went.
   */
  async purgeRun(namespace: string, name: string, uid: string): Promise<number> {
    const key = `${namespace}/${name}`;
    const entry = this.runs.get(key);
    if (entry?.fold.uid === uid) {
      clearTimeout(entry.flushTimer);
      this.runs.delete(key);
    }
    if (!this.manager) throw new Error("not connected to NATS: cannot purge the run's events yet");
    let purged = 0;
    try {
      ({ purged } = await this.manager.streams.purge(this.streamName, { filter: runSubjects(namespace, uid) }));
    } catch (error) {
      // No stream, no events to purge (the supervisor re-creates it empty).
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
    }
    this.options.log.info("purged events of a deleted run", { namespace, name, uid, purged });
    return purged;
  }

  private async watchConnection(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      if (status.type === "disconnect" || status.type === "reconnect") this.options.log.warn(`nats ${status.type}`, { server: this.options.natsUrl });
    }
  }

  /**
   * Makes sure the stream exists and has the store limits, a backstop to purging: events older
   * than maxAge, or past maxBytes (oldest first), go. A stream someone else created without them
   * (a trainer's publisher may create it first) gets them.
   */
  private async ensureStream(manager: JetStreamManager): Promise<void> {
    const limits = {
      max_age: (this.options.streamMaxAgeMs ?? DEFAULT_STREAM_MAX_AGE_MS) * 1_000_000, // nanoseconds
      max_bytes: this.options.streamMaxBytes ?? DEFAULT_STREAM_MAX_BYTES,
    };
    let info;
    try {
      info = await manager.streams.info(this.streamName);
    } catch {
      await manager.streams.add({
        name: this.streamName,
        subjects: this.options.subjects ?? STREAM_SUBJECTS,
        storage: StorageType.File,
        duplicate_window: (this.options.duplicateWindowMs ?? 120_000) * 1_000_000, // nanoseconds
        ...limits,
      });
      this.options.log.info("created the event stream", { stream: this.streamName, ...limits });
      return;
    }
    if (info.config.max_age !== limits.max_age || info.config.max_bytes !== limits.max_bytes) {
      await manager.streams.update(this.streamName, { ...info.config, ...limits });
      this.options.log.info("set the event stream's limits", { stream: this.streamName, ...limits });
    }
  }

  /**
   * Makes sure the durable consumer exists and delivers in stream order from the first message not
   * acked. JetStream would redeliver a previous process's unacked messages only after ack_wait,
   * behind newer ones; a run's events must be folded in order (the ALC accumulator and the seq
   * watermark assume it), so a consumer with unacked messages is re-created at its ack floor.
   */
  private async ensureConsumer(manager: JetStreamManager): Promise<void> {
    const maxAckPending = this.options.maxAckPending ?? DEFAULT_MAX_ACK_PENDING;
    let startSeq: number | undefined;
    try {
      const info = await manager.consumers.info(this.streamName, this.options.durable);
      if (info.num_ack_pending === 0 && info.num_redelivered === 0) {
        if (info.config.max_ack_pending !== maxAckPending) await manager.consumers.update(this.streamName, this.options.durable, { max_ack_pending: maxAckPending });
        return;
      }
      startSeq = info.ack_floor.stream_seq + 1;
      await manager.consumers.delete(this.streamName, this.options.durable);
      this.options.log.info("re-created the durable consumer at its ack floor, so unacked events come back in order", { startSeq, unacked: info.num_ack_pending });
    } catch (error) {
      if (startSeq !== undefined) throw error; // the delete failed: start over
    }
    await manager.consumers.add(this.streamName, {
      durable_name: this.options.durable,
      ack_policy: AckPolicy.Explicit,
      ...(startSeq === undefined ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }),
      filter_subject: `${SUBJECT_ROOT}.>`,
      ack_wait: (this.options.ackWaitMs ?? 30_000) * 1_000_000,
      max_ack_pending: maxAckPending,
    });
  }

  private async consume(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        // Not awaited: the next message (maybe another run's) goes on while this one waits on its run.
        this.handle(message).catch((error: unknown) => {
          this.options.log.warn("event not applied yet: redelivering", { subject: message.subject, error });
          message.nak(this.options.retryDelayMs ?? 2000);
        });
        if (this.stopped) break;
      }
    } catch (error) {
      // The consumer or its stream went away under the pull: the supervisor re-creates them.
      this.healthy = false;
      this.options.log.warn("pulling events stopped", { error });
    }
  }

  /**
   * Checks one message and folds it into its run, after the run's earlier messages; it is queued
   * for the run's next status write, which acks it. A message that changes nothing and waits on no
   * write is acked now. Throws (and the caller naks) only when stopped before the run could be read.
   */
  async handle(message: Pick<JsMsg, "data" | "subject" | "ack" | "nak" | "term">): Promise<EventOutcome> {
    const event = parseJson(message.data);
    const subject = parseEventSubject(message.subject);
    if (!subject || !trainerEventCheck.Check(event)) {
      this.options.metrics.countEvent("unknown", "invalid");
      message.term("not a trainer event");
      return "invalid";
    }
    // The subject is what the publisher's credential allows: the body must claim no more.
    const { run } = event;
    if (run.namespace !== subject.namespace || run.uid !== subject.uid || run.attempt !== subject.attempt || event.type !== subject.type) return this.dropForged(message, event, "subject");
    const key = `${run.namespace}/${run.name}`;
    return this.inRunOrder(key, () => this.fold(key, event, message));
  }

  /** Runs `work` after every earlier work of the same run has settled. */
  private inRunOrder<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.runQueues.get(key);
    const result = previous ? previous.then(work) : work();
    const settled = result.then(() => undefined, () => undefined);
    this.runQueues.set(key, settled);
    void settled.then(() => {
      if (this.runQueues.get(key) === settled) this.runQueues.delete(key);
    });
    return result;
  }

  private async fold(key: string, event: TrainerEvent, message: Pick<JsMsg, "ack" | "nak" | "subject">): Promise<EventOutcome> {
    const { run } = event;
    const entry = await this.entryFor(key, event);
    if (typeof entry === "string") {
      // The named run does not have the subject's uid: a forgery when another live run has it.
      const owner = this.options.runNameOfUid?.(run.namespace, run.uid);
      if (owner !== undefined && owner !== run.name) return this.dropForged(message, event, "run");
      message.ack();
      this.options.metrics.countEvent(event.type, entry);
      return entry;
    }
    const { fold, outcome } = foldEvent(entry.fold, event, entry);
    if (outcome === "applied") {
      entry.fold = fold;
      entry.unwritten = true;
    }
    if (!entry.unwritten && entry.pending.length === 0) {
      message.ack();
      this.options.metrics.countEvent(event.type, outcome);
      return outcome;
    }
    const pending: PendingMessage = { message, type: event.type, outcome };
    if (outcome === "applied") pending.wallTime = event.wallTime;
    entry.pending.push(pending);
    this.scheduleFlush(key, entry);
    return outcome;
  }

  private dropForged(message: Pick<JsMsg, "ack" | "subject">, event: TrainerEvent, reason: ForgeryReason): "forged" {
    message.ack();
    this.options.metrics.countEvent(event.type, "forged");
    this.options.metrics.countForgedEvent(reason);
    this.options.log.warn("dropped a forged event", { subject: message.subject, reason, claims: event.run });
    return "forged";
  }

  /**
   * The run's fold, read from its status the first time; or why the event has no run to go to.
   * Called in the run's turn (inRunOrder), so no two reads of one run overlap.
   */
  private async entryFor(key: string, event: TrainerEvent): Promise<RunEntry | EventOutcome> {
    const known = this.runs.get(key);
    if (known && known.fold.uid === event.run.uid) return known;
    const entry = await this.load(event);
    if (typeof entry === "string") return entry;
    this.runs.set(key, entry);
    return entry;
  }

  /** Reads the run, again after a failure (its later events wait meanwhile: they must come after this one). */
  private async readRun(namespace: string, name: string): Promise<AutoClintRun | undefined> {
    for (;;) {
      try {
        return await this.options.runs.get(namespace, name);
      } catch (error) {
        if (this.stopped) throw error;
        this.options.log.warn("reading a run for its events failed: retrying", { run: `${namespace}/${name}`, error });
        await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs ?? 2000));
      }
    }
  }

  private async load(event: TrainerEvent): Promise<RunEntry | EventOutcome> {
    const run = await this.readRun(event.run.namespace, event.run.name);
    if (!run) return "orphaned";
    if (run.metadata.uid !== event.run.uid) return "stale";
    const fold = foldFromStatus(event.run.uid, run.status, run.spec.timeBudgetSeconds);
    return {
      fold,
      unwritten: false,
      stored: run,
      budgetSeconds: run.spec.timeBudgetSeconds,
      keepTrials: run.spec.augmentation?.keep ?? DEFAULT_KEEP_TRIALS,
      pending: [],
    };
  }

  private scheduleFlush(key: string, entry: RunEntry): void {
    if (entry.flushTimer || entry.flushing) return;
    entry.flushTimer = setTimeout(() => void this.flush(key, entry), this.options.coalesceMs ?? 200);
  }

  /** One status write for everything the run's fold gained; then its messages are acked. */
  private async flush(key: string, entry: RunEntry): Promise<void> {
    clearTimeout(entry.flushTimer);
    entry.flushTimer = undefined;
    if (entry.flushing) return entry.flushing;
    entry.flushing = this.write(key, entry).finally(() => {
      entry.flushing = undefined;
      if (entry.pending.length > 0 && this.runs.get(key) === entry) this.scheduleFlush(key, entry);
    });
    return entry.flushing;
  }

  private async write(key: string, entry: RunEntry): Promise<void> {
    const batch = entry.pending.splice(0);
    const folded = entry.fold;
    const { namespace = "", name } = entry.stored.metadata;
    let written: AutoClintRun | undefined = entry.stored;
    if (entry.unwritten) {
      try {
        written = await patchOwnedStatus(this.options.runs, entry.stored, statusOfFold(folded));
        if (written !== entry.stored) this.options.metrics.countStatusWrite("events");
      } catch (error) {
        // Keep the fold and the messages (unacked) and write again later: a nak would have them
        // redelivered behind newer events of the run, out of order.
        entry.pending.unshift(...batch);
        this.options.log.warn("status write failed: retrying", { run: key, events: entry.pending.length, error });
        clearTimeout(entry.flushTimer);
        entry.flushTimer = setTimeout(() => void this.flush(key, entry), this.options.retryDelayMs ?? 2000);
        return;
      }
    }
    if (!written) {
      // The run is gone (or a new one has its name): its events have nowhere to go.
      if (this.runs.get(key) === entry) this.runs.delete(key);
      for (const { message, type } of batch) {
        message.ack();
        this.options.metrics.countEvent(type, "orphaned");
      }
      return;
    }
    entry.stored = written;
    // Events folded while this write was in flight stay unwritten.
    entry.unwritten = entry.fold !== folded;
    this.options.metrics.setRunScores(namespace, name, {
      alc: entry.fold.finalAlc ?? entry.fold.alc,
      nauc: entry.fold.nauc,
      elapsedSeconds: entry.fold.elapsedSeconds,
      imagesPerSecond: entry.fold.imagesPerSecond,
    });
    const now = this.now();
    for (const { message, type, outcome, wallTime } of batch) {
      message.ack();
      this.options.metrics.countEvent(type, outcome);
      if (wallTime) this.options.metrics.observeEventLag((now - Date.parse(wallTime)) / 1000);
    }
  }
}

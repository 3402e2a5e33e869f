/**
 * The trainer-event consumer: a durable JetStream pull consumer with explicit acks on the AUTOCLINT
 * stream. Each event is folded into its run's state (deduplicated, see fold.ts) and the run's status
 * is written through the status subresource before the message is acked, so an event is never
 * acked unapplied; a failed write naks it for redelivery, and redelivery is harmless.
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType, type ConsumerMessages, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { Value } from "@sinclair/typebox/value";
import {
  STREAM_NAME, STREAM_SUBJECTS, SUBJECT_ROOT, TrainerEvent, type AutoClintRun, type AutoClintRunStatus,
} from "@autoclint/api";
import type { Logger } from "../log";
import type { EventOutcome, OperatorMetrics } from "../metrics";
import { patchOwnedStatus, type StatusPatcher } from "../reconcile/status";
import { foldEvent, foldFromStatus, statusOfFold, type RunFold } from "./fold";

const DEFAULT_KEEP_TRIALS = 5;

export interface EventConsumerOptions {
  natsUrl: string;
  /** Durable consumer name: survives operator restarts (acked events are not delivered again). */
  durable: string;
  stream?: string;
  subjects?: string[];
  /** JetStream's de-duplication window for message ids, used when the stream is created here. */
  duplicateWindowMs?: number;
  /** How long an unacked message waits before redelivery. */
  ackWaitMs?: number;
  /** Delay before a message whose status write failed is delivered again. */
  retryDelayMs?: number;
  runs: StatusPatcher<AutoClintRun>;
  metrics: Pick<OperatorMetrics, "countEvent" | "observeEventLag" | "setRunScores">;
  log: Logger;
  now?: () => number;
}

interface RunEntry {
  fold: RunFold;
  /** The fold holds events the status does not have yet (a write failed). */
  unwritten: boolean;
  /** The run as last read or written: its uid guards each patch, its status says what is already there. */
  stored: AutoClintRun;
  budgetSeconds: number;
  keepTrials: number;
}

/** Subject filter for every event of one run. */
export function runSubjectFilter(namespace: string, name: string): string {
  return `${SUBJECT_ROOT}.${namespace}.${name}.>`;
}

export class EventConsumer {
  private connection: NatsConnection | undefined;
  private manager: JetStreamManager | undefined;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly runs = new Map<string, RunEntry>();
  private stopped = false;
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

  /** Connects (retrying until the server answers), makes sure stream and consumer exist, starts consuming. */
  async start(): Promise<void> {
    const { log } = this.options;
    this.connection = await connect({
      servers: this.options.natsUrl,
      name: "autoclint-operator",
      waitOnFirstConnect: true,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
    });
    void this.watchConnection(this.connection);
    this.manager = await jetstreamManager(this.connection);
    await this.ensureStream(this.manager);
    await this.ensureConsumer(this.manager);
    const consumer = await jetstream(this.connection).consumers.get(this.streamName, this.options.durable);
    this.messages = await consumer.consume({ max_messages: 64 });
    this.loop = this.consume(this.messages);
    log.info("consuming trainer events", { stream: this.streamName, durable: this.options.durable, server: this.options.natsUrl });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
    await this.loop;
    const connection = this.connection;
    if (!connection || connection.isClosed()) return;
    // Drain flushes pending acks; it needs a server, so give up on it after a while and close.
    const drained = connection.drain().catch(() => undefined);
    const timeout = new Promise((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([drained, timeout]);
    if (!connection.isClosed()) await connection.close();
  }

  /** A run is gone: forget its state and purge its events from the stream. */
  async purgeRun(namespace: string, name: string): Promise<void> {
    this.runs.delete(`${namespace}/${name}`);
    if (!this.manager) return;
    const response = await this.manager.streams.purge(this.streamName, { filter: runSubjectFilter(namespace, name) });
    this.options.log.info("purged events of a deleted run", { namespace, name, purged: response.purged });
  }

  private async watchConnection(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      if (status.type === "disconnect" || status.type === "reconnect") this.options.log.warn(`nats ${status.type}`, { server: this.options.natsUrl });
    }
  }

  private async ensureStream(manager: JetStreamManager): Promise<void> {
    try {
      await manager.streams.info(this.streamName);
    } catch {
      await manager.streams.add({
        name: this.streamName,
        subjects: this.options.subjects ?? STREAM_SUBJECTS,
        storage: StorageType.File,
        duplicate_window: (this.options.duplicateWindowMs ?? 120_000) * 1_000_000, // nanoseconds
      });
      this.options.log.info("created the event stream", { stream: this.streamName });
    }
  }

  private async ensureConsumer(manager: JetStreamManager): Promise<void> {
    try {
      await manager.consumers.info(this.streamName, this.options.durable);
    } catch {
      await manager.consumers.add(this.streamName, {
        durable_name: this.options.durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${SUBJECT_ROOT}.>`,
        ack_wait: (this.options.ackWaitMs ?? 30_000) * 1_000_000,
        max_ack_pending: 1000,
      });
    }
  }

  private async consume(messages: ConsumerMessages): Promise<void> {
    for await (const message of messages) {
      try {
        await this.handle(message);
      } catch (error) {
        this.options.log.warn("event not applied yet: redelivering", { subject: message.subject, error });
        message.nak(this.options.retryDelayMs ?? 2000);
      }
      if (this.stopped) break;
    }
  }

  /** Applies one message, then acks it; throws (and the caller naks) when the status write fails. */
  async handle(message: Pick<JsMsg, "data" | "subject" | "ack" | "term">): Promise<EventOutcome> {
    let event: TrainerEvent;
    try {
      event = JSON.parse(new TextDecoder().decode(message.data)) as TrainerEvent;
    } catch {
      event = undefined as unknown as TrainerEvent;
    }
    if (!event || !Value.Check(TrainerEvent, event)) {
      this.options.metrics.countEvent("unknown", "invalid");
      message.term("not a trainer event");
      return "invalid";
    }
    const outcome = await this.apply(event);
    message.ack();
    this.options.metrics.countEvent(event.type, outcome);
    return outcome;
  }

  private async apply(event: TrainerEvent): Promise<EventOutcome> {
    const { namespace, name } = event.run;
    const key = `${namespace}/${name}`;
    let entry = this.runs.get(key);
    if (!entry || entry.fold.uid !== event.run.uid) {
      const run = await this.options.runs.get(namespace, name);
      if (!run) return "orphaned";
      if (run.metadata.uid !== event.run.uid) return "stale";
      entry = {
        fold: foldFromStatus(event.run.uid, run.status),
        unwritten: false,
        stored: run,
        budgetSeconds: run.spec.timeBudgetSeconds,
        keepTrials: run.spec.augmentation?.keep ?? DEFAULT_KEEP_TRIALS,
      };
      this.runs.set(key, entry);
    }
    const { fold, outcome } = foldEvent(entry.fold, event, entry);
    if (outcome === "applied") {
      entry.fold = fold;
      entry.unwritten = true;
    }
    if (entry.unwritten) {
      const written = await patchOwnedStatus(this.options.runs, entry.stored, statusOfFold(entry.fold));
      if (!written) {
        this.runs.delete(key);
        return "orphaned";
      }
      entry.stored = written;
      entry.unwritten = false;
      this.options.metrics.setRunScores(namespace, name, {
        alc: entry.fold.finalAlc ?? entry.fold.alc,
        nauc: entry.fold.nauc,
        elapsedSeconds: entry.fold.elapsedSeconds,
        imagesPerSecond: entry.fold.imagesPerSecond,
      });
    }
    if (outcome === "applied") this.options.metrics.observeEventLag((this.now() - Date.parse(event.wallTime)) / 1000);
    return outcome;
  }

}

/**
 * Everything a run leaves behind, behind one handle: the event stream (events.jsonl, and NATS
 * JetStream when a URL is given), the AutoDL prediction files with start.txt/end.txt, and the
 * learning-curve picture.
 */
import type { EventType } from "@autoclint/api";
import { AutodlPredictionWriter } from "../autodl/index";
import { createEventSink, EventFactory, type EventPayload, type RunIdentity, type StampOptions } from "../events/index";
import type { NatsCredentials } from "../events/index";
import { renderLearningCurve, type LearningCurveInput } from "../report/learning-curve";
import type { PredictionSink } from "./test-scorer";

export interface RunOutputsOptions {
  outDir: string;
  task: string;
  budget: number;
  run: RunIdentity;
  /** Epoch milliseconds at which the trainer started. */
  startedAtMs: number;
  /** Seconds since the trainer started. */
  now(): number;
  natsUrl?: string;
  /** The attempt's NATS identity (cluster runs); without it the connection is anonymous. */
  natsCredentials?: NatsCredentials;
  log(line: string): void;
}

export interface RunOutputs {
  emit<K extends EventType>(type: K, payload: EventPayload<K>, stamp?: StampOptions): void;
  predictions: PredictionSink;
  plot(input: LearningCurveInput, pngPath: string): Promise<void>;
  close(success: boolean): Promise<void>;
}

export async function openRunOutputs(options: RunOutputsOptions): Promise<RunOutputs> {
  const factory = new EventFactory({ run: options.run, startedAtMs: options.startedAtMs, clock: () => options.startedAtMs + options.now() * 1000 });
  const sink = createEventSink({
    outDir: options.outDir,
    logger: { info: (m) => options.log(`[events] ${m}`), warn: (m) => options.log(`[events] warning: ${m}`) },
    ...(options.natsUrl
      ? { nats: { servers: options.natsUrl.split(","), stream: "ensure" as const, ...(options.natsCredentials ? { credentials: options.natsCredentials } : {}) } }
      : {}),
  });
  const writer = await AutodlPredictionWriter.create({
    dir: options.outDir,
    task: options.task,
    timeBudgetSeconds: options.budget,
    startEpochSeconds: options.startedAtMs / 1000,
    now: options.now,
  });
  return {
    emit: (type, payload, stamp) => sink.emit(factory.make(type, payload, stamp)),
    predictions: { write: async (index, rows) => (await writer.write(rows, { index })).atSeconds },
    plot: async (input, pngPath) => {
      await renderLearningCurve(input, pngPath);
    },
    async close(success) {
      await writer.finish({ success });
      const report = await sink.close();
      if (report.undeliveredSeqs.length > 0) {
        options.log(`[events] ${report.undeliveredSeqs.length} events not delivered to NATS (all are in ${report.eventsFile})`);
      }
    },
  };
}

/**
 * The event consumer alone, without the API server: RATE trainer events per second, spread evenly
 * over RUNS runs for SECONDS, published to a real nats-server's JetStream and folded by the real
 * EventConsumer into an in-memory run store. The store is a FAKE of the API server's status
 * subresource: each read and each status write takes WRITE_MS, nothing else (its JSON goes through
 * a serialize/parse round trip as on the wire). It separates the consumer's own limits (pulls,
 * acks, folding, coalescing) from the API server's: bench/events-latency.ts measures the two together.
 *
 * Latency: from the publish call to the fake write whose status holds the event. Prints one JSON line.
 *   node --import tsx bench/events-consumer.ts [rate=1000] [runs=100] [seconds=20] [writeMs=50] [consumer module]
 * The consumer module defaults to operator/src/events/consumer.ts (give an older copy to compare).
 */
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { STREAM_NAME, eventMessageId, eventSubject, type AutoClintRun, type NaucEvent } from "@autoclint/api";
import { startNatsServer } from "@autoclint/api/testing";
import { silentLogger } from "../operator/src/log";
import { OperatorMetrics } from "../operator/src/metrics";
import type { EventConsumer as Consumer } from "../operator/src/events/consumer";
import { ROOT, machine, sleep } from "./local-operator";

const RATE = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.argv[3] ?? 100);
const SECONDS = Number(process.argv[4] ?? 20);
const WRITE_MS = Number(process.argv[5] ?? 50);
const MODULE = process.argv[6] ?? join(ROOT, "operator", "src", "events", "consumer.ts");
const NS = "bench";
const DRAIN_LIMIT_MS = 120_000;

interface Track {
  uid: string;
  sentAt: number[];
  /** Highest seq a fake write held. */
  writtenSeq: number;
  run: AutoClintRun;
}

const tracks = new Map<string, Track>();
const latencies: number[] = [];
let writes = 0;

/** The FAKE API server: the run's status subresource as a merge of top-level fields, WRITE_MS per call. */
const fakeRuns = {
  async get(_namespace: string, name: string): Promise<AutoClintRun | undefined> {
    await sleep(WRITE_MS);
    return structuredClone(tracks.get(name)?.run);
  },
  async patchStatus(_namespace: string, name: string, _uid: string, patch: Record<string, unknown>): Promise<AutoClintRun> {
    const body = JSON.parse(JSON.stringify(patch)) as Record<string, unknown>;
    await sleep(WRITE_MS);
    const track = tracks.get(name)!;
    const { run } = track;
    track.run = { ...run, status: { ...run.status, ...body }, metadata: { ...run.metadata, resourceVersion: String(Number(run.metadata.resourceVersion) + 1) } };
    writes++;
    const seq = track.run.status?.events?.seq ?? -1;
    const now = performance.now();
    for (let s = track.writtenSeq + 1; s <= seq; s++) latencies.push(now - track.sentAt[s]!);
    track.writtenSeq = Math.max(track.writtenSeq, seq);
    return JSON.parse(JSON.stringify(track.run)) as AutoClintRun;
  },
};

function event(name: string, track: Track, started: number): NaucEvent {
  const seq = track.sentAt.length;
  return {
    version: 1, type: "nauc", run: { namespace: NS, name, uid: track.uid, attempt: 0 }, seq,
    elapsedSeconds: 1 + (performance.now() - started) / 1000, wallTime: new Date().toISOString(), split: "test",
    nauc: 0.9 * (1 - Math.exp(-seq / 100)), epoch: seq, lr: 0.025, imagesPerSecond: 1000,
  };
}

async function main(): Promise<void> {
  for (let i = 0; i < RUNS; i++) {
    const name = `run-${i}`;
    const run = {
      apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name, namespace: NS, uid: `uid-${i}`, resourceVersion: "1" },
      spec: { dataset: { source: { url: "https://datasets.example/d.tar" } }, timeBudgetSeconds: 3600 }, status: { phase: "Running" },
    } as AutoClintRun;
    tracks.set(name, { uid: `uid-${i}`, sentAt: [], writtenSeq: -1, run });
  }
  const { EventConsumer } = (await import(MODULE)) as { EventConsumer: typeof Consumer };
  const server = await startNatsServer();
  const consumer = new EventConsumer({ natsUrl: server.url, durable: "bench", runs: fakeRuns, metrics: new OperatorMetrics({ processMetrics: false }), log: silentLogger });
  await consumer.start();
  const connection = await connect({ servers: server.url });
  const js = jetstream(connection);
  const names = [...tracks.keys()];
  const inFlight = new Set<Promise<unknown>>();
  const total = RATE * SECONDS;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  let published = 0;
  while (published < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * RATE));
    while (published < due && inFlight.size < 5000) {
      const name = names[published % names.length]!;
      const track = tracks.get(name)!;
      const e = event(name, track, started);
      track.sentAt.push(performance.now());
      const ack = js.publish(eventSubject(e.run, "nauc"), JSON.stringify(e), { msgID: eventMessageId(e), timeout: 30_000 }).finally(() => inFlight.delete(ack));
      inFlight.add(ack);
      published++;
    }
    await sleep(published < due ? 0 : 2);
  }
  await Promise.all(inFlight);
  const publishSeconds = (performance.now() - started) / 1000;
  const info = await (await jetstreamManager(connection)).consumers.info(STREAM_NAME, "bench");
  for (let waited = 0; latencies.length < total && waited < DRAIN_LIMIT_MS; waited += 100) await sleep(100);
  const drainedSeconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = [...latencies].sort((a, b) => a - b);
  const ms = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN);
  process.stdout.write(`${JSON.stringify({
    module: MODULE, rate: RATE, runs: RUNS, seconds: SECONDS, fakeWriteMs: WRITE_MS, published, publishSeconds: Number(publishSeconds.toFixed(1)),
    atLastPublish: { undelivered: info.num_pending, unacked: info.num_ack_pending, maxAckPending: info.config.max_ack_pending },
    inStatus: latencies.length, drainedSeconds: Number(drainedSeconds.toFixed(1)), latencyMs: { p50: ms(0.5), p99: ms(0.99), max: ms(1) },
    writes, writesPerEvent: Number((writes / published).toFixed(3)),
    cpuSecondsOfThisProcess: Number(((cpu.user + cpu.system) / 1e6).toFixed(1)), machine: machine(),
  })}\n`);
  await consumer.stop();
  await connection.close();
  await server.dispose();
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`events-consumer: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

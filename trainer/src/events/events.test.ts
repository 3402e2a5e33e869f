import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventMessageId, eventSubject, STREAM_NAME, type TrainerEvent } from "@autoclint/api";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { EventFactory, type RunIdentity } from "./factory";
import { NatsEventPublisher, type EventLogger } from "./nats-publisher";
import { startNatsServer, type TestNatsServer } from "@autoclint/api/testing";
import { createEventSink } from "./sink";

const FAST_BACKOFF = { initialMs: 50, maxMs: 400 };

function recordingLogger(): EventLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) };
}

let runCounter = 0;
function uniqueRun(): RunIdentity {
  runCounter++;
  return { namespace: "ns", name: `run-${process.pid}-${runCounter}`, uid: `uid-${process.pid}-${runCounter}`, attempt: 0 };
}

function naucEvents(factory: EventFactory, count: number): TrainerEvent[] {
  return Array.from({ length: count }, (_, i) =>
    factory.make("nauc", { split: "test", nauc: i / count, epoch: i, lr: 0.025, imagesPerSecond: 100 }),
  );
}

async function storedEvents(url: string, run: RunIdentity): Promise<{ subject: string; msgId: string; event: TrainerEvent }[]> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(STREAM_NAME);
    assert.equal(info.config.storage, "file");
    assert.equal(info.config.duplicate_window, 120_000_000_000);
    const out: { subject: string; msgId: string; event: TrainerEvent }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const message = await jsm.streams.getMessage(STREAM_NAME, { seq });
      if (!message) continue;
      const event = message.json<TrainerEvent>();
      if (event.run.uid === run.uid) out.push({ subject: message.subject, msgId: message.header.get("Nats-Msg-Id"), event });
    }
    return out;
  } finally {
    await nc.close();
  }
}

void describe("EventFactory", () => {
  void it("stamps version, run, seq, elapsed seconds and wall time", () => {
    let now = 1_700_000_000_000;
    const run = { namespace: "default", name: "r", uid: "u", attempt: 2 };
    const factory = new EventFactory({ run, startedAtMs: now, clock: () => now });
    now += 1500;
    const first = factory.make("phase", { phase: "training" });
    const second = factory.make("nauc", { split: "test", nauc: 0.5, epoch: 1, lr: 0.1, imagesPerSecond: 10 }, { atSeconds: 3 });
    assert.deepEqual(first, {
      version: 1,
      type: "phase",
      run,
      seq: 0,
      elapsedSeconds: 1.5,
      wallTime: new Date(1_700_000_001_500).toISOString(),
      phase: "training",
    });
    assert.equal(second.seq, 1);
    assert.equal(second.elapsedSeconds, 3);
    assert.equal(second.wallTime, new Date(1_700_000_003_000).toISOString());
    assert.equal(eventMessageId(second), "u/2/1");
  });
});

void describe("EventSink without a reachable NATS", () => {
  void it("keeps a bounded queue, counts and logs what it drops, and reports the undelivered", async () => {
    const dir = mkdtempSync(join(tmpdir(), "autoclint-events-"));
    const logger = recordingLogger();
    const factory = new EventFactory({ run: uniqueRun(), startedAtMs: 0, clock: () => 0 });
    // Port 1 on loopback: connection refused at once.
    const sink = createEventSink({
      outDir: dir,
      logger,
      nats: { servers: "nats://127.0.0.1:1", stream: "ensure", maxQueue: 3, backoff: FAST_BACKOFF, connectTimeoutMs: 200 },
    });
    const started = Date.now();
    for (const event of naucEvents(factory, 5)) sink.emit(event);
    assert.ok(Date.now() - started < 50, "emit must not wait for NATS");
    const report = await sink.close(300);
    assert.equal(report.written, 5);
    assert.equal(report.nats?.dropped, 2);
    assert.deepEqual(report.undeliveredSeqs, [2, 3, 4]);
    assert.ok(logger.lines.some((l) => l.startsWith("warn NATS event queue full")));
    assert.ok(logger.lines.some((l) => l.includes("3 event(s) not delivered")));
    assert.equal(readFileSync(join(dir, "events.jsonl"), "utf8").trim().split("\n").length, 5);
    rmSync(dir, { recursive: true, force: true });
  });
});

void describe("EventSink with a real nats-server -js", () => {
  let server: TestNatsServer;
  let dir: string;
  before(async () => {
    server = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), "autoclint-events-"));
  });
  after(async () => {
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  void it("creates the stream, publishes with subjects and message ids, and JetStream drops republished events", async () => {
    const run = uniqueRun();
    const factory = new EventFactory({ run, startedAtMs: 0, clock: () => 0 });
    const events = [factory.make("phase", { phase: "starting" }), ...naucEvents(factory, 4)];
    const sink = createEventSink({ outDir: join(dir, "a"), logger: recordingLogger(), nats: { servers: server.url, stream: "ensure" } });
    for (const event of events) sink.emit(event);
    const report = await sink.close(5000);
    assert.deepEqual(report.undeliveredSeqs, []);
    assert.equal(report.nats?.published, 5);

    const again = new NatsEventPublisher({ servers: server.url, stream: "publish-only", logger: recordingLogger() });
    for (const event of events) again.publish(event);
    const second = await again.close(5000);
    assert.equal(second.duplicates, 5);
    assert.equal(second.published, 0);

    const stored = await storedEvents(server.url, run);
    assert.equal(stored.length, 5);
    stored.forEach(({ subject, msgId, event }, i) => {
      assert.deepEqual(event, events[i]);
      assert.equal(subject, eventSubject(run, events[i]!.type));
      assert.equal(msgId, eventMessageId(events[i]!));
    });
    const lines = readFileSync(join(dir, "a", "events.jsonl"), "utf8").trim().split("\n");
    assert.deepEqual(lines.map((l) => JSON.parse(l) as unknown), events);
  });

  void it("loses nothing when nats-server stops mid-run and comes back on the same port and store", async () => {
    const run = uniqueRun();
    const factory = new EventFactory({ run, startedAtMs: 0, clock: () => 0 });
    const logger = recordingLogger();
    const sink = createEventSink({
      outDir: join(dir, "b"),
      logger,
      nats: { servers: server.url, stream: "ensure", backoff: FAST_BACKOFF, connectTimeoutMs: 500, publishTimeoutMs: 1000 },
    });
    const events = naucEvents(factory, 12);
    for (const event of events.slice(0, 4)) sink.emit(event);
    for (let i = 0; i < 100 && (sink.stats().nats?.published ?? 0) < 4; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sink.stats().nats?.published, 4);

    await server.stop();
    for (const event of events.slice(4, 8)) sink.emit(event);
    await new Promise((r) => setTimeout(r, 300)); // a few failed retries while it is down
    assert.equal(sink.stats().nats?.pending, 4);
    await server.restart();
    for (const event of events.slice(8)) sink.emit(event);
    const report = await sink.close(10_000);

    assert.deepEqual(report.undeliveredSeqs, []);
    assert.ok((report.nats?.failures ?? 0) > 0);
    assert.ok(logger.lines.some((l) => l.startsWith("warn NATS publish failed")));
    const stored = await storedEvents(server.url, run);
    assert.deepEqual(
      stored.map((s) => s.event.seq),
      events.map((e) => e.seq),
      "every seq exactly once, in order",
    );
    assert.equal(readFileSync(join(dir, "b", "events.jsonl"), "utf8").trim().split("\n").length, 12);
  });
});

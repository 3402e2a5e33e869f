import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { alc, eventMessageId, eventSubject, type AutoClintRun, type TrainerEvent } from "@autoclint/api";
import { DEFAULT_MAX_ACK_PENDING, EventConsumer } from "./consumer";
import { KubeApiError } from "../errors";
import { silentLogger } from "../log";
import { OperatorMetrics } from "../metrics";
import { freePort, startNatsServer } from "@autoclint/api/testing";
import type { StatusPatcher } from "../reconcile/status";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An in-memory run store with the status subresource's merge patch and uid precondition. */
class MemoryRuns implements StatusPatcher<AutoClintRun> {
  writes = 0;
  failuresToInject = 0;
  constructor(public run: AutoClintRun) {}
  get(): Promise<AutoClintRun | undefined> {
    return Promise.resolve(structuredClone(this.run));
  }
  patchStatus(_namespace: string, _name: string, uid: string, patch: Record<string, unknown>): Promise<AutoClintRun> {
    if (this.failuresToInject > 0) {
      this.failuresToInject--;
      return Promise.reject(new KubeApiError("patch status", 503, "ServiceUnavailable", "the API server is busy"));
    }
    if (uid !== this.run.metadata.uid) return Promise.reject(new KubeApiError("patch status", 409, "Conflict", "Precondition failed: UID"));
    const status: Record<string, unknown> = { ...this.run.status };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete status[key];
      else status[key] = structuredClone(value);
    }
    this.writes++;
    this.run = { ...this.run, status: status as AutoClintRun["status"], metadata: { ...this.run.metadata, resourceVersion: String(Number(this.run.metadata.resourceVersion) + 1) } };
    return Promise.resolve(structuredClone(this.run));
  }
}

async function until(check: () => boolean, what: string, ms = 8000, refresh?: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    await refresh?.();
    if (check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

const ns = `ns${process.pid}`;
const run: AutoClintRun = {
  apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun",
  metadata: { name: "r1", namespace: ns, uid: "uid-r1", resourceVersion: "1" },
  spec: { dataset: { source: { url: "https://x/d.tar" } }, timeBudgetSeconds: 300 },
  status: { phase: "Running" },
};
const nauc = (seq: number, value: number): TrainerEvent => ({
  version: 1, type: "nauc", run: { namespace: ns, name: "r1", uid: "uid-r1", attempt: 0 }, seq, elapsedSeconds: 20 * (seq + 1),
  wallTime: new Date().toISOString(), split: "test", nauc: value, epoch: seq, lr: 0.025, imagesPerSecond: 500,
});

void test("events reach status once: duplicates, redeliveries, a failed write and a dead server change nothing", async (t) => {
  const port = await freePort();
  const store = new MemoryRuns(structuredClone(run));
  store.failuresToInject = 1;
  const metrics = new OperatorMetrics({ processMetrics: false });
  const consumer = new EventConsumer({ natsUrl: `nats://127.0.0.1:${port}`, durable: "test-operator", runs: store, metrics, log: silentLogger, retryDelayMs: 100 });
  // The server is not up yet: the consumer keeps trying to connect.
  const starting = consumer.start();
  await sleep(300);
  const server = await startNatsServer(port);
  await starting;
  const publisher = await connect({ servers: server.url });
  t.after(async () => {
    await publisher.close();
    await consumer.stop();
    await server.dispose();
  });
  const js = jetstream(publisher);
  const publish = (event: TrainerEvent, msgID = eventMessageId(event)) =>
    js.publish(eventSubject(event.run, event.type), JSON.stringify(event), { msgID });
  const events = [nauc(0, 0.5), nauc(1, 0.8), nauc(2, 0.9)];
  for (const event of events) await publish(event);
  await until(() => store.run.status?.events?.count === 3, "three events in status");
  const expected = alc([{ t: 20, nauc: 0.5 }, { t: 40, nauc: 0.8 }, { t: 60, nauc: 0.9 }], 300);
  assert.equal(store.run.status?.alc, expected);
  assert.equal(store.run.status?.phase, "Running", "the reconciler's fields are left alone");
  const settled = JSON.stringify(store.run.status);
  const writes = store.writes;

  // Republished with the same ids: JetStream drops them. With new ids (past the window): the fold drops them.
  for (const event of events) {
    const ack = await publish(event);
    assert.equal(ack.duplicate, true);
  }
  for (const event of events) await publish(event, `${eventMessageId(event)}/again`);
  await sleep(500);
  assert.equal(JSON.stringify(store.run.status), settled);
  assert.equal(store.writes, writes);

  // The server goes away and comes back: consumption resumes where it stopped.
  await server.restart();
  // The publisher reconnects on its own schedule and JetStream reloads its store: retry until stored.
  for (let tries = 0; ; tries++) {
    try {
      await publish(nauc(3, 0.95));
      break;
    } catch (error) {
      if (tries > 20) throw error;
      await sleep(250);
    }
  }
  await until(() => store.run.status?.events?.count === 4, "the event after a server restart", 15_000);
  assert.equal(store.run.status?.nauc, 0.95);

  const text = await metrics.render();
  assert.match(text, new RegExp(`autoclint_run_alc\\{namespace="${ns}",run="r1"\\} 0\\.\\d+`));
  // The failed write's events were rolled back and applied on redelivery: only the 3 republished ones are duplicates.
  assert.match(text, /autoclint_events_consumed_total\{type="nauc",outcome="applied"\} 4/);
  assert.match(text, /autoclint_events_consumed_total\{type="nauc",outcome="duplicate"\} 3/);
});

void test("an event that is not a trainer event is terminated, not redelivered", async () => {
  const consumer = new EventConsumer({ natsUrl: "nats://unused", durable: "x", runs: new MemoryRuns(structuredClone(run)), metrics: new OperatorMetrics({ processMetrics: false }), log: silentLogger });
  const calls: string[] = [];
  const outcome = await consumer.handle({ data: new TextEncoder().encode("{\"type\":\"nauc\"}"), subject: "s", ack: () => calls.push("ack"), nak: () => calls.push("nak"), term: () => calls.push("term") });
  assert.equal(outcome, "invalid");
  assert.deepEqual(calls, ["term"]);
});

void test("a burst of one run's events becomes a few status writes, each acked only after the write that holds it", async (t) => {
  const server = await startNatsServer();
  const store = new MemoryRuns(structuredClone(run));
  const metrics = new OperatorMetrics({ processMetrics: false });
  const consumer = new EventConsumer({ natsUrl: server.url, durable: "burst", runs: store, metrics, log: silentLogger, coalesceMs: 200 });
  await consumer.start();
  const publisher = await connect({ servers: server.url });
  t.after(async () => {
    await publisher.close();
    await consumer.stop();
    await server.dispose();
  });
  const js = jetstream(publisher);
  const burst = Array.from({ length: 100 }, (_, seq) => nauc(seq, 0.5 + seq / 400));
  await Promise.all(burst.map((event) => js.publish(eventSubject(event.run, "nauc"), JSON.stringify(event), { msgID: eventMessageId(event) })));
  await until(() => store.run.status?.events?.count === 100, "all 100 events in status", 15_000);
  t.diagnostic(`100 events took ${store.writes} status writes`);
  assert.ok(store.writes <= 20, `100 events took ${store.writes} status writes`);
  assert.equal(store.run.status?.nauc, 0.5 + 99 / 400);
  const text = await metrics.render();
  assert.match(text, /autoclint_events_consumed_total\{type="nauc",outcome="applied"\} 100/);
  assert.match(text, new RegExp(`autoclint_status_writes_total\\{writer="events"\\} ${store.writes}`));
  // Every message was acked: nothing is left for the durable consumer to deliver.
  const info = await (await jetstreamManager(publisher)).consumers.info("AUTOCLINT", "burst");
  assert.equal(info.num_ack_pending, 0);
  assert.equal(info.num_pending, 0);
});

void test("the stream gets its store limits, also when someone else created it without them", async (t) => {
  const server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  const consumer = new EventConsumer({
    natsUrl: server.url, durable: "limits", runs: new MemoryRuns(structuredClone(run)), metrics: new OperatorMetrics({ processMetrics: false }), log: silentLogger,
    streamMaxAgeMs: 3_600_000, streamMaxBytes: 64 * 1024 * 1024,
  });
  t.after(async () => {
    await consumer.stop();
    await connection.close();
    await server.dispose();
  });
  const manager = await jetstreamManager(connection);
  await manager.streams.add({ name: "AUTOCLINT", subjects: ["autoclint.v1.>"] }); // as a trainer might, no limits
  await consumer.start();
  const info = await manager.streams.info("AUTOCLINT");
  assert.equal(info.config.max_age, 3_600_000 * 1_000_000);
  assert.equal(info.config.max_bytes, 64 * 1024 * 1024);
});

void test("purging a deleted run's events takes exactly its uid's subjects: a later run with the same name, or a name with dots, keeps its events", async (t) => {
  const server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  const consumer = new EventConsumer({ natsUrl: server.url, durable: "purge", runs: new MemoryRuns(structuredClone(run)), metrics: new OperatorMetrics({ processMetrics: false }), log: silentLogger });
  t.after(async () => {
    await consumer.stop();
    await connection.close();
    await server.dispose();
  });
  await consumer.start();
  const js = jetstream(connection);
  // "exp" was deleted (uid-exp-old, two attempts); a new "exp" (uid-exp-new) and "exp.1" live on.
  const runs = [
    { name: "exp", uid: "uid-exp-old", attempt: 0 }, { name: "exp", uid: "uid-exp-old", attempt: 1 },
    { name: "exp", uid: "uid-exp-new", attempt: 0 }, { name: "exp.1", uid: "uid-exp-1", attempt: 0 },
  ];
  for (const { uid, attempt } of runs) {
    for (const type of ["nauc", "phase", "result"] as const) await js.publish(eventSubject({ namespace: ns, uid, attempt }, type), "{}", { msgID: `${uid}/${attempt}/${type}` });
  }
  const manager = await jetstreamManager(connection);
  const count = async (uid: string) => {
    const info = await manager.streams.info("AUTOCLINT", { subjects_filter: ">" });
    return Object.entries(info.state.subjects ?? {}).filter(([subject]) => subject.startsWith(`autoclint.v1.${ns}.${uid}.`)).reduce((sum, [, n]) => sum + n, 0);
  };
  assert.equal(await count("uid-exp-old"), 6);
  assert.equal(await consumer.purgeRun(ns, "exp", "uid-exp-old"), 6);
  assert.equal(await count("uid-exp-old"), 0);
  assert.equal(await count("uid-exp-new"), 3, "the new run with the deleted one's name keeps its events");
  assert.equal(await count("uid-exp-1"), 3, "a run whose name extends exp with a dot keeps its events");
});

void test("a forged event is acked, dropped and counted: body against subject, and a body naming another run than the subject's uid", async () => {
  const victim = new MemoryRuns(structuredClone(run));
  const metrics = new OperatorMetrics({ processMetrics: false });
  // The attacker's own run: uid-attacker, name "attacker", in the same namespace.
  const names: Record<string, string> = { "uid-r1": "r1", "uid-attacker": "attacker" };
  const consumer = new EventConsumer({
    natsUrl: "nats://unused", durable: "x", runs: victim, metrics, log: silentLogger,
    runNameOfUid: (namespace, uid) => (namespace === ns ? names[uid] : undefined),
  });
  const handle = async (subject: string, event: TrainerEvent) => {
    const calls: string[] = [];
    const outcome = await consumer.handle({ data: new TextEncoder().encode(JSON.stringify(event)), subject, ack: () => calls.push("ack"), nak: () => calls.push("nak"), term: () => calls.push("term") });
    return { outcome, calls };
  };
  const attacker = { namespace: ns, uid: "uid-attacker", attempt: 0 };
  // The body names the victim with the victim's uid, published on the attacker's own subject.
  const claimsVictim = { ...nauc(0, 1), run: { namespace: ns, name: "r1", uid: "uid-r1", attempt: 0 } } as TrainerEvent;
  assert.deepEqual(await handle(eventSubject(attacker, "nauc"), claimsVictim), { outcome: "forged", calls: ["ack"] });
  // The body names the victim with the attacker's uid (as the subject): the uid is the attacker's run.
  const victimNameOwnUid = { ...nauc(1, 1), run: { namespace: ns, name: "r1", uid: "uid-attacker", attempt: 0 } } as TrainerEvent;
  assert.deepEqual(await handle(eventSubject(attacker, "nauc"), victimNameOwnUid), { outcome: "forged", calls: ["ack"] });
  // Attempt and type must be the subject's too.
  assert.equal((await handle(eventSubject({ ...attacker, attempt: 1 }, "nauc"), { ...nauc(2, 1), run: { ...attacker, name: "attacker" } } as TrainerEvent)).outcome, "forged");
  assert.equal((await handle(eventSubject(attacker, "phase"), { ...nauc(3, 1), run: { ...attacker, name: "attacker" } } as TrainerEvent)).outcome, "forged");
  // A subject of another shape (the old name-keyed one) is not an event at all.
  assert.deepEqual(await handle(`autoclint.v1.${ns}.r1.nauc`, nauc(4, 1)), { outcome: "invalid", calls: ["term"] });
  assert.equal(victim.writes, 0, "nothing reached the victim's status");
  assert.equal(victim.run.status?.nauc, undefined);
  const text = await metrics.render();
  assert.match(text, /autoclint_events_forged_total\{reason="subject"\} 3/);
  assert.match(text, /autoclint_events_forged_total\{reason="run"\} 1/);
  assert.match(text, /autoclint_events_consumed_total\{type="nauc",outcome="forged"\} 4/);
  // The genuine event on the victim's own subject still goes through.
  assert.equal((await handle(eventSubject({ namespace: ns, uid: "uid-r1", attempt: 0 }, "nauc"), nauc(0, 0.7))).outcome, "applied");
});

void test("a deleted durable consumer or stream is re-created and consumption resumes; readiness reflects consuming", async (t) => {
  const server = await startNatsServer();
  const store = new MemoryRuns(structuredClone(run));
  const metrics = new OperatorMetrics({ processMetrics: false });
  const consumer = new EventConsumer({ natsUrl: server.url, durable: "recreate", runs: store, metrics, log: silentLogger, checkIntervalMs: 200, streamMaxAgeMs: 3_600_000 });
  const connection = await connect({ servers: server.url });
  t.after(async () => {
    await consumer.stop();
    await connection.close();
    await server.dispose();
  });
  let text = "";
  const refresh = async () => (text = await metrics.render());
  assert.equal(consumer.notConsumingReason, "not connected to NATS");
  await consumer.start();
  assert.equal(consumer.notConsumingReason, undefined);
  const js = jetstream(connection);
  const manager = await jetstreamManager(connection);
  const publish = (event: TrainerEvent) => js.publish(eventSubject(event.run, event.type), JSON.stringify(event), { msgID: eventMessageId(event) });
  await publish(nauc(0, 0.5));
  await until(() => store.run.status?.events?.count === 1, "the first event");

  await manager.consumers.delete("AUTOCLINT", "recreate");
  await until(() => /recreated_total 1/.test(text), "the consumer re-created", 10_000, refresh);
  await publish(nauc(1, 0.6));
  await until(() => store.run.status?.events?.count === 2, "an event after the consumer was re-created");

  await manager.streams.delete("AUTOCLINT");
  await until(() => /recreated_total 2/.test(text), "the stream re-created", 10_000, refresh);
  assert.equal((await manager.streams.info("AUTOCLINT")).config.max_age, 3_600_000 * 1_000_000, "with its limits");
  await publish(nauc(2, 0.7));
  await until(() => store.run.status?.events?.count === 3, "an event after the stream was re-created");
  assert.equal(store.run.status?.nauc, 0.7);
  assert.equal(consumer.notConsumingReason, undefined);
});

void test("runs fold in parallel: a run whose first read fails and then hangs holds up no other run, and its own events still fold in stream order", async (t) => {
  const server = await startNatsServer();
  const runOf = (name: string, uid: string): AutoClintRun => ({ ...structuredClone(run), metadata: { name, namespace: ns, uid, resourceVersion: "1" } });
  const slow = new MemoryRuns(runOf("slow", "uid-slow"));
  const fast = new MemoryRuns(runOf("fast", "uid-fast"));
  let releaseSlow = () => undefined as void;
  const slowReleased = new Promise<void>((resolve) => (releaseSlow = resolve));
  let slowReads = 0;
  const store: StatusPatcher<AutoClintRun> = {
    async get(_namespace, name) {
      if (name !== "slow") return fast.get();
      // The first read fails (the API server is away), the second waits until released.
      if (++slowReads === 1) throw new KubeApiError("get run", 503, "ServiceUnavailable", "the API server is busy");
      await slowReleased;
      return slow.get();
    },
    patchStatus: (namespace, name, uid, patch) => (name === "slow" ? slow : fast).patchStatus(namespace, name, uid, patch),
  };
  const metrics = new OperatorMetrics({ processMetrics: false });
  const consumer = new EventConsumer({ natsUrl: server.url, durable: "parallel", runs: store, metrics, log: silentLogger, retryDelayMs: 50, coalesceMs: 50 });
  await consumer.start();
  const publisher = await connect({ servers: server.url });
  t.after(async () => {
    releaseSlow();
    await publisher.close();
    await consumer.stop();
    await server.dispose();
  });
  const js = jetstream(publisher);
  const publish = (event: TrainerEvent) => js.publish(eventSubject(event.run, event.type), JSON.stringify(event), { msgID: eventMessageId(event) });
  // The slow run's phases, interleaved with the fast run's NAUC events: its last phase must win.
  const phases = ["starting", "exploring", "training", "searching", "training", "finished"];
  for (const [seq, phase] of phases.entries()) {
    await publish({ version: 1, type: "phase", run: { namespace: ns, name: "slow", uid: "uid-slow", attempt: 0 }, seq, elapsedSeconds: seq, wallTime: new Date().toISOString(), phase });
    await publish({ ...nauc(seq, 0.5 + seq / 20), run: { namespace: ns, name: "fast", uid: "uid-fast", attempt: 0 } });
  }
  await until(() => fast.run.status?.events?.count === phases.length, "the fast run's events in status while the slow run's read hangs");
  assert.equal(slow.writes, 0, "the slow run has not been read yet");
  assert.equal(slowReads, 2, "its failed first read was retried");
  releaseSlow();
  await until(() => slow.run.status?.events?.count === phases.length, "the slow run's events in status");
  assert.equal(slow.run.status?.trainerPhase, "finished", "the slow run's events folded in stream order");
  assert.equal(slow.run.status?.events?.seq, phases.length - 1);
  const info = await (await jetstreamManager(publisher)).consumers.info("AUTOCLINT", "parallel");
  assert.equal(info.num_ack_pending, 0, "every event acked once its write landed");
  assert.equal(info.num_redelivered, 0, "none was redelivered: the failed read was retried, not naked");
  const text = await metrics.render();
  assert.match(text, /autoclint_events_consumed_total\{type="phase",outcome="applied"\} 6/);
  assert.match(text, /autoclint_events_consumed_total\{type="nauc",outcome="applied"\} 6/);
});

void test("the durable consumer is created with the asked max ack pending, and an existing one is updated to it", async (t) => {
  const server = await startNatsServer();
  const connection = await connect({ servers: server.url });
  const options = { natsUrl: server.url, durable: "pending", runs: new MemoryRuns(structuredClone(run)), metrics: new OperatorMetrics({ processMetrics: false }), log: silentLogger };
  const first = new EventConsumer({ ...options, maxAckPending: 300 });
  t.after(async () => {
    await connection.close();
    await server.dispose();
  });
  await first.start();
  const manager = await jetstreamManager(connection);
  assert.equal((await manager.consumers.info("AUTOCLINT", "pending")).config.max_ack_pending, 300);
  await first.stop();
  const second = new EventConsumer(options);
  await second.start();
  assert.equal((await manager.consumers.info("AUTOCLINT", "pending")).config.max_ack_pending, DEFAULT_MAX_ACK_PENDING);
  await second.stop();
});

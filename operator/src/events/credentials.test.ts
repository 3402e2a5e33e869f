import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { STREAM_NAME, STREAM_SUBJECTS, eventSubject } from "@autoclint/api";
import { startNatsServer, type TestNatsServer } from "@autoclint/api/testing";
// The trainer's own publisher, across the workspace boundary: the two halves of the contract, together.
import { NatsEventPublisher } from "../../../trainer/src/events/nats-publisher";
import {
  createNatsAuthority, issueOperatorCredential, issueTrainerCredential, natsServerAuthConfig, trainerCredentialExpiry, type NatsAuthority, type TrainerCredential,
} from "./credentials";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const encode = (text: string) => new TextEncoder().encode(text);

const runA = { namespace: "team-a", name: "alpha", uid: "0b1c2d3e-aaaa-4000-8000-000000000001", attempt: 0 };
const runB = { namespace: "team-b", name: "victim", uid: "0b1c2d3e-bbbb-4000-8000-000000000002", attempt: 0 };

function connectAs(server: TestNatsServer, creds: string, inboxPrefix?: string): Promise<NatsConnection> {
  return connect({ servers: server.url, authenticator: credsAuthenticator(encode(creds)), ...(inboxPrefix ? { inboxPrefix } : {}), reconnect: false, timeout: 3000 });
}

/** How many stored events the stream holds on each subject (read with the operator's identity). */
async function storedSubjects(manager: JetStreamManager): Promise<Record<string, number>> {
  const info = await manager.streams.info(STREAM_NAME, { subjects_filter: ">" });
  return info.state.subjects ?? {};
}

void describe("NATS identities against a real nats-server in operator (JWT) mode", () => {
  let server: TestNatsServer;
  let authority: NatsAuthority;
  let operator: NatsConnection;
  let manager: JetStreamManager;
  let trainerA: TrainerCredential;

  before(async () => {
    authority = createNatsAuthority();
    server = await startNatsServer(undefined, { config: await natsServerAuthConfig(authority) });
    operator = await connectAs(server, await issueOperatorCredential(authority));
    manager = await jetstreamManager(operator);
    await manager.streams.add({ name: STREAM_NAME, subjects: STREAM_SUBJECTS });
    await manager.consumers.add(STREAM_NAME, { durable_name: "autoclint-operator", ack_policy: AckPolicy.Explicit });
    trainerA = await issueTrainerCredential(authority, { ...runA, expiresAt: trainerCredentialExpiry(new Date(), { budgetSeconds: 60, graceSeconds: 60, gpuWaitSeconds: 60 }) });
  });
  after(async () => {
    await operator?.close();
    await server?.dispose();
  });

  it("refuses a client without a credential", async () => {
    await assert.rejects(connect({ servers: server.url, reconnect: false, timeout: 3000 }), /Authorization|auth/i);
  });

  it("a trainer credential publishes its own run's events, and nothing on another run's subject reaches the stream", async (t) => {
    const trainer = await connectAs(server, trainerA.creds, trainerA.inboxPrefix);
    t.after(() => trainer.close());
    const ack = await jetstream(trainer).publish(eventSubject(runA, "nauc"), "{}", { msgID: "a/0/0" });
    assert.equal(ack.stream, STREAM_NAME);
    // Through JetStream (a request) and as a plain publish: both refused by the server.
    await assert.rejects(jetstream(trainer).publish(eventSubject(runB, "result"), "{}", { msgID: "b/0/0", timeout: 2000 }));
    trainer.publish(eventSubject(runB, "nauc"), "{}");
    trainer.publish(eventSubject({ ...runA, attempt: 1 }, "nauc"), "{}"); // a later attempt of its own run, too
    await trainer.flush().catch(() => undefined);
    await sleep(300);
    const stored = await storedSubjects(manager);
    assert.equal(stored[eventSubject(runA, "nauc")], 1);
    assert.deepEqual(Object.keys(stored).filter((subject) => subject !== eventSubject(runA, "nauc")), [], "only the trainer's own subject holds events");
  });

  it("a trainer credential cannot subscribe to the event subjects or another inbox", async () => {
    for (const subject of ["autoclint.v1.>", eventSubject(runB, "nauc"), "_INBOX.>"]) {
      const trainer = await connectAs(server, trainerA.creds, trainerA.inboxPrefix);
      const received: string[] = [];
      const errors: string[] = [];
      const subscription = trainer.subscribe(subject, {
        callback: (error, message) => {
          if (error) errors.push(error.message);
          else received.push(message.subject);
        },
      });
      await trainer.flush().catch(() => undefined);
      await jetstream(operator).publish(eventSubject(runB, "nauc"), "{}", { msgID: `sub-probe-${subject}` });
      await Promise.race([subscription.closed.catch(() => undefined), sleep(2000)]);
      const outcome = errors.join("; ");
      assert.deepEqual(received, [], `nothing delivered on ${subject}`);
      assert.match(outcome, /permission/i, `subscribing to ${subject} is refused`);
      await trainer.close();
    }
  });

  it("a trainer credential cannot delete or purge the stream or the operator's durable consumer", async (t) => {
    const trainer = await connectAs(server, trainerA.creds, trainerA.inboxPrefix);
    t.after(() => trainer.close());
    // The JetStream API is plain request/reply on $JS.API.*: the server refuses each request.
    await assert.rejects(jetstreamManager(trainer, { timeout: 2000 }), "not even $JS.API.INFO");
    for (const api of [`STREAM.DELETE.${STREAM_NAME}`, `STREAM.PURGE.${STREAM_NAME}`, `CONSUMER.DELETE.${STREAM_NAME}.autoclint-operator`]) {
      await assert.rejects(trainer.request(`$JS.API.${api}`, "", { timeout: 2000 }), /permission/i, api);
    }
    assert.equal((await manager.streams.info(STREAM_NAME)).config.name, STREAM_NAME);
    assert.equal((await manager.consumers.info(STREAM_NAME, "autoclint-operator")).name, "autoclint-operator");
    assert.ok((await manager.streams.info(STREAM_NAME)).state.messages >= 1, "the stream kept its events");
  });

  it("an expired credential is refused, and a connection made before expiry is cut at it", async () => {
    // JWT expiry has whole-second resolution: 4 s leaves room for a slow connect on a loaded machine.
    const soon = await issueTrainerCredential(authority, { ...runA, attempt: 2, expiresAt: new Date(Date.now() + 4000) });
    const early = await connectAs(server, soon.creds, soon.inboxPrefix);
    const cut = await Promise.race([early.closed().then(() => "closed"), sleep(10_000).then(() => "still open")]);
    assert.equal(cut, "closed", "the server closed the connection at expiry");
    assert.ok(Date.now() >= soon.expiresAt.getTime() - 1000, "not before the expiry");
    // The server may cut the connection in the expiry's own second and still admit a connect in
    // it; a second later the credential is expired whichever way the server rounds.
    await sleep(Math.max(0, soon.expiresAt.getTime() + 1100 - Date.now()));
    await assert.rejects(connectAs(server, soon.creds, soon.inboxPrefix), /expired|authorization/i);
  });

  it("the trainer's publisher, given the credential, publishes its run's events; another run's event never leaves its queue", async () => {
    const logged: string[] = [];
    const publisher = new NatsEventPublisher({
      servers: server.url, stream: "ensure", credentials: { creds: trainerA.creds, inboxPrefix: trainerA.inboxPrefix },
      logger: { info: (m) => logged.push(m), warn: (m) => logged.push(m) }, backoff: { initialMs: 50, maxMs: 200 },
    });
    const event = (run: typeof runA, seq: number) => ({
      version: 1 as const, type: "phase" as const, run, seq, elapsedSeconds: seq, wallTime: new Date().toISOString(), phase: "starting",
    });
    publisher.publish(event(runA, 0));
    publisher.publish(event(runA, 1));
    publisher.publish(event(runB, 0)); // a forgery: the server refuses it, again and again
    const report = await publisher.close(3000);
    assert.equal(report.published, 2);
    assert.deepEqual(report.undeliveredSeqs, [0], "the other run's event was never stored");
    assert.ok(logged.some((line) => /Permissions Violation|permission/i.test(line)), logged.join("\n"));
    assert.ok(!logged.some((line) => /could not create stream/.test(line)), "with a credential it never tries the stream API");
    const stored = await storedSubjects(manager);
    assert.equal(stored[eventSubject(runB, "phase")], undefined);
  });

  it("will not issue a credential that is already expired", async () => {
    await assert.rejects(issueTrainerCredential(authority, { ...runA, expiresAt: new Date(Date.now() - 1000) }), /expire in the future/);
  });
});

void it("a trainer credential expires at budget + grace + GPU wait after its start", () => {
  const from = new Date("2026-01-01T00:00:00Z");
  assert.equal(trainerCredentialExpiry(from, { budgetSeconds: 300, graceSeconds: 120, gpuWaitSeconds: 600 }).toISOString(), "2026-01-01T00:17:00.000Z");
});

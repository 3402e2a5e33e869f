import { test } from "node:test";
import assert from "node:assert/strict";
import { EventRecorder } from "./recorder";

/** A send whose calls stay open until released, in order. */
function heldSends() {
  const calls: { event: number; release: (error?: Error) => void }[] = [];
  const send = (event: number) => new Promise<void>((resolve, reject) => calls.push({ event, release: (error) => (error ? reject(error) : resolve()) }));
  return { calls, send };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

void test("record returns at once; at most `concurrency` sends are in flight, the rest go in order as they finish", async () => {
  const { calls, send } = heldSends();
  const recorder = new EventRecorder<number>({ send, concurrency: 2, maxPending: 10, onError: () => assert.fail("no error"), onDrop: () => assert.fail("no drop") });
  for (const event of [1, 2, 3, 4]) recorder.record(event);
  assert.deepEqual(calls.map((c) => c.event), [1, 2]);
  calls[0]!.release();
  await tick();
  assert.deepEqual(calls.map((c) => c.event), [1, 2, 3]);
  calls[1]!.release();
  calls[2]!.release();
  await tick();
  assert.deepEqual(calls.map((c) => c.event), [1, 2, 3, 4]);
  let drained = false;
  const draining = recorder.drain(60_000).then(() => (drained = true));
  await tick();
  assert.equal(drained, false, "one send still in flight");
  calls[3]!.release();
  await draining;
});

void test("past maxPending waiting Events a new one is dropped; a failed send is reported and the queue goes on", async () => {
  const { calls, send } = heldSends();
  const dropped: number[] = [];
  const failed: number[] = [];
  const recorder = new EventRecorder<number>({ send, concurrency: 1, maxPending: 2, onError: (_error, event) => failed.push(event), onDrop: (event) => dropped.push(event) });
  for (const event of [1, 2, 3, 4]) recorder.record(event);
  assert.deepEqual(dropped, [4], "1 in flight, 2 and 3 waiting: 4 is dropped");
  calls[0]!.release(new Error("API server said no"));
  await tick();
  assert.deepEqual(failed, [1]);
  assert.deepEqual(calls.map((c) => c.event), [1, 2]);
  calls[1]!.release();
  await tick();
  calls[2]!.release();
  await recorder.drain(60_000);
  assert.deepEqual(calls.map((c) => c.event), [1, 2, 3]);
});

void test("discardWaiting forgets what is not yet sent; what is in flight ends as it would", async () => {
  const { calls, send } = heldSends();
  const recorder = new EventRecorder<number>({ send, concurrency: 1, maxPending: 10, onError: () => assert.fail("no error"), onDrop: () => assert.fail("no drop") });
  for (const event of [1, 2, 3]) recorder.record(event);
  assert.equal(recorder.discardWaiting(), 2);
  calls[0]!.release();
  await recorder.drain(60_000);
  assert.deepEqual(calls.map((c) => c.event), [1], "2 and 3 never sent");
});

void test("drain gives up after its timeout when a send never ends", async () => {
  const recorder = new EventRecorder<number>({ send: () => new Promise(() => undefined), concurrency: 1, maxPending: 1, onError: () => undefined, onDrop: () => undefined });
  recorder.record(1);
  const started = performance.now();
  await recorder.drain(50);
  assert.ok(performance.now() - started >= 45);
});

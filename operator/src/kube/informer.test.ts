import { test } from "node:test";
import assert from "node:assert/strict";
import { Informer, type KubeObject, type ListWatchSource, type WatchEventType } from "./informer";
import { silentLogger } from "../log";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const obj = (name: string, rv: string): KubeObject => ({ metadata: { name, namespace: "ns", resourceVersion: rv } });

/** A scripted API: each list returns the next listing; each watch runs the next script. */
function scriptedSource(lists: KubeObject[][], watches: ((emit: (t: WatchEventType, o: unknown) => void, done: (e: unknown) => void) => void)[]) {
  const calls: string[] = [];
  const source: ListWatchSource<KubeObject> = {
    list() {
      calls.push("list");
      return Promise.resolve({ items: lists.shift() ?? [], resourceVersion: "100" });
    },
    watch(rv, onEvent, onDone) {
      calls.push(`watch@${rv}`);
      const script = watches.shift();
      if (script) setTimeout(() => script(onEvent, onDone), 1);
      return Promise.resolve({ abort: () => onDone(null) });
    },
  };
  return { source, calls };
}

void test("list, watch from the list's version, reconnect from the last version, relist on 410 Gone", async () => {
  const { source, calls } = scriptedSource(
    [[obj("a", "1")], [obj("b", "7")]],
    [
      (emit, done) => {
        emit("ADDED", obj("b", "101"));
        done(new Error("connection reset"));
      },
      (emit) => emit("ERROR", { kind: "Status", code: 410, reason: "Expired" }),
    ],
  );
  const upserts: string[] = [];
  const deletes: string[] = [];
  const informer = new Informer(source, { onUpsert: (o) => upserts.push(o.metadata!.name!), onDelete: (o) => deletes.push(o.metadata!.name!) }, {
    name: "t", resyncMs: 60_000, reconnect: { baseMs: 5, maxMs: 5 }, log: silentLogger,
  });
  informer.start();
  // Until the relist, however slow a loaded machine makes the timers.
  for (let waited = 0; calls.length < 4 && waited < 10_000; waited += 10) await sleep(10);
  await informer.stop();
  assert.deepEqual(calls.slice(0, 4), ["list", "watch@100", "watch@101", "list"]);
  assert.deepEqual(upserts.slice(0, 3), ["a", "b", "b"]);
  assert.deepEqual(deletes, ["a"], "the relist notices what the watch missed");
  assert.ok(informer.hasSynced);
});

void test("resync re-delivers every cached object", async () => {
  const { source } = scriptedSource([[obj("a", "1"), obj("b", "2")]], []);
  const upserts: string[] = [];
  const informer = new Informer(source, { onUpsert: (o) => upserts.push(o.metadata!.name!), onDelete: () => undefined }, {
    name: "t", resyncMs: 20, reconnect: { baseMs: 5, maxMs: 5 }, log: silentLogger,
  });
  informer.start();
  await sleep(55);
  await informer.stop();
  assert.ok(upserts.length >= 4, `got ${upserts.length}`);
});

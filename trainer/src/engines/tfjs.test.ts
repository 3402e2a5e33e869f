// The tfjs engine on the real tfjs-node over libtensorflow (hack/tfjs.sh): the engine contract
// (engine-contract.ts, shared with the torch engine), then what only this engine has: its install
// check, its version, training off the event loop, .safetensors-only weights, a closed engine.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EngineError } from "./engine";
import { bars, config, describeEngineContract, rejectsWith } from "./engine-contract";
import { createEngine } from "./index";
import { TfjsEngine } from "./tfjs";

describeEngineContract({
  name: "tfjs",
  make: (log) => new TfjsEngine({ log }),
  weightsFiles: ["resnet18.safetensors"],
  savedTensors: 100,
  logShows: /TensorFlow 2\.18\.1/,
});

void test("createEngine gives the tfjs engine; a missing install is a typed error naming the fix", async () => {
  const engine = createEngine("tfjs");
  assert.ok(engine instanceof TfjsEngine);
  await engine.close();
  const { tfjsNodePath } = await import("./tfjs-node");
  assert.throws(
    () => tfjsNodePath({ AUTOCLINT_CACHE: "/nonexistent/cache" }),
    (e: unknown) => e instanceof EngineError && e.engineErrorType === "Unavailable" && /hack\/tfjs\.sh/.test(e.message),
  );
});

void describe("TfjsEngine on tfjs-node", () => {
  let engine: TfjsEngine;
  let dir: string;

  before(async () => {
    engine = new TfjsEngine();
    dir = await mkdtemp(join(tmpdir(), "autoclint-tfjs-test-"));
  });
  after(async () => {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  void test("ready describes the engine: tfjs-node over a real TensorFlow", async () => {
    const info = await engine.ready();
    assert.equal(info.engine, "tfjs");
    assert.equal(info.device, "cpu");
    assert.match(info.version, /^tfjs-node 4\.22\.0 over TensorFlow 2\.18\.1$/);
  });

  void test("training runs off the trainer's event loop: timers keep firing during a chunk; maxSeconds ends a chunk", async () => {
    const data = bars(64, { seed: 1 });
    await engine.loadSplit("train", data.images, data.labels);
    await engine.buildModel(config());
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = performance.now();
    await engine.train({ steps: 4, batchSize: 32, lr: 0.01 });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // a blocked loop would tick at most once, after the chunk; free, it ticks about every 20 ms
    assert.ok(ticks >= Math.min(10, elapsed / 100), `${ticks} ticks in ${elapsed.toFixed(0)} ms of training`);
    const limited = await engine.train({ steps: 50, batchSize: 32, lr: 0.01, maxSeconds: 0.001 });
    assert.equal(limited.images, 32, "maxSeconds: one step, then the time is up");
  });

  void test("weights: a .pth (a Python pickle) is refused, naming the format it reads", async () => {
    const pth = join(dir, "resnet18.pth");
    await writeFile(pth, "a pickle");
    assert.match((await rejectsWith(engine.buildModel(config({ weightsPath: pth })), "WeightsError")).message, /\.safetensors weights only/);
  });

  void test("a missing model and a closed engine are typed errors", async () => {
    const fresh = new TfjsEngine();
    await rejectsWith(fresh.train({ steps: 1, batchSize: 1, lr: 0.1 }), "NoModel");
    await fresh.close();
    await rejectsWith(fresh.snapshot("x"), "Closed");
  });
});

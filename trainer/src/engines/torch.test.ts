// The torch engine against the real worker (Debian's torch 1.13 CPU here): the engine contract
// (engine-contract.ts, shared with the tfjs engine), then what only this engine has: the worker's
// own description, batch scores under a time cap, stderr, a missing interpreter and worker death.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { bars, config, describeEngineContract, rejectsWith } from "./engine-contract";
import { TorchEngine } from "./torch";

describeEngineContract({
  name: "torch",
  make: (log) => new TorchEngine({ log }),
  weightsFiles: ["resnet18.pth", "resnet18.safetensors"],
  savedTensors: 120,
  logShows: /resnet18/, // the worker's stderr
});

void test("a missing interpreter is a typed error, not a hang", async () => {
  const engine = new TorchEngine({ python: "/nonexistent/python3" });
  const error = await rejectsWith(engine.ready(), "NoInterpreter");
  assert.match(error.message, /nonexistent.*not found/);
  await rejectsWith(engine.info(), "NoInterpreter");
  await engine.close();
});

void describe("TorchEngine on the real worker", () => {
  let engine: TorchEngine;

  before(() => {
    engine = new TorchEngine();
  });
  after(async () => {
    await engine.close();
  });

  void test("ready and info describe the worker", async () => {
    const info = await engine.ready();
    assert.equal(info.engine, "torch");
    assert.match(info.device, /^(cpu|cuda:\d+)$/);
    assert.match(info.version, /^torch \d+\.\d+/);
    assert.ok(info.startupSeconds > 0 && info.startupSeconds < 60);
    const worker = await engine.info();
    assert.equal(worker.device, info.device);
    assert.ok(worker.python.length > 0);
  });

  void test("a time cap ends a chunk early; the trained batches come back scored by the weights before their steps", async () => {
    const train = bars(200, { seed: 5 });
    await engine.loadSplit("train", train.images, train.labels);
    await engine.buildModel(config());
    const capped = await engine.train({ steps: 500, batchSize: 16, lr: 0.05, maxSeconds: 0.3, scoreBatches: true });
    const steps = capped.images / 16;
    assert.ok(steps >= 1 && steps < 500 && capped.seconds >= 0.3, `${steps} steps in ${capped.seconds} s`);
    const scored = capped.batchScores!;
    assert.equal(scored.indices.length, Math.ceil(steps / 2) * 16, "the later half of the chunk's batches");
    assert.equal(scored.scores.length, scored.indices.length * 3);
    assert.ok(scored.indices.every((i) => Number.isInteger(i) && i >= 0 && i < 200));
    for (let r = 0; r < scored.indices.length; r++) {
      const sum = scored.scores[r * 3]! + scored.scores[r * 3 + 1]! + scored.scores[r * 3 + 2]!;
      assert.ok(Math.abs(sum - 1) < 1e-4, `softmax rows sum to 1 (row ${r}: ${sum})`);
    }
    const plain = await engine.train({ steps: 2, batchSize: 16, lr: 0.05 });
    assert.equal(plain.images, 32);
    assert.equal(plain.batchScores, undefined);
  });
});

void test("a worker killed mid-request rejects every pending call with a clear error", async () => {
  const engine = new TorchEngine();
  await engine.ready();
  const data = bars(64, { seed: 8 });
  await engine.loadSplit("train", data.images, data.labels);
  await engine.buildModel(config());
  const training = engine.train({ steps: 1000, batchSize: 32, lr: 0.01 });
  const predicting = engine.predict({ split: "train" });
  setTimeout(() => process.kill(engine.pid ?? 0, "SIGKILL"), 300);
  for (const pending of [training, predicting]) {
    const error = await rejectsWith(pending, "WorkerExited");
    assert.match(error.message, /killed by signal SIGKILL/);
  }
  await rejectsWith(engine.snapshot("after"), "WorkerExited");
  await engine.close();
});

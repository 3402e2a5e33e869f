// The training loop drives the real torch worker the way the original AutoCLINT drives its
// optimizer: learning rates per step through the warm-up, a random flip on every training image,
// and after the augmentation search a fresh optimizer on a fresh schedule from half the *initial*
// learning rate. The engine is the real one,
// wrapped to record what the loop asks of it and to stop the run after a few chunks.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { AugmentationSearch } from "../augmentation/search";
import type { Engine, ImageTensor, PredictRequest, TrainReport, TrainRequest } from "../engines/engine";
import { TorchEngine } from "../engines/torch";
import { runAutoClint, type LabeledTensor, type PreparedData } from "./loop";
import { seededRandom } from "../util/random";

const SIZE = 8;
const CLASSES = 3;

/** n 8x8 grey images: noise plus a bright row band for the class. */
function bandImages(n: number, seed: number): LabeledTensor {
  const random = seededRandom(seed);
  const pixels = new Uint8Array(n * SIZE * SIZE);
  const labels = new Float32Array(n * CLASSES);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(random() * CLASSES);
    labels[i * CLASSES + k] = 1;
    for (let p = 0; p < SIZE * SIZE; p++) pixels[i * SIZE * SIZE + p] = Math.floor(p / SIZE / 3) === k ? 220 : Math.floor(random() * 60);
  }
  const images: ImageTensor = { pixels, shape: [n, 1, SIZE, SIZE, 1] };
  return { images, labels };
}

class StopRun extends Error {}

/** The real engine, recording train requests, reports and optimizer resets; the Nth train call is recorded and stops the run. */
class RecordingEngine {
  readonly calls: (TrainRequest | "resetOptimizer")[] = [];
  readonly reports: TrainReport[] = [];
  readonly predictions: PredictRequest[] = [];
  stopped = false;
  constructor(
    readonly inner: TorchEngine,
    private readonly trainCalls: number,
  ) {}

  asEngine(): Engine {
    return {
      ready: () => this.inner.ready(),
      loadSplit: (...args) => this.inner.loadSplit(...args),
      buildModel: (config) => this.inner.buildModel(config),
      train: (request) => {
        this.calls.push(request);
        if (this.calls.filter((c) => c !== "resetOptimizer").length < this.trainCalls) {
          return this.inner.train(request).then((report) => (this.reports.push(report), report));
        }
        this.stopped = true;
        return Promise.reject(new StopRun("enough"));
      },
      predict: (request) => (this.predictions.push(request), this.inner.predict(request)),
      snapshot: (name) => this.inner.snapshot(name),
      restore: (name) => this.inner.restore(name),
      resetOptimizer: () => {
        this.calls.push("resetOptimizer");
        return this.inner.resetOptimizer();
      },
      close: () => this.inner.close(),
    };
  }
}

/** A search that fires at the first epoch's end with an empty policy and the original's lr factor. */
function searchAtFirstEpoch(): AugmentationSearch {
  let fired = false;
  return {
    strategy: "test",
    summary: () => (fired ? "fired" : "not yet"),
    afterEpoch: () => {
      if (fired) return Promise.resolve(undefined);
      fired = true;
      return Promise.resolve({ policy: [], lrFactor: 0.5, detail: "test search" });
    },
  };
}

let torch: TorchEngine;
before(async () => {
  torch = new TorchEngine();
  await torch.ready();
});
after(() => torch.close());

test("warm-up per step from L/2; after the search a fresh optimizer and schedule from L/4", { timeout: 300_000 }, async () => {
  const data: PreparedData = {
    classes: CLASSES, multiLabel: false, video: false,
    train: bandImages(64, 1), valid: bandImages(30, 2), trainProbe: bandImages(30, 3), testRows: 30,
  };
  const test = bandImages(30, 4).images;
  await torch.loadSplit("train", data.train.images, data.train.labels);
  await torch.loadSplit("valid", data.valid.images, data.valid.labels);
  await torch.loadSplit("train-probe", data.trainProbe.images, data.trainProbe.labels);
  await torch.loadSplit("test", test);
  const recording = new RecordingEngine(torch, 3);
  const start = performance.now();
  const now = () => (performance.now() - start) / 1000;
  let index = 0;
  // One test prediction expected to cost 0.4 s: the rule trains 0.2 s before the first one.
  const summary = await runAutoClint(data, { budget: 3600, tau: 8, seed: 0, predictSeconds: 0.4 }, {
    engine: recording.asEngine(),
    now,
    onTestPrediction: () => Promise.resolve({ index: index++, at: now() }),
    onValid: () => undefined,
    onTest: () => undefined,
    onPhase: () => undefined,
    onTrial: () => undefined,
    search: searchAtFirstEpoch(),
    log: () => undefined,
    interrupted: () => (recording.stopped ? "stopped by the test" : undefined),
  });
  assert.equal(summary.stopReason, "stopped by the test");

  const [first, second, reset, third] = recording.calls;
  assert.equal(recording.calls.length, 4, JSON.stringify(recording.calls.map((c) => (c === "resetOptimizer" ? c : c.steps))));
  const lrs = (call: typeof first, steps: number) => {
    assert.ok(call && call !== "resetOptimizer" && Array.isArray(call.lr), "one learning rate per step");
    assert.equal(call.steps, steps);
    return call.lr as number[];
  };
  const expect = (actual: number[], peak: number, fromStep: number) =>
    actual.forEach((lr, i) => assert.ok(Math.abs(lr - (peak / 2) * (1 + (fromStep + i) / 150)) < 1e-12, `step ${fromStep + i}: ${lr}`));
  // L = 0.025 for batch 32. The first chunk is sized in time by the prediction rule (half a
  // prediction's cost), up to the epoch's end, and scores the batches it trains on.
  assert.ok(first && first !== "resetOptimizer" && first.maxSeconds === 0.2 && first.scoreBatches === true, JSON.stringify(first));
  const ran = recording.reports[0]!.images / 32;
  assert.ok(recording.reports[0]!.seconds >= 0.2 && ran >= 1 && ran < 30, `first chunk: ${ran} steps in ${recording.reports[0]!.seconds} s`);
  expect(lrs(first, 30).slice(0, ran), 0.025, 0);
  assert.deepEqual(first.policy, [[["FlipLR", 0.5, 0]]], "training flips at random");
  // No valid or train-probe pass before the first prediction, which uses the live weights.
  assert.deepEqual(recording.predictions[0], { split: "test", flip: false });
  // Then the rest of the epoch, with a valid pass after it.
  expect(lrs(second, 30 - ran), 0.025, ran);
  assert.ok(second && second !== "resetOptimizer" && second.maxSeconds === undefined && !second.scoreBatches);
  assert.equal(recording.predictions[1]?.split, "valid");
  assert.equal(reset, "resetOptimizer", "a fresh optimizer after the search");
  // the retraining warms up again from L/4 towards L/2
  expect(lrs(third, 30), 0.0125, 0);
});

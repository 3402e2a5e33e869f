// The behaviour every compute engine owes the trainer, as one suite run against each engine
// (torch.test.ts, tfjs.test.ts): learning, snapshots, policy passes, flips, multi-label, channel
// adapters, video, the loss, weights files, typed errors and the speed probe. Images are 16x16
// and steps few: a full ResNet18 on 2 shared cores. What only one engine has stays in its own file.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { nauc, type Policy } from "@autoclint/api";
import { EngineError, type Engine, type ImageTensor, type ModelConfig, type PredictRequest, type Predictions, type SpeedProbe } from "./engine";

const SIZE = 16;

/** A seeded LCG: tests must not depend on Math.random. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * N images of `frames` x 16 x 16 x `channels`: dim noise plus one bright horizontal bar per positive
 * class (bar k sits in rows 1+5k..3+5k). Single-label: one class each; multi-label: each class
 * independently with p = 0.5.
 */
export function bars(n: number, options: { classes?: number; channels?: number; frames?: number; multiLabel?: boolean; seed: number }) {
  const { classes = 3, channels = 1, frames = 1, multiLabel = false } = options;
  const random = rng(options.seed);
  const pixels = new Uint8Array(n * frames * SIZE * SIZE * channels);
  const labels = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) {
    const positive = multiLabel ? [...Array(classes).keys()].filter(() => random() < 0.5) : [Math.floor(random() * classes)];
    for (const k of positive) labels[i * classes + k] = 1;
    for (let p = 0; p < frames * SIZE * SIZE; p++) {
      const row = Math.floor((p % (SIZE * SIZE)) / SIZE);
      const lit = positive.some((k) => row >= 1 + 5 * k && row < 4 + 5 * k);
      for (let c = 0; c < channels; c++) pixels[(i * frames * SIZE * SIZE + p) * channels + c] = lit ? 220 : Math.floor(random() * 60);
    }
  }
  const images: ImageTensor = { pixels, shape: [n, frames, SIZE, SIZE, channels] };
  return { images, labels };
}

/** Every frame mirrored left-right. */
function mirrored(images: ImageTensor): ImageTensor {
  const [n, frames, h, w, c] = images.shape;
  const pixels = new Uint8Array(images.pixels.length);
  for (let row = 0; row < n * frames * h; row++) {
    for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) pixels[(row * w + x) * c + ch] = images.pixels[(row * w + (w - 1 - x)) * c + ch]!;
  }
  return { pixels, shape: images.shape };
}

/** Every clip's frames in reverse order. */
function reversedFrames(images: ImageTensor): ImageTensor {
  const [n, frames, h, w, c] = images.shape;
  const frame = h * w * c;
  const pixels = new Uint8Array(images.pixels.length);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < frames; t++) pixels.set(images.pixels.subarray((i * frames + frames - 1 - t) * frame, (i * frames + frames - t) * frame), (i * frames + t) * frame);
  }
  return { pixels, shape: images.shape };
}

export function config(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return { arch: "resnet18", numClasses: 3, inputChannels: 1, multiLabel: false, tau: 8, seed: 1, momentum: 0.9, weightDecay: 2.5e-4, ...overrides };
}

/** (passes x N x K) -> pass `pass` as N rows. */
function rows(predictions: Predictions, pass = 0): number[][] {
  const { rows: n, classes: k, scores } = predictions;
  return [...Array(n).keys()].map((i) => [...scores.subarray((pass * n + i) * k, (pass * n + i + 1) * k)]);
}

function matrix(labels: Float32Array, k: number): number[][] {
  return [...Array(labels.length / k).keys()].map((i) => [...labels.subarray(i * k, (i + 1) * k)]);
}

export async function rejectsWith(promise: Promise<unknown>, type: string): Promise<EngineError> {
  const error = await promise.then(
    () => assert.fail(`expected an EngineError of type ${type}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof EngineError, `not an EngineError: ${String(error)}`);
  assert.equal(error.engineErrorType, type, error.message);
  return error;
}

/** An engine under contract: the Engine interface plus the calls the tests pin the maths with. */
export interface ContractEngine extends Engine {
  probe(shape: readonly [number, number, number, number], classes: number): Promise<SpeedProbe>;
  loss(logits: Float32Array, labels: Float32Array, classes: number, multiLabel: boolean): Promise<number>;
  saveWeights(path: string): Promise<void>;
}

export interface EngineContract {
  name: string;
  make(log: (line: string) => void): ContractEngine;
  /** The weights files it saves and reads back (by extension). */
  weightsFiles: string[];
  /** Tensors in its saved state dict without the FC (torch's carries BatchNorm's num_batches_tracked too). */
  savedTensors: number;
  /** What its log lines must show once the contract's tests ran. */
  logShows: RegExp;
}

// ResNet18 without its FC has 11,176,512 parameters; the head is 512 x K without a bias; the
// adapter a 3x3 conv from C to 3 channels without bias plus a BatchNorm (3 weights, 3 biases).
const BACKBONE = 11_176_512;

/** Registers the contract's tests for one engine, on one instance of it, in order. */
export function describeEngineContract(contract: EngineContract): void {
  void describe(`the engine contract: ${contract.name}`, () => {
    const log: string[] = [];
    let engine: ContractEngine;
    let dir: string;
    before(async () => {
      engine = contract.make((line) => log.push(line));
      dir = await mkdtemp(join(tmpdir(), `autoclint-${contract.name}-contract-`));
    });
    after(async () => {
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    });
    learning(() => engine);
    modelShapes(() => engine);
    lossAndWeights(() => engine, () => dir, contract);
    void test("shape mismatches and unknown splits are typed errors; the speed probe leaves the live model alone", async () => {
      await rejectsWith(engine.loadSplit("test", { pixels: new Uint8Array(10), shape: [2, 1, 4, 4, 1] }), "ShapeMismatch");
      await rejectsWith(engine.predict({ split: "train-probe" }), "NotFound");
      const testSet = bars(20, { seed: 2 });
      await engine.loadSplit("test", testSet.images);
      await engine.buildModel(config());
      const live = await engine.predict({ split: "test" });
      const small = await engine.probe([1, 16, 16, 3], 10);
      const large = await engine.probe([1, 64, 64, 3], 10);
      assert.deepEqual([small.frames, small.height, small.width, small.channels], [1, 16, 16, 3]);
      assert.ok(small.samplesPerSecond > 0 && large.samplesPerSecond > 0);
      // 16 times the pixels: slower, whatever the machine's load (a wide margin).
      assert.ok(large.samplesPerSecond < small.samplesPerSecond, `${large.samplesPerSecond} vs ${small.samplesPerSecond}`);
      assert.ok((await engine.probe([4, 16, 16, 1], 5)).samplesPerSecond > 0);
      assert.deepEqual((await engine.predict({ split: "test" })).scores, live.scores, "the probe ran on a throwaway model");
    });
    void test(`its log lines reach the logger and show ${contract.logShows}`, () => {
      assert.ok(log.some((line) => contract.logShows.test(line)), log.join("\n"));
    });
  });
}

function learning(engine: () => ContractEngine): void {
  void test("training lowers the loss and predictions beat chance", async () => {
    const train = bars(150, { seed: 1 });
    const testSet = bars(60, { seed: 2 });
    await engine().loadSplit("train", train.images, train.labels);
    await engine().loadSplit("test", testSet.images);
    const report = await engine().buildModel(config());
    assert.equal(report.init, "random");
    assert.equal(report.parameters, BACKBONE + 512 * 3);
    const first = await engine().train({ steps: 3, batchSize: 32, lr: 0.05, policy: [[["FlipLR", 0.5, 0]]] });
    assert.equal(first.images, 96);
    assert.ok(first.imagesPerSecond > 0);
    const second = await engine().train({ steps: 3, batchSize: 32, lr: [0.05, 0.05, 0.04] });
    assert.ok(second.loss < first.loss, `loss ${first.loss} -> ${second.loss}`);
    const predictions = await engine().predict({ split: "test" });
    assert.deepEqual([predictions.passes, predictions.rows, predictions.classes], [1, 60, 3]);
    for (const row of rows(predictions)) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    const score = nauc(matrix(testSet.labels, 3), rows(predictions));
    assert.ok(score > 0.5, `NAUC ${score}`);
    await rejectsWith(engine().train({ steps: 2, batchSize: 32, lr: [0.1] }), "BadRequest");
  });

  void test("snapshot/restore: a named checkpoint predicts as the live weights did and leaves them alone", async () => {
    // A torch checkpoint on a CPU predicts through a copy with BatchNorm folded into the
    // convolutions (AUTOCLINT_TORCH_INFERENCE): the same function up to float rounding.
    const close = (a: Float32Array, b: Float32Array) => assert.ok(a.every((x, i) => Math.abs(x - b[i]!) < 1e-6), "scores equal to 1e-6");
    await engine().snapshot("best");
    const live = await engine().predict({ split: "test" });
    close((await engine().predict({ split: "test", checkpoint: "best" })).scores, live.scores);
    await engine().train({ steps: 1, batchSize: 32, lr: 0.05 });
    const moved = await engine().predict({ split: "test" });
    assert.notDeepEqual(moved.scores, live.scores);
    close((await engine().predict({ split: "test", checkpoint: "best" })).scores, live.scores);
    assert.deepEqual((await engine().predict({ split: "test" })).scores, moved.scores);
    await engine().restore("best");
    assert.deepEqual((await engine().predict({ split: "test" })).scores, live.scores);
    await rejectsWith(engine().predict({ split: "test", checkpoint: "nope" }), "NotFound");
  });

  void test("predict under a policy: independent passes, reproducible by seed", async () => {
    const policy: Policy = [[["Rotate", 1, 9], ["Cutout", 1, 9]]];
    const request: PredictRequest = { split: "test", policy, passes: 2, seed: 7 };
    const a = await engine().predict(request);
    assert.deepEqual([a.passes, a.rows, a.classes], [2, 60, 3]);
    assert.notDeepEqual(rows(a, 0), rows(a, 1));
    assert.deepEqual((await engine().predict(request)).scores, a.scores);
  });

  void test("predict with flip averages each image with its mirror: an image and its mirror then score alike", async () => {
    const testSet = bars(60, { seed: 2 });
    await engine().loadSplit("valid", mirrored(testSet.images), testSet.labels);
    const gap = (a: number[][], b: number[][]) => Math.max(...a.flatMap((row, i) => row.map((v, k) => Math.abs(v - b[i]![k]!))));
    const plain = [rows(await engine().predict({ split: "test" })), rows(await engine().predict({ split: "valid" }))] as const;
    const flipped = [rows(await engine().predict({ split: "test", flip: true })), rows(await engine().predict({ split: "valid", flip: true }))] as const;
    assert.ok(gap(...plain) > 1e-3, "the noise makes an image and its mirror differ");
    assert.ok(gap(...flipped) < 1e-6, `with flip: ${gap(...flipped)}`);
  });

  void test("multi-label: BCE training and sigmoid scores", async () => {
    const train = bars(96, { multiLabel: true, seed: 3 });
    const valid = bars(40, { multiLabel: true, seed: 4 });
    await engine().loadSplit("train", train.images, train.labels);
    await engine().loadSplit("valid", valid.images, valid.labels);
    await engine().buildModel(config({ multiLabel: true }));
    // half the single-label rate: with half the labels positive, the class-balanced BCE doubles every term
    const first = await engine().train({ steps: 3, batchSize: 32, lr: 0.1 });
    const second = await engine().train({ steps: 3, batchSize: 32, lr: 0.1 });
    assert.ok(second.loss < first.loss, `loss ${first.loss} -> ${second.loss}`);
    const predictions = await engine().predict({ split: "valid" });
    assert.ok(rows(predictions).some((row) => Math.abs(row.reduce((a, b) => a + b, 0) - 1) > 0.05), "sigmoid rows need not sum to 1");
    assert.ok(predictions.scores.every((s) => s > 0 && s < 1));
    const score = nauc(matrix(valid.labels, 3), rows(predictions));
    assert.ok(score > 0.5, `NAUC ${score}`);
  });
}

function modelShapes(engine: () => ContractEngine): void {
  for (const [channels, adapter] of [[1, 0], [2, 2 * 3 * 9 + 6], [3, 0], [4, 4 * 3 * 9 + 6]] as const) {
    void test(`${channels}-channel input: adapter of ${adapter} parameters, FC without bias`, async () => {
      const data = bars(40, { channels, seed: 5 });
      await engine().loadSplit("train", data.images, data.labels);
      assert.equal((await engine().buildModel(config({ inputChannels: channels }))).parameters, BACKBONE + 512 * 3 + adapter);
      assert.ok(Number.isFinite((await engine().train({ steps: 1, batchSize: 16, lr: 0.01 })).loss));
      const predictions = await engine().predict({ split: "train" });
      assert.deepEqual([predictions.rows, predictions.classes], [40, 3]);
    });
  }

  void test("video: frames folded into the batch, a residual temporal block that sees their order; without it a clip is the mean of its frames", async () => {
    const data = bars(24, { frames: 4, seed: 6 });
    await engine().loadSplit("train", data.images, data.labels);
    await engine().loadSplit("valid", reversedFrames(data.images), data.labels);
    const built = await engine().buildModel(config({ video: true }));
    assert.equal(built.parameters, BACKBONE + 512 * 3 + 512 * 512 * 5 + 2 * 512, "Conv1d 512->512 k5 without bias + BatchNorm1d");
    assert.equal((await engine().train({ steps: 1, batchSize: 8, lr: 0.01, policy: [[["FlipLR", 0.5, 0]]] })).images, 8);
    const forward = rows(await engine().predict({ split: "train" }));
    assert.equal(forward.length, 24);
    assert.notDeepEqual(rows(await engine().predict({ split: "valid" })), forward, "the temporal block sees the order of the frames");
    await engine().buildModel(config());
    const mean = rows(await engine().predict({ split: "train" }));
    const meanReversed = rows(await engine().predict({ split: "valid" }));
    mean.forEach((row, i) => row.forEach((v, k) => assert.ok(Math.abs(v - meanReversed[i]![k]!) < 1e-5)));
  });
}

function lossAndWeights(engine: () => ContractEngine, dir: () => string, contract: EngineContract): void {
  void test("loss: softmax cross-entropy; multi-label BCE reweighted by the batch's positive and negative shares", async () => {
    const random = rng(11);
    const logits = Float32Array.from({ length: 20 * 5 }, () => random() * 4 - 2);
    const bce = (z: number, y: number) => Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    const expected = (labels: Float32Array) => {
      const positives = labels.reduce((a, b) => a + b, 0) / labels.length;
      const clamp = (v: number) => Math.min(0.9, Math.max(0.1, v));
      const terms = [...labels].map((y, i) => bce(logits[i]!, y) / (y === 1 ? clamp(positives) : clamp(1 - positives)));
      return terms.reduce((a, b) => a + b, 0) / terms.length;
    };
    const rare = new Float32Array(100);
    for (const i of [3, 41, 77]) rare[i] = 1; // 3% positives: the shares clamp to 0.1 and 0.9
    const even = Float32Array.from({ length: 100 }, (_, i) => i % 2); // 50%: every term doubled
    for (const labels of [rare, even]) {
      const actual = await engine().loss(logits, labels, 5, true);
      assert.ok(Math.abs(actual - expected(labels)) < 1e-5, `${actual} != ${expected(labels)}`);
    }
    const oneHot = Float32Array.from({ length: 100 }, (_, i) => (i % 5 === Math.floor(i / 5) % 5 ? 1 : 0));
    let ce = 0;
    for (let r = 0; r < 20; r++) {
      const row = [...logits.subarray(r * 5, r * 5 + 5)];
      const max = Math.max(...row);
      ce += Math.log(row.reduce((a, z) => a + Math.exp(z - max), 0)) + max - row[r % 5]!;
    }
    assert.ok(Math.abs((await engine().loss(logits, oneHot, 5, false)) - ce / 20) < 1e-5);
  });

  void test("weights: its own ResNet18 saved in torchvision format loads as pretrained; a missing or corrupt file is a WeightsError", async () => {
    await engine().buildModel(config());
    for (const name of contract.weightsFiles) {
      const path = join(dir(), name);
      await engine().saveWeights(path);
      const report = await engine().buildModel(config({ numClasses: 5, weightsPath: path }));
      assert.equal(report.init, "pretrained");
      assert.match(report.detail, new RegExp(`${contract.savedTensors} tensors.*FC skipped`));
    }
    const missing = await rejectsWith(engine().buildModel(config({ weightsPath: join(dir(), "none.safetensors") })), "WeightsError");
    assert.match(missing.message, /not found/);
    const corrupt = join(dir(), "corrupt.safetensors");
    await writeFile(corrupt, "this is not a tensor file");
    await rejectsWith(engine().buildModel(config({ weightsPath: corrupt })), "WeightsError");
  });
}

// The tfjs engine on the real tfjs-node over libtensorflow (hack/tfjs.sh): the same behaviours the
// torch engine's tests pin (torch.test.ts): learning, snapshots, flips, multi-label, channel
// adapters, video, weights files and typed errors. Images are 16x16 and steps few.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { nauc, type Policy } from "@autoclint/api";
import { EngineError, type ImageTensor, type ModelConfig, type Predictions } from "./engine";
import { createEngine } from "./index";
import { TfjsEngine } from "./tfjs";

const SIZE = 16;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** n images of frames x 16 x 16 x channels: noise plus a bright bar per positive class. */
function bars(n: number, options: { classes?: number; channels?: number; frames?: number; multiLabel?: boolean; seed: number }) {
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

function mirrored(images: ImageTensor): ImageTensor {
  const [n, frames, h, w, c] = images.shape;
  const pixels = new Uint8Array(images.pixels.length);
  for (let row = 0; row < n * frames * h; row++) {
    for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) pixels[(row * w + x) * c + ch] = images.pixels[(row * w + (w - 1 - x)) * c + ch]!;
  }
  return { pixels, shape: images.shape };
}

function reversedFrames(images: ImageTensor): ImageTensor {
  const [n, frames, h, w, c] = images.shape;
  const frame = h * w * c;
  const pixels = new Uint8Array(images.pixels.length);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < frames; t++) pixels.set(images.pixels.subarray((i * frames + frames - 1 - t) * frame, (i * frames + frames - t) * frame), (i * frames + t) * frame);
  }
  return { pixels, shape: images.shape };
}

function config(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return { arch: "resnet18", numClasses: 3, inputChannels: 1, multiLabel: false, tau: 8, seed: 1, momentum: 0.9, weightDecay: 2.5e-4, ...overrides };
}

function rows(predictions: Predictions, pass = 0): number[][] {
  const { rows: n, classes: k, scores } = predictions;
  return [...Array(n).keys()].map((i) => [...scores.subarray((pass * n + i) * k, (pass * n + i + 1) * k)]);
}

function matrix(labels: Float32Array, k: number): number[][] {
  return [...Array(labels.length / k).keys()].map((i) => [...labels.subarray(i * k, (i + 1) * k)]);
}

async function rejectsWith(promise: Promise<unknown>, type: string): Promise<EngineError> {
  const error = await promise.then(
    () => assert.fail(`expected an EngineError of type ${type}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof EngineError, `not an EngineError: ${String(error)}`);
  assert.equal(error.engineErrorType, type, error.message);
  return error;
}

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
  const log: string[] = [];
  let engine: TfjsEngine;
  let dir: string;

  before(async () => {
    engine = new TfjsEngine({ log: (line) => log.push(line) });
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

  void test("training lowers the loss and predictions beat chance", async () => {
    const train = bars(150, { seed: 1 });
    const testSet = bars(60, { seed: 2 });
    await engine.loadSplit("train", train.images, train.labels);
    await engine.loadSplit("test", testSet.images);
    const report = await engine.buildModel(config());
    assert.equal(report.init, "random");
    assert.equal(report.parameters, 11_176_512 + 512 * 3);
    const first = await engine.train({ steps: 3, batchSize: 32, lr: 0.05, policy: [[["FlipLR", 0.5, 0]]] });
    assert.equal(first.images, 96);
    const second = await engine.train({ steps: 3, batchSize: 32, lr: [0.05, 0.05, 0.04] });
    assert.ok(second.loss < first.loss, `loss ${first.loss} -> ${second.loss}`);
    const predictions = await engine.predict({ split: "test" });
    assert.deepEqual([predictions.passes, predictions.rows, predictions.classes], [1, 60, 3]);
    for (const row of rows(predictions)) assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    const score = nauc(matrix(testSet.labels, 3), rows(predictions));
    assert.ok(score > 0.5, `NAUC ${score}`);
    await rejectsWith(engine.train({ steps: 2, batchSize: 32, lr: [0.1] }), "BadRequest");
    const limited = await engine.train({ steps: 50, batchSize: 32, lr: 0.01, maxSeconds: 0.001 });
    assert.equal(limited.images, 32, "maxSeconds: one step, then the time is up");
  });

  void test("the speed probe measures prediction at a shape on a throwaway model; the live model is untouched", async () => {
    const before = await engine.predict({ split: "test" });
    const small = await engine.probe([1, 16, 16, 3], 10);
    const large = await engine.probe([1, 64, 64, 3], 10);
    assert.deepEqual([small.frames, small.height, small.width, small.channels], [1, 16, 16, 3]);
    assert.ok(small.samplesPerSecond > 0 && large.samplesPerSecond > 0);
    // 16 times the pixels: slower, whatever the machine's load (a wide margin).
    assert.ok(large.samplesPerSecond < small.samplesPerSecond, `${large.samplesPerSecond} vs ${small.samplesPerSecond}`);
    const clips = await engine.probe([4, 16, 16, 1], 5);
    assert.ok(clips.samplesPerSecond > 0);
    assert.deepEqual((await engine.predict({ split: "test" })).scores, before.scores, "the probe leaves the live model's weights alone");
  });

  void test("training runs off the trainer's event loop: timers keep firing during a chunk", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = performance.now();
    await engine.train({ steps: 4, batchSize: 32, lr: 0.01 });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // a blocked loop would tick at most once, after the chunk; free, it ticks about every 20 ms
    assert.ok(ticks >= Math.min(10, elapsed / 100), `${ticks} ticks in ${elapsed.toFixed(0)} ms of training`);
  });

  void test("snapshot/restore: a named checkpoint predicts identically and leaves the live weights alone", async () => {
    await engine.snapshot("best");
    const live = await engine.predict({ split: "test" });
    assert.deepEqual((await engine.predict({ split: "test", checkpoint: "best" })).scores, live.scores);
    await engine.train({ steps: 1, batchSize: 32, lr: 0.05 });
    const moved = await engine.predict({ split: "test" });
    assert.notDeepEqual(moved.scores, live.scores);
    assert.deepEqual((await engine.predict({ split: "test", checkpoint: "best" })).scores, live.scores);
    await engine.restore("best");
    assert.deepEqual((await engine.predict({ split: "test" })).scores, live.scores);
    await rejectsWith(engine.predict({ split: "test", checkpoint: "nope" }), "NotFound");
  });

  void test("predict under a policy: independent passes, reproducible by seed", async () => {
    const policy: Policy = [[["Rotate", 1, 9], ["Cutout", 1, 9]]];
    const request = { split: "test" as const, policy, passes: 2, seed: 7 };
    const a = await engine.predict(request);
    assert.deepEqual([a.passes, a.rows, a.classes], [2, 60, 3]);
    assert.notDeepEqual(rows(a, 0), rows(a, 1));
    assert.deepEqual((await engine.predict(request)).scores, a.scores);
  });

  void test("predict with flip averages each image with its mirror", async () => {
    const testSet = bars(60, { seed: 2 });
    await engine.loadSplit("valid", mirrored(testSet.images), testSet.labels);
    const gap = (a: number[][], b: number[][]) => Math.max(...a.flatMap((row, i) => row.map((v, k) => Math.abs(v - b[i]![k]!))));
    const plain = [rows(await engine.predict({ split: "test" })), rows(await engine.predict({ split: "valid" }))] as const;
    const flipped = [rows(await engine.predict({ split: "test", flip: true })), rows(await engine.predict({ split: "valid", flip: true }))] as const;
    assert.ok(gap(...plain) > 1e-3, "the noise makes an image and its mirror differ");
    assert.ok(gap(...flipped) < 1e-6, `with flip: ${gap(...flipped)}`);
  });

  void test("multi-label: BCE training and sigmoid scores", async () => {
    const train = bars(96, { multiLabel: true, seed: 3 });
    const valid = bars(40, { multiLabel: true, seed: 4 });
    await engine.loadSplit("train", train.images, train.labels);
    await engine.loadSplit("valid", valid.images, valid.labels);
    await engine.buildModel(config({ multiLabel: true }));
    const first = await engine.train({ steps: 3, batchSize: 32, lr: 0.1 });
    const second = await engine.train({ steps: 3, batchSize: 32, lr: 0.1 });
    assert.ok(second.loss < first.loss, `loss ${first.loss} -> ${second.loss}`);
    const predictions = await engine.predict({ split: "valid" });
    assert.ok(rows(predictions).some((row) => Math.abs(row.reduce((a, b) => a + b, 0) - 1) > 0.05), "sigmoid rows need not sum to 1");
    assert.ok(nauc(matrix(valid.labels, 3), rows(predictions)) > 0.5);
  });

  for (const [channels, adapter] of [[2, 2 * 3 * 9 + 6], [4, 4 * 3 * 9 + 6]] as const) {
    void test(`${channels}-channel input: adapter of ${adapter} parameters`, async () => {
      const data = bars(40, { channels, seed: 5 });
      await engine.loadSplit("train", data.images, data.labels);
      assert.equal((await engine.buildModel(config({ inputChannels: channels }))).parameters, 11_176_512 + 512 * 3 + adapter);
      assert.ok(Number.isFinite((await engine.train({ steps: 1, batchSize: 16, lr: 0.01 })).loss));
      assert.deepEqual(rows(await engine.predict({ split: "train" })).length, 40);
    });
  }

  void test("video: a residual temporal block sees the order of the frames; without it a clip is the mean of its frames", async () => {
    const data = bars(24, { frames: 4, seed: 6 });
    await engine.loadSplit("train", data.images, data.labels);
    await engine.loadSplit("valid", reversedFrames(data.images), data.labels);
    const built = await engine.buildModel(config({ video: true }));
    assert.equal(built.parameters, 11_176_512 + 512 * 3 + 512 * 512 * 5 + 2 * 512);
    assert.equal((await engine.train({ steps: 1, batchSize: 8, lr: 0.01, policy: [[["FlipLR", 0.5, 0]]] })).images, 8);
    const forward = rows(await engine.predict({ split: "train" }));
    assert.equal(forward.length, 24);
    assert.notDeepEqual(rows(await engine.predict({ split: "valid" })), forward);
    await engine.buildModel(config());
    const mean = rows(await engine.predict({ split: "train" }));
    const meanReversed = rows(await engine.predict({ split: "valid" }));
    mean.forEach((row, i) => row.forEach((v, k) => assert.ok(Math.abs(v - meanReversed[i]![k]!) < 1e-5)));
  });

  void test("weights: its own ResNet18 saved in torchvision format loads as pretrained; bad files are WeightsErrors", async () => {
    await engine.buildModel(config());
    const path = join(dir, "resnet18.safetensors");
    await engine.saveWeights(path);
    const report = await engine.buildModel(config({ numClasses: 5, weightsPath: path }));
    assert.equal(report.init, "pretrained");
    assert.match(report.detail, /100 tensors.*FC skipped/);
    assert.match((await rejectsWith(engine.buildModel(config({ weightsPath: join(dir, "none.safetensors") })), "WeightsError")).message, /not found/);
    const corrupt = join(dir, "corrupt.safetensors");
    await writeFile(corrupt, "this is not a tensor file");
    await rejectsWith(engine.buildModel(config({ weightsPath: corrupt })), "WeightsError");
    const pth = join(dir, "resnet18.pth");
    await writeFile(pth, "a pickle");
    assert.match((await rejectsWith(engine.buildModel(config({ weightsPath: pth })), "WeightsError")).message, /\.safetensors weights only/);
  });

  void test("shape mismatches, unknown splits and missing models are typed errors", async () => {
    await rejectsWith(engine.loadSplit("test", { pixels: new Uint8Array(10), shape: [2, 1, 4, 4, 1] }), "ShapeMismatch");
    await rejectsWith(engine.predict({ split: "train-probe" }), "NotFound");
    const fresh = new TfjsEngine();
    await rejectsWith(fresh.train({ steps: 1, batchSize: 1, lr: 0.1 }), "NoModel");
    await fresh.close();
    await rejectsWith(fresh.snapshot("x"), "Closed");
  });

  void test("the log names the library it runs on", () => {
    assert.ok(log.some((line) => line.includes("TensorFlow 2.18.1")), log.join("\n"));
  });
});

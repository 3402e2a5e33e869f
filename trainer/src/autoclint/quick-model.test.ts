import { test } from "node:test";
import assert from "node:assert/strict";
import type { ImageTensor } from "../engines/engine";
import { flatNauc } from "./flat-nauc";
import { fitQuickModel, pooledFeatures, pooledGrid, predictQuick, QUICK_FEATURE_STAGES, solveRidge, type LabeledImages } from "./quick-model";
import { seededRandom, type Random } from "../util/random";

/**
 * Small synthetic tasks: each class lights up its own patch of the image (a grid position), on
 * top of noise and a random overall brightness, so the classes are learnable but not trivially.
 */
function syntheticTask(options: { rows: number; classes: number; frames: number; side: number; channels: number; labelsPerRow: (r: Random) => number[]; seed: number }): LabeledImages {
  const { rows, classes, frames, side, channels } = options;
  const random = seededRandom(options.seed);
  const sampleBytes = frames * side * side * channels;
  const pixels = new Uint8Array(rows * sampleBytes);
  const labels = new Float32Array(rows * classes);
  const cells = Math.ceil(Math.sqrt(classes));
  const cell = Math.floor(side / cells);
  for (let r = 0; r < rows; r++) {
    const positives = options.labelsPerRow(random);
    for (const k of positives) labels[r * classes + k] = 1;
    const brightness = 40 + random() * 60;
    // Every pixel of every frame: its class cell, lit or not, then noise on each channel.
    for (let p = 0; p < frames * side * side; p++) {
      const y = Math.floor(p / side) % side;
      const x = p % side;
      const k = Math.floor(y / cell) * cells + Math.floor(x / cell);
      const lit = positives.includes(k) && random() < 0.8;
      for (let c = 0; c < channels; c++) pixels[r * sampleBytes + p * channels + c] = Math.min(255, random() * 120 + (lit ? brightness : 0));
    }
  }
  const images: ImageTensor = { pixels, shape: [rows, frames, side, side, channels] };
  return { images, labels };
}

/** Held-out NAUC of the quick model, the lower of its coarse and fine stages. */
function heldOutNauc(kind: { classes: number; frames: number; side: number; channels: number; labelsPerRow: (r: Random) => number[] }): number {
  const train = syntheticTask({ ...kind, rows: 400, seed: 1 });
  const valid = syntheticTask({ ...kind, rows: 100, seed: 2 });
  const test = syntheticTask({ ...kind, rows: 300, seed: 3 });
  const scores = QUICK_FEATURE_STAGES.map((stage) => {
    const fit = fitQuickModel(train, valid, kind.classes, stage);
    assert.ok(Number.isFinite(fit.validScore));
    return flatNauc(test.labels, predictQuick(fit.model, test.images), kind.classes);
  });
  return Math.min(...scores);
}

const oneLabel = (classes: number) => (r: Random) => [Math.floor(r() * classes)];
const someLabels = (classes: number) => (r: Random) => {
  const chosen = Array.from({ length: classes }, (_, k) => k).filter(() => r() < 0.3);
  return chosen.length > 0 ? chosen : [Math.floor(r() * classes)];
};

test("the quick model beats chance (NAUC 0) on single-label images", () => {
  const score = heldOutNauc({ classes: 10, frames: 1, side: 28, channels: 1, labelsPerRow: oneLabel(10) });
  assert.ok(score > 0.5, `held-out NAUC ${score}`);
});

test("the quick model beats chance on multi-label colour images", () => {
  const score = heldOutNauc({ classes: 6, frames: 1, side: 32, channels: 3, labelsPerRow: someLabels(6) });
  assert.ok(score > 0.5, `held-out NAUC ${score}`);
});

test("the quick model beats chance on video (frames averaged), its coarse stage reading 1 in 2 rows and columns", () => {
  const kind = { classes: 4, frames: 8, side: 32, channels: 1, labelsPerRow: oneLabel(4) };
  assert.equal(pooledGrid([1, kind.frames, kind.side, kind.side, kind.channels], QUICK_FEATURE_STAGES[0]).step, 2, "the coarse stage samples these clips");
  const score = heldOutNauc(kind);
  assert.ok(score > 0.5, `held-out NAUC ${score}`);
});

test("on images whose background colour varies, the model picks the distance from the background and beats chance", () => {
  // A random grey background per image; the class's patch (the middle of its quarter) in the opposite grey.
  const task = (rows: number, seed: number): LabeledImages => {
    const random = seededRandom(seed);
    const side = 16;
    const pixels = new Uint8Array(rows * side * side);
    const labels = new Float32Array(rows * 4);
    for (let r = 0; r < rows; r++) {
      const k = Math.floor(random() * 4);
      labels[r * 4 + k] = 1;
      const background = Math.floor(random() * 256);
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const inPatch = Math.floor(y / 8) * 2 + Math.floor(x / 8) === k && y % 8 >= 2 && y % 8 < 6 && x % 8 >= 2 && x % 8 < 6;
          pixels[r * side * side + y * side + x] = inPatch ? 255 - background : background;
        }
      }
    }
    return { images: { pixels, shape: [rows, 1, side, side, 1] }, labels };
  };
  const train = task(400, 1);
  const test = task(300, 3);
  const fit = fitQuickModel(train, task(100, 2), 4);
  assert.equal(fit.model.transform.relative, true, `chose ${JSON.stringify(fit.model.transform)}`);
  const score = flatNauc(test.labels, predictQuick(fit.model, test.images), 4);
  assert.ok(score > 0.5, `held-out NAUC ${score}`);
});

test("labels that carry no signal give a score near chance, not above it", () => {
  const kind = { classes: 4, frames: 1, side: 16, channels: 1 };
  const train = syntheticTask({ ...kind, rows: 400, seed: 1, labelsPerRow: oneLabel(4) });
  const test = syntheticTask({ ...kind, rows: 400, seed: 3, labelsPerRow: oneLabel(4) });
  // Shuffle the training labels against the images: nothing left to learn.
  const shuffledLabels = train.labels.slice();
  shuffledLabels.set(train.labels.subarray(0, 200 * 4), 200 * 4);
  shuffledLabels.set(train.labels.subarray(200 * 4), 0);
  const fit = fitQuickModel({ images: train.images, labels: shuffledLabels }, test, 4);
  assert.ok(Math.abs(fit.validScore) < 0.25, `valid NAUC ${fit.validScore} on shuffled labels`);
});

test("the pooled grid keeps features under the cap and averages blocks exactly", () => {
  assert.deepEqual(pooledGrid([1, 1, 28, 28, 1]), { height: 14, width: 14, channels: 1, step: 1 });
  assert.deepEqual(pooledGrid([1, 1, 32, 32, 3]), { height: 8, width: 8, channels: 3, step: 1 });
  assert.deepEqual(pooledGrid([1, 1, 8, 8, 1]), { height: 8, width: 8, channels: 1, step: 1 });
  // The coarse first stage: at most 64 features before the factor is rounded up.
  const [coarse, fine] = QUICK_FEATURE_STAGES;
  assert.deepEqual(pooledGrid([1, 1, 28, 28, 1], coarse), { height: 7, width: 7, channels: 1, step: 1 });
  assert.deepEqual(pooledGrid([1, 1, 48, 48, 3], coarse), { height: 5, width: 5, channels: 3, step: 2 });
  // ...and at most 2,048 values read per sample: 1 in 3 rows and columns of a 64x64 colour image
  // (12,288 values), 1 in 4 of an 8-frame 64x64 clip (32,768), every frame kept; the fine stage reads all.
  assert.deepEqual(pooledGrid([1, 1, 64, 64, 3], coarse), { height: 5, width: 5, channels: 3, step: 3 });
  assert.deepEqual(pooledGrid([1, 8, 64, 64, 1], coarse), { height: 8, width: 8, channels: 1, step: 4 });
  assert.deepEqual(pooledGrid([1, 8, 64, 64, 1], fine), { height: 16, width: 16, channels: 1, step: 1 });
  // The step never skips a whole bin: a 4x4 grid over 8x8 pixels reads 1 in 2 at most.
  assert.equal(pooledGrid([1, 64, 8, 8, 1], { maxFeatures: 16, maxValues: 64 }).step, 2);
  // One 2x2 image, two frames: the 1x1 grid is the mean of all 8 pixels, over 255.
  const tensor: ImageTensor = { pixels: Uint8Array.from([0, 255, 255, 0, 255, 255, 255, 255]), shape: [1, 2, 2, 2, 1] };
  const features = pooledFeatures(tensor, { height: 1, width: 1, channels: 1, step: 1 });
  assert.equal(features.length, 1);
  assert.ok(Math.abs(features[0]! - 6 / 8) < 1e-12);
  // With step 2 a 2x2 grid over a 4x4 image reads rows and columns 1 and 3: one pixel per bin.
  const sampled = pooledFeatures({ pixels: Uint8Array.from({ length: 16 }, (_, i) => i * 10), shape: [1, 1, 4, 4, 1] }, { height: 2, width: 2, channels: 1, step: 2 });
  assert.deepEqual(Array.from(sampled, (v) => Math.round(v * 255)), [50, 70, 130, 150]);
  // Colour: each channel pools on its own (a 2x2 RGB image to 1x1x3).
  const rgb: ImageTensor = { pixels: Uint8Array.from([255, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]), shape: [1, 1, 2, 2, 3] };
  assert.deepEqual(Array.from(pooledFeatures(rgb, { height: 1, width: 1, channels: 3, step: 1 })), [0.5, 0.25, 0.25]);
  // The pixel exponent applies before pooling: sqrt(64/255) for every pixel of a flat image.
  const flat: ImageTensor = { pixels: new Uint8Array(4).fill(64), shape: [1, 1, 2, 2, 1] };
  assert.ok(Math.abs(pooledFeatures(flat, { height: 1, width: 1, channels: 1, step: 1 }, { gamma: 0.5, relative: false })[0]! - Math.sqrt(64 / 255)) < 1e-12);
  // Relative to the background: a 3x3 image with a border of 200 and a centre of 50 pools to 150/9.
  const framed: ImageTensor = { pixels: Uint8Array.from([200, 200, 200, 200, 50, 200, 200, 200, 200]), shape: [1, 1, 3, 3, 1] };
  assert.ok(Math.abs(pooledFeatures(framed, { height: 1, width: 1, channels: 1, step: 1 }, { gamma: 1, relative: true })[0]! - 150 / 255 / 9) < 1e-12);
});

test("the Cholesky ridge solver solves a known system", () => {
  // A = [[4, 2], [2, 3]], ridge 1: (A + I) w = b for w = [1, -2] gives b = [5 - 4, 2 - 8] = [1, -6].
  const a = Float64Array.from([4, 2, 2, 3]);
  const b = Float64Array.from([1, -6]);
  const w = solveRidge(a, b, 2, 1, 1);
  assert.ok(Math.abs(w[0]! - 1) < 1e-12 && Math.abs(w[1]! + 2) < 1e-12, `w = ${Array.from(w)}`);
  assert.throws(() => solveRidge(Float64Array.from([0, 0, 0, 0]), b, 2, 1, 0), /not positive definite/);
});

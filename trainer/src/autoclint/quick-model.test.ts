import { test } from "node:test";
import assert from "node:assert/strict";
import type { ImageTensor } from "../engines/engine";
import { flatNauc } from "./flat-nauc";
import { fitQuickModel, pooledFeatures, pooledGrid, predictQuick, solveRidge, type LabeledImages } from "./quick-model";
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

function heldOutNauc(kind: { classes: number; frames: number; side: number; channels: number; labelsPerRow: (r: Random) => number[] }): number {
  const train = syntheticTask({ ...kind, rows: 400, seed: 1 });
  const valid = syntheticTask({ ...kind, rows: 100, seed: 2 });
  const test = syntheticTask({ ...kind, rows: 300, seed: 3 });
  const fit = fitQuickModel(train, valid, kind.classes);
  assert.ok(Number.isFinite(fit.validScore));
  return flatNauc(test.labels, predictQuick(fit.model, test.images), kind.classes);
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

test("the quick model beats chance on video (frames averaged)", () => {
  const score = heldOutNauc({ classes: 4, frames: 4, side: 16, channels: 1, labelsPerRow: oneLabel(4) });
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
  assert.deepEqual(pooledGrid([1, 1, 28, 28, 1]), { height: 14, width: 14, channels: 1 });
  assert.deepEqual(pooledGrid([1, 1, 32, 32, 3]), { height: 8, width: 8, channels: 3 });
  assert.deepEqual(pooledGrid([1, 1, 8, 8, 1]), { height: 8, width: 8, channels: 1 });
  // One 2x2 image, two frames: the 1x1 grid is the mean of all 8 pixels, over 255.
  const tensor: ImageTensor = { pixels: Uint8Array.from([0, 255, 255, 0, 255, 255, 255, 255]), shape: [1, 2, 2, 2, 1] };
  const features = pooledFeatures(tensor, { height: 1, width: 1, channels: 1 });
  assert.equal(features.length, 1);
  assert.ok(Math.abs(features[0]! - 6 / 8) < 1e-12);
  // The pixel exponent applies before pooling: sqrt(64/255) for every pixel of a flat image.
  const flat: ImageTensor = { pixels: new Uint8Array(4).fill(64), shape: [1, 1, 2, 2, 1] };
  assert.ok(Math.abs(pooledFeatures(flat, { height: 1, width: 1, channels: 1 }, 0.5)[0]! - Math.sqrt(64 / 255)) < 1e-12);
});

test("the Cholesky ridge solver solves a known system", () => {
  // A = [[4, 2], [2, 3]], ridge 1: (A + I) w = b for w = [1, -2] gives b = [5 - 4, 2 - 8] = [1, -6].
  const a = Float64Array.from([4, 2, 2, 3]);
  const b = Float64Array.from([1, -6]);
  const w = solveRidge(a, b, 2, 1, 1);
  assert.ok(Math.abs(w[0]! - 1) < 1e-12 && Math.abs(w[1]! + 2) < 1e-12, `w = ${Array.from(w)}`);
  assert.throws(() => solveRidge(Float64Array.from([0, 0, 0, 0]), b, 2, 1, 0), /not positive definite/);
});

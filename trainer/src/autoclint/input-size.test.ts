import { test } from "node:test";
import assert from "node:assert/strict";
import { candidateShapes, chooseInputSize, PREDICTION_SHARE_OF_BUDGET } from "./input-size";

const image = (height: number, width: number) => ({ frames: 1, height, width, channels: 3 });
const probeAt = (height: number, width: number, samplesPerSecond: number) => ({ ...image(height, width), samplesPerSecond });

test("candidate sizes keep the aspect ratio, step the long side by 16 and never go below 16", () => {
  assert.deepEqual(candidateShapes(image(64, 64)).map((s) => [s.height, s.width]), [[64, 64], [48, 48], [32, 32], [16, 16]]);
  assert.deepEqual(candidateShapes(image(28, 28)).map((s) => [s.height, s.width]), [[28, 28], [16, 16]]);
  assert.deepEqual(candidateShapes(image(32, 64)).map((s) => [s.height, s.width]), [[32, 64], [32, 48], [16, 32], [16, 16]]);
  assert.deepEqual(candidateShapes(image(16, 16)).map((s) => [s.height, s.width]), [[16, 16]]);
});

test("a fast device keeps the exploration size", () => {
  // 10,000 samples at 2,000/s: 5 s, under 5% of 300 s (15 s).
  const choice = chooseInputSize({ upper: image(64, 64), probe: probeAt(64, 64, 2000), testSamples: 10_000, budget: 300 });
  assert.deepEqual([choice.shape.height, choice.shape.width], [64, 64]);
  assert.equal(choice.predictSeconds, 5);
  assert.match(choice.reason, /exploration size kept/);
});

test("the size follows the probe: slower devices get smaller inputs", () => {
  const sideFor = (samplesPerSecond: number) =>
    chooseInputSize({ upper: image(64, 64), probe: probeAt(64, 64, samplesPerSecond), testSamples: 10_000, budget: 300 }).shape.height;
  // At 64x64 the prediction costs 10,000 / speed; 48x48 costs 9/16 of it, 32x32 1/4, 16x16 1/16.
  assert.equal(sideFor(700), 64); // 14.3 s <= 15 s
  assert.equal(sideFor(600), 48); // 16.7 s at 64; 9.4 s at 48
  assert.equal(sideFor(300), 32); // 33 s at 64, 18.8 at 48, 8.3 at 32
  assert.equal(sideFor(100), 16); // 25 s at 32, 6.25 s at 16
  const slowest = chooseInputSize({ upper: image(64, 64), probe: probeAt(64, 64, 10), testSamples: 10_000, budget: 300 });
  assert.equal(slowest.shape.height, 16);
  assert.match(slowest.reason, /over the limit even at the smallest size/);
  assert.ok(slowest.predictSeconds > PREDICTION_SHARE_OF_BUDGET * 300);
});

test("a longer budget affords a larger input; the reason says what was measured and why", () => {
  const at = (budget: number) => chooseInputSize({ upper: image(64, 64), probe: probeAt(64, 64, 300), testSamples: 10_000, budget });
  assert.equal(at(300).shape.height, 32);
  assert.equal(at(1200).shape.height, 64); // 33 s <= 60 s
  assert.match(at(300).reason, /probe: 300 samples\/s at 64x64; at 64x64 a prediction would cost 33\.3 s; 10000 test samples at 32x32 ~8\.3 s/);
});

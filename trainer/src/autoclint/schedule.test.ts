// The values below are what the original's code (model.py `init_opt`, skeleton/optim/scheduler.py:
// gradual_warm_up over get_reduce_on_plateau_scheduler(init_lr x max(0.5, batch/32) / 2)) gives.
import { test } from "node:test";
import assert from "node:assert/strict";
import { advance, afterEpoch, batchSize, initialSchedule, learningRate, learningRates, peakLearningRate, PLATEAU_PATIENCE } from "./schedule";

const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} != ${expected}`);

test("batch size: 32, 64 past 16 classes; video 16 whatever the class count", () => {
  assert.equal(batchSize(10, false), 32);
  assert.equal(batchSize(16, false), 32);
  assert.equal(batchSize(17, false), 64);
  assert.equal(batchSize(4, true), 16);
  assert.equal(batchSize(100, true), 16);
});

test("L is 0.025 x max(0.5, batch/32)", () => {
  assert.equal(peakLearningRate(32), 0.025);
  assert.equal(peakLearningRate(64), 0.05);
  assert.equal(peakLearningRate(8), 0.0125);
});

test("warm-up per step from L/2 to L over 5 epochs (steps 0, 75, 150), then holds at L", () => {
  const state = initialSchedule(peakLearningRate(32));
  close(learningRate(state), 0.0125);
  close(learningRate(advance(state, 75)), 0.01875);
  close(learningRate(advance(state, 150)), 0.025);
  close(learningRate(advance(state, 1000)), 0.025);
  const firstChunk = learningRates(state, 3);
  firstChunk.forEach((lr, i) => close(lr, 0.0125 * (1 + i / 150)));
  close(learningRates(advance(state, 149), 2)[1]!, 0.025);
});

test("reduce-on-plateau counts from the first epoch: the 11th epoch without a gain of 1e-4 halves the lr", () => {
  let state = initialSchedule(0.025);
  state = afterEpoch(state, 1.0);
  for (let i = 0; i < PLATEAU_PATIENCE; i++) state = afterEpoch(state, 1.0 - 0.5e-4); // less than 1e-4 better: no gain
  state = advance(state, 11 * 30);
  close(learningRate(state), 0.025);
  state = afterEpoch(state, 0.99995);
  close(learningRate(state), 0.0125);
  assert.equal(state.badEpochs, 0, "the wait starts over after a cut");
  state = afterEpoch(state, 0.9998); // 2e-4 below the best: a gain
  assert.equal(state.badEpochs, 0);
  close(state.bestLoss, 0.9997);
});

test("a cut during the warm-up scales the warm-up too", () => {
  let state = initialSchedule(0.025);
  for (let i = 0; i <= PLATEAU_PATIENCE + 1; i++) state = afterEpoch(state, 1);
  close(learningRate(advance(state, 75)), 0.009375);
});

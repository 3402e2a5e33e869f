import { test } from "node:test";
import assert from "node:assert/strict";
import { decidePrediction, latestPredictionStart } from "./anytime";

const base = { budget: 300, predictSeconds: 10, trainingSeconds: 30, predictionsMade: 1, lastPredictionAt: 40, bestValid: 0.9, lastPredictedValid: 0.8 };

test("the first prediction goes out as soon as asked", () => {
  assert.equal(decidePrediction({ ...base, now: 5, predictionsMade: 0, lastPredictionAt: undefined }).predict, true);
});

test("the first prediction waits for training time worth one prediction's cost", () => {
  const first = { ...base, predictionsMade: 0, lastPredictionAt: undefined };
  assert.equal(decidePrediction({ ...first, now: 6, trainingSeconds: 2 }).predict, false);
  assert.equal(decidePrediction({ ...first, now: 9, trainingSeconds: 5 }).predict, true);
  assert.equal(decidePrediction({ ...first, now: 6, trainingSeconds: 2, predictSeconds: 0.05 }).predict, true, "cheap predictions go out at once");
  assert.equal(decidePrediction({ ...first, budget: 40, now: 22, trainingSeconds: 4 }).predict, true, "no waiting past the last chance");
});

test("no prediction may cross the budget, not even the first", () => {
  const latest = latestPredictionStart(300, 10);
  assert.ok(latest < 300 - 10);
  assert.equal(decidePrediction({ ...base, now: latest + 0.1, predictionsMade: 0, lastPredictionAt: undefined }).predict, false);
  assert.equal(decidePrediction({ ...base, now: latest - 0.1 }).predict, true);
});

test("later predictions need a valid gain and a growing gap", () => {
  assert.equal(decidePrediction({ ...base, now: 70, lastPredictedValid: 0.9 }).predict, false, "no gain");
  assert.equal(decidePrediction({ ...base, now: 50 }).predict, false, "gap of 2 prediction costs not reached");
  assert.equal(decidePrediction({ ...base, now: 61 }).predict, true);
  assert.equal(decidePrediction({ ...base, now: 220, lastPredictionAt: 200 }).predict, false, "gap grows to 25% of elapsed");
  assert.equal(decidePrediction({ ...base, now: 251, lastPredictionAt: 200 }).predict, true);
});

test("the last chance before the budget is taken inside the gap", () => {
  const decision = decidePrediction({ ...base, now: 280, lastPredictionAt: 270 });
  assert.equal(decision.predict, true);
  assert.match(decision.reason, /last chance/);
});

test("a standing (quick) prediction is replaced only by a better valid score, with no gap to wait", () => {
  const first = { ...base, predictionsMade: 0, lastPredictionAt: undefined, trainingSeconds: 30, now: 31 };
  assert.equal(decidePrediction({ ...first, bestValid: 0.9, lastPredictedValid: 0.92 }).predict, false, "worse than the standing one");
  assert.equal(decidePrediction({ ...first, bestValid: 0.921, lastPredictedValid: 0.92 }).predict, false, "within the noise");
  assert.equal(decidePrediction({ ...first, bestValid: 0.93, lastPredictedValid: 0.92 }).predict, true);
});

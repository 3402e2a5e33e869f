/**
 * The loop's anytime rule against a scripted engine: an in-memory stand-in whose valid score
 * follows a script and whose clock is simulated, so the decisions are checked exactly. (The real
 * torch engine runs the loop in run/local-run.run.test.ts.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { noAugmentation } from "../augmentation/none";
import type { Engine, PredictRequest, Predictions, TrainRequest } from "../engines/engine";
import { runAutoClint, type PreparedData, type TestPredictionRecord } from "./loop";

const CLASSES = 2;
const VALID_ROWS = 4;
/** Valid labels: rows 0 and 1 are class 0, rows 2 and 3 class 1. */
const VALID_LABELS = Float32Array.from([1, 0, 1, 0, 0, 1, 0, 1]);

/** Valid scores whose NAUC is exactly 0, 0.5 or 1: the number of rows ranked right. */
function validScoresFor(quality: 0 | 0.5 | 1): Float32Array {
  const p = quality === 1 ? [0.9, 0.8, 0.2, 0.1] : quality === 0.5 ? [0.9, 0.2, 0.8, 0.1] : [0.5, 0.5, 0.5, 0.5];
  return Float32Array.from(p.flatMap((x) => [x, 1 - x]));
}

function scriptedEngine(qualities: (0 | 0.5 | 1)[], clock: { t: number }): Engine & { testPredictions: number } {
  let chunk = -1;
  const predictions = (rows: number, scores: Float32Array, seconds: number): Predictions => ({ scores, passes: 1, rows, classes: CLASSES, seconds });
  return {
    testPredictions: 0,
    ready: () => Promise.reject(new Error("not used")),
    loadSplit: () => Promise.resolve(),
    buildModel: () => Promise.resolve({ init: "random", detail: "scripted", parameters: 0 }),
    train(request) {
      chunk++;
      clock.t += 1;
      return Promise.resolve({ loss: 1, images: request.steps * request.batchSize, seconds: 1, imagesPerSecond: request.steps * request.batchSize });
    },
    predict(request: PredictRequest) {
      if (request.split === "test") {
        this.testPredictions++;
        clock.t += 0.1;
        return Promise.resolve(predictions(10, new Float32Array(10 * CLASSES), 0.1));
      }
      const quality = qualities[Math.min(chunk, qualities.length - 1)]!;
      return Promise.resolve(predictions(VALID_ROWS, validScoresFor(quality), 0.01));
    },
    snapshot: () => Promise.resolve(),
    restore: () => Promise.resolve(),
    resetOptimizer: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

const tensor = (rows: number) => ({ pixels: new Uint8Array(rows * 4), shape: [rows, 1, 2, 2, 1] as const });
const data: PreparedData = {
  classes: CLASSES,
  multiLabel: false,
  video: false,
  train: { images: tensor(8), labels: new Float32Array(8 * CLASSES) },
  valid: { images: tensor(VALID_ROWS), labels: VALID_LABELS },
  trainProbe: { images: tensor(4), labels: VALID_LABELS },
  testRows: 10,
};

async function run(qualities: (0 | 0.5 | 1)[], standing?: { validScore: number }) {
  const clock = { t: 0 };
  const engine = scriptedEngine(qualities, clock);
  const written: number[] = [];
  const standingRecord: TestPredictionRecord = { index: 0, at: 0.5 };
  const summary = await runAutoClint(
    data,
    { budget: 30, tau: 8, seed: 0, ...(standing ? { standing: { records: [standingRecord], validScore: standing.validScore } } : {}) },
    {
      engine,
      now: () => clock.t,
      onTestPrediction: () => {
        written.push(clock.t);
        return Promise.resolve({ index: written.length, at: clock.t });
      },
      onValid: () => undefined,
      onTest: () => undefined,
      onPhase: () => undefined,
      onTrial: () => undefined,
      search: noAugmentation(),
      log: () => undefined,
    },
  );
  return { summary, testPredictions: engine.testPredictions, written };
}

test("without a standing prediction the network predicts as soon as it can", async () => {
  const { testPredictions, summary } = await run([0, 0.5, 1]);
  assert.ok(testPredictions >= 1);
  assert.ok(summary.firstPredictionSeconds !== null && summary.firstPredictionSeconds < 3, `first at ${summary.firstPredictionSeconds}`);
});

test("the network never replaces a standing prediction that scores better on valid", async () => {
  const { testPredictions, summary } = await run([0, 0.5, 0.5, 0.5, 0.5], { validScore: 0.9 });
  assert.equal(testPredictions, 0, "no network prediction: its best valid NAUC (0.5) is below the standing 0.9");
  assert.equal(summary.predictions.length, 1);
  assert.equal(summary.firstPredictionSeconds, 0.5);
});

test("the network replaces the standing prediction once its valid score is better", async () => {
  // Chunks 0-2 score 0 and 0.5 on valid; from chunk 3 on a perfect 1.
  const { testPredictions, written, summary } = await run([0, 0.5, 0.5, 1], { validScore: 0.9 });
  assert.equal(testPredictions, 1, "one replacement; no further gain, no further prediction");
  assert.equal(written[0], 4.1, "right after the 4th chunk (1 s each, then 0.1 s to predict), the first to beat 0.9");
  assert.equal(summary.predictions.length, 2);
});

/** The scripted engine, scoring its trained batches (train rows 0-3 carry the valid labels). */
function batchScoringEngine(qualities: (0 | 0.5 | 1)[], clock: { t: number }) {
  const engine = scriptedEngine(qualities, clock);
  const requests: TrainRequest[] = [];
  const predicted: string[] = [];
  let chunk = -1;
  return {
    requests,
    predicted,
    engine: {
      ...engine,
      train(request: TrainRequest) {
        requests.push(request);
        chunk++;
        // 1 s per chunk, or the time cap: 3 steps either way.
        const seconds = request.maxSeconds ?? 1;
        clock.t += seconds;
        const quality = qualities[Math.min(chunk, qualities.length - 1)]!;
        const batchScores = request.scoreBatches ? { indices: [0, 1, 2, 3], scores: validScoresFor(quality) } : undefined;
        return Promise.resolve({ loss: 1, images: 3 * request.batchSize, seconds, imagesPerSecond: 96, ...(batchScores ? { batchScores } : {}) });
      },
      predict(request: PredictRequest) {
        predicted.push(request.checkpoint ? `${request.split}@${request.checkpoint}` : request.split);
        return engine.predict.call(engine, request);
      },
    } satisfies Engine,
  };
}

async function runScored(qualities: (0 | 0.5 | 1)[], config: { predictSeconds?: number; standing?: number }) {
  const clock = { t: 0 };
  const scripted = batchScoringEngine(qualities, clock);
  const trainLabels = new Float32Array(8 * CLASSES);
  trainLabels.set(VALID_LABELS);
  let written = 0;
  await runAutoClint(
    { ...data, train: { images: tensor(8), labels: trainLabels } },
    {
      budget: 30, tau: 8, seed: 0,
      ...(config.predictSeconds === undefined ? {} : { predictSeconds: config.predictSeconds }),
      ...(config.standing === undefined ? {} : { standing: { records: [{ index: 0, at: 0.5 }], validScore: config.standing } }),
    },
    {
      engine: scripted.engine,
      now: () => clock.t,
      onTestPrediction: () => Promise.resolve({ index: ++written, at: clock.t }),
      onValid: () => undefined, onTest: () => undefined, onPhase: () => undefined, onTrial: () => undefined,
      search: noAugmentation(),
      log: () => undefined,
    },
  );
  return scripted;
}

test("the first chunk trains for as long as the prediction rule asks: half a prediction's measured cost", async () => {
  const { requests } = await runScored([1], { predictSeconds: 3 });
  assert.equal(requests[0]!.maxSeconds, 1.5);
  assert.equal(requests[0]!.scoreBatches, true);
  assert.equal(requests[0]!.steps, 30, "up to the epoch's end, if the time allows");
  assert.equal(requests[1]!.maxSeconds, undefined, "after the first prediction, chunks run to the epoch's end");
  assert.equal(requests[1]!.steps, 27, "the epoch's rest: the first chunk ran 3 steps");
});

test("no valid or train-probe pass before the network's first prediction: the trained batches are scored instead", async () => {
  const { predicted } = await runScored([1], {});
  assert.deepEqual(predicted.slice(0, 2), ["test", "valid"], "the first prediction uses the live weights, then valid passes start");
});

test("a standing prediction is replaced only once the scored batches beat its valid score", async () => {
  // Batches score 0, 0.5, 0.5, then 1: the standing 0.9 is beaten in the 4th chunk.
  const { predicted, requests } = await runScored([0, 0.5, 0.5, 1], { standing: 0.9 });
  assert.deepEqual(predicted.slice(0, 2), ["test", "valid"], "no valid pass while the standing prediction holds");
  assert.equal(requests.slice(0, 4).every((r) => r.scoreBatches), true);
  assert.equal(requests[4]?.scoreBatches, undefined);
});

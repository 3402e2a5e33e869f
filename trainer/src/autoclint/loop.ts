/**
 * The AutoCLINT training loop, read top to bottom: build the model, then train in short chunks,
 * score the valid split after each, keep the best-on-valid checkpoint, and make anytime test
 * predictions with it whenever `decidePrediction` says they pay. The augmentation search gets a
 * look after every epoch. The clock, the engine, the events and the test-prediction sink are
 * injected: the loop never sees test labels, and never lets a prediction cross the budget.
 *
 * Until the network's first test prediction no pass is spent on valid or the train probe: the
 * first chunk trains for as long as the prediction rule asks (sized in seconds, not steps), and
 * the batches it trained on, each scored by the weights before its own step, stand in for the
 * valid score (engines that cannot score batches fall back to a valid pass).
 */
import type { Policy } from "@autoclint/api";
import { testTimeFlip, withRandomFlip } from "../augmentation/flips";
import type { AugmentationSearch, PolicyTrial } from "../augmentation/search";
import type { Engine, ImageTensor, Predictions } from "../engines/engine";
import { decidePrediction, firstPredictionTraining, latestPredictionStart } from "./anytime";
import { flatNauc } from "./flat-nauc";
import {
  advance,
  afterEpoch,
  batchSize,
  initialSchedule,
  learningRate,
  learningRates,
  MOMENTUM,
  peakLearningRate,
  STEPS_PER_EPOCH,
  WEIGHT_DECAY,
  type ScheduleState,
} from "./schedule";

/** Guess of one test prediction's cost when nothing was measured (images/s). */
const ASSUMED_PREDICT_IMAGES_PER_SECOND = 500;
const BEST_CHECKPOINT = "best";

export interface LabeledTensor {
  images: ImageTensor;
  /** 0/1 matrix, rows x classes, row-major. */
  labels: Float32Array;
}

export interface PreparedData {
  classes: number;
  multiLabel: boolean;
  video: boolean;
  train: LabeledTensor;
  valid: LabeledTensor;
  /** A slice of train, for the training score that triggers the policy search. */
  trainProbe: LabeledTensor;
  /** Test samples (the tensor goes to the engine apart: it may still be decoding). */
  testRows: number;
}

export interface LoopConfig {
  budget: number;
  tau: number;
  seed: number;
  weightsPath?: string;
  /**
   * Test predictions already made before the loop (the quick model's), in order, with the valid
   * NAUC of the last one, which stands: the network's predictions replace it only once its best
   * valid score beats that one.
   */
  standing?: { records: TestPredictionRecord[]; validScore: number };
  /** Seconds one test prediction is expected to cost (the start-up speed probe), when measured. */
  predictSeconds?: number;
}

export interface TestPredictionRecord {
  index: number;
  /** Seconds since start when the prediction was written. */
  at: number;
  /** NAUC from the scorer, when the dataset has a test solution. */
  nauc?: number;
  alc?: number;
}

export interface LoopDeps {
  engine: Engine;
  /** Seconds since the trainer started. */
  now(): number;
  /** Writes a test prediction and scores it (apart from the learner); returns what the scorer said. */
  onTestPrediction(predictions: Predictions): Promise<TestPredictionRecord>;
  onValid(event: { nauc: number; epoch: number; lr: number; imagesPerSecond: number }): void;
  onTest(event: TestPredictionRecord & { epoch: number; lr: number; imagesPerSecond: number }): void;
  onPhase(phase: string, detail?: string): void;
  onTrial(trial: PolicyTrial): void;
  search: AugmentationSearch;
  log(message: string): void;
  /** Why the run was stopped from outside, once it has been (engine calls then fail). */
  interrupted?(): string | undefined;
  /** Settles once the test split is on the engine (it decodes while training starts). */
  testLoaded?: Promise<void>;
}

export interface LoopSummary {
  modelInit: "pretrained" | "random";
  modelDetail: string;
  epochs: number;
  steps: number;
  predictions: TestPredictionRecord[];
  firstPredictionSeconds: number | null;
  bestValid: number;
  /** Training images per second over the whole run. */
  imagesPerSecond: number;
  policy: Policy;
  searchSummary: string;
  stopReason: string;
}

/** The label rows (of an N x K matrix) of some samples, in their order. */
function rowsOf(labels: Float32Array, indices: readonly number[], classes: number): Float32Array {
  const out = new Float32Array(indices.length * classes);
  indices.forEach((row, i) => out.set(labels.subarray(row * classes, (row + 1) * classes), i * classes));
  return out;
}

export async function runAutoClint(data: PreparedData, config: LoopConfig, deps: LoopDeps): Promise<LoopSummary> {
  const { engine } = deps;

  // ---------------------------------------------------------------- model and data on the engine
  const batch = batchSize(data.classes, data.video);
  const model = await engine.buildModel({
    arch: "resnet18",
    numClasses: data.classes,
    inputChannels: data.train.images.shape[4],
    multiLabel: data.multiLabel,
    video: data.video,
    tau: config.tau,
    seed: config.seed,
    momentum: MOMENTUM,
    weightDecay: WEIGHT_DECAY,
    ...(config.weightsPath ? { weightsPath: config.weightsPath } : {}),
  });
  deps.log(`model: resnet18, ${model.detail}, batch ${batch}`);

  // ---------------------------------------------------------------- state
  const initialPeakLr = peakLearningRate(batch);
  let schedule: ScheduleState = initialSchedule(initialPeakLr);
  let policy: Policy = [];
  let stepsInEpoch = 0;
  /** Sum over the epoch's steps of their training loss (chunk means weighted by their steps). */
  let epochLossSum = 0;
  let totalSteps = 0;
  let trainImages = 0;
  let trainSeconds = 0;
  let bestValid = -Infinity;
  let lastPredictedValid: number | undefined = config.standing?.validScore;
  // Network predictions only: the standing one cost the network no time, so it sets no gap.
  const networkPredictions: TestPredictionRecord[] = [];
  let cutsSeen = 0;
  const probed = config.predictSeconds !== undefined;
  let predictSeconds = config.predictSeconds ?? data.testRows / ASSUMED_PREDICT_IMAGES_PER_SECOND;
  const predictions: TestPredictionRecord[] = config.standing ? [...config.standing.records] : [];
  const imagesPerSecond = () => (trainSeconds > 0 ? trainImages / trainSeconds : 0);
  let stopReason = "budget";

  deps.onPhase("training", `batch ${batch}, lr ${learningRate(schedule).toFixed(4)}`);
  try {
    for (;;) {
      // ------------------------------------------------------------ train one chunk
      const latestStart = latestPredictionStart(config.budget, predictSeconds);
      if (deps.now() >= latestStart) {
        stopReason = "no time left for another prediction";
        break;
      }
      // A chunk must end before the last moment a prediction can start, also on a slow machine.
      const secondsPerStep = totalSteps > 0 ? trainSeconds / totalSteps : 0;
      const stepsThatFit = secondsPerStep > 0 ? Math.floor((latestStart - deps.now()) / secondsPerStep) : Infinity;
      const chunk = Math.min(STEPS_PER_EPOCH - stepsInEpoch, stepsThatFit);
      if (chunk < 1) {
        stopReason = "no time left for another training chunk and prediction";
        break;
      }
      // Before the network's first prediction, the chunk ends when the prediction rule wants it.
      const beforeFirst = networkPredictions.length === 0;
      const untilFirst = firstPredictionTraining(predictSeconds) - trainSeconds;
      // The warm-up moves the learning rate every step, also inside a chunk.
      const lrs = learningRates(schedule, chunk);
      const report = await engine.train({
        steps: chunk,
        batchSize: batch,
        lr: lrs,
        policy: withRandomFlip(policy),
        ...(beforeFirst ? { scoreBatches: true } : {}),
        ...(beforeFirst && untilFirst > 0 ? { maxSeconds: Math.min(untilFirst, Math.max(0, latestStart - deps.now())) } : {}),
      });
      const steps = Math.max(1, Math.round(report.images / batch));
      const lr = lrs[steps - 1]!;
      schedule = advance(schedule, steps);
      totalSteps += steps;
      stepsInEpoch += steps;
      trainImages += report.images;
      trainSeconds += report.seconds;
      epochLossSum += report.loss * steps;
      const epoch = totalSteps / STEPS_PER_EPOCH;

      // ------------------------------------------------------------ score: trained batches before the first prediction, then valid
      let validScore: number | undefined;
      let estimate = bestValid;
      if (beforeFirst && report.batchScores) {
        const { indices, scores } = report.batchScores;
        estimate = flatNauc(rowsOf(data.train.labels, indices, data.classes), scores, data.classes);
        deps.log(`trained batches scored before their steps: NAUC ${estimate.toFixed(4)} (${indices.length} samples, ${totalSteps} steps)`);
      } else {
        const valid = await engine.predict({ split: "valid" });
        validScore = flatNauc(data.valid.labels, valid.scores, data.classes);
        // Until a test prediction is timed, the valid one is the best guide to its cost.
        if (networkPredictions.length === 0 && !probed) predictSeconds = (valid.seconds * data.testRows) / Math.max(1, valid.rows);
        deps.onValid({ nauc: validScore, epoch, lr, imagesPerSecond: imagesPerSecond() });
        if (validScore > bestValid) {
          bestValid = validScore;
          await engine.snapshot(BEST_CHECKPOINT);
        }
        estimate = bestValid;
      }

      // ------------------------------------------------------------ anytime test prediction
      const decision = decidePrediction({
        now: deps.now(),
        budget: config.budget,
        predictSeconds,
        predictionsMade: networkPredictions.length,
        trainingSeconds: trainSeconds,
        lastPredictionAt: networkPredictions.at(-1)?.at,
        bestValid: estimate,
        lastPredictedValid,
      });
      if (decision.predict) {
        await deps.testLoaded;
        // The original's rule counts the network's own predictions, not the quick model's.
        const flip = testTimeFlip(networkPredictions.length);
        // No valid pass yet, so no best checkpoint: the first prediction uses the live weights.
        const checkpoint = validScore === undefined && beforeFirst ? {} : { checkpoint: BEST_CHECKPOINT };
        const test = await engine.predict({ split: "test", ...checkpoint, flip });
        predictSeconds = Math.max(test.seconds, 0.05);
        const record = await deps.onTestPrediction(test);
        predictions.push(record);
        networkPredictions.push(record);
        lastPredictedValid = estimate;
        deps.onTest({ ...record, epoch, lr, imagesPerSecond: imagesPerSecond() });
        deps.log(`prediction ${record.index} at ${record.at.toFixed(1)} s (${decision.reason})`);
      }

      // ------------------------------------------------------------ end of epoch: schedule, search
      if (stepsInEpoch < STEPS_PER_EPOCH) continue;
      const before = schedule.plateauLr;
      schedule = afterEpoch(schedule, epochLossSum / stepsInEpoch);
      if (schedule.plateauLr < before) cutsSeen++;
      stepsInEpoch = 0;
      epochLossSum = 0;
      // The search needs a valid score; before the first prediction there is none (by design).
      if (validScore === undefined) continue;

      const probe = await engine.predict({ split: "train-probe" });
      const trainScore = flatNauc(data.trainProbe.labels, probe.scores, data.classes);
      const outcome = await deps.search.afterEpoch({
        engine,
        now: deps.now,
        budget: config.budget,
        reserveSeconds: predictSeconds * 2 + 2,
        epoch,
        trainScore,
        validScore,
        converged: cutsSeen > 0,
        video: data.video,
        scoreValidPasses: (scores, passes) =>
          Array.from({ length: passes }, (_, p) => flatNauc(data.valid.labels, scores, data.classes, p * data.valid.labels.length)),
        onTrial: deps.onTrial,
        onPhase: deps.onPhase,
        log: deps.log,
        seed: config.seed,
      });
      if (outcome) {
        policy = outcome.policy;
        // As the original: a fresh optimizer (no momentum) and a fresh schedule, warm-up included,
        // from a fraction of the *initial* learning rate, not of wherever the plateau had got to.
        schedule = initialSchedule(initialPeakLr * outcome.lrFactor);
        await engine.resetOptimizer();
        deps.onPhase("training", `with augmentation: ${outcome.detail}`);
      }
    }
  } catch (error) {
    // The run was cut off from outside (budget + grace): what was predicted so far stands.
    const reason = deps.interrupted?.();
    if (!reason) throw error;
    stopReason = reason;
  }

  const firstPredictionSeconds = predictions[0]?.at ?? null;
  return {
    modelInit: model.init,
    modelDetail: model.detail,
    epochs: totalSteps / STEPS_PER_EPOCH,
    steps: totalSteps,
    predictions,
    firstPredictionSeconds,
    bestValid,
    imagesPerSecond: imagesPerSecond(),
    policy,
    searchSummary: deps.search.summary(),
    stopReason,
  };
}

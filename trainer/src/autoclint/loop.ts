/**
 * The AutoCLINT training loop, read top to bottom: build the model, then train in short chunks,
 * score the valid split after each, keep the best-on-valid checkpoint, and make anytime test
 * predictions with it whenever `decidePrediction` says they pay. The augmentation search gets a
 * look after every epoch. The clock, the engine, the events and the test-prediction sink are
 * injected: the loop never sees test labels, and never lets a prediction cross the budget.
 */
import type { Policy } from "@autoclint/api";
import { testTimeFlip, withRandomFlip } from "../augmentation/flips";
import type { AugmentationSearch, PolicyTrial } from "../augmentation/search";
import type { Engine, ImageTensor, Predictions } from "../engines/engine";
import { decidePrediction, latestPredictionStart } from "./anytime";
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

/** Training steps before the very first prediction: enough to beat chance, no more. */
export const FIRST_PREDICTION_STEPS = 8;
/** Guess of one test prediction's cost before anything is measured (images/s). */
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
  test: ImageTensor;
}

export interface LoopConfig {
  budget: number;
  tau: number;
  seed: number;
  weightsPath?: string;
  /**
   * A test prediction already made before the loop (the quick model's), with its valid NAUC:
   * the network's predictions replace it only once its best valid score beats that one.
   */
  standing?: { record: TestPredictionRecord; validScore: number };
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
  let predictSeconds = data.test.shape[0] / ASSUMED_PREDICT_IMAGES_PER_SECOND;
  const predictions: TestPredictionRecord[] = config.standing ? [config.standing.record] : [];
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
      const chunk = Math.min(totalSteps === 0 ? FIRST_PREDICTION_STEPS : STEPS_PER_EPOCH - stepsInEpoch, stepsThatFit);
      if (chunk < 1) {
        stopReason = "no time left for another training chunk and prediction";
        break;
      }
      // The warm-up moves the learning rate every step, also inside a chunk.
      const lrs = learningRates(schedule, chunk);
      const report = await engine.train({ steps: chunk, batchSize: batch, lr: lrs, policy: withRandomFlip(policy) });
      const lr = lrs.at(-1)!;
      schedule = advance(schedule, chunk);
      totalSteps += chunk;
      stepsInEpoch += chunk;
      trainImages += report.images;
      trainSeconds += report.seconds;
      epochLossSum += report.loss * chunk;

      // ------------------------------------------------------------ score valid, keep the best
      const valid = await engine.predict({ split: "valid" });
      const validScore = flatNauc(data.valid.labels, valid.scores, data.classes);
      // Until a test prediction is timed, the valid one is the best guide to its cost.
      if (networkPredictions.length === 0) predictSeconds = (valid.seconds * data.test.shape[0]) / Math.max(1, valid.rows);
      const epoch = totalSteps / STEPS_PER_EPOCH;
      deps.onValid({ nauc: validScore, epoch, lr, imagesPerSecond: imagesPerSecond() });
      if (validScore > bestValid) {
        bestValid = validScore;
        await engine.snapshot(BEST_CHECKPOINT);
      }

      // ------------------------------------------------------------ anytime test prediction
      const decision = decidePrediction({
        now: deps.now(),
        budget: config.budget,
        predictSeconds,
        predictionsMade: networkPredictions.length,
        trainingSeconds: trainSeconds,
        lastPredictionAt: networkPredictions.at(-1)?.at,
        bestValid,
        lastPredictedValid,
      });
      if (decision.predict) {
        // The original's rule counts the network's own predictions, not the quick model's.
        const flip = testTimeFlip(networkPredictions.length);
        const test = await engine.predict({ split: "test", checkpoint: BEST_CHECKPOINT, flip });
        predictSeconds = Math.max(test.seconds, 0.05);
        const record = await deps.onTestPrediction(test);
        predictions.push(record);
        networkPredictions.push(record);
        lastPredictedValid = bestValid;
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

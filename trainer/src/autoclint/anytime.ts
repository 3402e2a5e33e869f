/**
 * When to spend time on a test prediction. ALC rewards an early score and rewards improvements
 * less the later they come (log time), while every prediction costs training time. So: predict as
 * soon as the model can, then only when the valid score has improved and enough time has passed,
 * the gap growing with elapsed time; and never start a prediction that could end after the budget.
 */

export interface AnytimeInput {
  /** Seconds since the trainer started. */
  now: number;
  budget: number;
  /** Estimated seconds for one test prediction (measured after the first). */
  predictSeconds: number;
  /** Network predictions made so far, and when the last one was written. */
  predictionsMade: number;
  /** Seconds spent training so far. */
  trainingSeconds: number;
  lastPredictionAt?: number;
  /**
   * Best valid NAUC so far, and the valid NAUC of the prediction that stands now: the network's
   * last one, or before it the quick model's.
   */
  bestValid: number;
  lastPredictedValid?: number;
}

export type AnytimeDecision = { predict: true; reason: string } | { predict: false; reason: string };

/** A prediction must end this much before the budget (file write, clock jitter). */
export const BUDGET_SAFETY_SECONDS = 2;
/** ... and its estimated cost is padded by this factor. */
export const COST_PADDING = 1.5;
/** Minimum gap between predictions, in units of one prediction's cost. */
export const GAP_IN_PREDICTION_COSTS = 2;
/** Minimum gap between predictions, as a fraction of the time elapsed. */
export const GAP_GROWTH = 0.25;
/**
 * Training time before the first prediction, in units of one prediction's cost: on a GPU a
 * prediction is nearly free and goes out after the first few steps; on a CPU it costs seconds
 * that are better spent first on making the model worth predicting with.
 */
export const FIRST_PREDICTION_TRAINING_IN_COSTS = 0.5;
/** Valid NAUC gain that makes a new prediction worth it. */
export const MIN_VALID_GAIN = 0.002;

/** Seconds of training before the network's first prediction: the first chunk is sized by it. */
export function firstPredictionTraining(predictSeconds: number): number {
  return FIRST_PREDICTION_TRAINING_IN_COSTS * predictSeconds;
}

/** Latest moment a prediction of the estimated cost may start. */
export function latestPredictionStart(budget: number, predictSeconds: number): number {
  return budget - BUDGET_SAFETY_SECONDS - predictSeconds * COST_PADDING;
}

export function decidePrediction(input: AnytimeInput): AnytimeDecision {
  const latestStart = latestPredictionStart(input.budget, input.predictSeconds);
  if (input.now > latestStart) return { predict: false, reason: "a prediction now could end after the budget" };
  const gain = input.bestValid - (input.lastPredictedValid ?? -Infinity);
  if (input.predictionsMade === 0 || input.lastPredictionAt === undefined) {
    // AutoDL scores the latest prediction: one worse than the standing quick one lowers the curve.
    if (gain < MIN_VALID_GAIN) return { predict: false, reason: "the standing prediction scores better on valid" };
    const firstAfter = Math.min(firstPredictionTraining(input.predictSeconds), Math.max(0, latestStart - input.now));
    if (input.trainingSeconds < firstAfter && input.now + firstAfter - input.trainingSeconds < latestStart) {
      return { predict: false, reason: "training a little more before the first prediction" };
    }
    return { predict: true, reason: "first prediction" };
  }
  if (gain < MIN_VALID_GAIN) return { predict: false, reason: "valid score has not improved" };
  const gap = Math.max(GAP_IN_PREDICTION_COSTS * input.predictSeconds, GAP_GROWTH * input.lastPredictionAt);
  const sinceLast = input.now - input.lastPredictionAt;
  if (sinceLast >= gap) return { predict: true, reason: `valid +${gain.toFixed(4)}` };
  // The last chance before the budget: worth taking even inside the gap.
  const nextChance = input.now + gap - sinceLast;
  if (nextChance > latestStart) return { predict: true, reason: `last chance, valid +${gain.toFixed(4)}` };
  return { predict: false, reason: "too soon after the last prediction" };
}

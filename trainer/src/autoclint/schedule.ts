/**
 * AutoCLINT's optimisation schedule as plain functions over a small state, as the original
 * (kakaobrain/autoclint, model.py `init_opt` with skeleton/optim/scheduler.py) computes it:
 *
 *   lr(step) = plateau x (1 + (2 - 1) x min(step / 30, 5) / 5)
 *
 * where `plateau` starts at L / 2, L = 0.025 x max(0.5, batch / 32): the warm-up climbs per step
 * from L / 2 to L over the first 5 epochs and then holds at 2 x plateau. After every epoch the
 * epoch's mean training loss drives reduce-on-plateau (from the first epoch on, warm-up included):
 * a loss below the best less 1e-4 is an improvement; the 11th epoch in a row without one halves
 * `plateau`. An "epoch" is 30 steps, not a pass over the data, so the schedule behaves the same on
 * 1,000 samples and on 1,000,000. The augmentation search restarts all of it from half of L.
 */

export const STEPS_PER_EPOCH = 30;
export const BASE_BATCH = 32;
export const BASE_LR = 0.025;
export const WARMUP_EPOCHS = 5;
export const WARMUP_MULTIPLIER = 2;
export const PLATEAU_PATIENCE = 10;
export const PLATEAU_FACTOR = 0.5;
/** An epoch loss improves on the best when it is lower by more than this (absolute, as the original). */
export const PLATEAU_THRESHOLD = 1e-4;
export const MOMENTUM = 0.9;
export const WEIGHT_DECAY = 2.5e-4;
/** Clips per batch for video, whatever the class count (the original halves 32 and never doubles it). */
export const VIDEO_BATCH = BASE_BATCH / 2;

/** Images: 32, or 64 when there are more classes than half of it. Video: 16. */
export function batchSize(classes: number, video: boolean): number {
  if (video) return VIDEO_BATCH;
  return classes > BASE_BATCH / 2 ? 2 * BASE_BATCH : BASE_BATCH;
}

/** L, the learning rate the warm-up reaches: 0.025 x max(0.5, batch / 32). */
export function peakLearningRate(batch: number): number {
  return BASE_LR * Math.max(0.5, batch / BASE_BATCH);
}

export interface ScheduleState {
  /** Steps since this schedule (and the optimizer it drives) started. */
  step: number;
  /** The reduce-on-plateau learning rate, before the warm-up factor: L / 2 until the first cut. */
  plateauLr: number;
  /** The best epoch loss so far less the threshold; Infinity before the first epoch. */
  bestLoss: number;
  /** Epochs in a row without an improvement. */
  badEpochs: number;
}

/** A fresh schedule whose warm-up climbs to `peakLr` (L). */
export function initialSchedule(peakLr: number): ScheduleState {
  return { step: 0, plateauLr: peakLr / WARMUP_MULTIPLIER, bestLoss: Infinity, badEpochs: 0 };
}

/** The learning rate of the step `offset` steps after the state's. */
export function learningRate(state: ScheduleState, offset = 0): number {
  const epoch = Math.min((state.step + offset) / STEPS_PER_EPOCH, WARMUP_EPOCHS);
  return state.plateauLr * (1 + ((WARMUP_MULTIPLIER - 1) * epoch) / WARMUP_EPOCHS);
}

/** The learning rates of the next `steps` steps, one per step. */
export function learningRates(state: ScheduleState, steps: number): number[] {
  return Array.from({ length: steps }, (_, i) => learningRate(state, i));
}

/** After `steps` optimizer steps. */
export function advance(state: ScheduleState, steps: number): ScheduleState {
  return { ...state, step: state.step + steps };
}

/** Reduce-on-plateau, given an epoch's mean training loss. */
export function afterEpoch(state: ScheduleState, trainLoss: number): ScheduleState {
  if (trainLoss < state.bestLoss) return { ...state, bestLoss: trainLoss - PLATEAU_THRESHOLD, badEpochs: 0 };
  const badEpochs = state.badEpochs + 1;
  if (badEpochs > PLATEAU_PATIENCE) return { ...state, plateauLr: state.plateauLr * PLATEAU_FACTOR, badEpochs: 0 };
  return { ...state, badEpochs };
}

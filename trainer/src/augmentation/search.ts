/**
 * The augmentation-search boundary. A strategy watches the training loop epoch by epoch and may
 * hand back a policy to train with from then on. One-shot searches (light Fast AutoAugment) run
 * their trials inside one call; strategies that learn during training (OHL-style, DABO-style) can
 * return a new policy every epoch. Strategies never own the clock: they get the time left and a
 * reserve they must not touch, so the anytime predictions are never starved.
 */
import type { Policy } from "@autoclint/api";
import type { Engine } from "../engines/engine";

export interface PolicyTrial {
  trial: number;
  subPolicies: Policy;
  score: number;
  baseline: number;
  kept: boolean;
}

export interface SearchContext {
  engine: Engine;
  /** Seconds since the trainer started. */
  now(): number;
  budget: number;
  /** Seconds that must stay free for predictions; a search stops before eating into them. */
  reserveSeconds: number;
  epoch: number;
  /** NAUC on a probe of training samples and on the valid split, with the live weights. */
  trainScore: number;
  validScore: number;
  /** True when the training loss has stopped improving (the schedule cut the lr at least once). */
  converged: boolean;
  /** Video runs never search (the original turns the search off for video). */
  video: boolean;
  /** Scores valid-split predictions (passes x N x K) and returns the NAUC of each pass. */
  scoreValidPasses(scores: Float32Array, passes: number): number[];
  onTrial(trial: PolicyTrial): void;
  /** Announces a phase of the run (e.g. "searching"), for the events and the progress line. */
  onPhase(phase: string, detail?: string): void;
  log(message: string): void;
  seed: number;
}

export interface SearchOutcome {
  policy: Policy;
  /**
   * Retraining starts a fresh optimizer and schedule (warm-up included) whose peak is this multiple
   * of the *initial* peak learning rate (the original: 0.5).
   */
  lrFactor: number;
  detail: string;
}

export interface AugmentationSearch {
  readonly strategy: string;
  /** Called after each epoch; undefined keeps the current policy. */
  afterEpoch(context: SearchContext): Promise<SearchOutcome | undefined>;
  /** Why the search did or did not run, for result.json. */
  summary(): string;
}

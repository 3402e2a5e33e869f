/**
 * Light Fast AutoAugment (AutoCLINT, Algorithm 1). Once the model fits its training data (or has
 * converged) but not the valid split, and enough time is left: T times, draw C sub-policies from
 * S, score the model on the valid split augmented by them (best of 2C passes), keep the trials
 * that beat the un-augmented valid score, and train on with the union of the top N trials'
 * sub-policies at half the learning rate. Augmentations the model already handles well are
 * "in distribution"; random ones without this check hurt (the paper's ablation).
 */
import { shuffled, type Policy, type SubPolicy } from "@autoclint/api";
import { seededRandom, type Random } from "../util/random";
import type { AugmentationSearch, PolicyTrial, SearchContext, SearchOutcome } from "./search";
import { SEARCH_SPACE } from "./search-space";

export interface SearchParameters {
  /** C: sub-policies drawn per trial. */
  subPolicies: number;
  /** T: trials at most. */
  trials: number;
  /** N: best trials whose sub-policies are kept. */
  keep: number;
  /** The search starts only with more than this many seconds left (beyond the prediction reserve). */
  minSecondsLeft: number;
}

export const DEFAULT_SEARCH: SearchParameters = { subPolicies: 3, trials: 100, keep: 5, minSecondsLeft: 120 };
export const SATURATED_SCORE = 0.995;
/** Share of the time left that the search may spend. */
export const MAX_SHARE_OF_TIME_LEFT = 0.25;
export const RETRAIN_LR_FACTOR = 0.5;

export type Trigger = { search: true } | { search: false; reason: string; code: "video" | "valid-saturated" | "train-not-saturated" | "no-time" };

/** Algorithm 1's trigger: not video, training saturated or converged, valid not saturated, time left. */
export function searchTrigger(
  context: Pick<SearchContext, "trainScore" | "validScore" | "converged" | "video" | "budget" | "reserveSeconds"> & { now: number },
  minSecondsLeft = DEFAULT_SEARCH.minSecondsLeft,
): Trigger {
  if (context.video) return { search: false, code: "video", reason: "no augmentation search on video (as the original)" };
  const left = context.budget - context.now - context.reserveSeconds;
  if (left <= minSecondsLeft) return { search: false, code: "no-time", reason: `only ${Math.max(0, Math.round(left))} s left, ${minSecondsLeft} s needed` };
  if (context.validScore >= SATURATED_SCORE) return { search: false, code: "valid-saturated", reason: `valid score ${context.validScore.toFixed(4)} is already saturated` };
  if (!(context.trainScore > SATURATED_SCORE || context.converged)) {
    return { search: false, code: "train-not-saturated", reason: `training not saturated yet (train score ${context.trainScore.toFixed(4)})` };
  }
  return { search: true };
}

/** C sub-policies drawn uniformly from S, with replacement (as the original's np.random.choice). */
export function drawSubPolicies(space: Policy, count: number, random: Random): Policy {
  return Array.from({ length: count }, () => space[Math.floor(random() * space.length)]!);
}

/**
 * The sub-policies of the top `keep` trials that beat the baseline, best first, without
 * duplicates. As the original's `remove_duplicates`, sub-policies with the same sequence of
 * operations count as one (the first, from the better trial, stays), whatever their probabilities
 * and levels.
 */
export function selectPolicy(trials: readonly PolicyTrial[], keep: number): Policy {
  const best = trials.filter((t) => t.kept).sort((a, b) => b.score - a.score).slice(0, keep);
  const union = new Map<string, SubPolicy>();
  for (const trial of best) {
    for (const sub of trial.subPolicies) {
      const operations = sub.map(([op]) => op).join("_");
      if (!union.has(operations)) union.set(operations, sub);
    }
  }
  return [...union.values()];
}

export function fastAutoAugmentLight(parameters: SearchParameters = DEFAULT_SEARCH, space: Policy = SEARCH_SPACE): AugmentationSearch {
  let done = false;
  let summary = "search not triggered yet";
  let lastSkip = "";
  return {
    strategy: "fast-autoaugment-light",
    summary: () => summary,
    async afterEpoch(context: SearchContext): Promise<SearchOutcome | undefined> {
      if (done) return undefined;
      const trigger = searchTrigger({ ...context, now: context.now() }, parameters.minSecondsLeft);
      if (!trigger.search) {
        summary = `search skipped: ${trigger.reason}`;
        if (trigger.code !== lastSkip) context.log(summary);
        lastSkip = trigger.code;
        return undefined;
      }
      done = true;
      const started = context.now();
      const deadline = started + (context.budget - started - context.reserveSeconds) * MAX_SHARE_OF_TIME_LEFT;
      const random = seededRandom(context.seed + 1);
      const passes = 2 * parameters.subPolicies;
      context.onPhase("searching", `light Fast AutoAugment: up to ${parameters.trials} trials until ${deadline.toFixed(0)} s`);
      const trials: PolicyTrial[] = [];
      for (let trial = 0; trial < parameters.trials && context.now() < deadline; trial++) {
        const subPolicies = drawSubPolicies(space, parameters.subPolicies, random);
        const predictions = await context.engine.predict({ split: "valid", policy: subPolicies, passes, seed: context.seed * 1000 + trial });
        const score = Math.max(...context.scoreValidPasses(predictions.scores, passes));
        const record = { trial, subPolicies, score, baseline: context.validScore, kept: score > context.validScore };
        trials.push(record);
        context.onTrial(record);
      }
      const policy = selectPolicy(trials, parameters.keep);
      const seconds = (context.now() - started).toFixed(1);
      const kept = trials.filter((t) => t.kept).length;
      if (policy.length === 0) {
        summary = `searched ${trials.length} trials in ${seconds} s; none beat the un-augmented valid score ${context.validScore.toFixed(4)}`;
        context.log(summary);
        return undefined;
      }
      summary = `searched ${trials.length} trials in ${seconds} s; ${kept} beat valid ${context.validScore.toFixed(4)}; kept ${policy.length} sub-policies from the top ${Math.min(kept, parameters.keep)}`;
      context.log(summary);
      return { policy, lrFactor: RETRAIN_LR_FACTOR, detail: summary };
    },
  };
}

/**
 * The ablation's control: as many distinct sub-policies as the search could keep (C x N), drawn at
 * random with no valid check, switched on by the same trigger.
 */
export function randomAugmentation(parameters: SearchParameters = DEFAULT_SEARCH, space: Policy = SEARCH_SPACE): AugmentationSearch {
  let done = false;
  let summary = "random augmentation not triggered yet";
  return {
    strategy: "random",
    summary: () => summary,
    afterEpoch(context: SearchContext): Promise<SearchOutcome | undefined> {
      if (done) return Promise.resolve(undefined);
      const trigger = searchTrigger({ ...context, now: context.now() }, parameters.minSecondsLeft);
      if (!trigger.search) {
        summary = `random augmentation skipped: ${trigger.reason}`;
        return Promise.resolve(undefined);
      }
      done = true;
      const policy = shuffled(space, seededRandom(context.seed + 2)).slice(0, parameters.subPolicies * parameters.keep);
      summary = `random augmentation: ${policy.length} sub-policies drawn without a valid check`;
      context.log(summary);
      return Promise.resolve({ policy, lrFactor: RETRAIN_LR_FACTOR, detail: summary });
    },
  };
}

/**
 * The original's flips. Training: every image (every clip) is mirrored left-right with p = 0.5
 * before its augmentation policy; here that is data, a FlipLR step in front of every sub-policy.
 * Test: from the third test prediction on, a prediction averages the logits of each image and of
 * its mirror image (the valid split and the search's trials are never flipped).
 */
import type { Policy, PolicyStep } from "@autoclint/api";

export const RANDOM_FLIP: PolicyStep = ["FlipLR", 0.5, 0];
/** The first test prediction (1-based) that averages each image with its flip. */
export const TEST_TIME_FLIP_FROM = 3;

/** The policy a training step applies: the random flip, then the searched policy's sub-policy. */
export function withRandomFlip(policy: Policy): Policy {
  return policy.length === 0 ? [[RANDOM_FLIP]] : policy.map((sub) => [RANDOM_FLIP, ...sub]);
}

/** Whether the next test prediction, after `predictionsMade` of them, averages in the flip. */
export function testTimeFlip(predictionsMade: number): boolean {
  return predictionsMade + 1 >= TEST_TIME_FLIP_FROM;
}

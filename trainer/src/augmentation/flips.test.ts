import { test } from "node:test";
import assert from "node:assert/strict";
import type { Policy } from "@autoclint/api";
import { testTimeFlip, withRandomFlip } from "./flips";

test("training flips with p = 0.5 before any sub-policy, also with no policy", () => {
  assert.deepEqual(withRandomFlip([]), [[["FlipLR", 0.5, 0]]]);
  const policy: Policy = [[["Invert", 0.1, 7]], [["Rotate", 0.7, 2], ["TranslateX", 0.3, 9]]];
  assert.deepEqual(withRandomFlip(policy), [
    [["FlipLR", 0.5, 0], ["Invert", 0.1, 7]],
    [["FlipLR", 0.5, 0], ["Rotate", 0.7, 2], ["TranslateX", 0.3, 9]],
  ]);
});

test("test-time flip from the third test prediction on", () => {
  assert.deepEqual([0, 1, 2, 3, 10].map(testTimeFlip), [false, false, true, true, true]);
});

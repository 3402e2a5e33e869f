import { test } from "node:test";
import assert from "node:assert/strict";
import { shuffled } from "./shuffle";

void test("shuffled permutes a copy, and the draws decide the order", () => {
  const items = [1, 2, 3, 4, 5];
  const out = shuffled(items, () => 0);
  assert.deepEqual(items, [1, 2, 3, 4, 5], "the input is left alone");
  // random() = 0 swaps each position i (from the end) with 0: a rotation by one.
  assert.deepEqual(out, [2, 3, 4, 5, 1]);
  assert.deepEqual(shuffled(items, () => 0.999999), items, "random() near 1 swaps each element with itself");
  let n = 0;
  const draws = [0.5, 0.1, 0.9, 0.3];
  assert.deepEqual(shuffled(items, () => draws[n++]!).sort(), items, "a permutation: nothing lost or repeated");
});

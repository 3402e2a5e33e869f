import { test } from "node:test";
import assert from "node:assert/strict";
import type { SubPolicy } from "@autoclint/api";
import { seededRandom } from "../util/random";
import { drawSubPolicies, searchTrigger, selectPolicy } from "./fast-autoaugment-light";
import { SEARCH_SPACE } from "./search-space";

const base = { trainScore: 0.999, validScore: 0.95, converged: false, video: false, budget: 1200, reserveSeconds: 20, now: 100 };

test("S is the original's autoaug_policy: 92 sub-policies of two steps, levels 0..9", () => {
  assert.equal(SEARCH_SPACE.length, 92);
  assert.ok(SEARCH_SPACE.every((sub) => sub.length === 2 && sub.every(([, p, m]) => p >= 0 && p <= 1 && Number.isInteger(m) && m >= 0 && m <= 9)));
  // first and last of exp0_0, the last of exp2_7, and the sub-policies around the commented-out ones of exp2_1 / exp2_5
  assert.deepEqual(SEARCH_SPACE[0], [["Invert", 0.1, 7], ["Contrast", 0.2, 6]]);
  assert.deepEqual(SEARCH_SPACE[1], [["Rotate", 0.7, 2], ["TranslateX", 0.3, 9]]);
  assert.deepEqual(SEARCH_SPACE[91], [["Equalize", 0.6, 9], ["Equalize", 0.4, 4]]);
  assert.deepEqual(SEARCH_SPACE[60], [["AutoContrast", 0.1, 5], ["Brightness", 0, 0]]);
  assert.deepEqual(SEARCH_SPACE[61], [["Equalize", 0.7, 7], ["AutoContrast", 0.6, 4]]);
  const operations = new Set(SEARCH_SPACE.flatMap((sub) => sub.map(([op]) => op)));
  assert.deepEqual([...operations].sort(), [
    "AutoContrast", "Brightness", "Color", "Contrast", "Equalize", "Invert", "Posterize", "Rotate", "Sharpness", "ShearX", "ShearY",
    "Solarize", "TranslateX", "TranslateY",
  ]);
});

test("the trigger: train saturated or converged, valid not saturated, more than 120 s left", () => {
  assert.deepEqual(searchTrigger(base), { search: true });
  assert.equal(searchTrigger({ ...base, trainScore: 0.99 }).search, false);
  assert.equal(searchTrigger({ ...base, trainScore: 0.99, converged: true }).search, true);
  assert.equal(searchTrigger({ ...base, validScore: 0.996 }).search, false);
  assert.deepEqual(searchTrigger({ ...base, video: true }), { search: false, code: "video", reason: "no augmentation search on video (as the original)" });
  const late = searchTrigger({ ...base, now: 1200 - 20 - 119 });
  assert.equal(late.search, false);
  assert.match(late.search ? "" : late.reason, /120 s needed/);
});

test("draws: C sub-policies from S, with replacement, seeded", () => {
  const a = drawSubPolicies(SEARCH_SPACE, 3, seededRandom(1));
  assert.equal(a.length, 3);
  assert.ok(a.every((sub) => SEARCH_SPACE.includes(sub)));
  assert.deepEqual(drawSubPolicies(SEARCH_SPACE, 3, seededRandom(1)), a);
  const many = drawSubPolicies(SEARCH_SPACE.slice(0, 2), 20, seededRandom(2));
  assert.equal(new Set(many).size, 2, "with replacement: a small space repeats");
});

test("selection: the top N trials that beat the baseline, best first, one sub-policy per sequence of operations", () => {
  const sub = (i: number) => SEARCH_SPACE[i] as SubPolicy;
  const trial = (i: number, score: number, subs: SubPolicy[]) => ({ trial: i, subPolicies: subs, score, baseline: 0.9, kept: score > 0.9 });
  const trials = [trial(0, 0.95, [sub(0), sub(1)]), trial(1, 0.85, [sub(2)]), trial(2, 0.97, [sub(1), sub(3)]), trial(3, 0.91, [sub(4)])];
  assert.deepEqual(selectPolicy(trials, 2), [sub(1), sub(3), sub(0)]);
  assert.equal(selectPolicy(trials, 5).length, 4, "the losing trial's sub-policy is left out");
  assert.deepEqual(selectPolicy([trial(0, 0.5, [sub(0)])], 5), []);
  // exp0_1's second and exp0_2's second are both TranslateY_TranslateY: the better trial's stays
  const sameOperations = [trial(0, 0.93, [sub(11)]), trial(1, 0.96, [sub(6)])];
  assert.deepEqual(sub(6).map(([op]) => op), sub(11).map(([op]) => op));
  assert.notDeepEqual(sub(6), sub(11));
  assert.deepEqual(selectPolicy(sameOperations, 5), [sub(6)]);
});

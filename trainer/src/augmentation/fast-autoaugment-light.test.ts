import { test } from "node:test";
import assert from "node:assert/strict";
import type { SubPolicy } from "@autoclint/api";
import { seededRandom } from "../autoclint/random";
import { drawSubPolicies, searchTrigger, selectPolicy } from "./fast-autoaugment-light";
import { AUTOAUGMENT_CIFAR10 } from "./search-space";

const base = { trainScore: 0.999, validScore: 0.95, converged: false, video: false, budget: 1200, reserveSeconds: 20, now: 100 };

test("S is the 25 sub-policies of the AutoAugment CIFAR-10 policy", () => {
  assert.equal(AUTOAUGMENT_CIFAR10.length, 25);
  assert.ok(AUTOAUGMENT_CIFAR10.every((sub) => sub.length === 2 && sub.every(([, p, m]) => p >= 0 && p <= 1 && m >= 0 && m <= 9)));
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

test("draws are distinct, of size C, and seeded", () => {
  const a = drawSubPolicies(AUTOAUGMENT_CIFAR10, 3, seededRandom(1));
  assert.equal(new Set(a.map((s) => JSON.stringify(s))).size, 3);
  assert.deepEqual(drawSubPolicies(AUTOAUGMENT_CIFAR10, 3, seededRandom(1)), a);
});

test("selection keeps the union of the top N trials that beat the baseline", () => {
  const sub = (i: number) => AUTOAUGMENT_CIFAR10[i] as SubPolicy;
  const trial = (i: number, score: number, subs: SubPolicy[]) => ({ trial: i, subPolicies: subs, score, baseline: 0.9, kept: score > 0.9 });
  const trials = [trial(0, 0.95, [sub(0), sub(1)]), trial(1, 0.85, [sub(2)]), trial(2, 0.97, [sub(1), sub(3)]), trial(3, 0.91, [sub(4)])];
  assert.deepEqual(selectPolicy(trials, 2), [sub(1), sub(3), sub(0)]);
  assert.equal(selectPolicy(trials, 5).length, 4, "the losing trial's sub-policy is left out");
  assert.deepEqual(selectPolicy([trial(0, 0.5, [sub(0)])], 5), []);
});

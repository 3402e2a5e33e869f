import { test } from "node:test";
import assert from "node:assert/strict";
import { LEARNING_CURVE_CAP, alc, type AutoClintRunStatus, type TrainerEvent } from "@autoclint/api";
import { capCurve, foldEvent, foldFromStatus, statusOfFold, type RunFold } from "./fold";

const context = { budgetSeconds: 300, keepTrials: 2 };
const base = (seq: number, attempt = 0, uid = "u1") => ({
  version: 1 as const, run: { namespace: "ns", name: "r", uid, attempt }, seq, elapsedSeconds: 10 + seq * 10, wallTime: "2025-01-01T00:00:00Z",
});
const nauc = (seq: number, value: number, attempt = 0, split: "test" | "valid" = "test"): TrainerEvent => ({
  ...base(seq, attempt), type: "nauc", split, nauc: value, epoch: seq, lr: 0.025, imagesPerSecond: 100,
});

function foldAll(events: TrainerEvent[], start: RunFold = foldFromStatus("u1", undefined)) {
  const outcomes: string[] = [];
  let fold = start;
  for (const event of events) {
    const result = foldEvent(fold, event, context);
    fold = result.fold;
    outcomes.push(result.outcome);
  }
  return { fold, outcomes };
}

void test("NAUC events build the learning curve and ALC with the shared scorer", () => {
  const { fold } = foldAll([nauc(0, 0.5), nauc(1, 0.8), nauc(2, 0.9)]);
  const curve = [{ t: 10, nauc: 0.5 }, { t: 20, nauc: 0.8 }, { t: 30, nauc: 0.9 }];
  assert.deepEqual(fold.curve, curve);
  assert.equal(fold.nauc, 0.9);
  assert.equal(fold.alc, alc(curve, 300));
});

void test("redelivered and republished events change nothing", () => {
  const once = foldAll([nauc(0, 0.5), nauc(1, 0.8)]);
  const twice = foldAll([nauc(0, 0.5), nauc(1, 0.8), nauc(0, 0.5), nauc(1, 0.8), nauc(1, 0.8)]);
  assert.deepEqual(twice.outcomes, ["applied", "applied", "duplicate", "duplicate", "duplicate"]);
  assert.deepEqual(statusOfFold(twice.fold), statusOfFold(once.fold));
});

void test("after a restart the persisted watermark still deduplicates", () => {
  const before = foldAll([nauc(0, 0.5), nauc(1, 0.8)]);
  const restored = foldFromStatus("u1", { ...statusOfFold(before.fold) });
  const after = foldAll([nauc(1, 0.8), nauc(2, 0.9)], restored);
  assert.deepEqual(after.outcomes, ["duplicate", "applied"]);
  assert.equal(after.fold.alc, alc([{ t: 10, nauc: 0.5 }, { t: 20, nauc: 0.8 }, { t: 30, nauc: 0.9 }], 300));
  assert.equal(statusOfFold(after.fold).events!.count, 3);
});

void test("a newer attempt starts a new curve; older attempts and other run incarnations are stale", () => {
  const { fold, outcomes } = foldAll([nauc(0, 0.5), nauc(0, 0.7, 1), nauc(5, 0.9, 0), { ...nauc(9, 1), run: { ...base(9).run, uid: "old" } }]);
  assert.deepEqual(outcomes, ["applied", "applied", "stale", "stale"]);
  assert.equal(fold.attempt, 1);
  assert.deepEqual(fold.curve, [{ t: 10, nauc: 0.7 }]);
});

void test("valid NAUC, phases, kept policies and the result land in their own fields", () => {
  const { fold } = foldAll([
    { ...base(0), type: "phase", phase: "training" },
    nauc(1, 0.6, 0, "valid"),
    { ...base(2), type: "policy", trial: 0, subPolicies: [[["Rotate", 0.7, 2]]], score: 0.91, baseline: 0.9, kept: true },
    { ...base(3), type: "policy", trial: 1, subPolicies: [[["Invert", 0.1, 7]]], score: 0.95, baseline: 0.9, kept: true },
    { ...base(4), type: "policy", trial: 2, subPolicies: [[["Color", 0.4, 3]]], score: 0.8, baseline: 0.9, kept: false },
    { ...base(5), type: "policy", trial: 3, subPolicies: [[["Equalize", 0.6, 5]]], score: 0.93, baseline: 0.9, kept: true },
    { ...base(6), type: "result", alc: 0.71, nauc: 0.93, firstPredictionSeconds: 12, predictions: 9 },
  ]);
  assert.equal(fold.validNauc, 0.6);
  assert.deepEqual(fold.chosenPolicy, [[["Invert", 0.1, 7]], [["Equalize", 0.6, 5]]]);
  assert.equal(fold.finalAlc, 0.71);
  assert.equal(fold.trainerPhase, "finished");
  assert.deepEqual(fold.curve, []);
});

void test("the learning curve in status is capped, keeping both ends", () => {
  const curve = Array.from({ length: 1000 }, (_, i) => ({ t: i, nauc: i / 1000 }));
  const capped = capCurve(curve, 200);
  assert.equal(capped.length, 200);
  assert.deepEqual(capped[0], curve[0]);
  assert.deepEqual(capped.at(-1), curve.at(-1));
});

void test("a restart changes no number: the exact ALC accumulator and the kept trials are persisted, past the curve's cap too", () => {
  const events: TrainerEvent[] = [];
  for (let seq = 0; seq < 450; seq++) {
    events.push({ ...nauc(seq, 0.3 + 0.6 * Math.sqrt(seq / 450)), elapsedSeconds: 0.5 + seq * 0.6 });
    if (seq % 50 === 7) events.push({ ...base(++seq), type: "policy", trial: seq, subPolicies: [[["Rotate", 0.5, seq % 10]]], score: (seq * 37) % 100 / 100, baseline: 0, kept: true });
  }
  const straight = foldAll(events).fold;
  const exact = alc(straight.curve, 300);
  assert.equal(straight.alc, exact, "the accumulator sums exactly as alc() does");
  // Restart after every 37th event: each time the fold comes back from status alone.
  let fold = foldFromStatus("u1", undefined, 300);
  events.forEach((event, i) => {
    fold = foldEvent(fold, event, context).fold;
    if (i % 37 === 0) fold = foldFromStatus("u1", structuredClone(statusOfFold(fold)) as AutoClintRunStatus, 300);
  });
  assert.equal(statusOfFold(fold).learningCurve!.length, LEARNING_CURVE_CAP, "the status curve is capped");
  assert.equal(fold.alc, exact, "same ALC, bit for bit");
  assert.deepEqual(fold.chosenPolicy, straight.chosenPolicy);
  // Every number in status is the same; only the capped curve's sampled points differ (it is a picture).
  const { learningCurve: _restarted, ...restartedStatus } = statusOfFold(fold);
  const { learningCurve: _straight, ...straightStatus } = statusOfFold(straight);
  assert.deepEqual(restartedStatus, straightStatus);
  // What the old status lost: recomputing ALC from the capped curve moves it.
  assert.notEqual(alc(statusOfFold(fold).learningCurve!, 300), exact);
});

void test("out-of-order events: each seq is applied once, the watermark in status is the highest seq, and only the gaps are remembered", () => {
  const { fold, outcomes } = foldAll([nauc(0, 0.5), nauc(3, 0.9), nauc(2, 0.8), nauc(3, 0.9), nauc(1, 0.7), nauc(2, 0.8), nauc(4, 0.95)]);
  assert.deepEqual(outcomes, ["applied", "applied", "applied", "duplicate", "applied", "duplicate", "applied"]);
  assert.equal(fold.floorSeq, 4, "every seq up to 4 arrived: the floor moved over them");
  assert.equal(fold.seen.size, 0, "no gap is left to remember");
  assert.equal(statusOfFold(fold).events?.seq, 4);
  assert.equal(statusOfFold(fold).events?.count, 5);
  const curve = [0.5, 0.7, 0.8, 0.9, 0.95].map((value, seq) => ({ t: 10 + seq * 10, nauc: value }));
  assert.deepEqual(fold.curve, curve, "the curve in time order");
  assert.equal(fold.alc, alc(curve, 300));
  // A gap stays open until its seq arrives; the status watermark is already past it.
  const gap = foldAll([nauc(0, 0.5), nauc(2, 0.8)]).fold;
  assert.equal(gap.floorSeq, 0);
  assert.deepEqual([...gap.seen], [2]);
  assert.equal(statusOfFold(gap).events?.seq, 2);
});

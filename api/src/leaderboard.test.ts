import { test } from "node:test";
import assert from "node:assert/strict";
import type { BenchmarkCellStatus } from "./benchmark";
import { bestMeanAlc, mean, rankDescending, rankVariants, sampleStd } from "./leaderboard";

const cell = (dataset: string, variant: string, seed: number, alc?: number, phase: BenchmarkCellStatus["phase"] = "Succeeded"): BenchmarkCellStatus => ({
  run: `${dataset}-${variant}-${seed}`, dataset, variant, seed, phase, ...(alc === undefined ? {} : { alc, nauc: alc + 0.1 }),
});

void test("mean and sample standard deviation (n - 1)", () => {
  assert.equal(mean([]), undefined);
  assert.equal(mean([0.2, 0.4]), 0.30000000000000004);
  assert.equal(sampleStd([0.5]), undefined);
  // (0.8 - 0.7)^2 + (0.6 - 0.7)^2 = 0.02, / (2 - 1), sqrt = 0.1414...
  assert.ok(Math.abs(sampleStd([0.8, 0.6])! - Math.SQRT2 / 10) < 1e-12);
  assert.ok(Math.abs(sampleStd([1, 2, 3, 4])! - Math.sqrt(5 / 3)) < 1e-12);
});

void test("ranks: higher first, ties share the mean rank, missing scores last", () => {
  assert.deepEqual(rankDescending([0.5, 0.9, 0.5, undefined, 0.1]), [2.5, 1, 2.5, 5, 4]);
  assert.deepEqual(rankDescending([undefined, 0.3, undefined]), [2.5, 1, 2.5]);
  assert.deepEqual(rankDescending([0.7, 0.7, 0.7]), [2, 2, 2]);
  assert.deepEqual(rankDescending([]), []);
});

void test("the AutoDL ranking: mean ALC per dataset over seeds, rank per dataset, average rank over datasets", () => {
  const cells = [
    // d1: a = mean(0.8, 0.6) = 0.7, b = 0.9, c = mean(0.7, 0.7) = 0.7  ->  b 1, a 2.5, c 2.5
    cell("d1", "a", 0, 0.8), cell("d1", "a", 1, 0.6),
    cell("d1", "b", 0, 0.9), cell("d1", "b", 1, undefined, "Failed"),
    cell("d1", "c", 0, 0.7), cell("d1", "c", 1, 0.7),
    // d2: a = 0.5, b = nothing succeeded, c = 0.6 (a running cell does not count) -> c 1, a 2, b 3
    cell("d2", "a", 0, 0.5), cell("d2", "a", 1, 0.95, "Running"),
    cell("d2", "b", 0, undefined, "Failed"), cell("d2", "b", 1, undefined, "Failed"),
    cell("d2", "c", 0, 0.6),
  ];
  const board = rankVariants(cells, ["d1", "d2"], ["a", "b", "c"]);
  // average ranks: a (2.5 + 2) / 2 = 2.25, b (1 + 3) / 2 = 2, c (2.5 + 1) / 2 = 1.75
  assert.deepEqual(board.map((s) => [s.position, s.variant, s.averageRank]), [[1, "c", 1.75], [2, "b", 2], [3, "a", 2.25]]);
  const a = board.find((s) => s.variant === "a")!;
  assert.equal(a.datasets[0]!.runs, 2);
  assert.ok(Math.abs(a.datasets[0]!.meanAlc! - 0.7) < 1e-12);
  assert.ok(Math.abs(a.datasets[0]!.stdAlc! - Math.SQRT2 / 10) < 1e-12);
  assert.ok(Math.abs(a.datasets[0]!.meanNauc! - 0.8) < 1e-12);
  assert.deepEqual(a.datasets[1], { dataset: "d2", runs: 1, meanAlc: 0.5, meanNauc: 0.6, rank: 2 });
  const b = board.find((s) => s.variant === "b")!;
  assert.deepEqual(b.datasets[1], { dataset: "d2", runs: 0, rank: 3 });
  assert.equal(b.datasets[0]!.stdAlc, undefined, "one seed has no spread");
  assert.equal(bestMeanAlc(board), 0.9);
});

void test("equal average ranks keep the spec's variant order; an empty board has no best", () => {
  const board = rankVariants([cell("d1", "y", 0, 0.5), cell("d1", "x", 0, 0.5)], ["d1"], ["x", "y"]);
  assert.deepEqual(board.map((s) => [s.variant, s.averageRank, s.position]), [["x", 1.5, 1], ["y", 1.5, 2]]);
  assert.equal(bestMeanAlc(rankVariants([], ["d1"], ["x"])), undefined);
});

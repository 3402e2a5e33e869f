/**
 * The benchmark leaderboard as plain functions over plain data, the way the AutoDL challenge
 * ranked participants: on each dataset the variants are ranked by ALC (here the mean ALC over
 * seeds), and the leaderboard orders variants by their average rank over the datasets.
 *
 * Ties share the mean of the ranks they span (1, 2.5, 2.5, 4), as scipy's rankdata does by
 * default. A variant with no successful seed on a dataset ranks below every variant with one
 * (AutoDL scored a submission that produced nothing as ALC 0, the worst score).
 */
import type { BenchmarkCellStatus, VariantDatasetScore, VariantStanding } from "./benchmark";

export function mean(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample standard deviation (divides by n - 1); undefined under two values. */
export function sampleStd(values: readonly number[]): number | undefined {
  if (values.length < 2) return undefined;
  const m = mean(values)!;
  return Math.sqrt(values.reduce((sum, v) => sum + (v - m) ** 2, 0) / (values.length - 1));
}

/**
 * Ranks of `scores`, higher score first, 1-based; ties get the mean of their ranks; undefined
 * scores rank after every defined one (tied among themselves).
 */
export function rankDescending(scores: readonly (number | undefined)[]): number[] {
  const order = scores
    .map((score, index) => ({ score, index }))
    .sort((a, b) => {
      if (a.score === undefined || b.score === undefined) return (a.score === undefined ? 1 : 0) - (b.score === undefined ? 1 : 0);
      return b.score - a.score;
    });
  const ranks = new Array<number>(scores.length);
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && order[end]!.score === order[start]!.score) end++;
    const shared = (start + 1 + end) / 2; // mean of ranks start+1 .. end
    for (let i = start; i < end; i++) ranks[order[i]!.index] = shared;
    start = end;
  }
  return ranks;
}

/** A cell counts towards the leaderboard once its run succeeded with an ALC. */
export const isScored = <C extends Pick<BenchmarkCellStatus, "phase" | "alc">>(cell: C): cell is C & { alc: number } =>
  cell.phase === "Succeeded" && typeof cell.alc === "number";

/**
 * The leaderboard over `cells`, for the datasets and variants given (their order breaks ties in
 * the final ordering: an earlier variant first).
 */
export function rankVariants(cells: readonly BenchmarkCellStatus[], datasets: readonly string[], variants: readonly string[]): VariantStanding[] {
  const scored = cells.filter(isScored);
  const scores = new Map<string, VariantDatasetScore[]>(variants.map((v) => [v, []]));
  for (const dataset of datasets) {
    const perVariant = variants.map((variant) => {
      const runs = scored.filter((c) => c.dataset === dataset && c.variant === variant);
      const alcs = runs.map((c) => c.alc);
      const naucs = runs.flatMap((c) => (typeof c.nauc === "number" ? [c.nauc] : []));
      return { dataset, runs: runs.length, meanAlc: mean(alcs), stdAlc: sampleStd(alcs), meanNauc: mean(naucs) };
    });
    const ranks = rankDescending(perVariant.map((s) => s.meanAlc));
    perVariant.forEach((score, i) => {
      const entry: VariantDatasetScore = { dataset, runs: score.runs, rank: ranks[i]! };
      if (score.meanAlc !== undefined) entry.meanAlc = score.meanAlc;
      if (score.stdAlc !== undefined) entry.stdAlc = score.stdAlc;
      if (score.meanNauc !== undefined) entry.meanNauc = score.meanNauc;
      scores.get(variants[i]!)!.push(entry);
    });
  }
  return variants
    .map((variant, order) => {
      const datasetScores = scores.get(variant)!;
      return { variant, order, datasets: datasetScores, averageRank: mean(datasetScores.map((d) => d.rank)) ?? 0 };
    })
    .sort((a, b) => a.averageRank - b.averageRank || a.order - b.order)
    .map(({ variant, datasets: d, averageRank }, i) => ({ variant, position: i + 1, averageRank, datasets: d }));
}

/** The best mean ALC of any variant on any dataset. */
export function bestMeanAlc(standings: readonly VariantStanding[]): number | undefined {
  const all = standings.flatMap((s) => s.datasets.flatMap((d) => (d.meanAlc === undefined ? [] : [d.meanAlc])));
  return all.length === 0 ? undefined : Math.max(...all);
}

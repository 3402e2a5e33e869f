/**
 * The benchmark report that `autoclint bench run` and `autoclint bench report` both write: a
 * markdown file with the leaderboard (AutoDL average rank, mean +- std ALC per dataset) and every
 * cell, and two pictures: ALC per variant per dataset with the seeds' spread, and the learning
 * curves of the leading variant. The markdown and the Vega-Lite specs are plain functions of the
 * data; only writeBenchmarkReport touches files.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  DEFAULT_T0_SECONDS, pointsWithinBudget, rankVariants, transformTime,
  type BenchmarkCellStatus, type CurvePoint, type VariantStanding,
} from "@autoclint/api";
import type { TopLevelSpec } from "vega-lite";
import { renderVegaLite } from "../report/vega";

export interface BenchmarkReportInput {
  name: string;
  /** Where the numbers come from, e.g. "cluster: team-a/tau-sweep" or "local: 2 x AMD EPYC ...". */
  source: string;
  datasets: string[];
  variants: string[];
  cells: BenchmarkCellStatus[];
  /** Test learning curve and budget of each cell's run, by run name, where known. */
  curves: Map<string, { budget: number; curve: CurvePoint[] }>;
}

export interface BenchmarkReport {
  markdown: string;
  leaderboard: VariantStanding[];
  alcSpec: TopLevelSpec;
  curvesSpec: TopLevelSpec | undefined;
}

const fixed = (x: number | undefined, digits = 4) => (x === undefined ? "-" : x.toFixed(digits));

function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map((c) => String(c).replaceAll("|", "\\|").replaceAll("\n", " ")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export function leaderboardMarkdown(board: readonly VariantStanding[], datasets: readonly string[]): string {
  const rows = board.map((s) => [
    s.position,
    s.variant,
    s.averageRank.toFixed(2),
    ...datasets.map((dataset) => {
      const d = s.datasets.find((x) => x.dataset === dataset);
      if (!d || d.meanAlc === undefined) return `- (rank ${d?.rank ?? "-"})`;
      const spread = d.stdAlc === undefined ? "" : ` ± ${d.stdAlc.toFixed(4)}`;
      return `${d.meanAlc.toFixed(4)}${spread} (n=${d.runs}, rank ${d.rank})`;
    }),
  ]);
  return table(["#", "variant", "average rank", ...datasets.map((d) => `${d}: mean ALC ± std (seeds, rank)`)], rows);
}

export function cellsMarkdown(cells: readonly BenchmarkCellStatus[]): string {
  const rows = cells.map((c) => [c.run, c.dataset, c.variant, c.seed, c.phase ?? "-", c.attempts ?? "-", fixed(c.alc), fixed(c.nauc), c.message ?? ""]);
  return table(["run", "dataset", "variant", "seed", "phase", "attempts", "ALC", "final NAUC", "message"], rows);
}

/** ALC per variant, one panel per dataset: each seed a point, the mean a tick, mean +- std a bar. */
export function alcSpreadSpec(name: string, cells: readonly BenchmarkCellStatus[], variants: readonly string[]): TopLevelSpec {
  const values = cells.filter((c) => c.phase === "Succeeded" && c.alc !== undefined).map((c) => ({ dataset: c.dataset, variant: c.variant, seed: c.seed, alc: c.alc }));
  const x = { field: "variant", type: "nominal", title: null, sort: [...variants] } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: `${name}: ALC per variant`, subtitle: "points: seeds; tick: mean; bar: mean ± sample std" },
    data: { values },
    facet: { column: { field: "dataset", type: "nominal", title: null } },
    spec: {
      width: Math.max(120, 60 * variants.length),
      height: 240,
      layer: [
        { mark: { type: "errorbar", extent: "stdev", ticks: true }, encoding: { x, y: { field: "alc", type: "quantitative", title: "ALC", scale: { zero: false } } } },
        { mark: { type: "tick", thickness: 2, size: 24, color: "black" }, encoding: { x, y: { aggregate: "mean", field: "alc", type: "quantitative" } } },
        {
          mark: { type: "point", filled: true, size: 60, opacity: 0.8 },
          encoding: { x, y: { field: "alc", type: "quantitative" }, color: { field: "variant", type: "nominal", legend: null, sort: [...variants] } },
        },
      ],
    },
    background: "white",
  } as TopLevelSpec;
}

/** Step learning curves (NAUC over transformed time) of one variant's runs, one panel per dataset, one line per seed. */
export function variantCurvesSpec(name: string, variant: string, cells: readonly BenchmarkCellStatus[], curves: BenchmarkReportInput["curves"]): TopLevelSpec | undefined {
  const values = cells
    .filter((c) => c.variant === variant && curves.has(c.run))
    .flatMap((c) => {
      const { budget, curve } = curves.get(c.run)!;
      const points = pointsWithinBudget(curve, budget);
      const last = points.at(-1)?.nauc ?? 0;
      const steps = [{ x: 0, nauc: 0 }, ...points.map((p) => ({ x: transformTime(p.t, budget, DEFAULT_T0_SECONDS), nauc: p.nauc })), { x: 1, nauc: last }];
      return steps.map((s, order) => ({ ...s, order, dataset: c.dataset, seed: `seed ${c.seed} (ALC ${fixed(c.alc)})` }));
    });
  if (values.length === 0) return undefined;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: { text: `${name}: learning curves of ${variant}`, subtitle: `NAUC over transformed time t~ = log(1 + t/t0) / log(1 + T/t0), t0 = ${DEFAULT_T0_SECONDS} s` },
    data: { values },
    facet: { column: { field: "dataset", type: "nominal", title: null } },
    spec: {
      width: 260,
      height: 220,
      mark: { type: "line", interpolate: "step-after", strokeWidth: 2 },
      encoding: {
        x: { field: "x", type: "quantitative", scale: { domain: [0, 1] }, title: "t~" },
        y: { field: "nauc", type: "quantitative", title: "NAUC" },
        color: { field: "seed", type: "nominal", title: null },
        order: { field: "order", type: "quantitative" },
      },
    },
    background: "white",
  } as TopLevelSpec;
}

export function buildBenchmarkReport(input: BenchmarkReportInput): BenchmarkReport {
  const leaderboard = rankVariants(input.cells, input.datasets, input.variants);
  const leader = leaderboard.find((s) => s.datasets.some((d) => d.runs > 0))?.variant;
  const curvesSpec = leader ? variantCurvesSpec(input.name, leader, input.cells, input.curves) : undefined;
  const counts = (phase: string) => input.cells.filter((c) => c.phase === phase).length;
  const markdown = [
    `# Benchmark ${input.name}`,
    "",
    `Source: ${input.source}`,
    `Cells: ${input.cells.length} (${input.datasets.length} datasets x ${input.variants.length} variants x seeds); ${counts("Succeeded")} succeeded, ${counts("Failed")} failed.`,
    "",
    "## Leaderboard",
    "",
    "Ranked the way the AutoDL challenge ranked: per dataset by mean ALC over seeds (ties share the mean rank; no successful seed ranks last), then by the average of those ranks.",
    "",
    leaderboardMarkdown(leaderboard, input.datasets),
    "",
    "![ALC per variant per dataset](alc.png)",
    "",
    ...(curvesSpec ? [`![Learning curves of ${leader}](curves.png)`, ""] : []),
    "## Cells",
    "",
    cellsMarkdown(input.cells),
    "",
  ].join("\n");
  return { markdown, leaderboard, alcSpec: alcSpreadSpec(input.name, input.cells, input.variants), curvesSpec };
}

/** Writes report.md, alc.png and (when any curve is known) curves.png into `outDir`; returns the paths. */
export async function writeBenchmarkReport(input: BenchmarkReportInput, outDir: string): Promise<{ markdown: string; files: string[] }> {
  const report = buildBenchmarkReport(input);
  await mkdir(outDir, { recursive: true });
  const files = [join(outDir, "report.md"), join(outDir, "alc.png")];
  await writeFile(files[0]!, report.markdown);
  await renderVegaLite(report.alcSpec, files[1]!);
  if (report.curvesSpec) {
    files.push(join(outDir, "curves.png"));
    await renderVegaLite(report.curvesSpec, files[2]!);
  }
  return { markdown: report.markdown, files };
}

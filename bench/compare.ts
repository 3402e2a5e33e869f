/**
 * A before/after table from benchmark results already made (the JSON that `bench/run.ts` writes),
 * for example the same datasets measured at two commits:
 *
 *   node --import tsx bench/compare.ts --name cpu-t300-before-after \
 *     --series "before (ad017eb)=bench/results/a.json" --series "after, quick model off=bench/results/b.json#off"
 *
 * `#on` / `#off` keeps only the runs with the quick model on / off from a file that holds both.
 * The first series is the baseline: every other series gets its ALC difference from it.
 */
import { parseArgs } from "node:util";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fixed, markdownTable, renderLearningCurves, REPO, type BenchResult } from "./harness";

const { values } = parseArgs({
  options: {
    series: { type: "string", multiple: true, default: [] },
    name: { type: "string" },
  },
});
if (!values.name || values.series.length < 2) {
  throw new Error('bench/compare.ts needs --name and at least two --series "label=results.json[#on|#off]"');
}

interface Series {
  label: string;
  source: string;
  results: BenchResult[];
}

async function readSeries(argument: string): Promise<Series> {
  const at = argument.lastIndexOf("=");
  if (at <= 0) throw new Error(`--series takes "label=results.json[#on|#off]" (got ${argument})`);
  const [file, quick] = argument.slice(at + 1).split("#");
  if (quick !== undefined && quick !== "on" && quick !== "off") throw new Error(`--series ${argument}: the filter after # is on or off`);
  const all = JSON.parse(await readFile(resolve(REPO, file!), "utf8")) as BenchResult[];
  // Results written before the quick model existed have no quickModel field: those ran without one.
  const results = quick === undefined ? all : all.filter((r) => (r.quickModel !== false) === (quick === "on"));
  if (results.length === 0) throw new Error(`--series ${argument}: no results in ${file} match`);
  return { label: argument.slice(0, at), source: argument.slice(at + 1), results };
}

const series = await Promise.all(values.series.map(readSeries));
const [baseline] = series;
const datasets = [...new Set(series.flatMap((s) => s.results.map((r) => r.dataset)))];
const find = (s: Series, dataset: string) => s.results.find((r) => r.dataset === dataset);

const header = ["dataset", "series", "ALC", "ALC vs first series", "final NAUC", "first prediction (s)", "predictions", "train images/s"];
const rows = datasets.flatMap((dataset) =>
  series.map((s) => {
    const r = find(s, dataset);
    const base = find(baseline!, dataset);
    if (!r) return [dataset, s.label, "-", "-", "-", "-", "-", "-"];
    const delta = s === baseline || !base ? "" : `${r.alc >= base.alc ? "+" : ""}${(r.alc - base.alc).toFixed(4)}`;
    return [dataset, s.label, fixed(r.alc), delta, fixed(r.nauc), fixed(r.firstPredictionSeconds, 1), r.predictions, r.imagesPerSecond.toFixed(0)];
  }),
);

// Results from before the harness kept the curve (wave 1) have none: they are in the table only.
const withCurve = (s: Series) => s.results.every((r) => Array.isArray(r.curve));
const png = `${values.name}.png`;
await renderLearningCurves(
  `Learning curves: ${values.name}`,
  series.filter(withCurve).flatMap((s) => s.results.map((result) => ({ result, series: s.label }))),
  join(REPO, "bench/results", png),
);
const noCurve = series.filter((s) => !withCurve(s)).map((s) => s.label);
const text =
  `# Before / after: ${values.name}\n\n` +
  `Command: node --import tsx bench/compare.ts ${process.argv.slice(2).map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ")}\n\n` +
  `Sources (each file's own .md names its machine, date and command):\n${series.map((s) => `- ${s.label}: ${s.results.length} runs from \`${s.source}\``).join("\n")}\n\n` +
  `${markdownTable(header, rows)}\n\n![learning curves](${png})\n` +
  (noCurve.length ? `\nNot in the picture (their results kept no learning curve): ${noCurve.join(", ")}.\n` : "");
await writeFile(join(REPO, "bench/results", `${values.name}.md`), text);
process.stdout.write(text);

/**
 * The augmentation ablation (the AutoCLINT paper's Figures 6-8, on our data): none / random /
 * fast-autoaugment-light on several datasets and seeds; a table of median ALC and final NAUC with
 * their spread, and a box plot of ALC.
 *
 *   node --import tsx bench/ablation.ts --datasets fashion-mnist,mnist,fonts --seeds 0,1,2 --budget 300
 *
 * and the softmax-annealing ablation (tau), one strategy over several temperatures:
 *
 *   node --import tsx bench/ablation.ts --strategies fast-autoaugment-light --taus 1,2,4,8,16 --name ablation-tau
 */
import { parseArgs } from "node:util";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { renderVegaLite } from "../trainer/src/report/vega";
import { buildCli, CACHE, ensureDataset, existingResult, fixed, machineDescription, markdownTable, REPO, runName, runOne, type BenchResult } from "./harness";

const { values } = parseArgs({
  options: {
    datasets: { type: "string", default: "fashion-mnist,mnist,fonts" },
    strategies: { type: "string", default: "none,random,fast-autoaugment-light" },
    seeds: { type: "string", default: "0,1,2" },
    budget: { type: "string", default: "300" },
    engine: { type: "string", default: "torch" },
    name: { type: "string", default: "ablation" },
    "min-seconds-left": { type: "string" },
    /** model.tau values; absent: the default (8), and run names without a tau. */
    taus: { type: "string" },
    /** "off": no quick first model (spec.anytime.quickModel false), so ALC measures the ResNet alone. */
    "quick-model": { type: "string", default: "on" },
    /** Tabulate the runs already in the cache, run nothing (e.g. after a session was cut short). */
    "report-only": { type: "boolean", default: false },
  },
});

const log = (line: string) => process.stderr.write(`${line}\n`);
if (!values["report-only"]) buildCli();
const quantile = (sorted: number[], q: number) => {
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  return sorted[low]! + (sorted[Math.ceil(position)]! - sorted[low]!) * (position - low);
};

const taus: (number | undefined)[] = values.taus === undefined ? [undefined] : values.taus.split(",").map(Number);
/** What a box of the plot and a row of the table compare: the strategy, the tau, or both. */
const variant = (r: BenchResult) =>
  taus.length === 1 ? r.strategy : values.strategies.includes(",") ? `${r.strategy} tau ${r.tau}` : `tau ${r.tau}`;

const minSecondsLeft = values["min-seconds-left"] === undefined ? {} : { minSecondsLeft: Number(values["min-seconds-left"]) };
if (!["on", "off"].includes(values["quick-model"])) throw new Error(`--quick-model is on or off, not ${values["quick-model"]}`);
const quickModel = values["quick-model"] === "off" ? { quickModel: false } : {};
const results: BenchResult[] = [];
for (const dataset of values.datasets.split(",")) {
  const dir = values["report-only"] ? "" : await ensureDataset(dataset, log);
  const specs = values.strategies.split(",").flatMap((strategy) =>
    taus.flatMap((tau) =>
      values.seeds.split(",").map((seed) => ({
        dataset, budget: Number(values.budget), strategy, seed: Number(seed), engine: values.engine, ...minSecondsLeft, ...quickModel, ...(tau === undefined ? {} : { tau }),
      })),
    ),
  );
  for (const spec of specs) {
    log(`ablation: ${runName(spec)}`);
    const result = values["report-only"] ? await existingResult(spec, join(CACHE, "ablation-runs")) : await runOne(spec, dir, join(CACHE, "ablation-runs"), log);
    if (!result) continue;
    log(`ablation: ${runName(spec)}: ALC ${fixed(result.alc)} NAUC ${fixed(result.nauc)}; ${result.searchSummary}`);
    results.push(result);
  }
}

const groups = new Map<string, BenchResult[]>();
for (const r of results) groups.set(`${r.dataset}\t${variant(r)}`, [...(groups.get(`${r.dataset}\t${variant(r)}`) ?? []), r]);
const rows = [...groups.entries()].map(([key, runs]) => {
  const [dataset, compared] = key.split("\t");
  const alcs = runs.map((r) => r.alc).sort((a, b) => a - b);
  const naucs = runs.map((r) => r.nauc).sort((a, b) => a - b);
  // The trigger fired: the search ran (or random augmentation switched on), whatever it found.
  const fired = runs.filter((r) => /^(searched |random augmentation:)/.test(r.searchSummary)).length;
  // How many runs actually trained with an augmentation (the search can find nothing better).
  const augmented = runs.filter((r) => /^(searched .* kept|random augmentation:)/.test(r.searchSummary)).length;
  const speeds = runs.map((r) => r.imagesPerSecond).sort((a, b) => a - b);
  return [dataset!, compared!, runs.length, fired, augmented, `${speeds[0]!.toFixed(0)} .. ${speeds.at(-1)!.toFixed(0)}`, fixed(quantile(alcs, 0.5)), `${fixed(alcs[0])} .. ${fixed(alcs.at(-1))}`, fixed(quantile(naucs, 0.5)), `${fixed(naucs[0])} .. ${fixed(naucs.at(-1))}`];
});
const table = markdownTable(["dataset", taus.length === 1 ? "strategy" : "variant", "runs", "trigger fired", "runs augmented", "train images/s", "median ALC", "ALC min .. max", "median final NAUC", "NAUC min .. max"], rows);

const outDir = join(REPO, "bench/results");
await mkdir(outDir, { recursive: true });
const png = join(outDir, `${values.name}.png`);
await renderVegaLite(
  {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title: `ALC by ${taus.length === 1 ? "augmentation strategy" : "tau"} (T = ${values.budget} s, seeds ${values.seeds})`,
    data: { values: results.map((r) => ({ dataset: r.dataset, variant: variant(r), alc: r.alc })) },
    facet: { column: { field: "dataset", type: "nominal", title: null } },
    spec: {
      width: 180,
      height: 240,
      mark: { type: "boxplot", extent: "min-max" },
      encoding: {
        x: { field: "variant", type: "nominal", title: null, sort: [...new Set(results.map(variant))] },
        y: { field: "alc", type: "quantitative", title: "ALC", scale: { zero: false } },
        color: { field: "variant", type: "nominal", legend: null },
      },
    },
  },
  png,
);
const text = `# ${taus.length === 1 ? "Augmentation" : "Softmax annealing (tau)"} ablation\n\nMachine: ${machineDescription()}\nDate: ${new Date().toISOString()}\nCommand: node --import tsx bench/ablation.ts ${process.argv.slice(2).join(" ")}\n\n${table}\n\n![ALC box plot](${values.name}.png)\n`;
await writeFile(join(outDir, `${values.name}.md`), text);
await writeFile(join(outDir, `${values.name}.json`), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(text);

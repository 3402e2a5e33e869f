/**
 * `make bench`: AutoCLINT over a list of datasets and budgets, one fresh process per run, and a
 * table of ALC, final NAUC, time to first prediction and images/s in bench/results/, with the
 * learning curves of each dataset in one picture.
 *
 *   node --import tsx bench/run.ts --datasets fashion-mnist,mnist --budgets 300 [--quick-model on,off] [--engine torch,tfjs] [--strategy fast-autoaugment-light] [--name cpu-t300]
 *
 * `--engine torch,tfjs` runs every cell on each engine, back to back (the same machine load).
 * `--quick-model on,off` runs every cell twice, with and without the quick first model
 * (spec.anytime.quickModel), to show what it is worth.
 */
import { parseArgs } from "node:util";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { buildCli, CACHE, ensureDataset, fixed, machineDescription, markdownTable, renderLearningCurves, REPO, runOne, type BenchResult } from "./harness";

const { values } = parseArgs({
  options: {
    datasets: { type: "string", default: "fashion-mnist,mnist" },
    budgets: { type: "string", default: "300" },
    engine: { type: "string", default: "torch" },
    strategy: { type: "string", default: "fast-autoaugment-light" },
    seed: { type: "string", default: "0" },
    "quick-model": { type: "string", default: "on" },
    name: { type: "string" },
  },
});

const QUICK_MODEL_SETTINGS: Record<string, boolean> = { on: true, off: false };
const quickModels = values["quick-model"].split(",").map((v) => {
  const setting = QUICK_MODEL_SETTINGS[v];
  if (setting === undefined) throw new Error(`--quick-model takes on, off or on,off (got ${v})`);
  return setting;
});
const quickLabel = (on: boolean | undefined) => (on === false ? "off" : "on");

const log = (line: string) => process.stderr.write(`${line}\n`);
buildCli();
const datasets = values.datasets.split(",");
const budgets = values.budgets.split(",").map(Number);
const results: BenchResult[] = [];
for (const dataset of datasets) {
  const dir = await ensureDataset(dataset, log);
  for (const budget of budgets) {
    for (const quickModel of quickModels) {
      for (const engine of values.engine.split(",")) {
        log(`bench: ${dataset}, T = ${budget} s, ${engine}, ${values.strategy}, quick model ${quickLabel(quickModel)}`);
        const spec = { dataset, budget, strategy: values.strategy, seed: Number(values.seed), engine, quickModel };
        const result = await runOne(spec, dir, join(CACHE, "bench-runs"), log);
        log(`bench: ${dataset} T=${budget} ${engine} quick ${quickLabel(quickModel)}: ALC ${fixed(result.alc)} NAUC ${fixed(result.nauc)}`);
        results.push(result);
      }
    }
  }
}

const device = results[0]?.device ?? "unknown";
const name = values.name ?? `${device.replace(/[^a-z0-9]+/gi, "-")}-t${budgets.join("-")}`;
const table = markdownTable(
  ["dataset", "budget (s)", "quick model", "engine", "device", "ALC", "final NAUC", "first prediction (s)", "first NAUC", "train images/s", "predictions"],
  results.map((r) => [
    r.dataset,
    r.budget,
    quickLabel(r.quickModel),
    r.engine,
    `${r.device} (${r.deviceName})`,
    fixed(r.alc),
    fixed(r.nauc),
    fixed(r.firstPredictionSeconds, 1),
    fixed(r.curve[0]?.nauc),
    r.imagesPerSecond.toFixed(0),
    r.predictions,
  ]),
);

await mkdir(join(REPO, "bench/results"), { recursive: true });
const png = `${name}.png`;
await renderLearningCurves(
  `Learning curves: ${name}`,
  results.map((r) => ({ result: r, series: `${r.engine}, quick model ${quickLabel(r.quickModel)}` })),
  join(REPO, "bench/results", png),
);

const text =
  `# Trainer benchmark: ${name}\n\nMachine: ${machineDescription()}\nDate: ${new Date().toISOString()}\n` +
  `Command: node --import tsx bench/run.ts ${process.argv.slice(2).join(" ")}\n\n${table}\n\n![learning curves](${png})\n`;
await writeFile(join(REPO, "bench/results", `${name}.md`), text);
await writeFile(join(REPO, "bench/results", `${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(text);

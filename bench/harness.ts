/**
 * The benchmark harness: each run is a fresh `autoclint run` process, so its clock starts at the
 * process start and every second of start-up counts, as in the AutoDL challenge.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { cpus, homedir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { transformTime } from "@autoclint/api";
import { renderVegaLite } from "../trainer/src/report/vega";

export const REPO = resolve(import.meta.dirname, "..");
export const CLI = join(REPO, "trainer/bin/autoclint.mjs");
export const CACHE = process.env.AUTOCLINT_CACHE ?? join(homedir(), ".cache/autoclint");

export interface BenchRun {
  dataset: string;
  budget: number;
  strategy: string;
  seed: number;
  engine: string;
  /** augmentation.minSecondsLeft, when not the default. */
  minSecondsLeft?: number;
  /** model.tau (softmax annealing), when not the default (8). */
  tau?: number;
  /** spec.anytime.quickModel, when set (the default is on). */
  quickModel?: boolean;
}

export interface BenchResult extends BenchRun {
  device: string;
  deviceName: string;
  alc: number;
  nauc: number;
  firstPredictionSeconds: number | null;
  imagesPerSecond: number;
  predictions: number;
  searchSummary: string;
  outDir: string;
  /** The scored test predictions: seconds since start and NAUC. */
  curve: { t: number; nauc: number }[];
}

/** Bundles the CLI from the current sources, so a benchmark never measures a stale build. */
export function buildCli(): void {
  execFileSync(process.execPath, [join(REPO, "hack/build.mjs")], { stdio: "inherit" });
}

function run(command: string, args: string[], log: (line: string) => void): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const forward = (chunk: Buffer) => chunk.toString().split("\n").filter(Boolean).forEach(log);
    child.stdout.on("data", forward);
    child.stderr.on("data", forward);
    child.on("error", fail);
    child.on("exit", (code) => (code === 0 ? done() : fail(new Error(`${command} ${args.join(" ")} exited with ${code}`))));
  });
}

/**
 * Builds a suite dataset into the cache once; later benchmarks reuse it. `name:N` builds it with
 * `--limit N` (N samples in all), for budgets where a full test prediction would cost too much.
 */
export async function ensureDataset(entry: string, log: (line: string) => void): Promise<string> {
  const [name, limit] = entry.split(":");
  const dir = join(CACHE, "datasets", limit ? `${name}-${limit}` : name!);
  if (existsSync(join(dir, ".complete"))) return dir;
  log(`building dataset ${entry} into ${dir}`);
  await run(process.execPath, [CLI, "datasets", "build", name!, "--out", dir, ...(limit ? ["--limit", limit] : [])], log);
  await writeFile(join(dir, ".complete"), new Date().toISOString());
  return dir;
}

/** Folder of one benchmark run. */
export function runName(spec: BenchRun): string {
  const tau = spec.tau === undefined ? "" : `-tau${spec.tau}`;
  const engine = spec.engine === "torch" ? "" : `-${spec.engine}`; // torch runs keep their old folders
  return `${spec.dataset.replace(":", "-")}-${spec.strategy}${tau}-t${spec.budget}-s${spec.seed}${spec.quickModel === false ? "-noquick" : ""}${engine}`;
}

/** The result of a run already made, if its folder holds one. */
export async function existingResult(spec: BenchRun, outRoot: string): Promise<BenchResult | undefined> {
  const outDir = join(outRoot, runName(spec));
  if (!existsSync(join(outDir, "result.json"))) return undefined;
  return readResult(spec, outDir);
}

async function readResult(spec: BenchRun, outDir: string): Promise<BenchResult> {
  const result = JSON.parse(await readFile(join(outDir, "result.json"), "utf8")) as Omit<BenchResult, keyof BenchRun | "outDir" | "searchSummary"> & {
    augmentation: { summary: string };
  };
  return {
    ...spec,
    device: result.device,
    deviceName: result.deviceName,
    alc: result.alc,
    nauc: result.nauc,
    firstPredictionSeconds: result.firstPredictionSeconds,
    imagesPerSecond: result.imagesPerSecond,
    predictions: result.predictions,
    searchSummary: result.augmentation.summary,
    outDir,
    curve: result.curve,
  };
}

export async function runOne(spec: BenchRun, datasetDir: string, outRoot: string, log: (line: string) => void): Promise<BenchResult> {
  const task = spec.dataset.split(":")[0]!;
  const name = runName(spec);
  const outDir = join(outRoot, name);
  await mkdir(outDir, { recursive: true });
  const manifest = {
    apiVersion: "autoclint.io/v1alpha1",
    kind: "AutoClintRun",
    metadata: { name },
    spec: {
      dataset: { name: task, format: "autodl", source: { path: datasetDir } },
      timeBudgetSeconds: spec.budget,
      engine: spec.engine,
      augmentation: { strategy: spec.strategy, ...(spec.minSecondsLeft !== undefined ? { minSecondsLeft: spec.minSecondsLeft } : {}) },
      ...(spec.tau !== undefined ? { model: { tau: spec.tau } } : {}),
      ...(spec.quickModel !== undefined ? { anytime: { quickModel: spec.quickModel } } : {}),
      seed: spec.seed,
    },
  };
  const manifestPath = join(outDir, "run.yaml");
  const resultPath = join(outDir, "result.json");
  const sameRunDone = existsSync(resultPath) && existsSync(manifestPath) && (await readFile(manifestPath, "utf8")) === stringify(manifest);
  if (sameRunDone && process.env.BENCH_RESUME) {
    log(`  reusing ${resultPath} (BENCH_RESUME is set)`);
  } else {
    await writeFile(manifestPath, stringify(manifest));
    await run(process.execPath, [CLI, "run", manifestPath, "--out", outDir], (line) => log(`  ${line}`));
  }
  return readResult(spec, outDir);
}

/** What the numbers were measured on. */
export function machineDescription(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  let torch = "unknown";
  for (const python of [process.env.AUTOCLINT_PYTHON, "python3", "/usr/bin/python3"]) {
    if (!python) continue;
    try {
      torch = execFileSync(python, ["-c", "import torch; print(torch.__version__)"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
      break;
    } catch {
      // try the next interpreter
    }
  }
  return `${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, torch ${torch}`;
}

export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const fixed = (x: number | null | undefined, digits = 4) => (x === null || x === undefined ? "-" : x.toFixed(digits));

/**
 * One picture of learning curves: each run's step curve of test NAUC over transformed time (the
 * axis ALC integrates over), a panel per dataset and budget, a colour per series.
 */
export async function renderLearningCurves(title: string, runs: { result: BenchResult; series: string }[], path: string): Promise<void> {
  const points = runs.flatMap(({ result: r, series }) => {
    const run = `${series} (ALC ${fixed(r.alc)})`;
    const panel = `${r.dataset}, T = ${r.budget} s`;
    const steps = [{ t: 0, nauc: 0 }, ...r.curve.filter((p) => p.t <= r.budget), { t: r.budget, nauc: r.curve.at(-1)?.nauc ?? 0 }];
    return steps.map((p) => ({ panel, run, x: transformTime(p.t, r.budget), seconds: p.t, nauc: p.nauc }));
  });
  await renderVegaLite(
    {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title,
      data: { values: points },
      facet: { field: "panel", type: "nominal", title: null },
      columns: 3,
      spec: {
        width: 420,
        height: 300,
        mark: { type: "line", interpolate: "step-after", point: true },
        encoding: {
          x: { field: "x", type: "quantitative", title: "transformed time log(1 + t/60) / log(1 + T/60)", scale: { domain: [0, 1] } },
          y: { field: "nauc", type: "quantitative", title: "test NAUC" },
          color: { field: "run", type: "nominal", title: null, legend: { orient: "bottom", direction: "vertical", labelLimit: 800 } },
        },
      },
      resolve: { scale: { color: "independent" } },
    },
    path,
  );
}

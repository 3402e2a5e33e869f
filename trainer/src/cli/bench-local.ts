/**
 * `autoclint bench run`: the same AutoClintBenchmark manifest a user would `kubectl apply`, run on
 * this machine with no cluster. The matrix is the operator's own (benchmarkCells: same cells, same
 * run names); each cell is a fresh `autoclint run` process, so its clock starts at its own process
 * start as on a cluster, one at a time or N at once. Locally there are no infrastructure failures
 * to retry (the run policy's default classes are Evicted and NodeLost), so a failed cell is
 * reported, not retried.
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { stringify } from "yaml";
import { parseSchemaManifest } from "../run/manifest";
import {
  API_VERSION, AutoClintBenchmarkSpec, benchmarkCells, MAX_BENCHMARK_CELLS, OBJECT_NAME,
  type BenchmarkCell, type BenchmarkCellStatus, type CurvePoint,
} from "@autoclint/api";
import type { BenchmarkReportInput } from "./bench-report";

export const AutoClintBenchmarkManifest = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal("AutoClintBenchmark"),
  metadata: Type.Object({ name: Type.String(OBJECT_NAME), namespace: Type.Optional(Type.String()) }),
  spec: AutoClintBenchmarkSpec,
});
export type AutoClintBenchmarkManifest = Static<typeof AutoClintBenchmarkManifest>;

export class BenchmarkManifestError extends Error {
  override name = "BenchmarkManifestError";
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid AutoClintBenchmark:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

const duplicates = (values: readonly (string | number)[]) => [...new Set(values.filter((v, i) => values.indexOf(v) !== i))];

/** The rules the API server checks with CEL, which a TypeBox check does not see. */
function crossFieldProblems(spec: AutoClintBenchmarkSpec): string[] {
  const problems: string[] = [];
  for (const [field, names] of [["datasets", spec.datasets.map((d) => d.name)], ["variants", spec.variants.map((v) => v.name)], ["seeds", spec.seeds ?? []]] as const) {
    const repeated = duplicates(names);
    if (repeated.length > 0) problems.push(`/spec/${field}: must be unique, repeated: ${repeated.join(", ")}`);
  }
  const cells = spec.datasets.length * spec.variants.length * (spec.seeds ?? [0]).length;
  if (cells > MAX_BENCHMARK_CELLS) problems.push(`/spec: datasets x variants x seeds = ${cells} runs, more than ${MAX_BENCHMARK_CELLS}`);
  for (const [i, d] of spec.datasets.entries()) {
    if (!d.dataset.source.path === !d.dataset.source.url) problems.push(`/spec/datasets/${i}/dataset/source: needs exactly one of path (a local folder) or url`);
  }
  return problems;
}

export async function readBenchmarkManifest(file: string): Promise<AutoClintBenchmarkManifest> {
  return parseBenchmarkManifest(await readFile(file, "utf8"), file);
}

export function parseBenchmarkManifest(text: string, file: string): AutoClintBenchmarkManifest {
  const manifest = parseSchemaManifest(AutoClintBenchmarkManifest, text, (problems) => new BenchmarkManifestError(file, problems));
  const more = crossFieldProblems(manifest.spec);
  if (more.length > 0) throw new BenchmarkManifestError(file, more);
  return manifest;
}

export interface LocalBenchOptions {
  manifest: AutoClintBenchmarkManifest;
  /** Where the manifest was read from: relative dataset paths are relative to it. */
  manifestFile: string;
  outDir: string;
  /** Cells run at once. */
  parallel: number;
  /** Overrides every cell's timeBudgetSeconds (the cells keep the manifest's names). */
  budget?: number;
  engine?: "torch" | "tfjs";
  /** Reuse a cell's result when its folder holds one made from the same run manifest. */
  resume: boolean;
  /** The command that runs one AutoClintRun manifest: [executable, ...args before "run"]. */
  cli: string[];
  log(line: string): void;
}

interface CellOutcome {
  cell: BenchmarkCell;
  status: BenchmarkCellStatus;
  budget: number;
  curve?: CurvePoint[];
}

/** The run manifest of a cell as `autoclint run` reads it; dataset paths are relative to the benchmark manifest. */
export function cellManifest(cell: BenchmarkCell, manifestFile: string, options: Pick<LocalBenchOptions, "budget" | "engine">) {
  const spec = structuredClone(cell.spec);
  const source = spec.dataset.source;
  if (source.path && !isAbsolute(source.path)) source.path = resolve(dirname(manifestFile), source.path);
  if (options.budget !== undefined) spec.timeBudgetSeconds = options.budget;
  if (options.engine) spec.engine = options.engine;
  return { apiVersion: API_VERSION, kind: "AutoClintRun", metadata: { name: cell.name }, spec };
}

/** Runs a command with its output in `logFile`; returns its exit code and the line that best says why it failed. */
function runProcess(command: string[], logFile: string): Promise<{ code: number | null; reason: string }> {
  return new Promise((done, fail) => {
    const log = createWriteStream(logFile);
    const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let lastLine = "";
    let errorLine = ""; // the CLI prints its error as "autoclint: <message>"
    const take = (chunk: Buffer) => {
      log.write(chunk);
      for (const line of chunk.toString().split("\n").filter((l) => l.trim() !== "")) {
        lastLine = line;
        if (line.startsWith("autoclint:")) errorLine = line;
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", fail);
    child.on("close", (code) => log.end(() => done({ code, reason: errorLine || lastLine })));
  });
}

async function runCell(cell: BenchmarkCell, options: LocalBenchOptions): Promise<CellOutcome> {
  const dir = join(options.outDir, cell.name);
  await mkdir(dir, { recursive: true });
  const manifest = cellManifest(cell, options.manifestFile, options);
  const manifestText = stringify(manifest);
  const manifestPath = join(dir, "run.yaml");
  const resultPath = join(dir, "result.json");
  const base: BenchmarkCellStatus = { run: cell.name, dataset: cell.dataset, variant: cell.variant, seed: cell.seed, attempts: 1 };
  const reuse = options.resume && existsSync(resultPath) && existsSync(manifestPath) && (await readFile(manifestPath, "utf8")) === manifestText;
  if (reuse) {
    options.log(`${cell.name}: reusing ${resultPath}`);
  } else {
    await writeFile(manifestPath, manifestText);
    options.log(`${cell.name}: started (${cell.dataset} x ${cell.variant}, seed ${cell.seed}, T = ${manifest.spec.timeBudgetSeconds} s)`);
    const { code, reason } = await runProcess([...options.cli, "run", manifestPath, "--out", dir], join(dir, "log.txt"));
    if (code !== 0) {
      options.log(`${cell.name}: failed (exit ${code}): ${reason}`);
      return { cell, budget: manifest.spec.timeBudgetSeconds, status: { ...base, phase: "Failed", message: `exit ${code}: ${reason}`.slice(0, 1024) } };
    }
  }
  const result = JSON.parse(await readFile(resultPath, "utf8")) as { alc: number | null; nauc: number | null; curve: CurvePoint[]; budget: number };
  const status: BenchmarkCellStatus = { ...base, phase: "Succeeded" };
  if (result.alc !== null) status.alc = result.alc;
  if (result.nauc !== null) status.nauc = result.nauc;
  options.log(`${cell.name}: ALC ${result.alc?.toFixed(4) ?? "n/a"}, final NAUC ${result.nauc?.toFixed(4) ?? "n/a"}`);
  return { cell, status, budget: result.budget, curve: result.curve };
}

/** Runs every cell, `parallel` at a time, in matrix order; returns what the report needs. */
export async function runBenchmarkLocally(options: LocalBenchOptions): Promise<BenchmarkReportInput> {
  const { manifest } = options;
  const cells = benchmarkCells(manifest.metadata.name, manifest.spec);
  options.log(`${manifest.metadata.name}: ${cells.length} cells, ${options.parallel} at a time, into ${options.outDir}`);
  const outcomes: CellOutcome[] = new Array(cells.length);
  let next = 0;
  const worker = async () => {
    while (next < cells.length) {
      const index = next++;
      const cell = cells[index]!;
      outcomes[index] = await runCell(cell, options).catch((error: unknown) => {
        // A cell whose process could not start or left no result fails alone; the others go on.
        options.log(`${cell.name}: failed: ${(error as Error).message}`);
        const status: BenchmarkCellStatus = { run: cell.name, dataset: cell.dataset, variant: cell.variant, seed: cell.seed, phase: "Failed", message: (error as Error).message.slice(0, 1024) };
        return { cell, status, budget: cell.spec.timeBudgetSeconds };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel, cells.length)) }, worker));
  return {
    name: manifest.metadata.name,
    source: `local (\`autoclint bench run ${options.manifestFile}\`, ${options.parallel} at a time)`,
    datasets: manifest.spec.datasets.map((d) => d.name),
    variants: manifest.spec.variants.map((v) => v.name),
    cells: outcomes.map((o) => o.status),
    curves: new Map(outcomes.filter((o) => o.curve).map((o) => [o.cell.name, { budget: o.budget, curve: o.curve! }])),
  };
}

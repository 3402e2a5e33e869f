/**
 * The benchmark matrix as plain functions: which cells a benchmark spec asks for, each cell's run
 * spec, and each cell's run name. Shared by the operator (which creates the runs) and
 * `autoclint bench run` (which runs them locally), so both run exactly the same matrix.
 */
import { createHash } from "node:crypto";
import type { AutoClintBenchmarkSpec } from "./benchmark";
import type { AutoClintRunSpec } from "./run";

export interface BenchmarkCell {
  dataset: string;
  variant: string;
  seed: number;
  /** The full run spec: defaults, then the template, then the variant, then dataset and seed. */
  spec: AutoClintRunSpec;
  /** Unique and stable: see cellRunName. */
  name: string;
}

export const DEFAULT_BENCHMARK_BUDGET_SECONDS = 1200;
export const MAX_RUN_NAME_LENGTH = 63;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** `over` merged onto `base`: objects merge key by key, arrays and scalars replace, undefined leaves base. */
export function mergeSpec<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value !== undefined) out[key] = mergeSpec(out[key], value);
  }
  return out as T;
}

/** JSON with object keys sorted, so equal values always hash equal. */
export function canonicalJson(value: unknown): string {
  const sort = (v: unknown): Json => {
    if (Array.isArray(v)) return v.map(sort);
    if (isPlainObject(v)) {
      return Object.fromEntries(
        Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => [k, sort(v[k])]),
      );
    }
    return v as Json;
  };
  return JSON.stringify(sort(value));
}

/**
 * `<benchmark>-<dataset>-<variant>-s<seed>-<hash>`, at most 63 characters. The readable part is
 * for people and may be cut short; the hash (of the benchmark name, the three axis names and the
 * cell's full run spec) is what makes names unique: `a-b` x `c` and `a` x `b-c` read alike but
 * hash apart. A cell keeps its name as long as its spec does (operator restarts, edits of
 * parallelism or of other cells); editing the template or its variant gives it a new name, so
 * its new run starts beside the old one, which is kept.
 */
export function cellRunName(benchmark: string, cell: Omit<BenchmarkCell, "name">): string {
  const identity = canonicalJson([benchmark, cell.dataset, cell.variant, cell.seed, cell.spec]);
  const hash = createHash("sha256").update(identity).digest("hex").slice(0, 8);
  const readable = `${benchmark}-${cell.dataset}-${cell.variant}-s${cell.seed}`
    .slice(0, MAX_RUN_NAME_LENGTH - hash.length - 1)
    .replace(/-+$/, "");
  return `${readable}-${hash}`;
}

/**
 * Every cell, seed by seed: the first seed of every (dataset, variant) comes before any second
 * seed, so that under a parallelism limit a first leaderboard over all cells fills in early.
 */
export function benchmarkCells(benchmark: string, spec: AutoClintBenchmarkSpec): BenchmarkCell[] {
  const template = spec.template ?? {};
  const cells: BenchmarkCell[] = [];
  for (const seed of spec.seeds ?? [0]) {
    for (const dataset of spec.datasets) {
      for (const { name: variant, ...overrides } of spec.variants) {
        const shared = mergeSpec(mergeSpec({ timeBudgetSeconds: DEFAULT_BENCHMARK_BUDGET_SECONDS }, template), overrides);
        const runSpec = { ...shared, dataset: dataset.dataset, seed } as AutoClintRunSpec;
        const cell = { dataset: dataset.name, variant, seed, spec: runSpec };
        cells.push({ ...cell, name: cellRunName(benchmark, cell) });
      }
    }
  }
  const seen = new Set<string>();
  for (const cell of cells) {
    // 32 bits of hash over at most 512 cells: a clash is astronomically unlikely, but never silent.
    if (seen.has(cell.name)) throw new Error(`two benchmark cells share the run name ${cell.name}: rename a dataset or variant`);
    seen.add(cell.name);
  }
  return cells;
}

/** GPUs a run asks for (the run spec's default is 1). */
export const gpusOf = (spec: Pick<AutoClintRunSpec, "resources">): number => spec.resources?.gpu ?? 1;

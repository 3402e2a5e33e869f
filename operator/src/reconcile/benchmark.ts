/**
 * The AutoClintBenchmark reconciler. Each cell of the matrix (datasets x variants x seeds, see
 * benchmarkCells) becomes one AutoClintRun owned by the benchmark, created while the benchmark's
 * unfinished runs stay within `parallelism` and `maxGpus`. The status lists every cell with its
 * run's phase, attempts, ALC and final NAUC, and the AutoDL-style leaderboard over variants.
 *
 * A template (or variant) edit renames the cells it changes, so their new runs start beside the
 * old ones; runs of earlier generations are kept, listed in status.previousCells and left out of
 * the ranking. Retries are the run's own business (its retry policy); a cell is finished when its
 * run is Succeeded or Failed after its retries.
 */
import {
  API_VERSION, benchmarkCells, bestMeanAlc, gpusOf, rankVariants,
  type AutoClintBenchmark, type AutoClintBenchmarkStatus, type AutoClintRun, type BenchmarkCell, type BenchmarkCellStatus, type BenchmarkPhase, type VariantStanding,
} from "@autoclint/api";
import type { Reconciler, ReconcileContext, ReconcileRequest } from "../controller/controller";
import { KubeApiError } from "../errors";
import { ANNOTATION_BENCHMARK, LABEL_BENCHMARK_UID, LABEL_MANAGED_BY, MANAGED_BY } from "./labels";
import { patchOwnedStatus, type StatusPatcher } from "./status";

export const ANNOTATION_DATASET = "autoclint.io/dataset";
export const ANNOTATION_VARIANT = "autoclint.io/variant";
export const ANNOTATION_SEED = "autoclint.io/seed";
/** The benchmark's metadata.generation when the run was created. */
export const LABEL_BENCHMARK_GENERATION = "autoclint.io/benchmark-generation";

/** Cells named in the status message, at most. */
const MESSAGE_CELLS = 5;
/** How long a created run that no list shows yet still counts as in flight (a lagging cache). */
const EXPECTATION_TTL_MS = 60_000;

export interface BenchmarkMetrics {
  setBenchmarkStandings(namespace: string, benchmark: string, standings: readonly VariantStanding[]): void;
  forgetBenchmark(namespace: string, benchmark: string): void;
}

/** The Kubernetes calls the benchmark reconciler needs. */
export interface BenchmarkApi extends StatusPatcher<AutoClintBenchmark> {
  /**
   * The benchmark's runs (label autoclint.io/benchmark-uid), of every generation: from the run
   * informer's cache, indexed by that label, so no request and possibly behind our own creates.
   */
  runsOf(namespace: string, benchmarkUid: string): AutoClintRun[];
  createRun(run: AutoClintRun): Promise<AutoClintRun>;
}

/** Every status field the reconciler writes: all but conditions. One absent from a new status is removed. */
const BENCHMARK_STATUS_FIELDS = [
  "phase", "observedGeneration", "message", "total", "active", "finished", "succeeded", "failed", "bestAlc", "leader", "cells", "previousCells", "leaderboard",
] as const satisfies readonly Exclude<keyof AutoClintBenchmarkStatus, "conditions">[];

const isFinished = (run: AutoClintRun | undefined) => run?.status?.phase === "Succeeded" || run?.status?.phase === "Failed";

/** The AutoClintRun of one cell. */
export function cellRun(benchmark: AutoClintBenchmark, cell: BenchmarkCell): AutoClintRun {
  const { metadata } = benchmark;
  return {
    apiVersion: API_VERSION,
    kind: "AutoClintRun",
    metadata: {
      name: cell.name,
      namespace: metadata.namespace,
      labels: {
        [LABEL_MANAGED_BY]: MANAGED_BY,
        [LABEL_BENCHMARK_UID]: metadata.uid ?? "",
        [LABEL_BENCHMARK_GENERATION]: String(metadata.generation ?? 1),
      },
      annotations: {
        [ANNOTATION_BENCHMARK]: metadata.name,
        [ANNOTATION_DATASET]: cell.dataset,
        [ANNOTATION_VARIANT]: cell.variant,
        [ANNOTATION_SEED]: String(cell.seed),
      },
      ownerReferences: [{ apiVersion: API_VERSION, kind: "AutoClintBenchmark", name: metadata.name, uid: metadata.uid ?? "", controller: true, blockOwnerDeletion: true }],
    },
    spec: cell.spec,
  };
}

/** A cell that cannot get a run: it counts as failed, with the reason. */
export type BlockedCells = Map<string, string>;

export interface CreationLimits {
  parallelism: number;
  maxGpus?: number;
}

/**
 * Which cells to create now, in matrix order, given every run of the benchmark that exists (of
 * any generation: unfinished old runs still hold their GPUs). Stops at the first cell that does
 * not fit, so that a large cell is not starved by smaller ones behind it.
 */
export function cellsToCreate(cells: readonly BenchmarkCell[], runs: ReadonlyMap<string, AutoClintRun>, limits: CreationLimits, blocked: BlockedCells): BenchmarkCell[] {
  const unfinished = [...runs.values()].filter((r) => !isFinished(r));
  let active = unfinished.length;
  let gpus = unfinished.reduce((sum, r) => sum + gpusOf(r.spec), 0);
  const create: BenchmarkCell[] = [];
  for (const cell of cells) {
    if (runs.has(cell.name) || blocked.has(cell.name)) continue;
    const need = gpusOf(cell.spec);
    if (limits.maxGpus !== undefined && need > limits.maxGpus) {
      blocked.set(cell.name, `needs ${need} GPUs, more than the benchmark's maxGpus ${limits.maxGpus}`);
      continue;
    }
    if (limits.parallelism > 0 && active >= limits.parallelism) break;
    if (limits.maxGpus !== undefined && gpus + need > limits.maxGpus) break;
    create.push(cell);
    active++;
    gpus += need;
  }
  return create;
}

function cellStatus(run: AutoClintRun): Omit<BenchmarkCellStatus, "run" | "dataset" | "variant" | "seed"> {
  const out: Omit<BenchmarkCellStatus, "run" | "dataset" | "variant" | "seed"> = {};
  const generation = Number(run.metadata.labels?.[LABEL_BENCHMARK_GENERATION]);
  if (Number.isInteger(generation)) out.generation = generation;
  const status = run.status;
  if (status?.phase) out.phase = status.phase;
  if (status?.attempts !== undefined) out.attempts = status.attempts;
  const alc = status?.finalAlc ?? status?.alc;
  if (alc !== undefined) out.alc = alc;
  if (status?.nauc !== undefined) out.nauc = status.nauc;
  if (status?.phase === "Failed" && status.message) out.message = status.message.slice(0, 1024);
  return out;
}

function describe(cell: BenchmarkCellStatus): string {
  return `${cell.run} (${cell.dataset} x ${cell.variant}, seed ${cell.seed}${cell.message ? `: ${cell.message.slice(0, 200)}` : ""})`;
}

/** The benchmark's status from its cells and the runs that exist, as a pure function. */
export function benchmarkStatus(
  benchmark: AutoClintBenchmark,
  cells: readonly BenchmarkCell[],
  runs: ReadonlyMap<string, AutoClintRun>,
  blocked: BlockedCells,
): AutoClintBenchmarkStatus {
  const current = new Set(cells.map((c) => c.name));
  const rows = cells.map((cell): BenchmarkCellStatus => {
    const run = runs.get(cell.name);
    const row: BenchmarkCellStatus = { run: cell.name, dataset: cell.dataset, variant: cell.variant, seed: cell.seed, ...(run ? cellStatus(run) : {}) };
    const reason = blocked.get(cell.name);
    if (!run && reason) Object.assign(row, { phase: "Failed", message: reason });
    return row;
  });
  const previous = [...runs.values()]
    .filter((run) => !current.has(run.metadata.name))
    .map((run): BenchmarkCellStatus => {
      const annotations = run.metadata.annotations ?? {};
      return {
        run: run.metadata.name,
        dataset: annotations[ANNOTATION_DATASET] ?? "",
        variant: annotations[ANNOTATION_VARIANT] ?? "",
        seed: Number(annotations[ANNOTATION_SEED] ?? 0),
        ...cellStatus(run),
      };
    })
    .sort((a, b) => (a.generation ?? 0) - (b.generation ?? 0) || a.run.localeCompare(b.run));

  const succeeded = rows.filter((r) => r.phase === "Succeeded").length;
  const failedRows = rows.filter((r) => r.phase === "Failed");
  const finished = succeeded + failedRows.length;
  const active = [...runs.values()].filter((r) => !isFinished(r)).length;
  let phase: BenchmarkPhase;
  if (finished === rows.length) phase = failedRows.length === 0 ? "Succeeded" : succeeded === 0 ? "Failed" : "PartiallyFailed";
  else phase = runs.size > 0 ? "Running" : "Pending";

  const leaderboard = rankVariants(rows, benchmark.spec.datasets.map((d) => d.name), benchmark.spec.variants.map((v) => v.name));
  const failedText = failedRows.length === 0 ? "" : `; ${failedRows.length} failed: ${failedRows.slice(0, MESSAGE_CELLS).map(describe).join(", ")}${failedRows.length > MESSAGE_CELLS ? ", ..." : ""}`;
  const status: AutoClintBenchmarkStatus = {
    phase,
    observedGeneration: benchmark.metadata.generation,
    message: `${finished}/${rows.length} runs finished${failedText}`,
    total: rows.length,
    active,
    finished,
    succeeded,
    failed: failedRows.length,
    cells: rows,
    leaderboard,
  };
  if (previous.length > 0) status.previousCells = previous.slice(-rows.length);
  const best = bestMeanAlc(leaderboard);
  if (best !== undefined) status.bestAlc = best;
  if (leaderboard[0] && leaderboard[0].datasets.some((d) => d.runs > 0)) status.leader = leaderboard[0].variant;
  return status;
}

export class BenchmarkReconciler implements Reconciler {
  readonly kind = "AutoClintBenchmark";
  /**
   * Runs this replica created that the cache does not show yet, per benchmark uid: they count as in
   * flight, so a cache that lags behind our own creates can never push past the limits.
   */
  private readonly expected = new Map<string, Map<string, { run: AutoClintRun; at: number }>>();

  private readonly api: BenchmarkApi;
  private readonly metrics: BenchmarkMetrics | undefined;
  private readonly now: () => number;

  constructor(api: BenchmarkApi, options: { metrics?: BenchmarkMetrics; now?: () => number } = {}) {
    this.api = api;
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
  }

  async reconcile({ namespace, name }: ReconcileRequest, { log }: ReconcileContext): Promise<void> {
    const benchmark = await this.api.get(namespace, name);
    if (!benchmark || benchmark.metadata.deletionTimestamp) {
      this.metrics?.forgetBenchmark(namespace, name);
      return;
    }
    const uid = benchmark.metadata.uid ?? "";
    let cells: BenchmarkCell[];
    try {
      cells = benchmarkCells(name, benchmark.spec);
    } catch (error) {
      await this.writeStatus(benchmark, { phase: "Failed", observedGeneration: benchmark.metadata.generation, message: (error as Error).message });
      return;
    }
    const runs = new Map(this.api.runsOf(namespace, uid).map((r) => [r.metadata.name, r]));
    const expected = this.expected.get(uid) ?? new Map<string, { run: AutoClintRun; at: number }>();
    for (const [runName, { run, at }] of expected) {
      if (runs.has(runName) || this.now() - at > EXPECTATION_TTL_MS) expected.delete(runName);
      else runs.set(runName, run);
    }
    const blocked: BlockedCells = new Map();
    const limits = { parallelism: benchmark.spec.parallelism ?? 0, ...(benchmark.spec.maxGpus === undefined ? {} : { maxGpus: benchmark.spec.maxGpus }) };
    for (const cell of cellsToCreate(cells, runs, limits, blocked)) {
      const run = cellRun(benchmark, cell);
      try {
        runs.set(cell.name, await this.api.createRun(run));
        expected.set(cell.name, { run, at: this.now() });
        log.info("created benchmark run", { run: cell.name, dataset: cell.dataset, variant: cell.variant, seed: cell.seed });
      } catch (error) {
        if (!(error instanceof KubeApiError && error.alreadyExists)) throw error;
        // Not in our list and not created by us: someone else's object holds the name.
        blocked.set(cell.name, `an AutoClintRun named ${cell.name} already exists and does not belong to this benchmark`);
      }
    }
    if (expected.size > 0) this.expected.set(uid, expected);
    else this.expected.delete(uid);
    const status = benchmarkStatus(benchmark, cells, runs, blocked);
    this.metrics?.setBenchmarkStandings(namespace, name, status.leaderboard ?? []);
    await this.writeStatus(benchmark, status);
  }

  /** A merge patch of the fields that differ from the status read (none: no request). */
  private async writeStatus(benchmark: AutoClintBenchmark, status: AutoClintBenchmarkStatus): Promise<void> {
    await patchOwnedStatus(this.api, benchmark, Object.fromEntries(BENCHMARK_STATUS_FIELDS.map((field) => [field, status[field]])));
  }
}

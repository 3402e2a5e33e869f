/**
 * AutoClintBenchmark: a matrix of datasets x variants x seeds fanned out into AutoClintRuns, with
 * a leaderboard in status ranked the way the AutoDL challenge ranked its participants: by the
 * average over datasets of each variant's rank by ALC.
 */
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Conditions, DNS_LABEL_PATTERN, ObjectMeta } from "./kube";
import { AutoClintRunSpec, Dataset, RunPhaseSchema } from "./run";


export const BenchmarkDataset = Type.Object({
  name: Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 20, description: "Short name, part of each run's name." }),
  dataset: Dataset,
});
export type BenchmarkDataset = Static<typeof BenchmarkDataset>;

/**
 * A copy of a schema with no `default` anywhere. Template and variants are partial run specs that
 * merge in layers: a default filled into a variant by the API server (timeBudgetSeconds: 1200,
 * model.tau: 8) would override what the template set. Each run gets the defaults when it is created.
 */
export function withoutDefaults<T extends TSchema>(schema: T): T {
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (typeof value !== "object" || value === null) return value;
    const out: Record<string | symbol, unknown> = {};
    for (const key of Reflect.ownKeys(value)) {
      if (key !== "default") out[key] = strip((value as Record<string | symbol, unknown>)[key]);
    }
    return out;
  };
  return strip(schema) as T;
}

/** Run spec fields a benchmark may set: everything but the dataset (a matrix axis) and the seed (another). */
const SharedRunFields = withoutDefaults(Type.Partial(Type.Omit(AutoClintRunSpec, ["dataset", "seed"])));

export const BenchmarkVariant = Type.Composite(
  [
    Type.Object({ name: Type.String({ pattern: DNS_LABEL_PATTERN, maxLength: 20, description: "Short name, part of each run's name." }) }),
    SharedRunFields,
  ],
  { description: "A partial run spec, merged over the template (objects merge key by key; arrays and scalars replace)." },
);
export type BenchmarkVariant = Static<typeof BenchmarkVariant>;

/** What every run of the benchmark shares: the run spec less its dataset and seed. */
export const BenchmarkTemplate = Type.Partial(SharedRunFields, {
  description: "Run spec fields shared by every run (budget, resources, scheduling, retries, image). Editing it starts a new generation of runs.",
});
export type BenchmarkTemplate = Static<typeof BenchmarkTemplate>;

const uniqueNames = (field: string) => ({
  rule: `self.${field}.all(a, self.${field}.exists_one(b, b.name == a.name))`,
  message: `${field} names must be unique`,
});

export const MAX_BENCHMARK_CELLS = 512;

export const AutoClintBenchmarkSpec = Type.Object(
  {
    datasets: Type.Array(BenchmarkDataset, { minItems: 1, maxItems: 32 }),
    variants: Type.Array(BenchmarkVariant, { minItems: 1, maxItems: 32 }),
    seeds: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0 }), {
        minItems: 1,
        maxItems: 16,
        default: [0],
        "x-kubernetes-list-type": "set",
        description: "Seeds each (dataset, variant) cell runs with; the leaderboard reports the mean and spread over them.",
      }),
    ),
    template: Type.Optional(BenchmarkTemplate),
    parallelism: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1024, default: 0, description: "Runs in flight at once; 0: no limit." }),
    ),
    maxGpus: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 16384, description: "GPUs the benchmark's unfinished runs may request in all; no cap when absent." }),
    ),
  },
  {
    "x-kubernetes-validations": [
      uniqueNames("datasets"),
      uniqueNames("variants"),
      {
        rule: `size(self.datasets) * size(self.variants) * (has(self.seeds) ? size(self.seeds) : 1) <= ${MAX_BENCHMARK_CELLS}`,
        message: `datasets x variants x seeds must stay within ${MAX_BENCHMARK_CELLS} runs`,
      },
    ],
  },
);
export type AutoClintBenchmarkSpec = Static<typeof AutoClintBenchmarkSpec>;

export const BENCHMARK_PHASES = ["Pending", "Running", "Succeeded", "PartiallyFailed", "Failed"] as const;
export type BenchmarkPhase = (typeof BENCHMARK_PHASES)[number];

export const BenchmarkCellStatus = Type.Object({
  run: Type.String({ description: "The AutoClintRun of this cell." }),
  dataset: Type.String(),
  variant: Type.String(),
  seed: Type.Integer(),
  generation: Type.Optional(Type.Integer({ description: "The benchmark generation the run was created for." })),
  phase: Type.Optional(RunPhaseSchema),
  attempts: Type.Optional(Type.Integer({ minimum: 0 })),
  alc: Type.Optional(Type.Number({ description: "The run's final ALC (its ALC so far while it runs)." })),
  nauc: Type.Optional(Type.Number({ description: "The run's final (latest) test NAUC." })),
  message: Type.Optional(Type.String({ maxLength: 1024, description: "Why the run failed." })),
});
export type BenchmarkCellStatus = Static<typeof BenchmarkCellStatus>;

export const VariantDatasetScore = Type.Object({
  dataset: Type.String(),
  runs: Type.Integer({ minimum: 0, description: "Seeds that succeeded with an ALC: what mean and std are over." }),
  meanAlc: Type.Optional(Type.Number()),
  stdAlc: Type.Optional(Type.Number({ description: "Sample standard deviation (n - 1) of ALC over seeds; absent under 2 runs." })),
  meanNauc: Type.Optional(Type.Number()),
  rank: Type.Number({ description: "Rank by mean ALC among the variants on this dataset (1 best; ties share the mean rank; no result ranks last)." }),
});
export type VariantDatasetScore = Static<typeof VariantDatasetScore>;

export const VariantStanding = Type.Object({
  variant: Type.String(),
  position: Type.Integer({ minimum: 1, description: "Place on the leaderboard, by average rank." }),
  averageRank: Type.Number({ description: "Mean over datasets of the variant's rank there (the AutoDL challenge's score)." }),
  datasets: Type.Array(VariantDatasetScore, { maxItems: 32 }),
});
export type VariantStanding = Static<typeof VariantStanding>;

export const AutoClintBenchmarkStatus = Type.Object({
  phase: Type.Optional(Type.Union(BENCHMARK_PHASES.map((p) => Type.Literal(p)))),
  observedGeneration: Type.Optional(Type.Integer()),
  conditions: Type.Optional(Conditions),
  message: Type.Optional(Type.String()),
  total: Type.Optional(Type.Integer({ minimum: 0, description: "Cells of the current generation." })),
  active: Type.Optional(Type.Integer({ minimum: 0, description: "Unfinished runs (of any generation)." })),
  finished: Type.Optional(Type.Integer({ minimum: 0 })),
  succeeded: Type.Optional(Type.Integer({ minimum: 0 })),
  failed: Type.Optional(Type.Integer({ minimum: 0 })),
  bestAlc: Type.Optional(Type.Number({ description: "Best mean ALC of a variant on a dataset." })),
  leader: Type.Optional(Type.String({ description: "The variant with the best average rank." })),
  cells: Type.Optional(Type.Array(BenchmarkCellStatus, { maxItems: MAX_BENCHMARK_CELLS })),
  previousCells: Type.Optional(
    Type.Array(BenchmarkCellStatus, { maxItems: MAX_BENCHMARK_CELLS, description: "Runs of earlier generations (before a template edit), kept; not ranked." }),
  ),
  leaderboard: Type.Optional(Type.Array(VariantStanding, { maxItems: 32, description: "Variants by average rank over datasets, best first." })),
});
export type AutoClintBenchmarkStatus = Static<typeof AutoClintBenchmarkStatus>;

export const AutoClintBenchmark = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  metadata: ObjectMeta,
  spec: AutoClintBenchmarkSpec,
  status: Type.Optional(AutoClintBenchmarkStatus),
});
export type AutoClintBenchmark = Static<typeof AutoClintBenchmark>;

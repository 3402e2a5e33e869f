import { test } from "node:test";
import assert from "node:assert/strict";
import { benchmarkCells, type AutoClintBenchmark, type AutoClintRun, type RunPhase } from "@autoclint/api";
import { silentLogger } from "../log";
import { OperatorMetrics } from "../metrics";
import { KubeApiError } from "../errors";
import { BenchmarkReconciler, benchmarkStatus, cellRun, cellsToCreate, LABEL_BENCHMARK_GENERATION, type BenchmarkApi } from "./benchmark";

const benchmarkFixture = (over: Partial<AutoClintBenchmark["spec"]> = {}, generation = 1): AutoClintBenchmark => ({
  apiVersion: "autoclint.io/v1alpha1",
  kind: "AutoClintBenchmark",
  metadata: { name: "bench", namespace: "team-a", uid: "b-uid", generation, resourceVersion: "1" },
  spec: {
    datasets: [{ name: "d1", dataset: { source: { url: "https://data.example/d1.tar" } } }, { name: "d2", dataset: { source: { url: "https://data.example/d2.tar" } } }],
    variants: [{ name: "v1" }, { name: "v2", model: { tau: 2 } }],
    seeds: [0, 1],
    template: { timeBudgetSeconds: 60 },
    ...over,
  },
});

const withStatus = (run: AutoClintRun, phase: RunPhase, extra: Partial<NonNullable<AutoClintRun["status"]>> = {}): AutoClintRun => ({ ...run, status: { phase, ...extra } });

void test("cellsToCreate keeps unfinished runs of any generation within parallelism and maxGpus, in matrix order", () => {
  const b = benchmarkFixture();
  const cells = benchmarkCells("bench", b.spec);
  assert.deepEqual(cellsToCreate(cells, new Map(), { parallelism: 3 }, new Map()).map((c) => c.name), cells.slice(0, 3).map((c) => c.name));
  assert.equal(cellsToCreate(cells, new Map(), { parallelism: 0 }, new Map()).length, 8);
  const runs = new Map([
    [cells[0]!.name, withStatus(cellRun(b, cells[0]!), "Succeeded")],
    [cells[1]!.name, withStatus(cellRun(b, cells[1]!), "Running")],
    ["old-run", withStatus({ ...cellRun(b, cells[2]!), metadata: { name: "old-run" } }, "Scheduling")],
  ]);
  assert.deepEqual(cellsToCreate(cells, runs, { parallelism: 3 }, new Map()).map((c) => c.name), [cells[2]!.name]);
  // GPUs: each run asks for 1 by default; 2 are held by the two unfinished runs.
  assert.deepEqual(cellsToCreate(cells, runs, { parallelism: 0, maxGpus: 4 }, new Map()).map((c) => c.name), [cells[2]!.name, cells[3]!.name]);
  const big = benchmarkCells("bench", { ...b.spec, template: { resources: { gpu: 3 } } });
  const blocked = new Map<string, string>();
  assert.deepEqual(cellsToCreate(big, new Map(), { parallelism: 0, maxGpus: 2 }, blocked), []);
  assert.equal(blocked.size, 8);
  assert.match([...blocked.values()][0]!, /needs 3 GPUs, more than the benchmark's maxGpus 2/);
});

void test("status: Pending, Running, Succeeded only when every cell succeeded, PartiallyFailed naming the failed cell, Failed", () => {
  const b = benchmarkFixture();
  const cells = benchmarkCells("bench", b.spec);
  const runsWith = (phase: (i: number) => RunPhase) => new Map(cells.map((c, i) => [c.name, withStatus(cellRun(b, c), phase(i), { finalAlc: 0.5 + i / 100, nauc: 0.9, attempts: 1 })]));
  assert.equal(benchmarkStatus(b, cells, new Map(), new Map()).phase, "Pending");
  assert.equal(benchmarkStatus(b, cells, runsWith((i) => (i === 7 ? "Running" : "Succeeded")), new Map()).phase, "Running");
  const done = benchmarkStatus(b, cells, runsWith(() => "Succeeded"), new Map());
  assert.equal(done.phase, "Succeeded");
  assert.deepEqual([done.total, done.finished, done.succeeded, done.failed, done.active], [8, 8, 8, 0, 0]);
  assert.equal(done.cells![3]!.alc, 0.53);
  assert.equal(done.cells![3]!.generation, 1);
  const failing = runsWith((i) => (i === 5 ? "Failed" : "Succeeded"));
  failing.get(cells[5]!.name)!.status!.message = "attempt 3 failed: OOMKilled";
  const partial = benchmarkStatus(b, cells, failing, new Map());
  assert.equal(partial.phase, "PartiallyFailed");
  assert.match(partial.message!, new RegExp(`1 failed: ${cells[5]!.name} \\(d1 x v2, seed 1: attempt 3 failed: OOMKilled\\)`));
  assert.equal(benchmarkStatus(b, cells, runsWith(() => "Failed"), new Map()).phase, "Failed");
  // A blocked cell (no run can be made for it) counts as failed and says why.
  const allButFirst = runsWith(() => "Succeeded");
  allButFirst.delete(cells[0]!.name);
  const blocked = benchmarkStatus(b, cells, allButFirst, new Map([[cells[0]!.name, "needs 3 GPUs, more than the benchmark's maxGpus 2"]]));
  assert.equal(blocked.phase, "PartiallyFailed");
  assert.match(blocked.message!, /needs 3 GPUs/);
});

void test("a template edit: old runs are kept as previous cells with their generation and left out of the ranking", () => {
  const old = benchmarkFixture();
  const oldCells = benchmarkCells("bench", old.spec);
  const edited = benchmarkFixture({ template: { timeBudgetSeconds: 120 } }, 2);
  const newCells = benchmarkCells("bench", edited.spec);
  const runs = new Map(oldCells.map((c) => [c.name, withStatus(cellRun(old, c), "Succeeded", { finalAlc: 0.9 })]));
  const status = benchmarkStatus(edited, newCells, runs, new Map());
  assert.equal(status.phase, "Running");
  assert.equal(status.previousCells!.length, 8);
  assert.deepEqual(new Set(status.previousCells!.map((c) => c.generation)), new Set([1]));
  assert.equal(status.previousCells![0]!.alc, 0.9);
  assert.ok(status.cells!.every((c) => c.phase === undefined));
  assert.equal(status.bestAlc, undefined, "old runs are not ranked");
  assert.equal(cellRun(edited, newCells[0]!).metadata.labels![LABEL_BENCHMARK_GENERATION], "2");
});

/** An in-memory API whose run cache can lag behind its creates, as an informer cache can; status takes merge patches. */
class MemoryApi implements BenchmarkApi {
  runs = new Map<string, AutoClintRun>();
  cacheLags = false;
  maxUnfinished = 0;
  patches: Record<string, unknown>[] = [];
  constructor(public benchmark: AutoClintBenchmark) {}
  get = async (): Promise<AutoClintBenchmark | undefined> => structuredClone(this.benchmark);
  patchStatus = async (_namespace: string, _name: string, uid: string, patch: Record<string, unknown>) => {
    assert.equal(uid, this.benchmark.metadata.uid, "the patch is preconditioned on the benchmark's uid");
    this.patches.push(structuredClone(patch));
    const status: Record<string, unknown> = { ...this.benchmark.status };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete status[key];
      else status[key] = value;
    }
    this.benchmark = { ...this.benchmark, status: structuredClone(status) };
    return structuredClone(this.benchmark);
  };
  runsOf = (_namespace: string, benchmarkUid: string) =>
    this.cacheLags ? [] : [...this.runs.values()].filter((r) => r.metadata.labels?.["autoclint.io/benchmark-uid"] === benchmarkUid).map((r) => structuredClone(r));
  createRun = async (run: AutoClintRun) => {
    if (this.runs.has(run.metadata.name)) throw new KubeApiError("create", 409, "AlreadyExists", "exists");
    this.runs.set(run.metadata.name, structuredClone(run));
    this.maxUnfinished = Math.max(this.maxUnfinished, [...this.runs.values()].filter((r) => r.status?.phase !== "Succeeded" && r.status?.phase !== "Failed").length);
    return run;
  };
}

void test("the reconciler never passes parallelism, even when its cache lags behind its own creates; the standings go to /metrics", async () => {
  const api = new MemoryApi(benchmarkFixture({ parallelism: 2 }));
  const metrics = new OperatorMetrics({ processMetrics: false });
  const reconciler = new BenchmarkReconciler(api, { metrics });
  const context = { reconcileId: "r", log: silentLogger };
  const request = { namespace: "team-a", name: "bench" };
  await reconciler.reconcile(request, context);
  assert.equal(api.runs.size, 2);
  api.cacheLags = true; // the cache shows none of them yet
  await reconciler.reconcile(request, context);
  assert.equal(api.runs.size, 2, "runs created earlier still count as in flight");
  api.cacheLags = false;
  for (let round = 0; round < 6; round++) {
    for (const run of api.runs.values()) run.status = { phase: "Succeeded", finalAlc: 0.5 };
    await reconciler.reconcile(request, context);
  }
  assert.equal(api.runs.size, 8);
  assert.equal(api.maxUnfinished, 2);
  for (const run of api.runs.values()) run.status = { phase: "Succeeded", finalAlc: 0.5 };
  await reconciler.reconcile(request, context);
  assert.equal(api.benchmark.status!.phase, "Succeeded");
  assert.equal(api.benchmark.status!.leaderboard!.length, 2);
  // Every cell scored 0.5: both variants tie on both datasets.
  const text = await metrics.render();
  assert.match(text, /autoclint_benchmark_variant_average_rank\{namespace="team-a",benchmark="bench",variant="v1"\} 1\.5/);
  assert.match(text, /autoclint_benchmark_variant_alc\{namespace="team-a",benchmark="bench",variant="v2",dataset="d2"\} 0\.5/);
  api.get = async () => undefined; // deleted
  await reconciler.reconcile(request, context);
  assert.doesNotMatch(await metrics.render(), /benchmark="bench"/);
});

void test("a same-named run that is not the benchmark's blocks its cell, which fails naming it", async () => {
  const b = benchmarkFixture({ seeds: [0] });
  const api = new MemoryApi(b);
  const squatted = benchmarkCells("bench", b.spec)[1]!.name;
  api.runs.set(squatted, { apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name: squatted }, spec: { dataset: { source: { path: "/x" } }, timeBudgetSeconds: 60 } });
  const reconciler = new BenchmarkReconciler(api);
  await reconciler.reconcile({ namespace: "team-a", name: "bench" }, { reconcileId: "r", log: silentLogger });
  const cell = api.benchmark.status!.cells!.find((c) => c.run === squatted)!;
  assert.equal(cell.phase, "Failed");
  assert.match(cell.message!, /already exists and does not belong to this benchmark/);
});

void test("status is merge-patched: only the fields that changed, none when nothing did, conditions never touched, a vanished field sent as null", async () => {
  const api = new MemoryApi(benchmarkFixture({ seeds: [0] }));
  api.benchmark.status = { conditions: [{ type: "Someone", status: "True", reason: "Else", message: "", lastTransitionTime: "2026-01-01T00:00:00Z" }] };
  const reconciler = new BenchmarkReconciler(api);
  const context = { reconcileId: "r", log: silentLogger };
  const request = { namespace: "team-a", name: "bench" };
  await reconciler.reconcile(request, context);
  assert.equal(api.patches.length, 1);
  assert.equal(api.patches[0]!.phase, "Running");
  assert.ok(!("conditions" in api.patches[0]!), "conditions are not the reconciler's");
  await reconciler.reconcile(request, context);
  assert.equal(api.patches.length, 1, "an unchanged status is not written again");
  for (const run of api.runs.values()) run.status = { phase: "Succeeded", finalAlc: 0.5, nauc: 0.75 };
  await reconciler.reconcile(request, context);
  const finished = api.patches[1]!;
  assert.equal(finished.phase, "Succeeded");
  assert.equal(finished.bestAlc, 0.5);
  assert.ok(!("total" in finished) && !("observedGeneration" in finished), "unchanged fields are left out of the patch");
  // A template edit: the old runs are previous cells, unranked, so the best ALC and the leader go.
  api.benchmark = { ...api.benchmark, metadata: { ...api.benchmark.metadata, generation: 2 }, spec: { ...api.benchmark.spec, template: { timeBudgetSeconds: 120 } } };
  await reconciler.reconcile(request, context);
  const edited = api.patches[2]!;
  assert.equal(edited.bestAlc, null);
  assert.equal(edited.leader, null);
  assert.equal((edited.previousCells as unknown[]).length, 4);
  assert.equal(api.benchmark.status!.conditions![0]!.type, "Someone");
  assert.equal(api.benchmark.status!.bestAlc, undefined);
});

/**
 * AutoClintBenchmark against a real control plane (hack/cluster-up.sh: etcd, kube-apiserver,
 * scheduler, controller-manager, kwok GPU nodes: one node with 1 GPU, one with 2), with the
 * operator as a child process under the chart's ServiceAccount and RBAC, and a real nats-server.
 * kwok ends a trainer pod as soon as it runs, so runs succeed at once; their ALCs come from real
 * trainer events the test publishes to JetStream, which the operator folds into each run's status.
 *   node hack/run-tests.mjs e2e benchmark
 * Skipped when .cluster/kubeconfig is missing or the API server does not answer.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, Watch } from "@kubernetes/client-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import {
  eventMessageId, eventSubject, GROUP, VERSION,
  type AutoClintBenchmark, type AutoClintBenchmarkSpec, type AutoClintRun, type TrainerEvent,
} from "@autoclint/api";
import { freePort, startNatsServer, type TestNatsServer } from "@autoclint/api/testing";
import { eventually } from "./eventually";
import { ADMIN_KUBECONFIG, clusterAnswers, kubectl, prepareOperatorNamespace, removeOperatorNamespace, ROOT, spawnOperator, stopOperator } from "./local-cluster";

const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const NS = `acb-e2e-${suffix}`;
const RELEASE = `acb-e2e-${suffix}`;
const SA = `${RELEASE}-operator`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The status of the 2 x 2 x 2 benchmark, checked against the numbers worked out by hand above. */
function assertHandComputedLeaderboard(done: AutoClintBenchmark, alcs: Record<string, [number, number]>, nauc: (alc: number) => number): void {
  const status = done.status!;
  assert.deepEqual([status.total, status.finished, status.succeeded, status.failed], [8, 8, 8, 0]);
  for (const cell of status.cells!) {
    const want = alcs[`${cell.dataset}/${cell.variant}`]![cell.seed]!;
    assert.equal(cell.alc, want, `${cell.run} ALC`);
    assert.equal(cell.nauc, nauc(want), `${cell.run} NAUC`);
    assert.equal(cell.generation, 1);
  }
  const board = status.leaderboard!;
  assert.deepEqual(board.map((s) => [s.position, s.variant, s.averageRank]), [[1, "va", 1.25], [2, "vb", 1.75]]);
  const score = (variant: string, dataset: string) => board.find((s) => s.variant === variant)!.datasets.find((d) => d.dataset === dataset)!;
  assert.deepEqual([score("va", "d1").meanAlc, score("va", "d1").rank, score("va", "d1").runs], [0.6875, 1, 2]);
  assert.deepEqual([score("vb", "d1").meanAlc, score("vb", "d1").rank], [0.4375, 2]);
  assert.deepEqual([score("va", "d2").meanAlc, score("va", "d2").rank], [0.5, 1.5]);
  assert.deepEqual([score("vb", "d2").meanAlc, score("vb", "d2").rank, score("vb", "d2").stdAlc], [0.5, 1.5, 0]);
  assert.ok(Math.abs(score("va", "d1").stdAlc! - 0.125 / Math.SQRT2) < 1e-12);
  assert.ok(Math.abs(score("va", "d2").stdAlc! - 0.5 / Math.SQRT2) < 1e-12);
  assert.equal(status.leader, "va");
  assert.equal(status.bestAlc, 0.6875);
  assert.equal(status.observedGeneration, 1);
}

const skip = clusterAnswers() ? false : `no local control plane at ${ADMIN_KUBECONFIG} (run hack/cluster-up.sh)`;

// kwok nodes carry this taint; the trainer pods tolerate it the way a user's would a GPU taint.
const scheduling = { tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists" as const, effect: "NoSchedule" as const }] };
const url = (name: string) => ({ source: { url: `https://datasets.example/${name}.tar.gz` } });

void describe("AutoClintBenchmark on a real control plane", { skip, concurrency: false }, () => {
  const admin = new KubeConfig();
  let custom: CustomObjectsApi;
  let nats: TestNatsServer;
  let connection: NatsConnection;
  let js: JetStreamClient;
  let operator: ChildProcess;
  let operatorLog = "";
  let metricsUrl = "";
  const operatorTail = () => `\noperator log:\n${operatorLog.slice(-3000)}`;

  const object = (plural: string, name: string) => ({ group: GROUP, version: VERSION, namespace: NS, plural, name });
  const getBenchmark = async (name: string) => (await custom.getNamespacedCustomObject(object("autoclintbenchmarks", name))) as AutoClintBenchmark;
  const createBenchmark = async (name: string, spec: AutoClintBenchmarkSpec) =>
    (await custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: NS, plural: "autoclintbenchmarks",
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintBenchmark", metadata: { name, namespace: NS }, spec },
    })) as AutoClintBenchmark;
  const runsOf = async (benchmark: AutoClintBenchmark) =>
    ((await custom.listNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: NS, plural: "autoclintruns", labelSelector: `autoclint.io/benchmark-uid=${benchmark.metadata.uid!}`,
    })) as { items: AutoClintRun[] }).items;
  const benchmarkWhere = (name: string, what: string, ok: (b: AutoClintBenchmark) => boolean, ms = 90_000) =>
    eventually(what, async () => {
      const b = await getBenchmark(name);
      return ok(b) ? b : undefined;
    }, ms, operatorTail);

  /** What the trainer of `run` would publish at its end: one test NAUC and its result. */
  async function publishResult(run: AutoClintRun, alc: number, nauc: number): Promise<void> {
    const identity = { namespace: NS, name: run.metadata.name, uid: run.metadata.uid!, attempt: 0 };
    const base = { version: 1 as const, run: identity, wallTime: new Date().toISOString() };
    const events: TrainerEvent[] = [
      { ...base, type: "nauc", seq: 0, elapsedSeconds: 20, split: "test", nauc, epoch: 1, lr: 0.025, imagesPerSecond: 1000 },
      { ...base, type: "result", seq: 1, elapsedSeconds: 30, alc, nauc, firstPredictionSeconds: 20, predictions: 1 },
    ];
    for (const event of events) {
      await eventually("a stored publish", async () => (await js.publish(eventSubject(identity, event.type), JSON.stringify(event), { msgID: eventMessageId(event) })) ?? undefined, 20_000);
    }
  }

  before(async () => {
    admin.loadFromFile(ADMIN_KUBECONFIG);
    custom = admin.makeApiClient(CustomObjectsApi);
    // Exactly what the chart grants: its ServiceAccount and RBAC templates, rendered for this release.
    const saKubeconfig = await prepareOperatorNamespace({ namespace: NS, release: RELEASE, serviceAccount: SA });
    nats = await startNatsServer();
    connection = await connect({ servers: nats.url });
    js = jetstream(connection);
    const httpPort = await freePort();
    operator = spawnOperator({
      kubeconfig: saKubeconfig, natsUrl: nats.url, namespace: NS, httpPort, durableConsumer: `e2e-${suffix}`, podName: `operator-${suffix}`,
      env: { AUTOCLINT_ACTIVE_REQUEUE_SECONDS: "3" },
      onOutput: (text) => (operatorLog += text),
    });
    metricsUrl = `http://127.0.0.1:${httpPort}`;
    const leading = async () => /^autoclint_operator_leader 1$/m.test(await (await fetch(`${metricsUrl}/metrics`)).text());
    await eventually("the operator to be ready and leading", async () => ((await fetch(`${metricsUrl}/readyz`)).ok && (await leading()) ? true : undefined), 60_000, operatorTail);
  });

  after(async () => {
    await connection?.close();
    await stopOperator(operator);
    if (process.env.E2E_OPERATOR_LOG) process.stderr.write(operatorLog);
    await nats?.dispose();
    removeOperatorNamespace({ namespace: NS, release: RELEASE });
  });

  void test("2 datasets x 2 variants x 2 seeds: 8 runs, never more than parallelism unfinished, and the leaderboard of a hand computation", async () => {
    // ALC per (dataset, variant) and seed, all exact in binary so equality is exact.
    const alcs: Record<string, [number, number]> = {
      "d1/va": [0.75, 0.625], // mean 0.6875, std 0.125 / sqrt(2)
      "d1/vb": [0.5, 0.375], //  mean 0.4375, std 0.125 / sqrt(2)     -> d1: va 1, vb 2
      "d2/va": [0.25, 0.75], //  mean 0.5,    std 0.5 / sqrt(2)
      "d2/vb": [0.5, 0.5], //    mean 0.5,    std 0                   -> d2: a tie, both 1.5
    }; //                                                             -> average: va 1.25, vb 1.75
    const nauc = (alc: number) => alc + 0.125;
    const parallelism = 3;

    // Every run of the namespace as the API server stores it, in order: the unfinished count
    // after each event is what the cluster held at that moment.
    const phases = new Map<string, string>();
    let maxUnfinished = 0;
    const published: Promise<void>[] = [];
    const watch = await new Watch(admin).watch(`/apis/${GROUP}/${VERSION}/namespaces/${NS}/autoclintruns`, {}, (type: string, run: AutoClintRun) => {
      if (type === "DELETED") phases.delete(run.metadata.name);
      else phases.set(run.metadata.name, run.status?.phase ?? "");
      maxUnfinished = Math.max(maxUnfinished, [...phases.values()].filter((p) => p !== "Succeeded" && p !== "Failed").length);
      if (type === "ADDED") {
        const { "autoclint.io/dataset": dataset, "autoclint.io/variant": variant, "autoclint.io/seed": seed } = run.metadata.annotations ?? {};
        const alc = alcs[`${dataset}/${variant}`]?.[Number(seed)];
        if (alc !== undefined) published.push(publishResult(run, alc, nauc(alc)));
      }
    }, () => undefined);
    try {
      const created = await createBenchmark("matrix", {
        datasets: [{ name: "d1", dataset: url("d1") }, { name: "d2", dataset: url("d2") }],
        variants: [{ name: "va" }, { name: "vb", model: { tau: 2 } }],
        seeds: [0, 1],
        template: { timeBudgetSeconds: 60, resources: { gpu: 1 }, scheduling },
        parallelism,
      });
      const done = await benchmarkWhere("matrix", "the benchmark to succeed with every cell scored", (b) =>
        b.status?.phase === "Succeeded" && (b.status.cells ?? []).every((c) => c.alc !== undefined && c.nauc !== undefined), 180_000);
      await Promise.all(published);
      const runs = await runsOf(created);
      assert.equal(runs.length, 8, "8 runs");
      assert.ok(maxUnfinished >= 1 && maxUnfinished <= parallelism, `at most ${parallelism} unfinished runs at once, saw ${maxUnfinished}`);
      process.stdout.write(`# most unfinished runs at once: ${maxUnfinished} (parallelism ${parallelism})\n`);
      // Each run is the cell it says it is: spec from template + variant, seed from the axis.
      for (const run of runs) {
        const a = run.metadata.annotations!;
        assert.equal(run.spec.seed, Number(a["autoclint.io/seed"]));
        assert.equal(run.spec.model?.tau, a["autoclint.io/variant"] === "vb" ? 2 : undefined);
        assert.equal(run.spec.timeBudgetSeconds, 60);
        assert.ok(run.metadata.ownerReferences?.some((o) => o.kind === "AutoClintBenchmark" && o.uid === created.metadata.uid && o.controller));
      }

      assertHandComputedLeaderboard(done, alcs, nauc);
      // The standings on /metrics, for the dashboard's leaderboard panel.
      const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
      assert.match(metrics, new RegExp(`autoclint_benchmark_variant_average_rank\\{namespace="${NS}",benchmark="matrix",variant="vb"\\} 1\\.75`));
      assert.match(metrics, new RegExp(`autoclint_benchmark_variant_alc\\{namespace="${NS}",benchmark="matrix",variant="va",dataset="d1"\\} 0\\.6875`));
      // The printer columns read the same status.
      assert.match(kubectl(["get", "acb", "matrix", "-n", NS]), /matrix\s+Succeeded\s+8\s+0\s+8\s+va\s+0\.6875/);
    } finally {
      watch.abort();
    }
  });

  void test("autoclint bench report reads the benchmark through the kubeconfig and writes the table and pictures", () => {
    const out = mkdtempSync(join(tmpdir(), "bench-report-"));
    const cli = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "trainer", "src", "cli", "main.ts"), "bench", "report", "matrix", "--namespace", NS, "--kubeconfig", ADMIN_KUBECONFIG, "--out", out], { encoding: "utf8", cwd: ROOT });
    assert.equal(cli.status, 0, cli.stderr);
    const report = readFileSync(join(out, "report.md"), "utf8");
    assert.match(report, /phase Succeeded/);
    assert.match(report, /\| 1 \| va \| 1\.25 \| 0\.6875 ± 0\.0884 \(n=2, rank 1\) \| 0\.5000 ± 0\.3536 \(n=2, rank 1\.5\) \|/);
    assert.match(report, /\| 2 \| vb \| 1\.75 \| 0\.4375 ± 0\.0884 \(n=2, rank 2\) \| 0\.5000 ± 0\.0000 \(n=2, rank 1\.5\) \|/);
    assert.equal(report.match(/\| matrix-d[12]-v[ab]-s[01]-[0-9a-f]{8} \|.*\| Succeeded \|/g)?.length, 8, "a row per cell");
    for (const png of ["alc.png", "curves.png"]) assert.ok(statSync(join(out, png)).size > 5000, `${png} written`);
    // The CLI's own error for a benchmark that does not exist names it.
    const missing = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "trainer", "src", "cli", "main.ts"), "bench", "report", "nope", "--namespace", NS, "--kubeconfig", ADMIN_KUBECONFIG], { encoding: "utf8", cwd: ROOT });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /autoclint: kubectl get autoclintbenchmarks.autoclint.io nope .*NotFound|not found/);
  });

  void test("a benchmark with one failing cell ends PartiallyFailed, naming it", async () => {
    const created = await createBenchmark("one-fails", {
      // The operator cannot read a .zip (SpecValid=False): that cell's run fails without a Job.
      datasets: [{ name: "good", dataset: url("good") }, { name: "zipped", dataset: { format: "idx", source: { url: "https://datasets.example/fmnist.zip" } } }],
      variants: [{ name: "v" }],
      template: { timeBudgetSeconds: 60, resources: { gpu: 1 }, scheduling },
    });
    const done = await benchmarkWhere("one-fails", "a finished phase", (b) => ["Succeeded", "PartiallyFailed", "Failed"].includes(b.status?.phase ?? ""));
    const status = done.status!;
    assert.equal(status.phase, "PartiallyFailed");
    const failed = status.cells!.find((c) => c.dataset === "zipped")!;
    assert.equal(failed.phase, "Failed");
    assert.match(status.message!, new RegExp(`1 failed: ${failed.run} \\(zipped x v, seed 0`));
    assert.match(failed.message ?? "", /\.tar/, "the run's own reason travels into the cell");
    assert.equal(status.cells!.find((c) => c.dataset === "good")!.phase, "Succeeded");
    assert.equal((await runsOf(created)).length, 2);
  });

  void test("a failing cell is retried by its run's policy; the cell reports the attempts and the reason", async () => {
    // 16 GPUs fit no node: each attempt fails after 2 s of waiting (DeadlineExceeded), which this
    // variant's retry policy retries once.
    const created = await createBenchmark("retried", {
      datasets: [{ name: "d", dataset: url("d") }],
      variants: [
        { name: "fits" },
        { name: "too-big", resources: { gpu: 16 }, scheduling: { maxGpuWaitSeconds: 2 }, retries: { limit: 1, onFailure: ["DeadlineExceeded"] } },
      ],
      template: { timeBudgetSeconds: 60, resources: { gpu: 1 }, scheduling },
    });
    const done = await benchmarkWhere("retried", "a finished phase", (b) => ["Succeeded", "PartiallyFailed", "Failed"].includes(b.status?.phase ?? ""), 120_000);
    const status = done.status!;
    assert.equal(status.phase, "PartiallyFailed");
    const failed = status.cells!.find((c) => c.variant === "too-big")!;
    assert.deepEqual([failed.phase, failed.attempts], ["Failed", 2]);
    assert.match(failed.message!, /maxGpuWaitSeconds/);
    assert.match(status.message!, new RegExp(`1 failed: ${failed.run} \\(d x too-big, seed 0: .*maxGpuWaitSeconds`));
    const run = (await runsOf(created)).find((r) => r.metadata.name === failed.run)!;
    assert.deepEqual([run.spec.resources?.gpu, run.spec.scheduling?.tolerations?.length], [16, 1], "the variant merged over the template");
  });

  void test("a template edit keeps the old cells, labelled with their generation, and creates the new ones", async () => {
    const created = await createBenchmark("edited", {
      datasets: [{ name: "d", dataset: url("d") }],
      variants: [{ name: "v1" }, { name: "v2" }],
      template: { timeBudgetSeconds: 60, resources: { gpu: 1 }, scheduling },
    });
    const first = await benchmarkWhere("edited", "generation 1 to succeed", (b) => b.status?.phase === "Succeeded");
    const oldNames = first.status!.cells!.map((c) => c.run).sort();
    await custom.patchNamespacedCustomObject(
      { ...object("autoclintbenchmarks", "edited"), body: [{ op: "replace", path: "/spec/template/timeBudgetSeconds", value: 90 }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
    const second = await benchmarkWhere("edited", "generation 2 to succeed", (b) =>
      b.status?.observedGeneration === 2 && b.status.phase === "Succeeded" && (b.status.cells ?? []).every((c) => c.generation === 2));
    const status = second.status!;
    const newNames = status.cells!.map((c) => c.run).sort();
    assert.equal(newNames.filter((n) => oldNames.includes(n)).length, 0, "new cells, new runs");
    assert.deepEqual(status.previousCells!.map((c) => c.run).sort(), oldNames, "the old runs are kept and listed");
    assert.ok(status.previousCells!.every((c) => c.generation === 1 && c.phase === "Succeeded"));
    const runs = await runsOf(created);
    assert.equal(runs.length, 4);
    assert.deepEqual(runs.filter((r) => oldNames.includes(r.metadata.name)).map((r) => r.spec.timeBudgetSeconds), [60, 60]);
    assert.deepEqual(runs.filter((r) => newNames.includes(r.metadata.name)).map((r) => r.spec.timeBudgetSeconds), [90, 90]);
  });

  void test("names that read alike do not collide: a-b x c and a x b-c are two runs", async () => {
    const created = await createBenchmark("x", {
      datasets: [{ name: "a-b", dataset: url("ab") }, { name: "a", dataset: url("a") }],
      variants: [{ name: "c" }, { name: "b-c" }],
      template: { timeBudgetSeconds: 60, resources: { gpu: 1 }, scheduling },
    });
    const done = await benchmarkWhere("x", "all four cells to succeed", (b) => b.status?.phase === "Succeeded");
    const runs = await runsOf(created);
    assert.equal(runs.length, 4);
    const named = (dataset: string, variant: string) => runs.find((r) => r.metadata.annotations!["autoclint.io/dataset"] === dataset && r.metadata.annotations!["autoclint.io/variant"] === variant)!;
    const [abC, aBc] = [named("a-b", "c"), named("a", "b-c")];
    assert.ok(abC.metadata.name.startsWith("x-a-b-c-s0-") && aBc.metadata.name.startsWith("x-a-b-c-s0-"), "the readable parts are the same");
    assert.notEqual(abC.metadata.name, aBc.metadata.name);
    assert.equal(abC.spec.dataset.source.url, "https://datasets.example/ab.tar.gz");
    assert.equal(aBc.spec.dataset.source.url, "https://datasets.example/a.tar.gz");
    assert.deepEqual(done.status!.cells!.map((c) => c.run).sort(), runs.map((r) => r.metadata.name).sort());
  });

  void test("the API server refuses a benchmark with repeated names or seeds, more than 512 cells, or a dot in its name", async () => {
    const base = { datasets: [{ name: "d", dataset: url("d") }], variants: [{ name: "v" }] };
    const refused = async (name: string, spec: AutoClintBenchmarkSpec, why: RegExp) =>
      assert.rejects(createBenchmark(name, spec), (error: { code?: number; body?: unknown }) => {
        assert.equal(error.code, 422);
        assert.match(JSON.stringify(error.body), why);
        return true;
      });
    await refused("dup-variants", { ...base, variants: [{ name: "v" }, { name: "v" }] }, /variants names must be unique/);
    await refused("dup-seeds", { ...base, seeds: [1, 1] }, /seeds\[1\]: Duplicate value: 1/);
    const many = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}` }));
    // A dot in a benchmark's name would reach its runs' names (and their NATS subjects).
    await refused("dotted.name", base, /metadata\.name must be a DNS label/);
    await refused("too-many", { datasets: many(32, "d").map((d) => ({ ...d, dataset: url("d") })), variants: many(17, "v") }, /within 512 runs/);
  });

  void test("maxGpus caps the GPUs the unfinished runs request in all", async () => {
    // 16 GPUs fit no kwok node, so these runs wait in Scheduling: only the cap limits how many exist.
    const created = await createBenchmark("gpu-cap", {
      datasets: [{ name: "d", dataset: url("d") }],
      variants: [{ name: "v" }],
      seeds: [0, 1, 2, 3],
      template: { timeBudgetSeconds: 60, resources: { gpu: 16 }, scheduling },
      maxGpus: 40,
    });
    const running = await benchmarkWhere("gpu-cap", "two runs in flight", (b) => b.status?.active === 2);
    await sleep(5000); // several reconciles later
    assert.equal((await runsOf(created)).length, 2, "2 x 16 GPUs fit within 40, a third would not");
    assert.equal(running.status!.phase, "Running");
    assert.equal((await getBenchmark("gpu-cap")).status!.active, 2);
  });
});

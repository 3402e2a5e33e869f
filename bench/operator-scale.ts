/**
 * Operator scale: N AutoClintRuns applied at once on kwok GPU nodes of the local control plane
 * (hack/cluster-up.sh). Measures the time until every run's trainer Job exists (by the API
 * server's creationTimestamps, and as a watch saw it), and where the
 * cluster's work goes meanwhile: CPU seconds of the operator and of each control-plane process,
 * every request the API server served by kind (count and summed latency), which of them are the
 * operator's (per run), its reconciles and status writes per run, the Kubernetes Events it
 * recorded by reason, and its resident memory. Writes
 * bench/results/operator-scale-<runs>-runs-<workers>-workers.{json,md}.
 *   flock /tmp/autoclint-bench.lock node --import tsx bench/operator-scale.ts [runs=1000] [workers=2] [creators=4]
 * The operator runs as a child process (bench/local-operator.ts); the machine is shared with other
 * work unless said otherwise.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  ROOT, cleanUp, clientThrottleSeconds, clusterProcesses, cpuSnapshot, cpuSpent, createKwokGpuNodes, countsDelta, histogramBuckets, histogramDelta, histogramQuantile, kubectl, kubectlAsync, kwokRun, machine, operatorRequestCounts, quantile, requestStats, sleep,
  startBenchOperator, statsDelta, watchLines, type RequestStat,
} from "./local-operator";

const RUNS = Number(process.argv[2] ?? 1000);
/** Reconcile workers of the operator (its AUTOCLINT_WORKERS; the chart's default is 2). */
const WORKERS = Number(process.argv[3] ?? 2);
/** kubectl processes creating the runs side by side (each sends its share back to back). */
const CREATORS = Number(process.argv[4] ?? 4);
const NODES = 10;
const GPUS_PER_NODE = Math.ceil(RUNS / NODES);
const NS = `scale-${Date.now().toString(36)}`;

/** The Events the operator recorded in the namespace, by reason. */
function operatorEventsByReason(): Record<string, number> {
  const lines = kubectl(["-n", NS, "get", "events", "-o", 'jsonpath={range .items[*]}{.reportingComponent}{" "}{.reason}{"\\n"}{end}']).split("\n");
  const byReason: Record<string, number> = {};
  for (const line of lines) {
    const [component, reason = ""] = line.split(" ");
    if (component === "autoclint.io/operator") byReason[reason] = (byReason[reason] ?? 0) + 1;
  }
  return byReason;
}

/**
 * Resolves once `done` holds for the distinct lines (one per watch event, `jsonpath` of the object)
 * that a watch on the namespace's `resource` has printed; the watch then ends.
 */
function watchUntil(resource: string, jsonpath: string, done: (lines: Set<string>) => boolean): Promise<void> {
  const lines = new Set<string>();
  return new Promise((resolve, reject) => {
    const watch = watchLines({ namespace: NS, resource, jsonpath }, (line) => {
      lines.add(line);
      if (!done(lines)) return;
      watch.stop();
      resolve();
    }, reject);
  });
}

async function withTimeout(promise: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sum of the operator's own samples of a metric whose labels match. */
function sumSamples(metricsText: string, name: string, labels: RegExp): number {
  return metricsText.split("\n").filter((line) => line.startsWith(`${name}{`) && labels.test(line)).reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/**
 * Read once the measurement is over (LISTs, no watch's delay in them). The API server's clock, in
 * whole seconds: when the last run and the last Job were created, after the first run; and each
 * Job's lag behind its own run (the operator's part). And the runs' GPU wait as their status has it.
 */
function readAfterTheFact(): Pick<Result, "serverClock" | "jobLagSeconds" | "gpuWaitSeconds"> {
  const rows = (resource: string, fields: string) =>
    kubectl(["-n", NS, "get", resource, "-o", `jsonpath={range .items[*]}${fields}{"\\n"}{end}`]).trim().split("\n").map((line) => line.split(" "));
  const runs = new Map(rows("autoclintruns", '{.metadata.name}{" "}{.metadata.creationTimestamp}{" "}{.status.gpuWaitSeconds}').map(([name = "", created = "", wait = ""]) => [name, { created: Date.parse(created), wait: Number(wait) }]));
  const jobs = rows("jobs", '{.metadata.ownerReferences[0].name}{" "}{.metadata.creationTimestamp}').map(([run = "", created = ""]) => ({ run, created: Date.parse(created) }));
  const firstRun = Math.min(...[...runs.values()].map((r) => r.created));
  const lags = jobs.map((job) => (job.created - (runs.get(job.run)?.created ?? Number.NaN)) / 1000).filter(Number.isFinite).sort((a, b) => a - b);
  const waits = [...runs.values()].map((r) => r.wait).filter(Number.isFinite);
  return {
    serverClock: { lastRunCreated: (Math.max(...[...runs.values()].map((r) => r.created)) - firstRun) / 1000, lastJobCreated: (Math.max(...jobs.map((j) => j.created)) - firstRun) / 1000 },
    jobLagSeconds: { p50: quantile(lags, 0.5), p99: quantile(lags, 0.99), max: quantile(lags, 1) },
    gpuWaitSeconds: { mean: waits.reduce((a, b) => a + b, 0) / Math.max(1, waits.length), max: Math.max(0, ...waits) },
  };
}

/** From the operator's own metrics, what it did between two readings of them. */
function operatorFigures(after: string, before: string): Pick<Result, "operatorRequests" | "operatorRequestsPerRun" | "operatorReconcilesPerRun" | "operatorStatusWritesPerRun" | "reconcileMs"> {
  const own = countsDelta(operatorRequestCounts(after), operatorRequestCounts(before));
  const durations = histogramDelta(histogramBuckets(after, "autoclint_reconcile_duration_seconds"), histogramBuckets(before, "autoclint_reconcile_duration_seconds"));
  const gained = (name: string, labels: RegExp) => sumSamples(after, name, labels) - sumSamples(before, name, labels);
  return {
    operatorRequests: own,
    operatorRequestsPerRun: Object.values(own).reduce((a, b) => a + b, 0) / RUNS,
    operatorReconcilesPerRun: gained("autoclint_reconcile_total", /kind="AutoClintRun"/) / RUNS,
    operatorStatusWritesPerRun: gained("autoclint_status_writes_total", /writer="reconciler"/) / RUNS,
    reconcileMs: { p50: 1000 * histogramQuantile(durations, 0.5), p99: 1000 * histogramQuantile(durations, 0.99) },
  };
}

interface Result {
  runs: number;
  workers: number;
  creators: number;
  nodes: number;
  gpusPerNode: number;
  appliedSeconds: number;
  allJobsSeconds: number;
  allRunningSeconds: number;
  serverClock: { lastRunCreated: number; lastJobCreated: number };
  jobLagSeconds: { p50: number; p99: number; max: number };
  operatorRequests: Record<string, number>;
  operatorRequestsPerRun: number;
  gpuWaitSeconds: { mean: number; max: number };
  operatorEventsByReason: Record<string, number>;
  operatorReconcilesPerRun: number;
  operatorStatusWritesPerRun: number;
  reconcileMs: { p50: number; p99: number };
  queueDepthMax: number;
  queueDepths: number[];
  operatorRssMiB: { idle: number; peak: number; after: number };
  cpuSecondsUntilEveryJob: Record<string, number>;
  cpuSecondsUntilEveryRunRunning: Record<string, number>;
  controllerManagerThrottledSeconds: number;
  apiServerRequests: Record<string, RequestStat>;
  machine: ReturnType<typeof machine>;
  when: string;
}

/** bench/results/operator-scale-<runs>-runs-<workers>-workers.{json,md}, and the table on stdout. */
function report(r: Result): void {
  const file = join(ROOT, "bench", "results", `operator-scale-${RUNS}-runs-${WORKERS}-workers`);
  writeFileSync(`${file}.json`, `${JSON.stringify(r, null, 2)}\n`);
  const cpuRow = (label: string, spent: Record<string, number>) => `| CPU seconds ${label}: ${Object.keys(spent).join(" / ")} | ${Object.values(spent).join(" / ")} |`;
  const md = [
    `# Operator scale: ${RUNS} runs applied at once, ${WORKERS} reconcile workers (kwok GPU nodes, local control plane)`,
    "",
    `Machine: ${r.machine.cpus} cores (${r.machine.model}), ${r.machine.memoryGiB} GiB, load average ${r.machine.loadAverage1m} at the end;`,
    `shared with other work while measured. ${NODES} kwok nodes x ${GPUS_PER_NODE} nvidia.com/gpu.`,
    `Command: \`flock /tmp/autoclint-bench.lock node --import tsx bench/operator-scale.ts ${RUNS} ${WORKERS} ${CREATORS}\``,
    "",
    "| measure | value |",
    "| --- | --- |",
    `| runs applied (${CREATORS} kubectl creates side by side) | ${r.appliedSeconds.toFixed(1)} s |`,
    `| every run's Job exists, by the API server's creationTimestamps (goal < 60 s) | ${r.serverClock.lastJobCreated} s after the first run's (the last run's: ${r.serverClock.lastRunCreated} s; whole seconds) |`,
    `| a Job's creation after its own run's (the operator's part): p50 / p99 / max | ${r.jobLagSeconds.p50} / ${r.jobLagSeconds.p99} / ${r.jobLagSeconds.max} s |`,
    `| every run's Job exists, as a watch on the Jobs saw it | ${r.allJobsSeconds.toFixed(1)} s after the first create began (${(r.allJobsSeconds - r.appliedSeconds).toFixed(1)} s after the last ended) |`,
    `| every run Running, as a watch on the runs saw it | ${r.allRunningSeconds.toFixed(1)} s after the first create began |`,
    `| runs' GPU wait in status (placement), mean / max | ${r.gpuWaitSeconds.mean.toFixed(1)} / ${r.gpuWaitSeconds.max.toFixed(1)} s |`,
    `| operator requests per run (until every run is Running; its own autoclint_kube_requests_total) | ${r.operatorRequestsPerRun.toFixed(2)} |`,
    ...Object.entries(r.operatorRequests).map(([k, v]) => `| &nbsp;&nbsp;${k} | ${v} |`),
    `| operator Events by reason | ${Object.entries(r.operatorEventsByReason).map(([k, v]) => `${k} ${v}`).join(", ")} |`,
    `| operator reconciles / status writes per run | ${r.operatorReconcilesPerRun.toFixed(2)} / ${r.operatorStatusWritesPerRun.toFixed(2)} |`,
    `| reconcile duration p50 / p99 (its histogram, estimated in buckets); work queue depth at most (sampled each second) | ${r.reconcileMs.p50.toFixed(0)} / ${r.reconcileMs.p99.toFixed(0)} ms; ${r.queueDepthMax} |`,
    cpuRow("until every Job exists", r.cpuSecondsUntilEveryJob),
    cpuRow("until every run is Running (+5 s)", r.cpuSecondsUntilEveryRunRunning),
    `| kube-controller-manager's requests: seconds waited in its own client rate limiter, in all (until every run is Running) | ${r.controllerManagerThrottledSeconds.toFixed(1)} |`,
    `| operator RSS idle / peak / after | ${r.operatorRssMiB.idle.toFixed(0)} / ${r.operatorRssMiB.peak.toFixed(0)} / ${r.operatorRssMiB.after.toFixed(0)} MiB |`,
    "",
    "Every request the API server served from the first create until every run was Running (+5 s), WATCH left out",
    "(apiserver_request_total and apiserver_request_duration_seconds_sum), and how many of them the operator sent (its own count):",
    "",
    "| request | count | per run | of which the operator's | mean latency (ms) |",
    "| --- | --- | --- | --- | --- |",
    ...Object.entries(r.apiServerRequests).map(([k, { count, seconds }]) => `| ${k} | ${count} | ${(count / RUNS).toFixed(2)} | ${r.operatorRequests[k] ?? 0} | ${((1000 * seconds) / count).toFixed(1)} |`),
    "",
    "Event-to-status latency: bench/events-latency.ts.",
    "",
  ].join("\n");
  writeFileSync(`${file}.md`, md);
  process.stdout.write(md);
}

async function main(): Promise<void> {
  kubectl(["apply", "--server-side", "--force-conflicts", "-f", join(ROOT, "crds")]);
  kubectl(["create", "namespace", NS]);
  const nodes = createKwokGpuNodes(`kwok-${NS}`, NODES, GPUS_PER_NODE);
  const operator = await startBenchOperator(NS, { AUTOCLINT_WORKERS: String(WORKERS) });
  let peakRssMiB = 0;
  const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, operator.rssMiB())), 250);
  // The work queue's depth once a second: whether runs waited for a worker, or workers for the API server.
  const queueDepths: number[] = [];
  const queueSampler = setInterval(() => void operator.metric(/autoclint_workqueue_depth/).then((depth) => queueDepths.push(depth), () => undefined), 1000);
  try {
    const idleRssMiB = operator.rssMiB();
    const before = requestStats();
    const metricsBefore = await operator.metricsText();
    const processes = clusterProcesses({ operator: operator.process.pid! });
    const cpuBefore = cpuSnapshot(processes);
    const throttledBefore = await clientThrottleSeconds("kube-controller-manager");
    // Watched, not polled: a LIST of 1,000 Jobs every half second would be a large share of the API server's work.
    const jobs = watchUntil("jobs", "{.metadata.name}", (names) => names.size >= RUNS);
    const running = watchUntil("autoclintruns", "{.metadata.name}={.status.phase}", (lines) => [...lines].filter((l) => l.endsWith("=Running")).length >= RUNS);
    const started = performance.now();
    // Applied at once: CREATORS kubectl creates side by side, each sending its share back to back.
    const manifests = Array.from({ length: RUNS }, (_, i) => JSON.stringify(kwokRun(NS, `run-${i}`, 600)));
    await Promise.all(Array.from({ length: CREATORS }, (_, c) => kubectlAsync(["create", "-f", "-"], manifests.filter((_, i) => i % CREATORS === c).join("\n"))));
    const appliedSeconds = (performance.now() - started) / 1000;
    await withTimeout(jobs, 900_000, `not every one of ${RUNS} Jobs exists after 900 s`);
    const allJobsSeconds = (performance.now() - started) / 1000;
    const cpu = cpuSpent(processes, cpuBefore);
    // Then until every run is Running (kwok starts the pods), so that each run's whole start is counted.
    await withTimeout(running, 1_200_000, `not every one of ${RUNS} runs is Running after 1200 s`);
    const allRunningSeconds = (performance.now() - started) / 1000;
    await sleep(5000); // let the last writes settle
    const cpuUntilRunning = cpuSpent(processes, cpuBefore);
    const controllerManagerThrottledSeconds = (await clientThrottleSeconds("kube-controller-manager")) - throttledBefore;
    const delta = statsDelta(requestStats(), before);
    const figures = operatorFigures(await operator.metricsText(), metricsBefore);
    const afterTheFact = readAfterTheFact();
    const result: Result = {
      runs: RUNS, workers: WORKERS, creators: CREATORS, nodes: NODES, gpusPerNode: GPUS_PER_NODE, appliedSeconds, allJobsSeconds, allRunningSeconds, ...afterTheFact, ...figures,
      operatorEventsByReason: operatorEventsByReason(),
      queueDepthMax: Math.max(0, ...queueDepths), queueDepths,
      operatorRssMiB: { idle: idleRssMiB, peak: peakRssMiB, after: operator.rssMiB() },
      cpuSecondsUntilEveryJob: cpu, cpuSecondsUntilEveryRunRunning: cpuUntilRunning, controllerManagerThrottledSeconds,
      apiServerRequests: delta,
      machine: machine(),
      when: new Date().toISOString(),
    };
    report(result);
  } finally {
    clearInterval(sampler);
    clearInterval(queueSampler);
    await cleanUp(NS, nodes, operator);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`operator-scale: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

/**
 * Operator scale: N AutoClintRuns applied at once on kwok GPU nodes of the local control plane
 * (hack/cluster-up.sh). Measures the time until every run's trainer Job exists, the operator's API
 * requests on AutoClintRuns and Jobs per run (from the API server's apiserver_request_total: only
 * the operator touches these resources besides this script's own run creations, which are
 * subtracted), and the operator's resident memory. Writes bench/results/operator-scale-<runs>-runs-<workers>-workers.{json,md}.
 *   flock /tmp/autoclint-bench.lock node --import tsx bench/operator-scale.ts [runs=1000] [workers=2]
 * The operator runs as a child process (bench/local-operator.ts); the machine is shared with other
 * work unless said otherwise.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  ROOT, cleanUp, clusterProcesses, countsDelta, cpuSnapshot, cpuSpent, createKwokGpuNodes, kubectl, kwokRun, machine, requestCounts, sleep, startBenchOperator,
} from "./local-operator";

const RUNS = Number(process.argv[2] ?? 1000);
/** Reconcile workers of the operator (its AUTOCLINT_WORKERS; the chart's default is 2). */
const WORKERS = Number(process.argv[3] ?? 2);
const NODES = 10;
const GPUS_PER_NODE = Math.ceil(RUNS / NODES);
const NS = `scale-${Date.now().toString(36)}`;

/** The operator's requests on runs (every verb) and its Job creations. */
const operatorResources = (labels: Record<string, string | undefined>) => labels.resource === "autoclintruns" || (labels.resource === "jobs" && labels.verb === "POST");

async function main(): Promise<void> {
  kubectl(["apply", "--server-side", "--force-conflicts", "-f", join(ROOT, "crds")]);
  kubectl(["create", "namespace", NS]);
  const nodes = createKwokGpuNodes(`kwok-${NS}`, NODES, GPUS_PER_NODE);
  const operator = await startBenchOperator(NS, { AUTOCLINT_WORKERS: String(WORKERS) });
  let peakRssMiB = 0;
  const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, operator.rssMiB())), 250);
  try {
    const idleRssMiB = operator.rssMiB();
    const before = requestCounts(operatorResources);
    const processes = clusterProcesses({ operator: operator.process.pid! });
    const cpuBefore = cpuSnapshot(processes);
    const started = performance.now();
    // Applied at once: one kubectl create of every run (kubectl sends them back to back).
    kubectl(["create", "-f", "-"], Array.from({ length: RUNS }, (_, i) => JSON.stringify(kwokRun(NS, `run-${i}`, 600))).join("\n"));
    const appliedSeconds = (performance.now() - started) / 1000;
    let jobs = 0;
    let polls = 0;
    while (jobs < RUNS) {
      await sleep(500);
      jobs = kubectl(["-n", NS, "get", "jobs", "-o", "name"]).split("\n").filter(Boolean).length;
      polls++;
      if ((performance.now() - started) / 1000 > 600) throw new Error(`only ${jobs} of ${RUNS} Jobs after 600 s`);
    }
    const allJobsSeconds = (performance.now() - started) / 1000;
    const cpu = cpuSpent(processes, cpuBefore);
    await sleep(5000); // let status writes settle
    const delta = countsDelta(requestCounts(operatorResources), before);
    delta["autoclintruns POST"] = (delta["autoclintruns POST"] ?? 0) - RUNS; // this script's own creations
    const operatorRequests = Object.values(delta).reduce((a, b) => a + b, 0);
    const result = {
      runs: RUNS, workers: WORKERS, nodes: NODES, gpusPerNode: GPUS_PER_NODE, appliedSeconds, allJobsSeconds, polls,
      operatorRequestsOnRunsAndJobs: delta, requestsPerRun: operatorRequests / RUNS,
      operatorRssMiB: { idle: idleRssMiB, peak: peakRssMiB, after: operator.rssMiB() },
      cpuSecondsUntilEveryJob: cpu,
      machine: machine(),
      when: new Date().toISOString(),
    };
    const file = join(ROOT, "bench", "results", `operator-scale-${RUNS}-runs-${WORKERS}-workers`);
    writeFileSync(`${file}.json`, `${JSON.stringify(result, null, 2)}\n`);
    const md = [
      `# Operator scale: ${RUNS} runs applied at once, ${WORKERS} reconcile workers (kwok GPU nodes, local control plane)`,
      "",
      `Machine: ${result.machine.cpus} cores (${result.machine.model}), ${result.machine.memoryGiB} GiB, load average ${result.machine.loadAverage1m} at the end;`,
      `shared with other work while measured. ${NODES} kwok nodes x ${GPUS_PER_NODE} nvidia.com/gpu.`,
      `Command: \`flock /tmp/autoclint-bench.lock node --import tsx bench/operator-scale.ts ${RUNS} ${WORKERS}\``,
      "",
      "| measure | value |",
      "| --- | --- |",
      `| runs applied (one kubectl create of all) | ${appliedSeconds.toFixed(1)} s |`,
      `| every run's Job exists (goal < 60 s) | ${allJobsSeconds.toFixed(1)} s after the first create |`,
      `| operator requests on AutoClintRuns and Jobs, per run | ${result.requestsPerRun.toFixed(2)} |`,
      ...Object.entries(delta).map(([k, v]) => `| &nbsp;&nbsp;${k} | ${v} |`),
      `| CPU seconds until every Job exists: ${Object.keys(cpu).join(" / ")} | ${Object.values(cpu).join(" / ")} |`,
      `| operator RSS idle / peak / after | ${idleRssMiB.toFixed(0)} / ${peakRssMiB.toFixed(0)} / ${result.operatorRssMiB.after.toFixed(0)} MiB |`,
      "",
      "Requests come from the API server's apiserver_request_total (this script's own run creations subtracted); pods, events and",
      "leases are not counted (the scheduler, controller-manager and kwok touch them too). Event-to-status latency: bench/events-latency.ts.",
      "",
    ].join("\n");
    writeFileSync(`${file}.md`, md);
    process.stdout.write(md);
  } finally {
    clearInterval(sampler);
    await operator.stop();
    cleanUp(NS, nodes);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`operator-scale: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

/**
 * Operator scale: N AutoClintRuns applied at once on kwok GPU nodes of the local control plane
 * (hack/cluster-up.sh). Measures the time until every run's trainer Job exists, the operator's API
 * requests on AutoClintRuns and Jobs per run (from the API server's apiserver_request_total: only
 * the operator touches these resources besides this script's own run creations, which are
 * subtracted), and the operator's resident memory. Writes bench/results/operator-scale-<runs>-runs-<workers>-workers.{json,md}.
 *   flock /tmp/autoclint-bench.lock node --import tsx bench/operator-scale.ts [runs=1000] [workers=2]
 * The operator runs as a child process with the admin kubeconfig and leader election off; the
 * machine is shared with other work unless said otherwise.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GROUP, VERSION } from "@autoclint/api";
import { freePort, startNatsServer } from "@autoclint/api/testing";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const KUBECONFIG = join(ROOT, ".cluster", "kubeconfig");
const RUNS = Number(process.argv[2] ?? 1000);
/** Reconcile workers of the operator (its AUTOCLINT_WORKERS; the chart's default is 2). */
const WORKERS = Number(process.argv[3] ?? 2);
const NODES = 10;
const GPUS_PER_NODE = Math.ceil(RUNS / NODES);
const NS = `scale-${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function kubectl(args: string[], input?: string): string {
  const result = spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, ...args], { input, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/** Sum of apiserver_request_total per "RESOURCE/SUBRESOURCE VERB" for the resources the operator writes. */
function requestCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of kubectl(["get", "--raw", "/metrics"]).split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (labels.resource !== "autoclintruns" && !(labels.resource === "jobs" && labels.verb === "POST")) continue;
    const key = `${labels.resource}${labels.subresource ? `/${labels.subresource}` : ""} ${labels.verb}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.split(" ").at(-1)));
  }
  return counts;
}

function node(name: string): string {
  return `apiVersion: v1
kind: Node
metadata:
  name: ${name}
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels: { type: kwok, kubernetes.io/hostname: ${name}, kubernetes.io/os: linux }
status:
  allocatable: { cpu: "1000", memory: 4Ti, pods: "${GPUS_PER_NODE + 10}", nvidia.com/gpu: "${GPUS_PER_NODE}" }
  capacity: { cpu: "1000", memory: 4Ti, pods: "${GPUS_PER_NODE + 10}", nvidia.com/gpu: "${GPUS_PER_NODE}" }
`;
}

async function main(): Promise<void> {
  const nodes = Array.from({ length: NODES }, (_, i) => `kwok-scale-${i}`);
  kubectl(["apply", "--server-side", "-f", join(ROOT, "crds")]);
  kubectl(["create", "namespace", NS]);
  kubectl(["apply", "-f", "-"], nodes.map(node).join("---\n"));
  kubectl(["wait", "--for=condition=Ready", "--timeout=60s", ...nodes.map((n) => `node/${n}`)]);
  const nats = await startNatsServer();
  const port = await freePort();
  const operator = spawn(process.execPath, ["--import", "tsx", join(ROOT, "operator", "src", "main.ts")], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG, AUTOCLINT_NATS_URL: nats.url, AUTOCLINT_WATCH_NAMESPACE: NS,
      AUTOCLINT_LEADER_ELECTION: "false", AUTOCLINT_HTTP_PORT: String(port), AUTOCLINT_DURABLE_CONSUMER: NS, AUTOCLINT_LOG_LEVEL: "error",
      AUTOCLINT_WORKERS: String(WORKERS),
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${operator.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  let peakRssMiB = 0;
  const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, rss())), 250);
  try {
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    const idleRssMiB = rss();
    const before = requestCounts();
    const started = performance.now();
    // Applied at once: one server-side apply of every run (kubectl sends them back to back).
    const runs = Array.from({ length: RUNS }, (_, i) => JSON.stringify({
      apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name: `run-${i}`, namespace: NS },
      spec: { dataset: { source: { url: "https://datasets.example/d.tar" } }, timeBudgetSeconds: 600, image: "e2e.invalid/trainer:runs-until-deleted",
        scheduling: { tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }] } },
    }));
    kubectl(["create", "-f", "-"], runs.join("\n"));
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
    await sleep(5000); // let status writes settle
    const after = requestCounts();
    const delta = Object.fromEntries([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => (v as number) > 0));
    delta["autoclintruns POST"] = (delta["autoclintruns POST"] ?? 0) - RUNS; // this script's own creations
    const operatorRequests = Object.values(delta).reduce<number>((a, b) => a + Number(b), 0);
    const result = {
      runs: RUNS, workers: WORKERS, nodes: NODES, gpusPerNode: GPUS_PER_NODE, appliedSeconds, allJobsSeconds, polls,
      operatorRequestsOnRunsAndJobs: delta, requestsPerRun: operatorRequests / RUNS,
      operatorRssMiB: { idle: idleRssMiB, peak: peakRssMiB, after: rss() },
      machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 1024 ** 3), shared: true },
      when: new Date().toISOString(),
    };
    const file = join(ROOT, "bench", "results", `operator-scale-${RUNS}-runs-${WORKERS}-workers`);
    writeFileSync(`${file}.json`, `${JSON.stringify(result, null, 2)}\n`);
    const md = [
      `# Operator scale: ${RUNS} runs applied at once, ${WORKERS} reconcile workers (kwok GPU nodes, local control plane)`,
      "",
      `Machine: ${result.machine.cpus} cores (${result.machine.model}), ${result.machine.memoryGiB} GiB; shared with other work while measured. ${NODES} kwok nodes x ${GPUS_PER_NODE} nvidia.com/gpu.`,
      `Command: \`flock /tmp/autoclint-bench.lock node --import tsx bench/operator-scale.ts ${RUNS} ${WORKERS}\``,
      "",
      "| measure | value |",
      "| --- | --- |",
      `| runs applied (one kubectl create of all) | ${appliedSeconds.toFixed(1)} s |`,
      `| every run's Job exists (goal < 60 s) | ${allJobsSeconds.toFixed(1)} s after the first create |`,
      `| operator requests on AutoClintRuns and Jobs, per run | ${result.requestsPerRun.toFixed(2)} |`,
      ...Object.entries(delta).map(([k, v]) => `| &nbsp;&nbsp;${k} | ${String(v)} |`),
      `| operator RSS idle / peak / after | ${idleRssMiB.toFixed(0)} / ${peakRssMiB.toFixed(0)} / ${result.operatorRssMiB.after.toFixed(0)} MiB |`,
      "",
      "Requests come from the API server's apiserver_request_total (this script's own run creations subtracted); pods, events and",
      "leases are not counted (the scheduler, controller-manager and kwok touch them too). Event-to-status latency at 1,000 events/s",
      "is not measured here yet.",
      "",
    ].join("\n");
    writeFileSync(`${file}.md`, md);
    process.stdout.write(md);
  } finally {
    clearInterval(sampler);
    operator.kill("SIGTERM");
    await sleep(3000);
    await nats.dispose();
    spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "delete", "namespace", NS, "--wait=false"], { stdio: "ignore" });
    spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "delete", "node", ...nodes, "--wait=false"], { stdio: "ignore" });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`operator-scale: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

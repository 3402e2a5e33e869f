/**
 * What the operator benchmarks share: the worktree's local control plane (hack/cluster-up.sh,
 * kwok only), kwok GPU nodes made for the run, the operator from its sources as a child process
 * (admin kubeconfig, leader election off) beside a real nats-server, the API server's request
 * counters, the operator's memory, and the machine in words.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { cpus, loadavg, totalmem } from "node:os";
import { createInterface } from "node:readline";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startNatsServer, type TestNatsServer } from "@autoclint/api/testing";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const KUBECONFIG = join(ROOT, ".cluster", "kubeconfig");
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function kubectl(args: string[], input?: string): string {
  const result = spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, ...args], { input, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

/**
 * kubectl with each line it prints prefixed by Date.now() when it arrived, in a process of its own:
 * stamped in the bench's process, a line would wait behind the bench's own work (1,000 publishes
 * a second, say) and the watch would look later than it is.
 */
const STAMPED_KUBECTL = [
  'const { spawn } = require("node:child_process");',
  'const kubectl = spawn("kubectl", process.argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });',
  'require("node:readline").createInterface({ input: kubectl.stdout }).on("line", (line) => process.stdout.write(`${Date.now()} ${line}\\n`));',
  'kubectl.on("exit", (code) => process.exit(code ?? 1));',
  'process.on("SIGTERM", () => { kubectl.kill("SIGTERM"); process.exit(0); });',
].join("\n");

export interface WatchedLines {
  stop(): void;
  /** How often the watch ended and was opened again. */
  reopened(): number;
}

/**
 * Watches the namespace's `resource` (kubectl get --watch): `onLine` gets each watch event's
 * `jsonpath` of the object, trimmed, and the wall-clock ms it arrived. A watch does end (the API
 * server closes it, kubectl exits 0): it is opened again, as a reflector re-watches, with a list
 * first, so what changed while none was open still shows, late by at most the reopening.
 * `listFirst: false` starts with no list (only changes from now). Any other exit of kubectl is a
 * broken instrument: `onFailure`.
 */
export function watchLines(
  watch: { namespace: string; resource: string; jsonpath: string; listFirst?: boolean },
  onLine: (line: string, at: number) => void,
  onFailure: (error: Error) => void,
): WatchedLines {
  let child: ReturnType<typeof spawn>;
  let stopped = false;
  let reopens = 0;
  const open = (listFirst: boolean) => {
    child = spawn(process.execPath, [
      "-e", STAMPED_KUBECTL, "--", // "--": kubectl's flags are not node's
      "--kubeconfig", KUBECONFIG, "-n", watch.namespace, "get", watch.resource, listFirst ? "--watch" : "--watch-only", "--output-watch-events=false",
      "-o", `jsonpath=${watch.jsonpath}{"\\n"}`,
    ], { stdio: ["ignore", "pipe", "inherit"] });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (stopped) return;
      const space = line.indexOf(" ");
      onLine(line.slice(space + 1).trim(), Number(line.slice(0, space)));
    });
    child.on("exit", (code) => {
      if (stopped) return;
      if (code !== 0) return onFailure(new Error(`the measuring watch (kubectl get ${watch.resource} --watch) exited with ${code}`));
      reopens += 1;
      open(true);
    });
  };
  open(watch.listFirst ?? true);
  return {
    stop: () => {
      stopped = true;
      child.kill("SIGTERM");
    },
    reopened: () => reopens,
  };
}

/** kubectl without blocking this process (several may run at once); resolves with its stdout. */
export function kubectlAsync(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("kubectl", ["--kubeconfig", KUBECONFIG, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let [stdout, stderr] = ["", ""];
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`kubectl ${args.join(" ")}: ${stderr}`))));
    child.stdin.end(input ?? "");
  });
}

/** A request's kind from its labels (the API server's and the operator's counters share them): "RESOURCE[.GROUP][/SUBRESOURCE] VERB". */
function requestKey(labels: Record<string, string | undefined>): string {
  return `${labels.resource}${labels.group ? `.${labels.group}` : ""}${labels.subresource ? `/${labels.subresource}` : ""} ${labels.verb}`;
}

/**
 * The API requests the operator says it sent (its autoclint_kube_requests_total), keyed as
 * requestStats keys the API server's: "RESOURCE[.GROUP][/SUBRESOURCE] VERB".
 */
export function operatorRequestCounts(metricsText: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith("autoclint_kube_requests_total{")) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    const key = requestKey(labels);
    counts.set(key, (counts.get(key) ?? 0) + Number(line.split(" ").at(-1)));
  }
  return counts;
}

/** One kind of request ("resource[.group][/subresource] VERB"): how many the API server served, and their summed latency. */
export interface RequestStat {
  count: number;
  seconds: number;
}

/**
 * Every request the API server has served, by kind, from apiserver_request_total and
 * apiserver_request_duration_seconds_sum (WATCH and CONNECT left out: their latency is a
 * connection's lifetime). The API server does not say who sent a request.
 */
export function requestStats(): Map<string, RequestStat> {
  const stats = new Map<string, RequestStat>();
  for (const line of kubectl(["get", "--raw", "/metrics"]).split("\n")) {
    const metric = /^(apiserver_request_total|apiserver_request_duration_seconds_sum)\{(.*)\} (\S+)$/.exec(line);
    if (!metric) continue;
    const labels = Object.fromEntries([...metric[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (labels.verb === "WATCH" || labels.verb === "CONNECT") continue;
    const key = requestKey(labels);
    const stat = stats.get(key) ?? { count: 0, seconds: 0 };
    if (metric[1] === "apiserver_request_total") stat.count += Number(metric[3]);
    else stat.seconds += Number(metric[3]);
    stats.set(key, stat);
  }
  return stats;
}

export function statsDelta(after: Map<string, RequestStat>, before: Map<string, RequestStat>): Record<string, RequestStat> {
  const delta = [...after].map(([key, { count, seconds }]) => [key, { count: count - (before.get(key)?.count ?? 0), seconds: seconds - (before.get(key)?.seconds ?? 0) }] as const);
  return Object.fromEntries(delta.filter(([, stat]) => stat.count > 0).sort(([, a], [, b]) => b.count - a.count));
}

/**
 * Seconds a control-plane component's requests waited in its own client-side rate limiter so far
 * (rest_client_rate_limiter_duration_seconds_sum over verbs; kube-controller-manager's and
 * kube-scheduler's clients default to 20 / 50 requests per second): work the component held
 * back, not work the API server was too slow for.
 */
export async function clientThrottleSeconds(component: "kube-controller-manager" | "kube-scheduler"): Promise<number> {
  const env = Object.fromEntries(readFileSync(join(ROOT, ".cluster", "env"), "utf8").trim().split("\n").map((line) => line.split("=") as [string, string]));
  const port = component === "kube-controller-manager" ? env.KCM_PORT : env.SCHED_PORT;
  const pki = join(ROOT, ".cluster", "pki");
  const text = await new Promise<string>((resolve, reject) => {
    // Its serving certificate is self-signed (hack/cluster-up.sh); /metrics wants an identity, the admin's.
    const request = httpsGet({ host: "127.0.0.1", port, path: "/metrics", cert: readFileSync(join(pki, "admin.crt")), key: readFileSync(join(pki, "admin.key")), rejectUnauthorized: false }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk)).on("end", () => resolve(body));
    });
    request.on("error", reject);
  });
  return text.split("\n").filter((line) => line.startsWith("rest_client_rate_limiter_duration_seconds_sum{")).reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

export function countsDelta(after: Map<string, number>, before: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const).filter(([, v]) => v > 0));
}

/** kwok nodes with `gpus` nvidia.com/gpu each; returns their names. */
export function createKwokGpuNodes(prefix: string, count: number, gpus: number): string[] {
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const node = (name: string) => `apiVersion: v1
kind: Node
metadata:
  name: ${name}
  annotations: { kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0" }
  labels: { type: kwok, kubernetes.io/hostname: ${name}, kubernetes.io/os: linux }
status:
  allocatable: { cpu: "1000", memory: 4Ti, pods: "${gpus + 10}", nvidia.com/gpu: "${gpus}" }
  capacity: { cpu: "1000", memory: 4Ti, pods: "${gpus + 10}", nvidia.com/gpu: "${gpus}" }
`;
  kubectl(["apply", "-f", "-"], names.map(node).join("---\n"));
  kubectl(["wait", "--for=condition=Ready", "--timeout=60s", ...names.map((n) => `node/${n}`)]);
  return names;
}

/** A run whose trainer pod kwok keeps Running until deleted (its stage for this image). */
export function kwokRun(namespace: string, name: string, timeBudgetSeconds: number): Record<string, unknown> {
  return {
    apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name, namespace },
    spec: {
      dataset: { source: { url: "https://datasets.example/d.tar" } }, timeBudgetSeconds, image: "e2e.invalid/trainer:runs-until-deleted",
      scheduling: { tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }] },
    },
  };
}

export interface BenchOperator {
  process: ChildProcess;
  nats: TestNatsServer;
  metricsUrl: string;
  rssMiB(): number;
  /** The operator's own /metrics, as text. */
  metricsText(): Promise<string>;
  /** The operator's own /metrics: the value of one sample (0 when absent). */
  metric(sample: RegExp): Promise<number>;
  stop(): Promise<void>;
}

/** A real nats-server and the operator watching `namespace`, ready (its /readyz) when this resolves. */
export async function startBenchOperator(namespace: string, env: Record<string, string> = {}): Promise<BenchOperator> {
  const nats = await startNatsServer();
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "operator", "src", "main.ts")], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG, AUTOCLINT_NATS_URL: nats.url, AUTOCLINT_WATCH_NAMESPACE: namespace,
      AUTOCLINT_LEADER_ELECTION: "false", AUTOCLINT_HTTP_PORT: String(port), AUTOCLINT_DURABLE_CONSUMER: namespace, AUTOCLINT_LOG_LEVEL: "error",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const metricsUrl = `http://127.0.0.1:${port}`;
  // Once more on a failure: a kept-alive connection the operator closed while this process was busy
  // elsewhere (a blocking kubectl) fails the first request on it.
  const metricsText = async (): Promise<string> => {
    try {
      return await (await fetch(`${metricsUrl}/metrics`)).text();
    } catch {
      return (await fetch(`${metricsUrl}/metrics`)).text();
    }
  };
  for (let waited = 0; ; waited += 200) {
    try {
      if ((await fetch(`${metricsUrl}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) throw new Error(`the operator exited with ${child.exitCode} before it was ready`);
    if (waited > 60_000) throw new Error("the operator was not ready within 60 s");
    await sleep(200);
  }
  return {
    process: child,
    nats,
    metricsUrl,
    rssMiB: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) / 1024,
    metricsText,
    async metric(sample) {
      return metricSample(await metricsText(), sample);
    },
    async stop() {
      child.kill("SIGTERM");
      await sleep(3000);
      await nats.dispose();
    },
  };
}

/** The value of one sample in a /metrics text (0 when absent). */
export function metricSample(metricsText: string, sample: RegExp): number {
  return Number(new RegExp(`^${sample.source} (\\S+)$`, "m").exec(metricsText)?.[1] ?? 0);
}

/** The q-quantile of ascending values, the nearest rank at or below q (NaN when there are none). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    // Fields after the command (which may hold spaces) in /proc/PID/stat: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** The local control plane's processes by name (hack/cluster-up.sh's .cluster/pids), plus any given. */
export function clusterProcesses(extra: Record<string, number> = {}): Record<string, number> {
  const dir = join(ROOT, ".cluster", "pids");
  const pids = Object.fromEntries(readdirSync(dir).map((file) => [file.replace(/\.pid$/, ""), Number(readFileSync(join(dir, file), "utf8").trim())]));
  return { ...pids, ...extra };
}

/** CPU seconds each process spent between two snapshots of cpuSeconds. */
export function cpuSpent(processes: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, Number((cpuSeconds(pid) - (before[name] ?? 0)).toFixed(1))]));
}

export function cpuSnapshot(processes: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)]));
}

/**
 * Deletes the namespace while the operator still runs, and waits (up to `limitMs`) until it is gone:
 * the runs hold the operator's purge finalizer, so without it they and the namespace would stay
 * forever, and the garbage collector's cascade over the runs' Jobs, pods and Secrets would spill
 * into the next measurement. Then stops the operator and deletes the kwok nodes. Never throws.
 * 1,000 runs take minutes to go on 2 cores: past `limitMs` it says so and stops waiting.
 */
export async function cleanUp(namespace: string, nodes: string[], operator: BenchOperator | undefined, limitMs = 180_000): Promise<void> {
  spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "delete", "namespace", namespace, "--wait=false"], { stdio: "ignore" });
  const gone = () => spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "get", "namespace", namespace], { stdio: "ignore" }).status !== 0;
  for (let waited = 0; waited < limitMs && !gone(); waited += 2000) await sleep(2000);
  if (!gone()) process.stderr.write(`cleanup: namespace ${namespace} is still being deleted after ${limitMs / 1000} s; a fresh control plane (hack/cluster-down.sh, hack/cluster-up.sh) is the quick way to a clean one\n`);
  await operator?.stop();
  if (nodes.length > 0) spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "delete", "node", ...nodes, "--wait=false"], { stdio: "ignore" });
}

export function machine(): { cpus: number; model?: string; memoryGiB: number; loadAverage1m: number; shared: true } {
  return { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 1024 ** 3), loadAverage1m: Number(loadavg()[0]!.toFixed(2)), shared: true };
}

/** A Prometheus histogram's cumulative buckets (upper bound, count), from one /metrics text, labels ignored (summed). */
export function histogramBuckets(metricsText: string, name: string): [number, number][] {
  const byBound = new Map<number, number>();
  for (const line of metricsText.split("\n")) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le === undefined) continue;
    const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le);
    byBound.set(bound, (byBound.get(bound) ?? 0) + Number(line.split(" ").at(-1)));
  }
  return [...byBound].sort(([a], [b]) => a - b);
}

/** What one histogram gained between two readings of its buckets. */
export function histogramDelta(after: [number, number][], before: [number, number][]): [number, number][] {
  const earlier = new Map(before);
  return after.map(([bound, count]) => [bound, count - (earlier.get(bound) ?? 0)]);
}

/**
 * The q-quantile of a cumulative histogram as Prometheus's histogram_quantile estimates it: linear
 * within the bucket it falls in (from 0 for the first), the highest finite bound past the last.
 */
export function histogramQuantile(buckets: [number, number][], q: number): number {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let [lower, below] = [0, 0];
  for (const [bound, count] of buckets) {
    if (count >= rank) return Number.isFinite(bound) ? lower + ((bound - lower) * (rank - below)) / Math.max(1, count - below) : lower;
    [lower, below] = [bound, count];
  }
  return lower;
}

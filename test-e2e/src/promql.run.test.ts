/**
 * Every PromQL expression of the Grafana dashboard (charts/autoclint/dashboards/autoclint.json) and
 * of the alert rules (the chart's PrometheusRule, rendered by helm) is evaluated by a real
 * Prometheus that scrapes a real operator, fed by a real trainer over a real nats-server, and must
 * return data.
 *   node hack/run-tests.mjs e2e promql   (a *.run.test.ts: it trains, so it runs alone)
 * The set-up, in order: the chart is `helm install`ed into the local control plane
 * (hack/cluster-up.sh; a missing cluster fails this suite, it does not skip it; the CRDs come from
 * crds/ like the other suites' do) with nats.url pointing at a nats-server -js started here; the
 * operator runs as a local process with the installed Deployment's environment, under the installed
 * ServiceAccount's identity; Prometheus (/usr/bin/prometheus, loopback, random port, its own data
 * dir, 1 s scrapes) scrapes it the way the chart's ServiceMonitor asks (path, honorLabels, the
 * target labels the Prometheus Operator adds) and loads the rendered rules; four runs are created
 * so that every phase exists (one Succeeded on a kwok node, one Running on a node this test plays
 * the kubelet of, one stuck in Scheduling, one Failed);
 * then `autoclint run` trains on a small MNIST task and publishes its events for the Succeeded run,
 * and a two-variant AutoClintBenchmark's runs get result events, so that its standings are exported.
 * GPU utilisation: no GPU and no dcgm-exporter exist here, so a stand-in endpoint serves a fixed
 * DCGM_FI_DEV_GPU_UTIL sample in dcgm-exporter's format; that panel's query is checked against it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { eventMessageId, eventSubject, GROUP, METRICS, VERSION, type AutoClintRun, type TrainerEvent } from "@autoclint/api";
import { freePort, startNatsServer, type TestNatsServer } from "@autoclint/api/testing";
import { eventually } from "./eventually";
import { releaseRuns } from "./local-cluster";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CHART = join(ROOT, "charts", "autoclint");
const KUBECONFIG = process.env.KUBECONFIG_E2E ?? join(ROOT, ".cluster", "kubeconfig");
const PROMETHEUS = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";
const PROMTOOL = process.env.PROMTOOL_BIN ?? "/usr/bin/promtool";
const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const NS = `promql-${suffix}`;
const RELEASE = `acp-${suffix}`;
const NODE = `promql-gpu-${suffix}`;
const TAINT = "autoclint.io/promql-e2e";
const TRAINER_BUDGET_SECONDS = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ----------------------------------------------------------------------------------------------
// The expressions

interface Expression {
  source: string;
  expr: string;
}
interface Panel {
  title?: string;
  targets?: { refId: string; expr?: string }[];
  panels?: Panel[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string | { query: string } }[] };
}
interface RuleGroup {
  name: string;
  rules: { alert?: string; record?: string; expr: string }[];
}

const dashboard = JSON.parse(readFileSync(join(CHART, "dashboards", "autoclint.json"), "utf8")) as Dashboard;

function dashboardExpressions(): Expression[] {
  const walk = (panels: Panel[]): Expression[] =>
    panels.flatMap((p) => [
      ...(p.targets ?? []).filter((t) => t.expr).map((t) => ({ source: `panel "${p.title}" ${t.refId}`, expr: t.expr! })),
      ...walk(p.panels ?? []),
    ]);
  const variables = dashboard.templating.list
    .filter((v) => v.type === "query")
    .map((v) => {
      const query = typeof v.query === "string" ? v.query : (v.query?.query ?? "");
      // label_values(<selector>, <label>): the selector is the PromQL part.
      const selector = /^label_values\((.+),\s*\w+\)$/.exec(query)?.[1];
      assert.ok(selector, `variable ${v.name}: unexpected query ${query}`);
      return { source: `variable $${v.name}`, expr: selector };
    });
  return [...walk(dashboard.panels), ...variables];
}

let helmBin = "";
const helmPath = () => (helmBin ||= execFileSync(join(ROOT, "hack", "helm.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim());

/** One monitoring.coreos.com/v1 object of the chart, as `helm template` renders it. */
function renderedMonitoring<T>(template: string, kind: string): T {
  const result = spawnSync(helmPath(), ["template", "ac", CHART, "--api-versions", "monitoring.coreos.com/v1", "--show-only", `templates/${template}`], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  const object = parseAllDocuments(result.stdout).map((d) => d.toJS() as { kind: string; spec: T })[0]!;
  assert.equal(object.kind, kind);
  return object.spec;
}

/** The rule groups of the chart's PrometheusRule. */
const renderedRuleGroups = () => renderedMonitoring<{ groups: RuleGroup[] }>("prometheusrule.yaml", "PrometheusRule").groups;

/**
 * The scrape job the Prometheus Operator would derive from the chart's ServiceMonitor: its path and
 * honorLabels, and the target labels it attaches (namespace, service, pod, container, endpoint),
 * so that a label clash (the runs' `namespace`) shows here as it would in a cluster.
 */
function scrapeJobFromServiceMonitor(target: string): Record<string, unknown> {
  const spec = renderedMonitoring<{ endpoints: { port: string; path: string; honorLabels?: boolean }[] }>("servicemonitor.yaml", "ServiceMonitor");
  const endpoint = spec.endpoints[0]!;
  return {
    job_name: "autoclint-operator",
    metrics_path: endpoint.path,
    honor_labels: endpoint.honorLabels ?? false,
    static_configs: [{
      targets: [target],
      labels: { namespace: "autoclint-system", service: "ac-operator-metrics", pod: "ac-operator-5d9c7b8f6-x2x9q", container: "operator", endpoint: endpoint.port },
    }],
  };
}

const ruleExpressions = (groups: RuleGroup[]): Expression[] =>
  groups.flatMap((g) => g.rules.map((r) => ({ source: `rule ${r.alert ?? r.record}`, expr: r.expr })));

/** Grafana's variables made concrete: interval variables become durations, the others match anything. */
function substitute(expr: string): string {
  const intervals: Record<string, string> = { __rate_interval: "5m", __interval: "15s", __range: "1h" };
  return expr.replaceAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? "";
    return intervals[name] ?? ".*";
  });
}

// ----------------------------------------------------------------------------------------------
// Static checks: no cluster needed

void describe("dashboard and alert rules (static)", () => {
  void test("query only metrics the operator exports (api/src/metrics.ts) or dcgm-exporter's, and cover every one", () => {
    const exported = new Set<string>(Object.values(METRICS));
    const used = new Set<string>();
    for (const { source, expr } of [...dashboardExpressions(), ...ruleExpressions(renderedRuleGroups())]) {
      for (const name of expr.match(/\b(autoclint_[a-z_]+|DCGM_[A-Z_]+)\b/g) ?? []) {
        if (name.startsWith("DCGM_")) continue;
        const base = name.replace(/_(bucket|sum|count)$/, "");
        const metric = exported.has(name) ? name : base;
        assert.ok(exported.has(metric), `${source}: ${name} is not in api/src/metrics.ts`);
        used.add(metric);
      }
    }
    assert.deepEqual([...exported].filter((m) => !used.has(m)), [], "metrics no panel or rule shows");
    assert.ok(dashboardExpressions().some((e) => e.expr.includes("DCGM_FI_DEV_GPU_UTIL")), "a GPU utilisation panel");
  });

  void test("promtool check rules passes on the rendered PrometheusRule", () => {
    const dir = mkdtempSync(join(tmpdir(), "autoclint-rules-"));
    try {
      const file = join(dir, "autoclint.rules.yaml");
      writeFileSync(file, stringify({ groups: renderedRuleGroups() }));
      const result = spawnSync(PROMTOOL, ["check", "rules", file], { encoding: "utf8" });
      assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
      assert.match(result.stdout, /SUCCESS: 5 rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void test("every expression parses after variable substitution (promtool)", () => {
    const dir = mkdtempSync(join(tmpdir(), "autoclint-exprs-"));
    try {
      // promtool checks the PromQL of recording rules: one rule per dashboard expression.
      const rules = dashboardExpressions().map((e, i) => ({ record: `autoclint:dashboard_check_${i}`, expr: substitute(e.expr) }));
      const file = join(dir, "dashboard.rules.yaml");
      writeFileSync(file, stringify({ groups: [{ name: "dashboard", rules }] }));
      const result = spawnSync(PROMTOOL, ["check", "rules", file], { encoding: "utf8" });
      assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ----------------------------------------------------------------------------------------------
// Against a real Prometheus, operator, NATS and trainer

function kubectl(args: string[], input?: string): string {
  const result = spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, ...args], { input, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

function clusterAnswers(): boolean {
  if (!existsSync(KUBECONFIG)) return false;
  return spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "get", "--raw", "/readyz"], { stdio: "ignore", timeout: 10_000 }).status === 0;
}


/** A child process whose output is kept for failure messages. */
function start(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): { child: ChildProcess; log: () => string } {
  let output = "";
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  child.stderr!.on("data", (c: Buffer) => (output = (output + c.toString()).slice(-20_000)));
  return { child, log: () => output };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await Promise.race([exited, sleep(20_000)]);
}

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(base: string, expr: string): Promise<PromResult[]> {
  const response = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== "success") throw new Error(`query failed: ${body.error ?? response.status}: ${expr}`);
  const { resultType, result } = body.data!;
  if (resultType === "scalar") return [{ metric: {}, value: result as [number, string] }];
  if (resultType !== "vector") throw new Error(`unexpected ${resultType} for ${expr}`);
  return result as PromResult[];
}

const hasFiniteValue = (results: PromResult[]) => results.some((r) => Number.isFinite(Number(r.value[1])));

/** dcgm-exporter's exposition of one GPU (fixed values): the stand-in for a GPU node's exporter. */
function dcgmStandIn(): string {
  const labels = `gpu="0",UUID="GPU-5f1c7a8e-0000-4000-8000-000000000000",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="${NODE}",DCGM_FI_DRIVER_VERSION="550.90.07"`;
  return [
    "# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).",
    "# TYPE DCGM_FI_DEV_GPU_UTIL gauge",
    `DCGM_FI_DEV_GPU_UTIL{${labels},container="trainer",namespace="${NS}",pod="live-stand-in"} 87`,
    "",
  ].join("\n");
}

const runManifest = (name: string, spec: Record<string, unknown>) => ({ apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name, namespace: NS }, spec });
const getRun = (name: string) => JSON.parse(kubectl(["-n", NS, "get", "autoclintruns", name, "-o", "json"])) as AutoClintRun;

void describe("dashboard and alert expressions on a real Prometheus, operator, NATS and trainer", { concurrency: false }, () => {
  const work = mkdtempSync(join(tmpdir(), "autoclint-promql-"));
  let nats: TestNatsServer | undefined;
  let operator: ReturnType<typeof start> | undefined;
  let prometheus: ReturnType<typeof start> | undefined;
  let dcgm: Server | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let installed = false;
  let metricsUrl = "";
  let promUrl = "";
  const operatorLog = () => `\noperator log:\n${operator?.log().slice(-3000) ?? "(not started)"}`;
  const evaluations: { source: string; expr: string; series: number; sample: string }[] = [];

  before(async () => {
    if (!clusterAnswers()) {
      throw new Error(`the PromQL suite needs the local control plane: no API server answers at ${KUBECONFIG}. Run hack/cluster-up.sh (make e2e does) and try again.`);
    }
    for (const bin of [PROMETHEUS, PROMTOOL]) assert.ok(existsSync(bin), `${bin} is missing (apt-get install prometheus)`);
    nats = await startNatsServer();

    // The CRDs as the other e2e suites apply them (server-side, from crds/): the chart's copies are
    // byte-identical (chart.test.ts), and a Helm-owned CRD would fight those suites' applies.
    kubectl(["apply", "--server-side", "-f", join(ROOT, "crds")]);
    kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/autoclintruns.autoclint.io", "crd/autoclintbenchmarks.autoclint.io"]);
    // The rest of the chart, installed for real (its operator Deployment at 0 replicas: the operator
    // runs here, as a process, with that Deployment's environment and ServiceAccount).
    const install = spawnSync(helmPath(), [
      "install", RELEASE, CHART, "--namespace", NS, "--create-namespace", "--kubeconfig", KUBECONFIG,
      "--set", `crds.enabled=false,replicaCount=0,watchNamespace=${NS},nats.url=${nats.url},activeRequeueSeconds=3,leaderElection.leaseName=${RELEASE}`,
      // This suite's runs tolerate the kwok nodes' taint and its played node's.
      "--set", `admission.allowedTolerationKeys={nvidia.com/gpu,kwok.x-k8s.io/node,${TAINT}}`,
    ], { encoding: "utf8" });
    assert.equal(install.status, 0, `helm install: ${install.stderr}`);
    installed = true;

    // The operator with the installed Deployment's environment, as the installed ServiceAccount.
    const deployment = JSON.parse(kubectl(["-n", NS, "get", "deployment", `${RELEASE}-operator`, "-o", "json"])) as {
      spec: { template: { spec: { serviceAccountName: string; containers: { env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }[] } } };
    };
    const pod = deployment.spec.template.spec;
    const fieldRefs: Record<string, string> = { "metadata.name": `${RELEASE}-operator-local`, "metadata.namespace": NS };
    const env: Record<string, string> = Object.fromEntries(pod.containers[0]!.env.map((e) => [e.name, e.value ?? fieldRefs[e.valueFrom?.fieldRef?.fieldPath ?? ""] ?? ""]));
    const httpPort = await freePort();
    env.AUTOCLINT_HTTP_PORT = String(httpPort); // the chart's 8080 may be taken on this machine
    metricsUrl = `http://127.0.0.1:${httpPort}`;
    const saKubeconfig = join(work, "sa.kubeconfig");
    const made = spawnSync(join(ROOT, "hack", "cluster-sa-kubeconfig.sh"), [NS, pod.serviceAccountName, saKubeconfig], { encoding: "utf8", env: { ...process.env, KUBECONFIG } });
    assert.equal(made.status, 0, made.stderr);
    operator = start(process.execPath, ["--import", "tsx", join(ROOT, "operator", "src", "main.ts")], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: saKubeconfig, ...env },
    });
    await eventually("the operator to be ready and leading", async () => {
      const ready = (await fetch(`${metricsUrl}/readyz`)).ok;
      return ready && /^autoclint_operator_leader 1$/m.test(await (await fetch(`${metricsUrl}/metrics`)).text()) ? true : undefined;
    }, 60_000, operatorLog);

    // The stand-in dcgm-exporter.
    dcgm = createServer((_, response) => response.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(dcgmStandIn()));
    const dcgmPort = await freePort();
    await new Promise<void>((r) => dcgm!.listen(dcgmPort, "127.0.0.1", r));

    // Prometheus, with the chart's rules loaded.
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    writeFileSync(join(work, "autoclint.rules.yaml"), stringify({ groups: renderedRuleGroups() }));
    writeFileSync(join(work, "prometheus.yml"), stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      rule_files: [join(work, "autoclint.rules.yaml")],
      scrape_configs: [
        scrapeJobFromServiceMonitor(`127.0.0.1:${httpPort}`),
        { job_name: "dcgm-exporter", static_configs: [{ targets: [`127.0.0.1:${dcgmPort}`] }] },
      ],
    }));
    prometheus = start(PROMETHEUS, [
      `--config.file=${join(work, "prometheus.yml")}`, `--storage.tsdb.path=${join(work, "tsdb")}`, `--web.listen-address=127.0.0.1:${promPort}`,
      "--storage.tsdb.retention.time=1h", "--log.level=warn",
    ]);
    await eventually("Prometheus to be ready", async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 60_000, () => `\n${prometheus?.log()}`);
  });

  after(async () => {
    if (heartbeat) clearInterval(heartbeat);
    await stop(prometheus?.child);
    await stop(operator?.child);
    if (process.env.E2E_OPERATOR_LOG) process.stderr.write(operator?.log() ?? "");
    dcgm?.close();
    await nats?.dispose();
    if (installed) spawnSync(helmPath(), ["uninstall", RELEASE, "--namespace", NS, "--kubeconfig", KUBECONFIG, "--wait=false"], { stdio: "ignore" });
    spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "delete", "namespace", NS, "--wait=false"], { stdio: "ignore" });
    releaseRuns(NS); // the operator that would purge their events is gone
    spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "delete", "node", NODE, "--wait=false"], { stdio: "ignore" });
    spawnSync("kubectl", ["--kubeconfig", KUBECONFIG, "-n", "kube-node-lease", "delete", "lease", NODE, "--wait=false"], { stdio: "ignore" });
    rmSync(work, { recursive: true, force: true });
    if (evaluations.length > 0) {
      process.stderr.write(`\nPromQL evaluations (${evaluations.length}):\n${evaluations.map((e) => `  ${e.series > 0 ? "data" : "EMPTY"}  ${e.source}: ${e.series} series, e.g. ${e.sample}`).join("\n")}\n`);
    }
  });

  /** A GPU node no kwok manages: this test plays its kubelet (Lease heartbeats, pod status). */
  function createPlayedNode(): void {
    const now = new Date().toISOString();
    const capacity = { cpu: "16", memory: "64Gi", pods: "10", "nvidia.com/gpu": "1" };
    kubectl(["create", "-f", "-"], JSON.stringify({
      apiVersion: "v1", kind: "Node",
      metadata: { name: NODE, labels: { "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", [TAINT]: suffix } },
      spec: { taints: [{ key: TAINT, value: suffix, effect: "NoSchedule" }] },
      status: { capacity, allocatable: capacity, conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "played by promql.run.test.ts", lastHeartbeatTime: now, lastTransitionTime: now }] },
    }));
    const renew = () => new Date().toISOString().replace("Z", "000Z"); // MicroTime
    kubectl(["create", "-f", "-"], JSON.stringify({
      apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: NODE, namespace: "kube-node-lease" },
      spec: { holderIdentity: NODE, leaseDurationSeconds: 40, renewTime: renew() },
    }));
    heartbeat = setInterval(() => {
      spawn("kubectl", ["--kubeconfig", KUBECONFIG, "-n", "kube-node-lease", "patch", "lease", NODE, "--type=merge", "-p", JSON.stringify({ spec: { renewTime: renew() } })], { stdio: "ignore" });
    }, 10_000);
    heartbeat.unref();
  }

  /** What a kubelet would report once the trainer container started. */
  function markPodRunning(podName: string, container: { name: string; image: string }): void {
    const now = new Date().toISOString();
    const conditions = ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map((type) => ({ type, status: "True", lastTransitionTime: now }));
    kubectl(["-n", NS, "patch", "pod", podName, "--subresource=status", "--type=merge", "-p", JSON.stringify({
      status: {
        phase: "Running", hostIP: "10.255.0.1", podIP: "10.255.1.1", startTime: now, conditions,
        containerStatuses: [{ name: container.name, image: container.image, imageID: "", ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } } }],
      },
    })]);
  }

  void test("runs in every phase: Succeeded (kwok), Running (a played node), stuck in Scheduling, Failed", async () => {
    createPlayedNode();
    const kwokToleration = { key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" };
    // The URL example as a user applies it, tolerating kwok's taint: its trainer is the real one below.
    const example = parseAllDocuments(readFileSync(join(ROOT, "examples", "cluster", "url-dataset-run.yaml"), "utf8"))[0]!.toJS() as { metadata: { name: string }; spec: { scheduling: { tolerations: unknown[] } } };
    example.spec.scheduling.tolerations.push(kwokToleration);
    kubectl(["-n", NS, "create", "-f", "-"], JSON.stringify(runManifest(example.metadata.name, example.spec)));
    kubectl(["-n", NS, "create", "-f", "-"], JSON.stringify(runManifest("live", {
      dataset: { source: { url: "https://datasets.example.com/autodl/live.tar.gz" } }, timeBudgetSeconds: 1200, resources: { gpu: 1 },
      scheduling: { nodeSelector: { "kubernetes.io/hostname": NODE }, tolerations: [{ key: TAINT, operator: "Exists", effect: "NoSchedule" }] },
    })));
    kubectl(["-n", NS, "create", "-f", "-"], JSON.stringify(runManifest("too-big", {
      dataset: { source: { url: "https://datasets.example.com/autodl/big.tar.gz" } }, timeBudgetSeconds: 1200, resources: { gpu: 8 }, scheduling: { tolerations: [kwokToleration] },
    })));
    kubectl(["-n", NS, "create", "-f", "-"], JSON.stringify(runManifest("zip-dataset", {
      dataset: { format: "idx", source: { url: "https://datasets.example.com/fmnist.zip" } }, timeBudgetSeconds: 60,
    })));

    const live = getRun("live");
    const pod = await eventually("the live run's pod on the played node", () => {
      const pods = JSON.parse(kubectl(["-n", NS, "get", "pods", "-l", `autoclint.io/run-uid=${live.metadata.uid}`, "-o", "json"])) as { items: { metadata: { name: string }; spec: { nodeName?: string; containers: { name: string; image: string }[] } }[] };
      return pods.items.find((p) => p.spec.nodeName === NODE);
    }, 60_000, operatorLog);
    markPodRunning(pod.metadata.name, pod.spec.containers[0]!);

    const phases: Record<string, string> = { munster: "Succeeded", live: "Running", "too-big": "Scheduling", "zip-dataset": "Failed" };
    for (const [name, phase] of Object.entries(phases)) {
      await eventually(`run ${name} in phase ${phase}`, () => (getRun(name).status?.phase === phase ? true : undefined), 90_000, () => `\nstatus: ${JSON.stringify(getRun(name).status)}${operatorLog()}`);
    }
  });

  const stalled = () => ruleExpressions(renderedRuleGroups()).find((e) => e.source === "rule AutoClintEventPipelineStalled")!;

  void test("a run Running while no event was consumed: the stalled-pipeline alert expression returns data", async () => {
    const { expr } = stalled();
    const results = await eventually("AutoClintEventPipelineStalled's expression to return data", async () => {
      const found = await promQuery(promUrl, expr);
      return found.length > 0 ? found : undefined;
    }, 30_000);
    evaluations.push({ source: "rule AutoClintEventPipelineStalled (no events yet)", expr, series: results.length, sample: results[0]!.value[1] });
  });

  void test("a real trainer run publishes its events over NATS; the operator folds them into status and /metrics", { timeout: 300_000 }, async () => {
    const run = getRun("munster");
    const data = join(work, "mnist");
    const cli = [process.execPath, "--import", "tsx", join(ROOT, "trainer", "src", "cli", "main.ts")];
    const build = spawnSync(cli[0]!, [...cli.slice(1), "datasets", "build", "mnist", "--out", data, "--limit", "1200", "--seed", "1"], { encoding: "utf8", cwd: ROOT });
    assert.equal(build.status, 0, build.stderr);
    const manifest = join(work, "munster.yaml");
    writeFileSync(manifest, stringify({
      apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun",
      metadata: { name: "munster", namespace: NS, uid: run.metadata.uid },
      spec: { dataset: { name: "mnist", source: { path: data } }, timeBudgetSeconds: TRAINER_BUDGET_SECONDS, seed: 0 },
    }));
    const trainer = spawnSync(cli[0]!, [...cli.slice(1), "run", manifest, "--nats", nats!.url, "--out", join(work, "out")], { encoding: "utf8", cwd: ROOT, timeout: 240_000 });
    assert.equal(trainer.status, 0, `autoclint run:\n${trainer.stdout}\n${trainer.stderr}`);
    const status = await eventually("the trainer's ALC in the run's status", () => {
      const current = getRun("munster").status;
      return current?.alc !== undefined && (current.learningCurve?.length ?? 0) > 0 ? current : undefined;
    }, 60_000, operatorLog);
    assert.ok(status.alc! > 0, `ALC ${status.alc}`);
    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`autoclint_run_alc\\{namespace="${NS}",run="munster"\\}`));
  });

  void test("a benchmark whose runs report their results: its standings reach /metrics", async () => {
    const kwokToleration = { key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" };
    kubectl(["-n", NS, "create", "-f", "-"], JSON.stringify({
      apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintBenchmark", metadata: { name: "sweep", namespace: NS },
      spec: {
        datasets: [{ name: "munster", dataset: { source: { url: "https://datasets.example.com/autodl/munster.tar.gz" } } }],
        variants: [{ name: "tau2", model: { tau: 2 } }, { name: "tau8", model: { tau: 8 } }],
        template: { timeBudgetSeconds: 60, scheduling: { tolerations: [kwokToleration] } },
      },
    }));
    const uid = (JSON.parse(kubectl(["-n", NS, "get", "autoclintbenchmarks", "sweep", "-o", "json"])) as { metadata: { uid: string } }).metadata.uid;
    const runs = await eventually("the benchmark's two runs", () => {
      const items = (JSON.parse(kubectl(["-n", NS, "get", "autoclintruns", "-l", `autoclint.io/benchmark-uid=${uid}`, "-o", "json"])) as { items: AutoClintRun[] }).items;
      return items.length === 2 ? items : undefined;
    }, 60_000, operatorLog);
    // What each run's trainer publishes at its end (kwok ends the pods at once, with no trainer in them).
    const connection = await connect({ servers: nats!.url });
    try {
      const js = jetstream(connection);
      for (const [i, run] of runs.entries()) {
        const event: TrainerEvent = {
          version: 1, type: "result", seq: 0, elapsedSeconds: 50, wallTime: new Date().toISOString(),
          run: { namespace: NS, name: run.metadata.name, uid: run.metadata.uid!, attempt: 0 }, alc: 0.5 + i / 10, nauc: 0.9, firstPredictionSeconds: 20, predictions: 3,
        };
        await js.publish(eventSubject(event.run, "result"), JSON.stringify(event), { msgID: eventMessageId(event) });
      }
      // And one forgery: the first run's result, on the subject of its attempt 1 (dropped, counted, alerted on).
      const forged: TrainerEvent = {
        version: 1, type: "result", seq: 1, elapsedSeconds: 50, wallTime: new Date().toISOString(),
        run: { namespace: NS, name: runs[0]!.metadata.name, uid: runs[0]!.metadata.uid!, attempt: 0 }, alc: 0.99, nauc: 0.99, firstPredictionSeconds: 1, predictions: 1,
      };
      await js.publish(eventSubject({ ...forged.run, attempt: 1 }, "result"), JSON.stringify(forged), { msgID: "forged" });
    } finally {
      await connection.close();
    }
    await eventually("the benchmark's standings on /metrics", async () => {
      const text = await (await fetch(`${metricsUrl}/metrics`)).text();
      return /autoclint_benchmark_variant_alc\{[^}]*benchmark="sweep"/.test(text) && /autoclint_benchmark_variant_average_rank\{[^}]*benchmark="sweep"/.test(text) ? true : undefined;
    }, 60_000, operatorLog);
  });

  void test("a warm pool with no ready pod and a run of its class: the run goes cold, the pool's series and the pool-exhausted alert return data", async () => {
    const kwokToleration = { key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" };
    // Its pods ask for a node that does not exist: never ready, so every run of its class goes cold.
    kubectl(["-n", NS, "create", "-f", "-"], JSON.stringify({
      apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintPool", metadata: { name: "exhausted", namespace: NS },
      spec: { minWarm: 1, maxWarm: 1, scheduling: { nodeSelector: { "autoclint.io/no-such-node": "true" } } },
    }));
    // The pool's fallback counter is scraped at zero before the run: increase() needs two samples.
    await eventually("Prometheus to scrape the pool's series", async () => ((await promQuery(promUrl, `autoclint_pool_cold_fallbacks_total{namespace="${NS}",pool="exhausted"}`)).length > 0 ? true : undefined), 30_000, operatorLog);
    kubectl(["-n", NS, "create", "-f", "-"], JSON.stringify({
      apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name: "went-cold", namespace: NS },
      spec: { dataset: { source: { url: "https://datasets.example.com/autodl/munster.tar.gz" } }, timeBudgetSeconds: 60, scheduling: { tolerations: [kwokToleration] } },
    }));
    await eventually("the run's cold Job", () => (kubectl(["-n", NS, "get", "jobs", "-o", "name"]).includes("went-cold-a0") ? true : undefined), 30_000, operatorLog);
    const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`autoclint_pool_cold_fallbacks_total\\{namespace="${NS}",pool="exhausted"\\} 1`), "the fallback is counted");
  });

  void test("every dashboard and alert expression returns data from Prometheus", async () => {
    // The run's own namespace label, not the operator's (the ServiceMonitor honours the scraped labels).
    await eventually("Prometheus to have scraped the run's ALC", async () => ((await promQuery(promUrl, `autoclint_run_alc{namespace="${NS}",run="munster"}`)).length > 0 ? true : undefined), 30_000);
    const expressions = [...dashboardExpressions(), ...ruleExpressions(renderedRuleGroups()).filter((e) => e.source !== stalled().source)];
    const pending = new Map(expressions.map((e) => [e.source, e]));
    const deadline = Date.now() + 45_000;
    while (pending.size > 0 && Date.now() < deadline) {
      for (const e of [...pending.values()]) {
        const results = await promQuery(promUrl, substitute(e.expr));
        if (!hasFiniteValue(results)) continue;
        pending.delete(e.source);
        const first = results[0]!;
        evaluations.push({ source: e.source, expr: e.expr, series: results.length, sample: `${JSON.stringify(first.metric)} = ${first.value[1]}` });
      }
      if (pending.size > 0) await sleep(1000);
    }
    for (const e of pending.values()) evaluations.push({ source: e.source, expr: e.expr, series: 0, sample: "(none)" });
    assert.deepEqual([...pending.values()].map((e) => `${e.source}: ${substitute(e.expr)}`), [], "expressions that returned no data");

    // Events are flowing now: the stalled-pipeline alert must be quiet.
    assert.deepEqual(await promQuery(promUrl, stalled().expr), [], "AutoClintEventPipelineStalled with events consumed");
    // Prometheus evaluated every loaded rule without error.
    const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    assert.equal(loaded.length, 5);
    for (const rule of loaded) assert.equal(rule.health, "ok", `${rule.name}: ${rule.lastError}`);
  });
});

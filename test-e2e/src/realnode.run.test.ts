/**
 * End to end on the local cluster's real node (REAL_NODE=1 hack/cluster-up.sh): containers from
 * the images `make images` builds, the chart installed with `helm install`, a run applied with
 * `kubectl apply`, a real trainer pod training on a dataset on a PersistentVolumeClaim, events
 * over the chart's NATS (JetStream on a local PersistentVolume) into the run's status.
 *
 * Run: make images && REAL_NODE=1 hack/cluster-up.sh && node hack/run-tests.mjs e2e realnode
 * Without a real node in the cluster the suite is skipped, saying why.
 * A whole training run (T = 40 s on 600 MNIST samples), hence *.run.test.ts: it runs alone.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { eventually } from "./eventually";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const KUBECONFIG = process.env.KUBECONFIG_E2E ?? join(ROOT, ".cluster", "kubeconfig");
const NODE = "autoclint-real-0";
const TAINT = "autoclint.io/real-node";
const suffix = randomBytes(3).toString("hex");
const NS = `real-${suffix}`;
const RELEASE = `ac-${suffix}`; // cluster-scoped RBAC carries the release name: unique per run
const BUDGET = 40;
const PROMETHEUS = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

async function promQuery(base: string, expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const response = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  if (body.status !== "success") throw new Error(`query failed: ${body.error ?? response.status}: ${expr}`);
  return body.data!.result;
}

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): Result {
  const r = spawnSync(cmd, args, { input: options.input, encoding: "utf8", timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
}

/** Runs a command that must succeed; its output otherwise goes into the error. */
function must(cmd: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): string {
  const r = run(cmd, args, options);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stderr.slice(-3000)}${r.stdout.slice(-2000)}`);
  return r.stdout;
}

const kubectl = (args: string[], input?: string) => must("kubectl", ["--kubeconfig", KUBECONFIG, ...args], { input });
const json = <T>(args: string[]): T => JSON.parse(kubectl([...args, "-o", "json"])) as T;

function whyNoRealNode(): string | false {
  if (!existsSync(KUBECONFIG)) return `no local cluster at ${KUBECONFIG} (run REAL_NODE=1 hack/cluster-up.sh)`;
  const r = run("kubectl", ["--kubeconfig", KUBECONFIG, "get", "node", NODE, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"]);
  if (r.status !== 0) return `the cluster has no real node ${NODE} (it was brought up without REAL_NODE=1)`;
  if (r.stdout !== "True") return `the real node ${NODE} is not Ready`;
  return false;
}

interface Pod {
  metadata: { name: string; uid: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status: {
    phase: string;
    containerStatuses?: Array<{
      state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; exitCode?: number } };
      lastState?: { terminated?: { reason?: string } };
    }>;
  };
}
interface Run {
  status?: {
    phase?: string;
    alc?: number;
    finalAlc?: number;
    nauc?: number;
    attempts?: number;
    failureClass?: string;
    message?: string;
    trainerPod?: string;
    learningCurve?: Array<{ t: number; nauc: number }>;
    startup?: { mode: string; pool?: string; queuedSeconds?: number; schedulingSeconds?: number; pullingSeconds?: number; trainerStartSeconds?: number; firstPredictionSeconds?: number; alcApplyClock?: number };
    attemptHistory?: Array<{ attempt: number; phase: string; failureClass?: string; message?: string; pod?: string }>;
  };
}

const skip = whyNoRealNode();
if (skip) console.log(`# realnode: skipped: ${skip}`);

void describe("the chart and a run on the real node", { skip, concurrency: false }, () => {
  const images: Record<string, string> = {};
  const timings: string[] = [];
  let prometheus: ChildProcess | undefined;
  let prometheusLog = "";
  let promUrl = "";
  let work = "";
  const onRealNode = {
    nodeSelector: { [TAINT]: "true" },
    tolerations: [{ key: TAINT, operator: "Exists", effect: "NoSchedule" }],
  };

  const runManifest = (name: string, spec: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: "autoclint.io/v1alpha1",
      kind: "AutoClintRun",
      metadata: { name, namespace: NS },
      spec: {
        dataset: { name: "mnist", format: "autodl", source: { pvc: "datasets", path: "mnist" } },
        timeBudgetSeconds: BUDGET,
        // No CPU request: the node has 2 CPUs and CoreDNS, the operator and NATS request some;
        // without a limit the trainer uses what is free.
        resources: { gpu: 1, memory: "3Gi", shmSize: "512Mi" },
        scheduling: onRealNode,
        ...spec,
      },
    });
  const getRun = (name: string) => json<Run>(["-n", NS, "get", "autoclintrun", name]);
  const podsOf = (name: string) => {
    const uid = json<{ metadata: { uid: string } }>(["-n", NS, "get", "autoclintrun", name]).metadata.uid;
    return json<{ items: Pod[] }>(["-n", NS, "get", "pods", "-l", `autoclint.io/run-uid=${uid}`]).items;
  };
  const describeRun = (name: string) => () => {
    const r = run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "get", "autoclintrun,jobs,pods", "-o", "wide"]);
    const events = run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "get", "events", "--sort-by=.lastTimestamp"]);
    const status = run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "get", "autoclintrun", name, "-o", "jsonpath={.status}"]);
    return `\n${r.stdout}\nstatus: ${status.stdout}\n${events.stdout.split("\n").slice(-15).join("\n")}`;
  };

  before(async () => {
    // The images: built (cached by content) and imported into the node's containerd.
    let t = Date.now();
    const built = must(join(ROOT, "hack", "images.sh"), ["operator", "trainer", "nats"], { timeoutMs: 60 * 60_000 });
    for (const line of built.trim().split("\n")) {
      const [name, ref] = line.split("=");
      if (name && ref) images[name] = ref;
    }
    timings.push(`images (build if changed, import): ${((Date.now() - t) / 1000).toFixed(0)} s`);
    assert.ok(images.operator && images.trainer && images.nats, `hack/images.sh printed ${built}`);
    // The tfjs trainer image is built only by the test that runs it; its tag (a content hash) is known now.
    images["trainer-tfjs"] = /^trainer-tfjs=(.+)$/m.exec(must(join(ROOT, "hack", "images.sh"), ["--print-tags"]))?.[1] ?? "";
    assert.ok(images["trainer-tfjs"], "hack/images.sh --print-tags names the trainer-tfjs image");
    const split = (ref: string) => [ref.slice(0, ref.lastIndexOf(":")), ref.slice(ref.lastIndexOf(":") + 1)];
    const [opRepo, opTag] = split(images.operator!);
    const [trRepo, trTag] = split(images.trainer!);
    const [natsRepo, natsTag] = split(images.nats!);
    const [tfjsRepo, tfjsTag] = split(images["trainer-tfjs"]);

    // Local PersistentVolumes on the node: NATS' JetStream store, and the dataset.
    const pvNats = `${NS}-nats`;
    const pvData = `${NS}-datasets`;
    must(join(ROOT, "hack", "real-node.sh"), ["pv", pvNats, "1Gi"]);
    const dataDir = must(join(ROOT, "hack", "real-node.sh"), ["pv", pvData, "1Gi"]).trim();
    // 600 MNIST samples, written straight into the volume's folder on the node.
    t = Date.now();
    must(process.execPath, [join(ROOT, "trainer", "bin", "autoclint.mjs"), "datasets", "build", "mnist", "--limit", "600", "--out", join(dataDir, "mnist")], { timeoutMs: 300_000 });
    timings.push(`dataset build (600 MNIST): ${((Date.now() - t) / 1000).toFixed(1)} s`);

    kubectl(["create", "namespace", NS]);
    // The dataset claim, bound to that volume (nothing else can claim it: claimRef).
    kubectl(["patch", "pv", pvData, "--type=merge", "-p", JSON.stringify({ spec: { claimRef: { namespace: NS, name: "datasets" } } })]);
    kubectl(["patch", "pv", pvNats, "--type=merge", "-p", JSON.stringify({ spec: { claimRef: { namespace: NS, name: `data-${RELEASE}-nats-0` } } })]);
    kubectl(["apply", "-f", "-"], JSON.stringify({
      apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "datasets", namespace: NS },
      spec: { accessModes: ["ReadWriteOnce"], storageClassName: "autoclint-local", volumeName: pvData, resources: { requests: { storage: "1Gi" } } },
    }));

    // The chart, for real. The CRDs come with it unless another suite's are already installed
    // (Helm will not adopt objects it did not create).
    const crdsExist = run("kubectl", ["--kubeconfig", KUBECONFIG, "get", "crd", "autoclintruns.autoclint.io"]).status === 0;
    const helm = must(join(ROOT, "hack", "helm.sh"), [], { timeoutMs: 20 * 60_000 }).trim();
    const values = {
      crds: { enabled: !crdsExist },
      image: { repository: opRepo, tag: opTag, pullPolicy: "Never" },
      trainer: { image: { repository: trRepo, tag: trTag, pullPolicy: "IfNotPresent" }, tfjsImage: { repository: tfjsRepo, tag: tfjsTag } },
      watchNamespace: NS,
      leaderElection: { leaseName: `autoclint-operator-${suffix}` },
      activeRequeueSeconds: 5,
      // The run tolerates the real node's taint: the admission policy must allow that key.
      // The image-pull test names an image that does not exist; the policy must let it through to the kubelet.
      admission: { allowedTolerationKeys: ["nvidia.com/gpu", TAINT], allowedImagePrefixes: ["localhost/autoclint/does-not-exist:"] },
      ...onRealNode,
      nats: {
        image: { repository: natsRepo, tag: natsTag, pullPolicy: "Never" },
        jetstream: { storageClassName: "autoclint-local", storageSize: "1Gi" },
        ...onRealNode,
      },
    };
    work = mkdtempSync(join(tmpdir(), "realnode-"));
    const valuesFile = join(work, "values.json");
    writeFileSync(valuesFile, JSON.stringify(values)); // JSON is YAML
    t = Date.now();
    must(helm, ["--kubeconfig", KUBECONFIG, "install", RELEASE, join(ROOT, "charts", "autoclint"), "--namespace", NS, "--values", valuesFile], { timeoutMs: 120_000 });
    await eventually("the operator Deployment to be Available", () => {
      const r = run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "get", "deployment", `${RELEASE}-operator`, "-o", "jsonpath={.status.conditions[?(@.type=='Available')].status}"]);
      return r.stdout === "True" ? true : undefined;
    }, 180_000, describeRun("none"));
    timings.push(`helm install to operator Available: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    // The operator can be Available before NATS' pod passes its readiness probe (seen once in make test).
    await eventually("the NATS StatefulSet to be ready", () => {
      const r = run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "get", "statefulset", `${RELEASE}-nats`, "-o", "jsonpath={.status.readyReplicas}"]);
      return r.stdout === "1" ? true : undefined;
    }, 180_000, describeRun("none"));

    // Prometheus scrapes the operator pod where the chart's metrics Service points: its
    // EndpointSlice's address and port (what Kubernetes service discovery would find; Debian's
    // Prometheus is built without it). It runs on this machine, which routes to the pod network.
    const slices = json<{ items: Array<{ endpoints: Array<{ addresses: string[] }>; ports: Array<{ name: string; port: number }> }> }>(
      ["-n", NS, "get", "endpointslices", "-l", `kubernetes.io/service-name=${RELEASE}-operator-metrics`]);
    const targets = slices.items.flatMap((slice) => {
      const port = slice.ports.find((p) => p.name === "metrics")?.port;
      return slice.endpoints.flatMap((e) => e.addresses.map((a) => `${a}:${port}`));
    });
    assert.equal(targets.length, 1, `one operator endpoint behind the metrics Service: ${JSON.stringify(slices)}`);
    await startPrometheus(targets);
  });

  async function startPrometheus(targets: string[]): Promise<void> {
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    writeFileSync(join(work, "prometheus.yml"), JSON.stringify({
      global: { scrape_interval: "2s" },
      scrape_configs: [{ job_name: "autoclint-operator", static_configs: [{ targets }] }],
    }));
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${join(work, "prometheus.yml")}`, `--storage.tsdb.path=${join(work, "tsdb")}`,
      `--web.listen-address=127.0.0.1:${promPort}`, "--log.level=warn",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    prometheus.stdout!.on("data", (c: Buffer) => (prometheusLog = (prometheusLog + c.toString()).slice(-10_000)));
    prometheus.stderr!.on("data", (c: Buffer) => (prometheusLog = (prometheusLog + c.toString()).slice(-10_000)));
    await eventually("Prometheus to be ready", async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 60_000, () => `\n${prometheusLog}`);
  }

  after(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once("exit", r));
      prometheus.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    if (work) rmSync(work, { recursive: true, force: true });
    if (timings.length) console.log(`# realnode timings (shared machine):\n${timings.map((l) => `#   ${l}`).join("\n")}`);
    if (process.env.KEEP_E2E_NAMESPACE) return;
    const helm = run(join(ROOT, "hack", "helm.sh"), []).stdout.trim();
    // While the operator still runs: it purges each run's events and releases its finalizer.
    run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "delete", "autoclintruns", "--all", "--wait=true", "--timeout=60s"], { timeoutMs: 90_000 });
    if (helm) run(helm, ["--kubeconfig", KUBECONFIG, "uninstall", RELEASE, "--namespace", NS, "--wait", "--timeout", "60s"], { timeoutMs: 90_000 });
    run("kubectl", ["--kubeconfig", KUBECONFIG, "delete", "namespace", NS, "--wait=true", "--timeout=60s"], { timeoutMs: 90_000 });
    run("kubectl", ["--kubeconfig", KUBECONFIG, "delete", "pv", `${NS}-nats`, `${NS}-datasets`, "--wait=false"]);
  });

  void test("the operator runs in-cluster on the real node and holds its leader Lease; NATS runs with JetStream on a local volume", () => {
    const pods = json<{ items: Pod[] }>(["-n", NS, "get", "pods", "-l", "app.kubernetes.io/name=autoclint-operator"]).items;
    assert.equal(pods.length, 1);
    assert.equal(pods[0]!.spec.nodeName, NODE);
    const lease = json<{ spec: { holderIdentity?: string } }>(["-n", NS, "get", "lease", `autoclint-operator-${suffix}`]);
    assert.equal(lease.spec.holderIdentity, pods[0]!.metadata.name, "the operator pod holds the Lease");
    const sts = json<{ status: { readyReplicas?: number } }>(["-n", NS, "get", "statefulset", `${RELEASE}-nats`]);
    assert.equal(sts.status.readyReplicas, 1);
    const pvc = json<{ status: { phase: string }; spec: { volumeName: string } }>(["-n", NS, "get", "pvc", `data-${RELEASE}-nats-0`]);
    assert.deepEqual([pvc.status.phase, pvc.spec.volumeName], ["Bound", `${NS}-nats`]);
    // JetStream's store is on that volume, on the node's disk.
    assert.ok(existsSync(`/var/lib/autoclint-pv/${NS}-nats/jetstream`), "JetStream wrote its store to the local volume");
  });

  void test("kubectl apply of a run: a real trainer pod trains; status Succeeded with the trainer's own ALC", async () => {
    const applied = Date.now();
    kubectl(["apply", "-f", "-"], runManifest("mnist", {}));
    // The trainer's own result.json sits in its /tmp emptyDir, on this machine's disk, from its
    // last moments until the kubelet removes a finished pod's volumes (within seconds): watch
    // for it while the run goes on.
    let resultText: string | undefined;
    let resultPath: string | undefined;
    let lookedUp = 0;
    const watcher = setInterval(() => {
      try {
        // kubectl only until the pod is known (every 2 s: the trainer shares the CPUs), then
        // only the file system.
        if (!resultPath && Date.now() - lookedUp > 2000) {
          lookedUp = Date.now();
          const uid = podsOf("mnist")[0]?.metadata.uid;
          if (uid) resultPath = `/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~empty-dir/tmp/run/result.json`;
        }
        if (resultPath && existsSync(resultPath)) resultText = readFileSync(resultPath, "utf8");
      } catch {
        // the run or the file is not there yet, or is being written
      }
    }, 150);
    after(() => clearInterval(watcher));
    const firstNauc = await eventually("the first NAUC in the run's status", () => {
      const status = getRun("mnist").status;
      return status?.nauc !== undefined ? Date.now() : undefined;
    }, 600_000, describeRun("mnist"));
    timings.push(`kubectl apply to first NAUC in status: ${((firstNauc - applied) / 1000).toFixed(1)} s`);
    const done = await eventually("the run to finish", () => {
      const status = getRun("mnist").status;
      return status?.phase === "Succeeded" || status?.phase === "Failed" ? status : undefined;
    }, (BUDGET + 300) * 1000, describeRun("mnist"));
    timings.push(`kubectl apply to Succeeded (T = ${BUDGET} s): ${((Date.now() - applied) / 1000).toFixed(1)} s`);
    assert.equal(done.phase, "Succeeded", describeRun("mnist")());
    assert.equal(done.attempts, 1);

    const pods = podsOf("mnist");
    assert.equal(pods.length, 1);
    const pod = pods[0]!;
    assert.equal(pod.spec.nodeName, NODE, "the trainer ran on the real node");
    clearInterval(watcher);
    assert.ok(resultText, "result.json was seen in the trainer pod's /tmp volume");
    const result = JSON.parse(resultText) as { alc: number; nauc: number };
    // Better than chance (NAUC 0): it trained. How much better depends on the machine's load.
    assert.ok(result.nauc > 0.2 && result.alc > 0.1, `a real run learns something: ALC ${result.alc}, NAUC ${result.nauc}`);
    assert.ok(done.finalAlc !== undefined && Math.abs(done.finalAlc - result.alc) < 1e-9, `status.finalAlc ${done.finalAlc} equals result.json's ALC ${result.alc}`);
    assert.ok((done.learningCurve?.length ?? 0) >= 1, "the learning curve came over NATS");
    timings.push(`ALC ${result.alc.toFixed(4)}, final NAUC ${result.nauc.toFixed(4)}, status.alc ${done.alc} (600 MNIST samples, CPU, T = ${BUDGET} s)`);

    // What a user sees.
    const logs = kubectl(["-n", NS, "logs", `pod/${pod.metadata.name}`]);
    assert.match(logs, /ALC \d\.\d{4}/, `kubectl logs shows the trainer's output:\n${logs.slice(-2000)}`);
    const table = kubectl(["-n", NS, "get", "acr", "mnist"]);
    assert.match(table, new RegExp(`Succeeded\\s+${String(done.alc).slice(0, 5).replace(".", "\\.")}`), `kubectl get acr shows the ALC:\n${table}`);
  });

  void test("a run with spec.engine tfjs gets the tfjs trainer image from the operator and Succeeds on the real node", async () => {
    let t = Date.now();
    must(join(ROOT, "hack", "images.sh"), ["trainer-tfjs"], { timeoutMs: 60 * 60_000 });
    timings.push(`trainer-tfjs image (build if changed, import): ${((Date.now() - t) / 1000).toFixed(0)} s`);
    t = Date.now();
    kubectl(["apply", "-f", "-"], runManifest("tfjs", { engine: "tfjs" }));
    const done = await eventually("the tfjs run to finish", () => {
      const status = getRun("tfjs").status;
      return status?.phase === "Succeeded" || status?.phase === "Failed" ? status : undefined;
    }, (BUDGET + 300) * 1000, describeRun("tfjs"));
    timings.push(`tfjs run: kubectl apply to ${done.phase} (T = ${BUDGET} s): ${((Date.now() - t) / 1000).toFixed(1)} s`);
    assert.equal(done.phase, "Succeeded", describeRun("tfjs")());
    const pod = podsOf("tfjs")[0]!;
    const spec = json<{ spec: { containers: Array<{ image: string }> } }>(["-n", NS, "get", "pod", pod.metadata.name]).spec;
    assert.equal(spec.containers[0]!.image, images["trainer-tfjs"], "the operator picked the tfjs image for engine tfjs");
    const logs = kubectl(["-n", NS, "logs", `pod/${pod.metadata.name}`]);
    assert.match(logs, /engine: tfjs tfjs-node 4\.22\.0 over TensorFlow 2\.18\.1 on cpu/, `the trainer ran the tfjs engine:\n${logs.slice(-2000)}`);
    assert.ok(done.finalAlc !== undefined && done.finalAlc > 0.1 && (done.nauc ?? 0) > 0.2, `a real tfjs run learns something: ALC ${done.finalAlc}, NAUC ${done.nauc}`);
    timings.push(`tfjs: ALC ${done.finalAlc.toFixed(4)}, final NAUC ${done.nauc?.toFixed(4)} (600 MNIST samples, CPU, T = ${BUDGET} s)`);
  });

  void test("Prometheus scrapes the operator pod behind the chart's metrics Service: the run's ALC", async () => {
    const up = await eventually("the operator target to be up", async () => {
      const result = await promQuery(promUrl, 'up{job="autoclint-operator"}');
      return result.length === 1 && result[0]!.value[1] === "1" ? result[0]! : undefined;
    }, 60_000, () => `\n${prometheusLog}`);
    assert.match(up.metric.instance ?? "", /^10\.88\.\d+\.\d+:8080$/, "scraped at the operator pod's IP on the node");
    const status = getRun("mnist").status!;
    // The finished run's gauge holds the trainer's final ALC (status.finalAlc, result.json's),
    // once a scrape after its last update has landed.
    let scraped: number | undefined;
    await eventually(`autoclint_run_alc{run="mnist"} to equal the final ALC ${status.finalAlc}`, async () => {
      const result = await promQuery(promUrl, 'autoclint_run_alc{run="mnist"}');
      scraped = result.length === 1 ? Number(result[0]!.value[1]) : undefined;
      return scraped !== undefined && Math.abs(scraped - status.finalAlc!) < 1e-9 ? true : undefined;
    }, 30_000, () => ` (Prometheus has ${scraped}; status.alc ${status.alc})`);
  });

  void test("a trainer with too little memory ends OOMKilled, one attempt counted (OOM is not retried by default)", async () => {
    kubectl(["apply", "-f", "-"], runManifest("oom", { resources: { gpu: 1, cpu: "1", memory: "200Mi" } }));
    const reason = await eventually("the kubelet to report the trainer's end", () => {
      for (const pod of podsOf("oom")) {
        const s = pod.status.containerStatuses?.[0];
        const r = s?.state?.terminated?.reason ?? s?.lastState?.terminated?.reason;
        if (r) return r;
      }
      return undefined;
    }, 300_000, describeRun("oom"));
    assert.equal(reason, "OOMKilled", describeRun("oom")());
    const status = await eventually("the run to fail", () => {
      const s = getRun("oom").status;
      return s?.phase === "Failed" ? s : undefined;
    }, 120_000, describeRun("oom"));
    assert.equal(status.attempts, 1, describeRun("oom")());
    assert.equal(status.attemptHistory?.[0]?.failureClass, "OOMKilled", describeRun("oom")());
  });

  void test("a run whose image does not exist fails fast with the kubelet's image-pull reason", async () => {
    const applied = Date.now();
    kubectl(["apply", "-f", "-"], runManifest("no-image", { image: "localhost/autoclint/does-not-exist:0" }));
    const reason = await eventually("the kubelet to report the image", () => {
      for (const pod of podsOf("no-image")) {
        const r = pod.status.containerStatuses?.[0]?.state?.waiting?.reason;
        if (r === "ErrImagePull" || r === "ImagePullBackOff" || r === "ErrImageNeverPull" || r === "InvalidImageName") return r;
      }
      return undefined;
    }, 120_000, describeRun("no-image"));
    assert.match(reason, /ErrImagePull|ImagePullBackOff/);
    const status = await eventually("the run to fail", () => {
      const s = getRun("no-image").status;
      return s?.phase === "Failed" ? s : undefined;
    }, 120_000, describeRun("no-image"));
    timings.push(`missing image: kubectl apply to Failed: ${((Date.now() - applied) / 1000).toFixed(1)} s`);
    assert.match(status.message ?? "", /ErrImagePull|ImagePullBackOff/, "the run says what the kubelet said");
    assert.equal(status.attempts, 1, "an image that does not exist is not retried");
  });

  // ------------------------------------------------------------------ warm pools (issue 13)
  const POOL_BUDGET = 20;
  const poolManifest = (name: string, spec: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: "autoclint.io/v1alpha1",
      kind: "AutoClintPool",
      metadata: { name, namespace: NS },
      spec: { datasetClaims: ["datasets"], scheduling: onRealNode, ...spec },
    });
  interface PoolPod extends Pod {
    metadata: Pod["metadata"] & { annotations?: Record<string, string>; deletionTimestamp?: string };
    status: Pod["status"] & { conditions?: Array<{ type: string; status: string }> };
  }
  const poolPods = (pool: string) =>
    json<{ items: PoolPod[] }>(["-n", NS, "get", "pods", "-l", `autoclint.io/pool=${pool}`]).items.filter((p) => !p.metadata.deletionTimestamp);
  const readyUnclaimed = (pool: string) =>
    poolPods(pool).filter((p) => !p.metadata.labels?.["autoclint.io/run-uid"] && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
  const jobsOfRun = (name: string) => {
    const uid = json<{ metadata: { uid: string } }>(["-n", NS, "get", "autoclintrun", name]).metadata.uid;
    return json<{ items: unknown[] }>(["-n", NS, "get", "jobs", "-l", `autoclint.io/run-uid=${uid}`]).items;
  };
  const describePool = (pool: string) => () =>
    `\n${run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "get", "acp,acr,pods,jobs", "-o", "wide"]).stdout}\n` +
    `pool status: ${run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "get", "acp", pool, "-o", "jsonpath={.status}"]).stdout}\n` +
    `operator: ${run("kubectl", ["--kubeconfig", KUBECONFIG, "-n", NS, "logs", `deployment/${RELEASE}-operator`, "--tail=30"]).stdout}`;

  void test("a warm pool reaches minWarm; a run is claimed by a warm pod (no Job, no new pod for it) and Succeeds; a killed warm pod is replaced", async () => {
    const started = Date.now();
    kubectl(["apply", "-f", "-"], poolManifest("gpu1", { minWarm: 1, maxWarm: 2, idleSeconds: 600, resources: { gpu: 1, memory: "3Gi", shmSize: "512Mi" } }));
    const [warm] = await eventually("the pool to have a ready warm pod", () => {
      const ready = readyUnclaimed("gpu1");
      return ready.length >= 1 ? ready : undefined;
    }, 300_000, describePool("gpu1"));
    timings.push(`pool created to first warm pod ready (engine imported and warmed): ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const before = new Set(poolPods("gpu1").map((p) => p.metadata.name));

    const applied = Date.now();
    kubectl(["apply", "-f", "-"], runManifest("warm", { timeBudgetSeconds: POOL_BUDGET }));
    const running = await eventually("the run to be Running", () => {
      const status = getRun("warm").status;
      return status?.phase === "Running" || status?.phase === "Succeeded" ? Date.now() : undefined;
    }, 120_000, describePool("gpu1"));
    timings.push(`warm: kubectl apply to Running: ${((running - applied) / 1000).toFixed(1)} s`);
    const firstNauc = await eventually("the warm run's first NAUC", () => (getRun("warm").status?.nauc !== undefined ? Date.now() : undefined), 120_000, describePool("gpu1"));
    timings.push(`warm: kubectl apply to first NAUC in status: ${((firstNauc - applied) / 1000).toFixed(1)} s`);
    const done = await eventually("the warm run to finish", () => {
      const status = getRun("warm").status;
      return status?.phase === "Succeeded" || status?.phase === "Failed" ? status : undefined;
    }, (POOL_BUDGET + 120) * 1000, describePool("gpu1"));
    timings.push(`warm: kubectl apply to Succeeded (T = ${POOL_BUDGET} s): ${((Date.now() - applied) / 1000).toFixed(1)} s, final ALC ${done.finalAlc}`);
    assert.equal(done.phase, "Succeeded", describePool("gpu1")());
    assert.equal(done.attemptHistory?.[0]?.pod, warm!.metadata.name, "the run was served by the warm pod that stood ready");
    assert.ok(before.has(done.attemptHistory![0]!.pod!), "no new pod was made for the run");
    assert.equal(jobsOfRun("warm").length, 0, "a warm run has no Job");
    assert.ok(done.finalAlc !== undefined && (done.learningCurve?.length ?? 0) >= 1, "its events came over NATS");
    // The start-up story: warm, no scheduling or pulling, on both clocks.
    const story = await eventually("the start-up story with the apply-clock ALC", () => {
      const startup = getRun("warm").status?.startup;
      return startup?.alcApplyClock !== undefined ? startup : undefined;
    }, 30_000, describePool("gpu1"));
    assert.equal(story.mode, "warm");
    assert.equal(story.pool, "gpu1");
    assert.deepEqual([story.schedulingSeconds, story.pullingSeconds], [0, 0]);
    assert.ok(story.queuedSeconds! <= 5, `queued ${story.queuedSeconds} s before the claim`);
    assert.ok(story.alcApplyClock! <= done.finalAlc! + 1e-9, "the apply clock starts earlier: its ALC is not higher");
    timings.push(`warm start-up story: ${JSON.stringify(story)} (trainer-clock ALC ${done.finalAlc})`);

    // The pool made a replacement for the claimed pod; killing a ready one gets it replaced too.
    const spare = await eventually("a ready replacement", () => readyUnclaimed("gpu1")[0], 300_000, describePool("gpu1"));
    assert.notEqual(spare.metadata.name, warm!.metadata.name);
    kubectl(["-n", NS, "delete", "pod", spare.metadata.name, "--wait=false"]);
    const replaced = await eventually("the killed warm pod to be replaced by a ready one", () => readyUnclaimed("gpu1").find((p) => p.metadata.name !== spare.metadata.name), 300_000, describePool("gpu1"));
    assert.ok(replaced);
    kubectl(["-n", NS, "delete", "acp", "gpu1", "--wait=true"]);
  });

  // The pool once replenished its 3 warm pods right after the claims, and on this one-node cluster
  // they held the CPU the 7 cold fallback runs needed (they waited in Scheduling, "Insufficient
  // cpu", until their deadline). Runs before spares (planPool): no spare is made while a run of
  // its class waits, so all 10 must Succeed, and no unclaimed pool pod may stand while one waits.
  void test("10 runs at once with 3 warm pods: no pod serves two runs, 3 warm and 7 cold, all Succeed, no spare outbids a waiting run; the idle pool scales to zero", async () => {
    // CPU runs (gpu: 0): the node's 2 fake GPUs would serialise ten runs.
    const resources = { gpu: 0, memory: "3Gi", shmSize: "512Mi" };
    // Long enough for three standby trainers to import torch and warm up on a loaded 2-core node:
    // a pool that sees no claim for idleSeconds after its creation scales to zero.
    const IDLE = 120;
    const BURST_BUDGET = 40;
    kubectl(["apply", "-f", "-"], poolManifest("cpu", { minWarm: 3, maxWarm: 3, idleSeconds: IDLE, resources }));
    await eventually("3 ready warm pods", () => (readyUnclaimed("cpu").length === 3 ? true : undefined), 300_000, describePool("cpu"));
    const names = Array.from({ length: 10 }, (_, i) => `burst-${i}`);
    const applied = Date.now();
    kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: names.map((n) => JSON.parse(runManifest(n, { timeBudgetSeconds: BURST_BUDGET, resources }))) }));
    const outbid: string[] = [];
    const finished = await eventually("all 10 runs to finish", () => {
      const statuses = names.map((n) => getRun(n).status);
      const waiting = names.filter((n, i) => statuses[i]?.phase === "Scheduling");
      const spares = poolPods("cpu").filter((p) => !p.metadata.labels?.["autoclint.io/run-uid"]).map((p) => p.metadata.name);
      if (waiting.length > 0 && spares.length > 0) outbid.push(`${((Date.now() - applied) / 1000).toFixed(0)} s: spares ${spares.join(" ")} while ${waiting.join(" ")} waited`);
      return statuses.every((s) => s?.phase === "Succeeded" || s?.phase === "Failed") ? statuses : undefined;
    }, 900_000, describePool("cpu"));
    timings.push(`10 runs at once, 3 warm: apply to all finished: ${((Date.now() - applied) / 1000).toFixed(0)} s; ${finished.map((s, i) => `${names[i]} ${s?.startup?.mode} ${s?.phase}`).join(", ")}`);
    const failed = finished.map((s, i) => ({ name: names[i]!, s })).filter(({ s }) => s?.phase !== "Succeeded");
    assert.deepEqual(failed.map(({ name, s }) => `${name} (${s?.startup?.mode}): ${s?.message}`), [], `all 10 Succeed\n${describePool("cpu")()}`);
    assert.deepEqual(outbid, [], "no unclaimed pool pod stood while a run of its class waited for the node");
    const servedBy = finished.map((s) => s!.attemptHistory![0]!.pod!);
    assert.equal(new Set(servedBy).size, 10, `no pod served two runs: ${servedBy.join(", ")}`);
    // Warm or cold by the start-up story; a cold run's Job may be gone already (a failed attempt's Job is deleted).
    const warmRuns = names.filter((n, i) => finished[i]?.startup?.mode === "warm");
    assert.equal(warmRuns.length, 3, `the 3 warm pods served 3 runs, the other 7 went cold: warm ${warmRuns.join(", ")}`);
    for (const n of warmRuns) assert.equal(jobsOfRun(n).length, 0, `${n} was served warm: no Job`);
    for (const [i, s] of finished.entries()) {
      if (!warmRuns.includes(names[i]!)) {
        assert.equal(s?.startup?.mode, "cold", `${names[i]} went cold`);
        assert.ok(!s?.attemptHistory?.[0]?.pod?.startsWith("cpu-"), `${names[i]} went cold: not on a pool pod`);
      }
    }
    timings.push(`10 runs at once, 3 warm: ${warmRuns.length} served warm, ${10 - warmRuns.length} cold, all Succeeded`);
    const fallbacks = await promQuery(promUrl, 'sum(autoclint_pool_cold_fallbacks_total{pool="cpu"})');
    assert.ok(Number(fallbacks[0]?.value[1] ?? 0) >= 1, `Prometheus counts the cold fallbacks: ${JSON.stringify(fallbacks)}`);

    const idleSince = Date.now();
    await eventually("the idle pool to have no pods", () => (poolPods("cpu").filter((p) => !p.metadata.labels?.["autoclint.io/run-uid"]).length === 0 ? true : undefined), (IDLE + 120) * 1000, describePool("cpu"));
    const pool = json<{ status: { desired: number; ready: number } }>(["-n", NS, "get", "acp", "cpu"]);
    assert.deepEqual([pool.status.desired, pool.status.ready], [0, 0]);
    timings.push(`pool scaled to zero ${((Date.now() - idleSince) / 1000).toFixed(0)} s after the burst finished (idleSeconds ${IDLE})`);
    const ready = await eventually("Prometheus to see the empty pool", async () => {
      const result = await promQuery(promUrl, 'autoclint_pool_pods{pool="cpu",state="ready"}');
      return result.length === 1 && result[0]!.value[1] === "0" ? result : undefined;
    }, 30_000);
    assert.ok(ready);
  });
});

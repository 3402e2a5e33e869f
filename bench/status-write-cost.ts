/**
 * What one status write of a run costs the API server, one thing varied at a time: N writes shaped
 * like the event consumer's (the newest curve point, the watermark, the ALC accumulator, the
 * scores), each made after the last one returned, to one run with a realistic full status
 * (conditions, attempt history, start-up, kept trials, chosen policy, a learning curve of
 * CURVE points). Per variant: the object's size as stored (JSON bytes of a GET, managedFields
 * apart), wall ms per write, and the API server process's CPU ms per write (/proc/PID/stat, so
 * it holds on a shared machine, where the wall time does not).
 *
 * The variants: the CRD as generated vs with every x-kubernetes-validations (CEL) rule removed;
 * the curve length; the verb (JSON merge patch, server-side apply, update = PUT of the status);
 * the patch body (only the changed fields vs the whole learning curve).
 *
 *   node --import tsx bench/status-write-cost.ts [writes=200]
 * Environment: KUBECONFIG (default the worktree's .cluster/kubeconfig, hack/cluster-up.sh) and
 * APISERVER_PID (default .cluster/pids/kube-apiserver.pid): the API server must run on this
 * machine. It re-applies the run CRD from crds/ (with and without its CEL rules, the curve's
 * maxItems raised to 200) and leaves the generated one in place; VARIANTS=0,2 runs only those; it makes a namespace of its own and deletes it. No operator may be
 * running against that cluster's runs meanwhile.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "node:https";
import { parse } from "yaml";
import { GROUP, VERSION, type AutoClintRunStatus, type CurvePoint } from "@autoclint/api";
import { ROOT, cpuSeconds, machine, sleep } from "./local-operator";

const WRITES = Number(process.argv[2] ?? 200);
const KUBECONFIG_PATH = process.env.KUBECONFIG ?? join(ROOT, ".cluster", "kubeconfig");
const APISERVER_PID = Number(process.env.APISERVER_PID ?? readFileSync(join(ROOT, ".cluster", "pids", "kube-apiserver.pid"), "utf8").trim());
const NS = `status-cost-${Date.now().toString(36)}`;
const PLURAL = "autoclintruns";
const CRD_FILE = join(ROOT, "crds", "autoclint.io_autoclintruns.yaml");
const FIELD_MANAGER = "autoclint-operator";
const MERGE = "application/merge-patch+json";

const MAX_CURVE = 200;
interface CrdShape {
  metadata: { name: string };
  spec: { versions: { schema: { openAPIV3Schema: { properties: { status: { properties: { learningCurve: { maxItems: number } } } } } } }[] };
}

type Verb = "merge" | "apply" | "update";
interface Variant {
  name: string;
  cel: boolean;
  curvePoints: number;
  verb: Verb;
  /** The write carries the whole (capped) learning curve, as the consumer's does today; otherwise only the scalars. */
  sendCurve: boolean;
  /** Runs written side by side, each with one write in flight (default 1). */
  runs?: number;
}

interface Kubeconfig {
  clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
  users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
}
/** The kubeconfig's first cluster and user (client certificate): what hack/cluster-up.sh writes. */
const kubeconfig = parse(readFileSync(KUBECONFIG_PATH, "utf8")) as Kubeconfig;
const server = new URL(kubeconfig.clusters[0]!.cluster.server);
const tls = {
  ca: Buffer.from(kubeconfig.clusters[0]!.cluster["certificate-authority-data"], "base64"),
  cert: Buffer.from(kubeconfig.users[0]!.user["client-certificate-data"], "base64"),
  key: Buffer.from(kubeconfig.users[0]!.user["client-key-data"], "base64"),
};

const keepAlive = new Agent({ keepAlive: true, ...tls });

/** One API call over HTTPS on a kept-alive connection (a TLS handshake per write would be measured too). */
function api<T>(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<T> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ host: server.hostname, port: server.port, path, method, ...tls, agent: keepAlive, headers: { "Content-Type": contentType, Accept: "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
        else resolve(JSON.parse(text) as T);
      });
    });
    req.on("error", reject);
    req.end(payload);
  });
}
const runsPath = `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`;

/** Every x-kubernetes-validations removed, at any depth. */
function withoutCel(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutCel);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).filter(([k]) => k !== "x-kubernetes-validations").map(([k, v]) => [k, withoutCel(v)]));
  }
  return value;
}

/** The generated CRD, with or without its CEL rules, and room for MAX_CURVE points (the cap before 50 was 200). */
async function applyCrd(cel: boolean, asGenerated = false): Promise<void> {
  const crd = parse(readFileSync(CRD_FILE, "utf8")) as CrdShape;
  if (!asGenerated) crd.spec.versions[0]!.schema.openAPIV3Schema.properties.status.properties.learningCurve.maxItems = MAX_CURVE;
  await api("PATCH", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=status-write-cost&force=true`, cel ? crd : withoutCel(crd), "application/apply-patch+yaml");
  // The API server rebuilds the resource's handler (schema, CEL programs) after a CRD change: give it time.
  await sleep(5000);
}

function curve(points: number, offset: number): CurvePoint[] {
  return Array.from({ length: points }, (_, i) => ({ t: 1 + (i + offset) * 0.1, nauc: 0.9 * (1 - Math.exp(-(i + offset) / 100)) }));
}

const subPolicy = (i: number) => [["Rotate", 0.7, (i % 9) + 0.5], ["Contrast", 0.3, (i * 7) % 9]];

/** A status such as a running run carries: every field the reconciler and the consumer write. */
function fullStatus(points: number): AutoClintRunStatus {
  const now = new Date().toISOString();
  const condition = (type: string, reason: string, message: string) => ({ type, status: "True" as const, reason, message, lastTransitionTime: now, observedGeneration: 1 });
  return {
    phase: "Running", observedGeneration: 1,
    conditions: [condition("SpecValid", "Valid", "spec accepted"), condition("Scheduled", "PodScheduled", "trainer pod placed on node kwok-0"), condition("Running", "TrainerRunning", "the trainer container runs")],
    message: "training", attempts: 1,
    attemptHistory: [{ attempt: 0, job: "run-0-a0", pod: "run-0-a0-abcde", phase: "Running", gpuWaitSeconds: 1.2, computeSeconds: 30 }],
    trainerPod: "run-0-a0-abcde", startTime: now, gpuWaitSeconds: 1.2, computeSeconds: 30,
    startup: { mode: "cold", queuedSeconds: 0.4, schedulingSeconds: 1.2, pullingSeconds: 0.8, trainerStartSeconds: 2.4, firstPredictionSeconds: 5.1, alcApplyClock: 0.61 },
    trainerPhase: "training", elapsedSeconds: 60, nauc: 0.85, validNauc: 0.86, alc: 0.6,
    learningCurve: curve(points, 0),
    chosenPolicy: Array.from({ length: 10 }, (_, i) => subPolicy(i)) as never,
    events: {
      attempt: 0, seq: points, count: points, alcArea: 0.5, alcLast: { t: 60, nauc: 0.85 },
      keptTrials: Array.from({ length: 5 }, (_, i) => ({ score: 0.9 - i / 100, subPolicies: [subPolicy(i), subPolicy(i + 1), subPolicy(i + 2)] })) as never,
    },
  };
}

/** The fields one consumer write changes (the curve when asked: it moves on by one point per write). */
function writeFields(variant: Variant, i: number): Record<string, unknown> {
  const seq = variant.curvePoints + i + 1;
  const fields: Record<string, unknown> = {
    elapsedSeconds: 60 + i * 0.2, nauc: 0.85 + i * 1e-6, alc: 0.6 + i * 1e-6,
    events: { attempt: 0, seq, count: seq, alcArea: 0.5 + i * 1e-6, alcLast: { t: 60 + i * 0.2, nauc: 0.85 + i * 1e-6 } },
  };
  if (variant.sendCurve) fields.learningCurve = curve(variant.curvePoints, i + 1);
  return fields;
}

interface Run {
  metadata: { name: string; uid: string; resourceVersion: string; managedFields?: unknown[] };
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

async function createRun(name: string, points: number): Promise<Run> {
  const body = {
    apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name, namespace: NS },
    spec: {
      dataset: { source: { url: "https://datasets.example/d.tar" } }, timeBudgetSeconds: 3600, image: "e2e.invalid/trainer:runs-until-deleted",
      scheduling: { tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }] },
    },
  };
  const created = await api<Run>("POST", runsPath, body);
  return api<Run>("PATCH", `${runsPath}/${name}/status?fieldManager=${FIELD_MANAGER}`, { metadata: { uid: created.metadata.uid }, status: fullStatus(points) }, MERGE);
}

async function write(variant: Variant, run: Run, i: number): Promise<Run> {
  const path = `${runsPath}/${run.metadata.name}/status?fieldManager=${FIELD_MANAGER}`;
  const fields = writeFields(variant, i);
  switch (variant.verb) {
    case "merge":
      return api<Run>("PATCH", path, { metadata: { uid: run.metadata.uid }, status: fields }, MERGE);
    case "apply": {
      const body = { apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name: run.metadata.name, namespace: NS, uid: run.metadata.uid }, status: { ...run.status, ...fields } };
      return api<Run>("PATCH", `${path}&force=true`, body, "application/apply-patch+yaml");
    }
    case "update":
      return api<Run>("PUT", path, { ...run, status: { ...run.status, ...fields } });
  }
}

interface Measured {
  variant: Variant;
  objectBytes: number;
  managedFieldsBytes: number;
  /** Wall ms from a write's start to its answer. */
  wallMsPerWrite: number;
  writesPerSecond: number;
  apiserverCpuMsPerWrite: number;
}

async function measure(variant: Variant, index: number): Promise<Measured> {
  const runs = variant.runs ?? 1;
  const created = await Promise.all(Array.from({ length: runs }, (_, r) => createRun(`run-${index}-${r}`, variant.curvePoints)));
  // A first write of the variant's kind (an apply adds its own managedFields entry), not counted.
  let latest = await Promise.all(created.map((run) => write(variant, run, 0)));
  const perRun = Math.ceil(WRITES / runs);
  const cpuBefore = cpuSeconds(APISERVER_PID);
  const started = performance.now();
  // Each run's writes one after another, the runs side by side (as the consumer writes: one in flight per run).
  latest = await Promise.all(latest.map(async (run) => {
    for (let i = 1; i <= perRun; i++) run = await write(variant, run, i);
    return run;
  }));
  const wallMs = performance.now() - started;
  const cpuMs = (cpuSeconds(APISERVER_PID) - cpuBefore) * 1000;
  const writes = perRun * runs;
  const stored = await api<Run>("GET", `${runsPath}/${latest[0]!.metadata.name}`);
  return {
    variant,
    objectBytes: JSON.stringify(stored).length,
    managedFieldsBytes: JSON.stringify(stored.metadata.managedFields ?? []).length,
    wallMsPerWrite: Number(((wallMs * runs) / writes).toFixed(1)),
    writesPerSecond: Number(((writes * 1000) / wallMs).toFixed(1)),
    apiserverCpuMsPerWrite: Number((cpuMs / writes).toFixed(1)),
  };
}

const VARIANTS: Variant[] = [
  { name: "200 points (the cap before), CEL rules, merge patch with the whole curve", cel: true, curvePoints: 200, verb: "merge", sendCurve: true },
  { name: "no CEL rules", cel: false, curvePoints: 200, verb: "merge", sendCurve: true },
  { name: "curve 50 points (the cap now)", cel: true, curvePoints: 50, verb: "merge", sendCurve: true },
  { name: "curve 0 points", cel: true, curvePoints: 0, verb: "merge", sendCurve: true },
  { name: "200 points stored, curve not sent", cel: true, curvePoints: 200, verb: "merge", sendCurve: false },
  { name: "server-side apply", cel: true, curvePoints: 200, verb: "apply", sendCurve: true },
  { name: "update (PUT status)", cel: true, curvePoints: 200, verb: "update", sendCurve: true },
  { name: "50 points, 100 runs side by side (one write in flight each)", cel: true, curvePoints: 50, verb: "merge", sendCurve: true, runs: 100 },
];

async function main(): Promise<void> {
  const only = process.env.VARIANTS?.split(",").map(Number);
  const variants = only ? VARIANTS.filter((_, i) => only.includes(i)) : VARIANTS;
  await api("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  const results: Measured[] = [];
  let cel: boolean | undefined;
  try {
    for (const [index, variant] of variants.entries()) {
      if (variant.cel !== cel) await applyCrd((cel = variant.cel));
      const measured = await measure(variant, index);
      results.push(measured);
      process.stdout.write(`${JSON.stringify(measured)}\n`);
    }
  } finally {
    await applyCrd(true, true);
    await api("DELETE", `/api/v1/namespaces/${NS}`).catch(() => undefined);
  }
  const out = join(ROOT, "bench", "results", "status-write-cost.json");
  writeFileSync(out, `${JSON.stringify({ writes: WRITES, results, machine: machine(), when: new Date().toISOString() }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`status-write-cost: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

/**
 * Warm versus cold on the real node: from `kubectl apply` to the first scored prediction, and ALC
 * on the trainer's clock versus the clock that starts at `kubectl apply`.
 *
 * Needs the README's cluster set-up ("A local cluster with a real node": the chart installed,
 * the `datasets` claim holding `mnist`), run as root on the node's machine (it reads each trainer's
 * start.txt from the pod's volume on this disk, for the trainer clock's exact epoch):
 *
 *   node --import tsx bench/pool-startup.ts [--namespace default] [--runs 3] [--budget 30] [--name real-node-cpu] [--note TEXT]
 *
 * bench/pool-startup.sh is the whole recipe for the committed table: cluster, images, chart,
 * dataset, the kubelet's pod cgroup's CPU share, then this bench.
 *
 * Per mode it applies `--runs` runs one after the other: cold ones with no pool of their class,
 * then warm ones after an AutoClintPool of their class (minWarm 1) has a ready pod. Apply time is
 * taken here to the millisecond; the first prediction's wall time is the trainer's start epoch
 * (start.txt) plus the first curve point's trainer-clock seconds. Writes bench/results/<name>.md.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { alc } from "@autoclint/api";

const { values: args } = parseArgs({
  options: {
    namespace: { type: "string", default: "default" },
    runs: { type: "string", default: "3" },
    budget: { type: "string", default: "30" },
    name: { type: "string", default: "pool-startup-real-node-cpu" },
    /** A sentence for the table's text: how the machine was set up (load, CPU shares). */
    note: { type: "string", default: "" },
    kubeconfig: { type: "string", default: process.env.KUBECONFIG ?? join(process.cwd(), ".cluster", "kubeconfig") },
  },
});
const NS = args.namespace!;
const BUDGET = Number(args.budget);
const RUNS = Number(args.runs);
const TAINT = "autoclint.io/real-node";
const onRealNode = { nodeSelector: { [TAINT]: "true" }, tolerations: [{ key: TAINT, operator: "Exists", effect: "NoSchedule" }] };
const RESOURCES = { gpu: 1, memory: "3Gi", shmSize: "512Mi" };

function kubectl(argv: string[], input?: string): string {
  const r = spawnSync("kubectl", ["--kubeconfig", args.kubeconfig!, "-n", NS, ...argv], { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`kubectl ${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
const json = <T>(argv: string[]) => JSON.parse(kubectl([...argv, "-o", "json"])) as T;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RunObject {
  metadata: { uid: string };
  status?: { phase?: string; finalAlc?: number; learningCurve?: { t: number; nauc: number }[]; trainerPod?: string; startup?: { mode: string; alcApplyClock?: number } };
}

interface Measured {
  mode: string;
  run: string;
  firstPrediction: number;
  trainerStartAfterApply: number;
  alcTrainer: number;
  alcApply: number;
  alcApplyStatus: number | undefined;
}

async function measure(name: string, memory: string): Promise<Measured> {
  const manifest = {
    apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name, namespace: NS },
    spec: { dataset: { name: "mnist", source: { pvc: "datasets", path: "mnist" } }, timeBudgetSeconds: BUDGET, resources: { ...RESOURCES, memory }, scheduling: onRealNode },
  };
  const applied = Date.now();
  kubectl(["apply", "-f", "-"], JSON.stringify(manifest));
  let startTxt: string | undefined;
  let run: RunObject | undefined;
  for (let i = 0; ; i++) {
    run = json<RunObject>(["get", "autoclintrun", name]);
    if (!startTxt && run.status?.trainerPod) {
      const uid = spawnSync("kubectl", ["--kubeconfig", args.kubeconfig!, "-n", NS, "get", "pod", run.status.trainerPod, "-o", "jsonpath={.metadata.uid}"], { encoding: "utf8" }).stdout;
      const path = `/var/lib/kubelet/pods/${uid}/volumes/kubernetes.io~empty-dir/tmp/run/start.txt`;
      if (uid && existsSync(path)) startTxt = readFileSync(path, "utf8");
    }
    if ((run.status?.phase === "Succeeded" || run.status?.phase === "Failed") && run.status.finalAlc !== undefined && run.status.startup?.alcApplyClock !== undefined) break;
    if (i > 4 * (BUDGET + 600)) throw new Error(`${name} did not finish`);
    await sleep(250);
  }
  if (run.status?.phase !== "Succeeded") throw new Error(`${name} ended ${run.status?.phase}`);
  if (!startTxt) throw new Error(`${name}: start.txt was not seen in the trainer pod's volume (run as root on the node's machine)`);
  const startEpochMs = Number(/start_time:\s*([\d.]+)/.exec(startTxt)?.[1]) * 1000;
  const offset = (startEpochMs - applied) / 1000;
  const curve = run.status.learningCurve ?? [];
  return {
    mode: run.status.startup?.mode ?? "?",
    run: name,
    firstPrediction: offset + (curve[0]?.t ?? NaN),
    trainerStartAfterApply: offset,
    alcTrainer: run.status.finalAlc!,
    alcApply: alc(curve.map((p) => ({ t: p.t + offset, nauc: p.nauc })), BUDGET),
    alcApplyStatus: run.status.startup?.alcApplyClock,
  };
}

async function main(): Promise<void> {
  const stamp = Date.now().toString(36);
  const rows: Measured[] = [];
  // Cold: before any pool of their class exists.
  for (let i = 0; i < RUNS; i++) rows.push(await measure(`cold-${stamp}-${i}`, "3Gi"));
  kubectl(["apply", "-f", "-"], JSON.stringify({
    apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintPool", metadata: { name: `bench-${stamp}`, namespace: NS },
    spec: { minWarm: 1, maxWarm: 1, idleSeconds: 3600, resources: { ...RESOURCES, memory: "3Gi" }, datasetClaims: ["datasets"], scheduling: onRealNode },
  }));
  try {
    for (let i = 0; i < RUNS; i++) {
      for (let waited = 0; ; waited++) {
        const pool = json<{ status?: { ready?: number } }>(["get", "autoclintpool", `bench-${stamp}`]);
        if ((pool.status?.ready ?? 0) >= 1) break;
        if (waited > 2400) throw new Error("the pool never had a ready pod");
        await sleep(250);
      }
      rows.push(await measure(`warm-${stamp}-${i}`, "3Gi"));
    }
  } finally {
    kubectl(["delete", "autoclintpool", `bench-${stamp}`, "--wait=false"]);
  }
  const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
  const lines = [
    `# Warm pool vs cold start on the real node (CPU, fake GPU plugin), T = ${BUDGET} s, 600 MNIST`,
    "",
    `Command: \`node --import tsx bench/pool-startup.ts --runs ${RUNS} --budget ${BUDGET} --name ${args.name}\`, ${new Date().toISOString()}.`,
    "Apply time taken by the bench (ms); the trainer clock's epoch from the trainer's own start.txt.",
    ...(args.note ? [args.note] : []),
    `Machine load average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}.`,
    "",
    "| mode | run | apply to trainer clock start (s) | apply to first scored prediction (s) | ALC trainer clock | ALC apply clock | difference | status.startup.alcApplyClock |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.mode} | ${r.run} | ${f(r.trainerStartAfterApply, 2)} | ${f(r.firstPrediction, 2)} | ${f(r.alcTrainer, 4)} | ${f(r.alcApply, 4)} | ${f(r.alcTrainer - r.alcApply, 4)} | ${f(r.alcApplyStatus, 4)} |`),
    "",
  ];
  const out = join(process.cwd(), "bench", "results", `${args.name}.md`);
  writeFileSync(out, lines.join("\n"));
  process.stdout.write(`${lines.join("\n")}\nwrote ${out}\n`);
}

await main();

/**
 * `autoclint bench report NAME`: reads an AutoClintBenchmark's status, and its runs' learning
 * curves, from the cluster the kubeconfig points at, through kubectl: it already speaks every
 * kubeconfig auth plugin a user has set up, and the trainer image stays free of a Kubernetes client.
 */
import { execFile } from "node:child_process";
import { GROUP, type AutoClintBenchmark, type AutoClintRun } from "@autoclint/api";
import type { BenchmarkReportInput } from "./bench-report";

export interface ClusterReportOptions {
  name: string;
  namespace?: string;
  kubeconfig?: string;
}

/** The report input from a benchmark and its runs (plain data: what the API server returned). */
export function reportInputFromCluster(benchmark: AutoClintBenchmark, runs: readonly AutoClintRun[], where: string): BenchmarkReportInput {
  const byName = new Map(runs.map((r) => [r.metadata.name, r]));
  const cells = benchmark.status?.cells ?? [];
  const curves = new Map(
    cells.flatMap((cell) => {
      const run = byName.get(cell.run);
      return run?.status?.learningCurve?.length ? [[cell.run, { budget: run.spec.timeBudgetSeconds, curve: run.status.learningCurve }] as const] : [];
    }),
  );
  const phase = benchmark.status?.phase ?? "no status yet";
  return {
    name: benchmark.metadata.name,
    source: `cluster ${where}, benchmark ${benchmark.metadata.namespace}/${benchmark.metadata.name} (phase ${phase}, generation ${benchmark.metadata.generation ?? "?"}, observed ${benchmark.status?.observedGeneration ?? "-"})`,
    datasets: benchmark.spec.datasets.map((d) => d.name),
    variants: benchmark.spec.variants.map((v) => v.name),
    cells,
    curves,
  };
}

function kubectl(args: string[], options: ClusterReportOptions): Promise<string> {
  const global = [...(options.kubeconfig ? ["--kubeconfig", options.kubeconfig] : []), ...(options.namespace ? ["--namespace", options.namespace] : [])];
  return new Promise((done, fail) => {
    execFile("kubectl", [...global, ...args], { maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (!error) return done(stdout);
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return fail(new Error("kubectl is not on PATH: bench report reads the cluster through kubectl and your kubeconfig"));
      fail(new Error(`kubectl ${args.join(" ")}: ${stderr.trim() || error.message}`));
    });
  });
}

export async function readBenchmarkFromCluster(options: ClusterReportOptions): Promise<BenchmarkReportInput> {
  const benchmark = JSON.parse(await kubectl(["get", `autoclintbenchmarks.${GROUP}`, options.name, "--output", "json"], options)) as AutoClintBenchmark;
  const selector = `autoclint.io/benchmark-uid=${benchmark.metadata.uid ?? ""}`;
  const runs = JSON.parse(await kubectl(["get", `autoclintruns.${GROUP}`, "--selector", selector, "--output", "json"], options)) as { items: AutoClintRun[] };
  const server = (await kubectl(["config", "view", "--minify", "--output", "jsonpath={.clusters[0].cluster.server}"], options).catch(() => "")).trim();
  return reportInputFromCluster(benchmark, runs.items, server || "(current kubeconfig context)");
}

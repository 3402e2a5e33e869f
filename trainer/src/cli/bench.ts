/**
 * `autoclint bench run FILE.yaml` (an AutoClintBenchmark run locally) and `autoclint bench report
 * NAME` (the same report from a benchmark on a cluster).
 */
import type { Command } from "commander";
import { resolve } from "node:path";
import { readBenchmarkManifest, runBenchmarkLocally } from "./bench-local";
import { readBenchmarkFromCluster } from "./bench-cluster";
import { writeBenchmarkReport, type BenchmarkReportInput } from "./bench-report";

const positiveInteger = (flag: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got "${value}"`);
  return n;
};

async function report(input: BenchmarkReportInput, outDir: string): Promise<void> {
  const { markdown, files } = await writeBenchmarkReport(input, outDir);
  process.stdout.write(`${markdown}\nwrote ${files.join(", ")}\n`);
}

export function registerBenchCommands(program: Command): void {
  const bench = program.command("bench").description("benchmarks: an AutoClintBenchmark's matrix of datasets x variants x seeds, ranked the AutoDL way");
  bench
    .command("run")
    .description("run an AutoClintBenchmark manifest locally (no cluster) and write its report")
    .argument("<manifest>", "AutoClintBenchmark YAML (the same you would kubectl apply)")
    .option("--out <dir>", "output folder: one folder per run, plus report.md, alc.png, curves.png (default: runs/bench/<name>)")
    .option("--parallel <n>", "runs at once (each is a separate process; timed runs share the machine)", positiveInteger("--parallel"), 1)
    .option("--budget <seconds>", "override every run's timeBudgetSeconds", positiveInteger("--budget"))
    .option("--engine <name>", "compute engine for every run: torch | tfjs")
    .option("--resume", "reuse the result of a run whose folder holds one from the same run manifest", false)
    .action(async (file: string, flags: { out?: string; parallel: number; budget?: number; engine?: "torch" | "tfjs"; resume: boolean }) => {
      const manifestFile = resolve(file);
      // Where this CLI was started from, so each run is a fresh process of the same CLI.
      const cli = [process.execPath, ...process.execArgv, process.argv[1]!];
      const manifest = await readBenchmarkManifest(manifestFile);
      const outDir = resolve(flags.out ?? `runs/bench/${manifest.metadata.name}`);
      const input = await runBenchmarkLocally({
        manifest,
        manifestFile,
        outDir,
        parallel: flags.parallel,
        resume: flags.resume,
        cli,
        log: (line) => process.stderr.write(`bench: ${line}\n`),
        ...(flags.budget ? { budget: flags.budget } : {}),
        ...(flags.engine ? { engine: flags.engine } : {}),
      });
      await report(input, outDir);
    });
  bench
    .command("report")
    .description("write the report of an AutoClintBenchmark on the cluster (status read through the kubeconfig)")
    .argument("<name>", "the AutoClintBenchmark's name")
    .option("-n, --namespace <ns>", "namespace (default: the kubeconfig context's, else default)")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, else ~/.kube/config)")
    .option("--out <dir>", "output folder (default: runs/bench/<name>)")
    .action(async (name: string, flags: { namespace?: string; kubeconfig?: string; out?: string }) => {
      const input = await readBenchmarkFromCluster({ name, ...(flags.namespace ? { namespace: flags.namespace } : {}), ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}) });
      await report(input, resolve(flags.out ?? `runs/bench/${name}`));
    });
}

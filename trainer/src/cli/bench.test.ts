import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { benchmarkCells, type AutoClintBenchmark, type AutoClintRun, type BenchmarkCellStatus } from "@autoclint/api";
import { BenchmarkManifestError, cellManifest, parseBenchmarkManifest } from "./bench-local";
import { reportInputFromCluster } from "./bench-cluster";
import { buildBenchmarkReport, writeBenchmarkReport } from "./bench-report";

const manifest = (spec: string) => `apiVersion: autoclint.io/v1alpha1
kind: AutoClintBenchmark
metadata:
  name: sweep
spec:
${spec}`;

const goodSpec = `  datasets:
    - name: mnist
      dataset: { source: { path: ../data/mnist } }
  variants:
    - name: tau2
      model: { tau: 2 }
    - name: tau8
  seeds: [0, 1]
  template: { timeBudgetSeconds: 30, model: { weights: /w.pth } }`;

void test("a benchmark manifest reads with the CRD's schema, and the rules the API server checks with CEL", () => {
  const parsed = parseBenchmarkManifest(manifest(goodSpec), "/bench/sweep.yaml");
  const cells = benchmarkCells(parsed.metadata.name, parsed.spec);
  assert.equal(cells.length, 4);
  // Dataset paths are relative to the manifest; the budget override keeps the cell's name.
  const run = cellManifest(cells[0]!, "/bench/sweep.yaml", { budget: 12 });
  assert.equal(run.spec.dataset.source.path, "/data/mnist");
  assert.equal(run.spec.timeBudgetSeconds, 12);
  assert.equal(run.spec.model?.weights, "/w.pth", "the template's model...");
  assert.equal(run.spec.model?.tau, 2, "...merged under the variant's");
  assert.equal(run.metadata.name, cells[0]!.name);

  const problems = (spec: string) => {
    try {
      parseBenchmarkManifest(manifest(spec), "b.yaml");
    } catch (error) {
      assert.ok(error instanceof BenchmarkManifestError);
      return error.problems.join("\n");
    }
    return "";
  };
  assert.match(problems(goodSpec.replace("name: tau8", "name: tau2")), /\/spec\/variants: must be unique, repeated: tau2/);
  assert.match(problems(goodSpec.replace("seeds: [0, 1]", "seeds: [1, 1]")), /\/spec\/seeds: must be unique, repeated: 1/);
  assert.match(problems(goodSpec.replace("name: tau8", "name: Tau8")), /\/spec\/variants\/1\/name/);
  assert.match(problems(goodSpec.replace("  variants:", "  configs:")), /\/spec\/variants/);
  assert.match(problems("  datasets: []\n  variants: [{ name: a }]"), /\/spec\/datasets/);
  assert.match(problems(goodSpec.replace("{ path: ../data/mnist }", "{ path: /d, url: https://x/d.tar }")), /needs exactly one of path/);
  assert.match(problems(": : :"), /not valid YAML/);
});

const benchmark: AutoClintBenchmark = {
  apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintBenchmark",
  metadata: { name: "sweep", namespace: "team-a", uid: "u", generation: 1 },
  spec: { datasets: [{ name: "d1", dataset: { source: { url: "https://x/d1.tar" } } }, { name: "d2", dataset: { source: { url: "https://x/d2.tar" } } }], variants: [{ name: "a" }, { name: "b" }] },
};
const cell = (dataset: string, variant: string, seed: number, alc?: number): BenchmarkCellStatus => ({
  run: `sweep-${dataset}-${variant}-s${seed}`, dataset, variant, seed, attempts: 1, ...(alc === undefined ? { phase: "Failed", message: "exit 1: autoclint: boom | bad" } : { phase: "Succeeded", alc, nauc: 0.9 }),
});
const cells = [cell("d1", "a", 0, 0.7), cell("d1", "a", 1, 0.6), cell("d1", "b", 0, 0.5), cell("d1", "b", 1), cell("d2", "a", 0, 0.4), cell("d2", "b", 0, 0.45)];
const runOf = (c: BenchmarkCellStatus): AutoClintRun => ({
  apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name: c.run },
  spec: { dataset: { source: { url: "https://x/d.tar" } }, timeBudgetSeconds: 60 },
  status: { learningCurve: c.alc === undefined ? [] : [{ t: 5, nauc: 0.3 }, { t: 20, nauc: c.alc }] },
});

void test("the report: leaderboard table by average rank, every cell, and what the pictures show", () => {
  const input = reportInputFromCluster({ ...benchmark, status: { phase: "PartiallyFailed", cells } }, cells.map(runOf), "https://127.0.0.1:6443");
  assert.equal(input.curves.size, 5, "a curve for every run that has one");
  const report = buildBenchmarkReport(input);
  // d1: a 0.65 (rank 1), b 0.5 (rank 2); d2: b 0.45 (1), a 0.4 (2): both average 1.5, spec order breaks the tie.
  assert.deepEqual(report.leaderboard.map((s) => [s.variant, s.averageRank]), [["a", 1.5], ["b", 1.5]]);
  assert.match(report.markdown, /\| 1 \| a \| 1\.50 \| 0\.6500 ± 0\.0707 \(n=2, rank 1\) \| 0\.4000 \(n=1, rank 2\) \|/);
  assert.match(report.markdown, /\| sweep-d1-b-s1 \| d1 \| b \| 1 \| Failed \| 1 \| - \| - \| exit 1: autoclint: boom \\\| bad \|/);
  assert.match(report.markdown, /PartiallyFailed/);
  assert.match(report.markdown, /!\[Learning curves of a\]\(curves\.png\)/);
  const alcPoints = (report.alcSpec as { data: { values: unknown[] } }).data.values;
  assert.equal(alcPoints.length, 5, "one point per succeeded seed");
  const curvePoints = (report.curvesSpec as { data: { values: { seed: string }[] } }).data.values;
  assert.deepEqual([...new Set(curvePoints.map((p) => p.seed))].sort(), ["seed 0 (ALC 0.4000)", "seed 0 (ALC 0.7000)", "seed 1 (ALC 0.6000)"]);
});

void test("writeBenchmarkReport writes the markdown and two real PNGs", async () => {
  const out = mkdtempSync(join(tmpdir(), "bench-report-"));
  const input = reportInputFromCluster({ ...benchmark, status: { cells } }, cells.map(runOf), "local test");
  const { files } = await writeBenchmarkReport(input, out);
  assert.deepEqual(files.map((f) => f.slice(out.length + 1)), ["report.md", "alc.png", "curves.png"]);
  assert.match(readFileSync(files[0]!, "utf8"), /^# Benchmark sweep/);
  for (const png of files.slice(1)) {
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, "png");
    assert.ok(meta.width! > 200 && meta.height! > 150, `${png}: ${meta.width}x${meta.height}`);
    assert.ok(statSync(png).size > 5000);
  }
});

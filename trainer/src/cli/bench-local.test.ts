/**
 * `autoclint bench run`'s orchestration with the real CLI as each cell's process: cells whose
 * dataset folder does not exist fail fast in `autoclint run`, and the benchmark reports each one
 * as Failed with the CLI's own error, run N at a time. (Whole training runs: see the report of a
 * real `autoclint bench run examples/local/tau-sweep-benchmark.yaml`.)
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseBenchmarkManifest, runBenchmarkLocally } from "./bench-local";
import { writeBenchmarkReport } from "./bench-report";

const CLI = resolve(fileURLToPath(new URL("../../bin/autoclint.mjs", import.meta.url)));

void test("cells whose run fails are reported Failed with the CLI's error; every cell runs, N at a time", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-local-"));
  const file = join(dir, "bench.yaml");
  writeFileSync(file, `apiVersion: autoclint.io/v1alpha1
kind: AutoClintBenchmark
metadata: { name: missing }
spec:
  datasets:
    - { name: nowhere, dataset: { source: { path: ./no-such-folder } } }
  variants: [{ name: a }, { name: b, model: { tau: 2 } }]
  template: { timeBudgetSeconds: 10 }
`);
  const lines: string[] = [];
  const outDir = join(dir, "out");
  const input = await runBenchmarkLocally({
    manifest: parseBenchmarkManifest(readFileSync(file, "utf8"), file),
    manifestFile: file, outDir, parallel: 2, resume: false, cli: [process.execPath, CLI], log: (line) => lines.push(line),
  });
  assert.equal(input.cells.length, 2);
  for (const cell of input.cells) {
    assert.equal(cell.phase, "Failed", JSON.stringify(cell));
    assert.match(cell.message!, /^exit 1: autoclint: .*no-such-folder/);
    assert.ok(existsSync(join(outDir, cell.run, "run.yaml")) && existsSync(join(outDir, cell.run, "log.txt")));
  }
  assert.ok(lines.some((l) => l.includes("2 cells, 2 at a time")));
  const { markdown } = await writeBenchmarkReport(input, outDir);
  assert.match(markdown, /0 succeeded, 2 failed/);
});

void test("a cell whose process cannot start fails alone, with the reason", async () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-local-"));
  const file = join(dir, "bench.yaml");
  writeFileSync(file, "apiVersion: autoclint.io/v1alpha1\nkind: AutoClintBenchmark\nmetadata: { name: nocli }\nspec:\n  datasets: [{ name: d, dataset: { source: { path: /d } } }]\n  variants: [{ name: a }]\n  seeds: [0, 1]\n");
  const input = await runBenchmarkLocally({
    manifest: parseBenchmarkManifest(readFileSync(file, "utf8"), file),
    manifestFile: file, outDir: join(dir, "out"), parallel: 1, resume: false, cli: [join(dir, "no-such-cli")], log: () => undefined,
  });
  assert.deepEqual(input.cells.map((c) => c.phase), ["Failed", "Failed"]);
  assert.match(input.cells[0]!.message!, /ENOENT/);
});

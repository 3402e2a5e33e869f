import { test } from "node:test";
import assert from "node:assert/strict";
import { Value } from "@sinclair/typebox/value";
import { AutoClintBenchmarkSpec } from "./benchmark";
import { benchmarkCells, canonicalJson, mergeSpec } from "./benchmark-matrix";

const source = (name: string) => ({ source: { url: `https://data.example/${name}.tar` } });
const spec = (over: Partial<AutoClintBenchmarkSpec> = {}): AutoClintBenchmarkSpec => ({
  datasets: [{ name: "mnist", dataset: source("mnist") }, { name: "fmnist", dataset: source("fmnist") }],
  variants: [{ name: "tau8", model: { tau: 8 } }, { name: "tau2", model: { tau: 2 } }],
  seeds: [0, 1],
  template: { timeBudgetSeconds: 300, model: { weights: "/w.pth" }, resources: { gpu: 1 } },
  ...over,
});

void test("2 x 2 x 2 cells, seed by seed, each with the template merged under its variant", () => {
  const cells = benchmarkCells("bench", spec());
  assert.equal(cells.length, 8);
  assert.deepEqual(cells.map((c) => `${c.seed}/${c.dataset}/${c.variant}`), [
    "0/mnist/tau8", "0/mnist/tau2", "0/fmnist/tau8", "0/fmnist/tau2", "1/mnist/tau8", "1/mnist/tau2", "1/fmnist/tau8", "1/fmnist/tau2",
  ]);
  const first = cells[1]!;
  assert.deepEqual(first.spec, { timeBudgetSeconds: 300, model: { weights: "/w.pth", tau: 2 }, resources: { gpu: 1 }, dataset: source("mnist"), seed: 0 });
  for (const c of cells) {
    assert.match(c.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.match(c.name, new RegExp(`^bench-${c.dataset}-${c.variant}-s${c.seed}-[0-9a-f]{8}$`));
  }
  assert.equal(new Set(cells.map((c) => c.name)).size, 8);
  assert.equal(benchmarkCells("b", { ...spec(), template: undefined, seeds: undefined })[0]!.spec.timeBudgetSeconds, 1200);
});

void test("names are collision-free: a-b x c and a x b-c read alike but differ", () => {
  const cells = benchmarkCells("x", {
    datasets: [{ name: "a-b", dataset: source("1") }, { name: "a", dataset: source("1") }],
    variants: [{ name: "c" }, { name: "b-c" }],
  });
  const ab_c = cells.find((c) => c.dataset === "a-b" && c.variant === "c")!;
  const a_bc = cells.find((c) => c.dataset === "a" && c.variant === "b-c")!;
  assert.equal(ab_c.name.slice(0, -9), a_bc.name.slice(0, -9), "the readable parts are the same");
  assert.notEqual(ab_c.name, a_bc.name);
});

void test("names are stable: the same spec gives the same names, other edits leave a cell's name alone", () => {
  const names = (s: AutoClintBenchmarkSpec, bench = "bench") => benchmarkCells(bench, s).map((c) => c.name);
  const before = names(spec());
  assert.deepEqual(names(structuredClone(spec())), before);
  assert.deepEqual(names({ ...spec(), parallelism: 3, maxGpus: 4 }), before, "parallelism and the GPU cap are not part of a cell");
  // Key order does not matter.
  assert.deepEqual(names(spec({ template: { resources: { gpu: 1 }, model: { weights: "/w.pth" }, timeBudgetSeconds: 300 } })), before);
  // A template edit renames every cell; a variant edit only that variant's cells.
  const edited = names(spec({ template: { timeBudgetSeconds: 600, model: { weights: "/w.pth" }, resources: { gpu: 1 } } }));
  assert.equal(edited.filter((n) => before.includes(n)).length, 0);
  const variantEdit = names(spec({ variants: [{ name: "tau8", model: { tau: 8 } }, { name: "tau2", model: { tau: 3 } }] }));
  assert.deepEqual(variantEdit.filter((n) => before.includes(n)), before.filter((n) => n.includes("-tau8-")));
  assert.notDeepEqual(names(spec(), "other"), before);
});

void test("long names are cut to 63 characters and stay unique", () => {
  const long = "d".repeat(20);
  const cells = benchmarkCells("a-benchmark-with-a-rather-long-name-indeed", {
    datasets: [{ name: long, dataset: source("1") }],
    variants: [{ name: "v".repeat(20) }, { name: `${"v".repeat(19)}w` }],
    seeds: [10, 11],
  });
  for (const c of cells) {
    assert.ok(c.name.length <= 63, c.name);
    assert.match(c.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  }
  assert.equal(new Set(cells.map((c) => c.name)).size, 4);
});

void test("mergeSpec merges objects key by key and replaces arrays and scalars", () => {
  assert.deepEqual(mergeSpec({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, d: undefined, e: 2 }), { a: { b: 1, c: [3] }, d: 1, e: 2 });
  assert.equal(canonicalJson({ b: 1, a: { d: undefined, c: 2 } }), '{"a":{"c":2},"b":1}');
});

void test("schema defaults never land in template or variants, where they would override the template", () => {
  const written = { ...spec(), variants: [{ name: "w", model: { weights: "/other.pth" } }] };
  const defaulted = Value.Default(AutoClintBenchmarkSpec, structuredClone(written)) as AutoClintBenchmarkSpec;
  assert.deepEqual(defaulted.variants, written.variants);
  assert.deepEqual(defaulted.template, written.template);
  const [cell] = benchmarkCells("bench", defaulted);
  assert.equal(cell!.spec.timeBudgetSeconds, 300);
  assert.deepEqual(cell!.spec.model, { weights: "/other.pth" });
});

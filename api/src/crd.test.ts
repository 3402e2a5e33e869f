import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Value } from "@sinclair/typebox/value";
import { Type } from "@sinclair/typebox";
import { parse } from "yaml";
import { renderCrds, toStructural, type JsonSchemaProps } from "./crd";
import { CRD_DIR } from "./generate-crds";
import { AutoClintRunManifest, AutoClintRunSpec } from "./run";
import { AutoClintPoolSpec } from "./pool";
import { PolicyStep } from "./policy";

void test("checked-in CRDs match the TypeBox schemas (run `make crds` when this fails)", () => {
  for (const [file, text] of Object.entries(renderCrds())) {
    let onDisk = "";
    try {
      onDisk = readFileSync(join(CRD_DIR, file), "utf8");
    } catch {
      assert.fail(`crds/${file} is missing: run make crds`);
    }
    assert.equal(onDisk, text, `crds/${file} is stale: run make crds`);
  }
});

/** Walks every schema node with its path. */
function* nodes(schema: JsonSchemaProps, path = ""): Generator<[string, JsonSchemaProps]> {
  yield [path, schema];
  for (const [key, child] of Object.entries((schema.properties ?? {}) as Record<string, JsonSchemaProps>)) yield* nodes(child, `${path}.${key}`);
  if (schema.items) yield* nodes(schema.items as JsonSchemaProps, `${path}[]`);
  if (typeof schema.additionalProperties === "object") yield* nodes(schema.additionalProperties as JsonSchemaProps, `${path}{}`);
}

void test("every CRD schema node is structural", () => {
  for (const text of Object.values(renderCrds())) {
    const crd = parse(text) as { spec: { versions: { schema: { openAPIV3Schema: JsonSchemaProps } }[] } };
    const root = crd.spec.versions[0]!.schema.openAPIV3Schema;
    for (const [path, node] of nodes(root)) {
      const free = node["x-kubernetes-preserve-unknown-fields"] === true || node["x-kubernetes-int-or-string"] === true;
      assert.ok(free || typeof node.type === "string", `${path} has no type`);
      assert.notEqual(node.additionalProperties, false, `${path}: additionalProperties false is not structural`);
      assert.ok(!("const" in node) && !("$id" in node) && !("oneOf" in node), `${path} keeps a TypeBox-only key`);
      if (node.anyOf) assert.equal(node["x-kubernetes-int-or-string"], true, `${path}: anyOf outside int-or-string`);
      assert.ok(node.exclusiveMinimum === undefined || typeof node.exclusiveMinimum === "boolean", `${path}: numeric exclusiveMinimum`);
    }
  }
});

void test("literal unions become enums with their default; T | null becomes nullable", () => {
  const converted = toStructural(Type.Object({ a: Type.Union([Type.Literal("x"), Type.Literal("y")], { default: "x" }), b: Type.Union([Type.Number(), Type.Null()]) }));
  assert.deepEqual(converted.properties, { a: { type: "string", enum: ["x", "y"], default: "x" }, b: { type: "number", nullable: true } });
});

void test("a mixed tuple becomes a fixed-length array of free-form items that says what each position holds", () => {
  const converted = toStructural(PolicyStep);
  assert.equal(converted.type, "array");
  assert.equal(converted.minItems, 3);
  assert.equal(converted.maxItems, 3);
  assert.deepEqual(converted.items, { "x-kubernetes-preserve-unknown-fields": true });
  assert.match(String(converted.description), /^\[one of ShearX\|.*, probability: number in \[0, 1\], magnitude: number in \[0, 9\]\]$/);
  assert.deepEqual(toStructural(Type.Tuple([Type.Number(), Type.Number()])).items, { type: "number" });
});

void test("cross-field rules travel into the CRD", () => {
  const crd = parse(renderCrds()["autoclint.io_autoclintruns.yaml"]!) as { spec: { versions: { schema: { openAPIV3Schema: JsonSchemaProps } }[] } };
  const text = JSON.stringify(crd);
  assert.match(text, /has\(self.path\) != has\(self.url\)/);
  assert.match(text, /dataset.source.pvc requires path/);
  assert.match(text, /"shortNames":\["acr"\]/);
});

void test("the extended spec still reads a minimal local manifest (the trainer's contract)", () => {
  const manifest = { apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name: "m" }, spec: { dataset: { source: { path: "/d" } } } };
  const withDefaults = Value.Default(AutoClintRunManifest, Value.Clone(manifest));
  assert.ok(Value.Check(AutoClintRunManifest, withDefaults), [...Value.Errors(AutoClintRunManifest, withDefaults)].map((e) => e.path).join());
  const full = {
    dataset: { source: { pvc: "data", path: "fmnist" }, format: "idx" },
    timeBudgetSeconds: 300,
    resources: { gpu: 2, gpuResourceName: "amd.com/gpu", cpu: "3500m", memory: "16Gi" },
    scheduling: { nodeSelector: { pool: "gpu" }, tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }], affinity: { nodeAffinity: {} } },
    retries: { limit: 1, onFailure: ["OOMKilled"] },
  };
  assert.ok(Value.Check(AutoClintRunSpec, full), [...Value.Errors(AutoClintRunSpec, full)].map((e) => `${e.path} ${e.message}`).join());
});

void test("the pool CRD carries its minWarm <= maxWarm rule, short name and no maxGpuWaitSeconds (a warm pod never waits for a run's GPU)", () => {
  const text = renderCrds()["autoclint.io_autoclintpools.yaml"]!;
  const crd = parse(text) as { spec: { names: { shortNames: string[] }; versions: { schema: { openAPIV3Schema: JsonSchemaProps } }[] } };
  assert.deepEqual(crd.spec.names.shortNames, ["acp"]);
  const spec = (crd.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, JsonSchemaProps>).spec!;
  assert.deepEqual(spec["x-kubernetes-validations"], [{ rule: "self.minWarm <= self.maxWarm", message: "minWarm cannot exceed maxWarm" }]);
  assert.deepEqual(spec.required, ["minWarm", "maxWarm"]);
  const scheduling = (spec.properties as Record<string, JsonSchemaProps>).scheduling!;
  assert.ok(!("maxGpuWaitSeconds" in (scheduling.properties as object)));
  assert.ok(Value.Check(AutoClintPoolSpec, { minWarm: 1, maxWarm: 3, resources: { gpu: 1 }, datasetClaims: ["datasets"] }));
  assert.ok(!Value.Check(AutoClintPoolSpec, { minWarm: 1 }), "maxWarm is required");
});

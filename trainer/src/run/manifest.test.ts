import { test } from "node:test";
import assert from "node:assert/strict";
import { ManifestError, parseRunManifest } from "./manifest";

const valid = `
apiVersion: autoclint.io/v1alpha1
kind: AutoClintRun
metadata: { name: fmnist }
spec:
  dataset: { source: { path: data/fmnist } }
  timeBudgetSeconds: 120
`;

test("a minimal manifest gets its defaults and an absolute dataset path", () => {
  const manifest = parseRunManifest(valid, "/runs/run.yaml");
  assert.equal(manifest.spec.dataset.source.path, "/runs/data/fmnist");
  assert.equal(manifest.spec.timeBudgetSeconds, 120);
  assert.equal(manifest.spec.seed, 0);
  assert.equal(manifest.spec.engine, "torch");
});

test("every problem is listed by path", () => {
  const bad = valid.replace("timeBudgetSeconds: 120", "timeBudgetSeconds: 1\n  engine: tensorflow");
  assert.throws(
    () => parseRunManifest(bad, "run.yaml"),
    (error: unknown) => error instanceof ManifestError && error.problems.some((p) => p.includes("/spec/timeBudgetSeconds")) && error.problems.some((p) => p.includes("/spec/engine")),
  );
  assert.throws(() => parseRunManifest("a: [", "run.yaml"), /not valid YAML/);
});

test("a name that is not a DNS label (a dot, uppercase) is refused naming metadata.name, as the API server refuses it", () => {
  for (const name of ["fmnist.v2", "FMnist", "-x"]) {
    assert.throws(() => parseRunManifest(valid.replace("name: fmnist", `name: "${name}"`), "run.yaml"), (error: unknown) => error instanceof ManifestError && error.problems.some((p) => p.startsWith("/metadata/name")), name);
  }
});

test("spec.anytime.quickModel turns the quick first model off; a non-boolean is refused", () => {
  assert.equal(parseRunManifest(valid, "run.yaml").spec.anytime?.quickModel ?? true, true);
  const off = parseRunManifest(`${valid}  anytime: { quickModel: false }\n`, "run.yaml");
  assert.equal(off.spec.anytime?.quickModel, false);
  assert.throws(() => parseRunManifest(`${valid}  anytime: { quickModel: sometimes }\n`, "run.yaml"), /\/spec\/anytime\/quickModel/);
});

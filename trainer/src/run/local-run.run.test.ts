/**
 * A real end-to-end run: a small MNIST task built by our own builder, read back through the AutoDL
 * reader, trained by the real torch worker, scored by the AutoDL-format scorer.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TrainerEvent } from "@autoclint/api";
import { scorePredictionsFolder } from "../autodl/index";
import { findBuilder } from "../datasets/builders/index";
import { BUDGET_GRACE_SECONDS, runLocal } from "./local-run";

const BUDGET = 40;

test("AutoCLINT on a small MNIST task: NAUC well above chance, every output consistent", { timeout: 180_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), "autoclint-run-"));
  try {
    const data = join(root, "mnist");
    await findBuilder("mnist")!.build({ out: data, seed: 1, limit: 1200 });
    const outDir = join(root, "out");
    const lines: string[] = [];
    const started = performance.now() / 1000;
    const result = await runLocal({
      manifest: {
        apiVersion: "autoclint.io/v1alpha1",
        kind: "AutoClintRun",
        metadata: { name: "e2e" },
        spec: { dataset: { name: "mnist", source: { path: data } }, timeBudgetSeconds: BUDGET, seed: 0 },
      },
      outDir,
      cacheDir: join(root, "cache"),
      reporter: { log: (line) => lines.push(line), status: () => undefined, stop: () => undefined },
      now: () => performance.now() / 1000 - started,
    });
    const elapsed = performance.now() / 1000 - started;

    // Learned something, within the budget.
    assert.ok(result.nauc !== null && result.nauc > 0.8, `final NAUC ${result.nauc} should be well above chance (0)`);
    assert.ok(result.alc !== null && result.alc > 0.3, `ALC ${result.alc}`);
    assert.ok(result.predictions >= 1 && result.curve.every((p) => p.t <= BUDGET), "no prediction after the budget");
    assert.ok(elapsed < BUDGET + BUDGET_GRACE_SECONDS, `run took ${elapsed.toFixed(1)} s`);
    // The input is exploration's 28x28, or 16x16 when the start-up speed probe found this machine
    // too slow for a prediction within 5% of the budget; result.json says which and why.
    assert.deepEqual(result.inputSize.explored, [1, 28, 28, 1]);
    assert.match(result.inputSize.reason, /^probe: \d+ samples\/s at 28x28; /);
    assert.deepEqual(result.inputShape, /exploration size kept/.test(result.inputSize.reason) ? [1, 28, 28, 1] : [1, 16, 16, 1], result.inputSize.reason);
    assert.equal(result.model.init, "random");
    assert.ok(result.firstPredictionSeconds !== null && result.firstPredictionSeconds < BUDGET);
    // The quick model made the first prediction, before the network could: the coarse fit's, then
    // the fine fit's when it scored better on valid (the one that stands, which result.json describes).
    assert.ok(result.quickModel.enabled, "spec.anytime.quickModel defaults to on");
    assert.deepEqual(
      { quickPredictions: [1, 2].includes(result.quickModel.predictions), first: result.curve[0]!.t, standing: result.curve[result.quickModel.predictions - 1]!.t },
      { quickPredictions: true, first: +result.firstPredictionSeconds!.toFixed(3), standing: +result.quickModel.predictionAt.toFixed(3) },
      "the quick model's one or two predictions come first, and the last of them stands",
    );
    assert.ok(result.quickModel.nauc !== null && result.quickModel.nauc > 0.5, `quick model NAUC ${result.quickModel.nauc}`);
    assert.ok(result.firstPredictionSeconds! < result.timings.splitsLoaded!, "the quick prediction comes before the engine has the data");
    // The default strategy is light Fast AutoAugment; a 40 s budget is too short for it, and says so
    // at the first epoch end (a loaded machine may not finish a 30-step epoch in 40 s: then the
    // trigger was never asked). Either way nothing was searched.
    assert.equal(result.augmentation.strategy, "fast-autoaugment-light");
    assert.match(result.augmentation.summary, /^search (skipped: only \d+ s left, 120 s needed|not triggered yet)$/);
    assert.deepEqual(result.policy, []);

    // The AutoDL-format files score to the same ALC, independently of the run's own bookkeeping
    // (up to the 9 significant digits the prediction files keep).
    const scored = await scorePredictionsFolder({ solutionPath: join(data, "mnist.solution"), predictionsDir: outDir, timeBudget: BUDGET });
    assert.equal(scored.curve.length, result.predictions);
    assert.ok(Math.abs(scored.alc - result.alc) < 1e-4, `folder ALC ${scored.alc} vs result ${result.alc}`);

    // result.json, the events and the picture agree.
    const saved = JSON.parse(await readFile(join(outDir, "result.json"), "utf8")) as Record<string, unknown>;
    for (const key of ["alc", "nauc", "curve", "firstPredictionSeconds", "inputShape", "inputSize", "engine", "device", "imagesPerSecond", "policy"]) {
      assert.ok(key in saved, `result.json has ${key}`);
    }
    const events = (await readFile(join(outDir, "events.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as TrainerEvent);
    assert.ok(!events.some((e) => e.type === "phase" && e.phase === "searching"), "nothing was searched");
    const testEvents = events.filter((e) => e.type === "nauc" && e.split === "test");
    assert.equal(testEvents.length, result.predictions);
    assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i), "sequence numbers are gapless");
    assert.ok(events.some((e) => e.type === "result"));
    assert.ok(events.some((e) => e.type === "phase" && e.phase === "finished"));
    assert.ok((await stat(join(outDir, "learning-curve.png"))).size > 10_000);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

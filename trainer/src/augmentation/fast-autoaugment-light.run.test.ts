/**
 * Light Fast AutoAugment in a real run: small MNIST (400 samples) saturates training inside the budget, so the
 * search runs on the real torch worker, every trial is an event, and the chosen policy is the
 * union of the top kept trials' sub-policies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PolicyEvent, TrainerEvent } from "@autoclint/api";
import { findBuilder } from "../datasets/builders/index";
import { plainReporter } from "../cli/progress";
import { runLocal } from "../run/local-run";
import { selectPolicy } from "./fast-autoaugment-light";

test("the search runs when training saturates, shows in the events, and picks the policy", { timeout: 240_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), "autoclint-faa-"));
  try {
    const data = join(root, "mnist");
    await findBuilder("mnist")!.build({ out: data, seed: 2, limit: 400 });
    const outDir = join(root, "out");
    const result = await runLocal({
      manifest: {
        apiVersion: "autoclint.io/v1alpha1",
        kind: "AutoClintRun",
        metadata: { name: "faa" },
        // A short budget: the time-left threshold is lowered from 120 s so the search fits. 400
        // samples, so that even a loaded 2-core machine (~25 images/s) saturates training in time.
        spec: { dataset: { source: { path: data } }, timeBudgetSeconds: 120, augmentation: { strategy: "fast-autoaugment-light", keep: 5, minSecondsLeft: 15 }, seed: 0 },
      },
      outDir,
      cacheDir: join(root, "cache"),
      reporter: plainReporter(() => undefined),
    });
    const events = (await readFile(join(outDir, "events.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as TrainerEvent);
    const trials = events.filter((e): e is PolicyEvent => e.type === "policy");
    assert.ok(trials.length > 0, `the search ran (${result.augmentation.summary})`);
    assert.deepEqual(trials.map((t) => t.trial), trials.map((_, i) => i));
    assert.ok(trials.every((t) => t.kept === t.score > t.baseline));
    assert.ok(events.some((e) => e.type === "phase" && e.phase === "searching"));
    assert.match(result.augmentation.summary, new RegExp(`searched ${trials.length} trials`));
    assert.deepEqual(result.policy, selectPolicy(trials.map((t) => ({ ...t, subPolicies: t.subPolicies as never })), 5));
    assert.ok(result.nauc !== null && result.nauc > 0.9, `final NAUC ${result.nauc}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

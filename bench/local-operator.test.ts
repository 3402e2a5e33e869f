import { test } from "node:test";
import assert from "node:assert/strict";
import { histogramBuckets, histogramDelta, histogramQuantile } from "./local-operator";

const text = (counts: number[]) =>
  ["0.5", "1", "2.5", "+Inf"].map((le, i) => `autoclint_event_lag_seconds_bucket{le="${le}"} ${counts[i]}`).join("\n") + "\nautoclint_event_lag_seconds_sum 1\n";

void test("histogram quantiles as Prometheus's histogram_quantile estimates them, over what a histogram gained", () => {
  const before = histogramBuckets(text([10, 10, 10, 10]), "autoclint_event_lag_seconds");
  const after = histogramBuckets(text([60, 110, 200, 210]), "autoclint_event_lag_seconds");
  const gained = histogramDelta(after, before);
  assert.deepEqual(gained, [[0.5, 50], [1, 100], [2.5, 190], [Number.POSITIVE_INFINITY, 200]]);
  assert.equal(histogramQuantile(gained, 0.25), 0.5); // the 50th of 200: the top of the first bucket
  assert.equal(histogramQuantile(gained, 0.5), 1);
  assert.ok(Math.abs(histogramQuantile(gained, 0.7) - (1 + 1.5 * (40 / 90))) < 1e-12, "linear within (1, 2.5]");
  assert.equal(histogramQuantile(gained, 0.99), 2.5, "past the last finite bound: that bound");
  assert.ok(Number.isNaN(histogramQuantile(histogramDelta(before, before), 0.5)), "an empty histogram has no quantile");
});

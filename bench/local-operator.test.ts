import { test } from "node:test";
import assert from "node:assert/strict";
import { histogramBuckets, histogramDelta, histogramQuantile, metricSample, operatorRequestCounts, quantile } from "./local-operator";

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

void test("the operator's request counts are keyed as the API server's, a sample is read from /metrics text, and quantiles of sorted values", () => {
  const text = [
    'autoclint_kube_requests_total{verb="PATCH",group="autoclint.io",resource="autoclintruns",subresource="status"} 7',
    'autoclint_kube_requests_total{verb="POST",group="",resource="secrets",subresource=""} 3',
    'autoclint_status_writes_total{writer="events"} 12',
  ].join("\n");
  assert.deepEqual([...operatorRequestCounts(text)], [["autoclintruns.autoclint.io/status PATCH", 7], ["secrets POST", 3]]);
  assert.equal(metricSample(text, /autoclint_status_writes_total\{writer="events"\}/), 12);
  assert.equal(metricSample(text, /autoclint_status_writes_total\{writer="reconciler"\}/), 0, "absent: 0");
  assert.deepEqual([0.5, 0.99, 1].map((q) => quantile([1, 2, 3, 4], q)), [3, 4, 4]);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

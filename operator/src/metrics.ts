/**
 * The operator's Prometheus metrics: one private Registry, typed helpers, no raw metric objects
 * outside this module. Names come from the API contract (@autoclint/api METRICS).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { METRICS, RUN_PHASES, type RunPhase, type VariantStanding } from "@autoclint/api";
import type { ControllerMetrics, ReconcileOutcome } from "./controller/controller";
import type { BenchmarkMetrics } from "./reconcile/benchmark";
import type { RunMetrics } from "./reconcile/run";
import type { ClaimMetrics } from "./reconcile/claim";
import type { PoolMetrics } from "./reconcile/pool";
import type { ApiRequestKind } from "./kube/requests";

const NON_CONFORMING_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

export type EventOutcome = "applied" | "duplicate" | "stale" | "orphaned" | "invalid" | "forged";

/** Why an event was taken for a forgery (see METRICS.eventsForgedTotal). */
export type ForgeryReason = "subject" | "run";

export const POOL_POD_STATES = ["ready", "starting", "claimed"] as const;

export class OperatorMetrics implements ControllerMetrics, RunMetrics, BenchmarkMetrics, PoolMetrics, ClaimMetrics {
  private readonly registry = new Registry();
  private readonly runAlc = this.gauge(METRICS.runAlc, "ALC of the run's test learning curve so far.", ["namespace", "run"]);
  private readonly runNauc = this.gauge(METRICS.runNauc, "Latest test NAUC of the run.", ["namespace", "run"]);
  private readonly runPhase = this.gauge(METRICS.runPhase, "1 for the run's current phase, 0 for the others.", ["namespace", "run", "phase"]);
  private readonly runElapsed = this.gauge(METRICS.runElapsedSeconds, "The trainer's clock at the run's latest event.", ["namespace", "run"]);
  private readonly runGpuWait = this.gauge(METRICS.runGpuWaitSeconds, "Seconds the run's trainer pods waited for a node and a GPU.", ["namespace", "run"]);
  private readonly runImagesPerSecond = this.gauge(METRICS.runImagesPerSecond, "Trainer throughput at the run's latest NAUC event.", ["namespace", "run"]);
  private readonly reconciles = new Counter({ name: METRICS.reconcileTotal, help: "Reconciles by kind and outcome.", labelNames: ["kind", "outcome"], registers: [this.registry] });
  private readonly reconcileSeconds = new Histogram({
    name: METRICS.reconcileDurationSeconds, help: "Reconcile duration.", labelNames: ["kind"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry],
  });
  private readonly eventsConsumed = new Counter({ name: METRICS.eventsConsumedTotal, help: "Trainer events consumed, by type and outcome.", labelNames: ["type", "outcome"], registers: [this.registry] });
  private readonly eventsForged = new Counter({
    name: METRICS.eventsForgedTotal, help: "Trainer events dropped as forged: body and subject disagree, or the subject's run is not the one the body names.",
    labelNames: ["reason"], registers: [this.registry],
  });
  private readonly eventStoreRecreated = new Counter({
    name: METRICS.eventStoreRecreatedTotal, help: "Times the event stream or the durable consumer was found deleted and re-created.", registers: [this.registry],
  });
  private readonly eventLag = new Histogram({
    name: METRICS.eventLagSeconds, help: "Seconds from a trainer event's wall time to its fold into the run's status.",
    // Fine around a second, the latency users expect of a status.
    buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300], registers: [this.registry],
  });
  private readonly kubeRequests = new Counter({
    name: METRICS.kubeRequestsTotal, help: "API requests the operator sent (watches aside), by the API server's verb, group, resource and subresource.",
    labelNames: ["verb", "group", "resource", "subresource"], registers: [this.registry],
  });
  private readonly statusWrites = new Counter({ name: METRICS.statusWritesTotal, help: "Status writes, by writer (reconciler, events).", labelNames: ["writer"], registers: [this.registry] });
  private readonly benchmarkRank = this.gauge(METRICS.benchmarkVariantAverageRank, "A benchmark variant's average rank by ALC over the datasets (AutoDL; 1 is best).", ["namespace", "benchmark", "variant"]);
  private readonly benchmarkAlc = this.gauge(METRICS.benchmarkVariantAlc, "Mean ALC of a benchmark variant's succeeded seeds on a dataset.", ["namespace", "benchmark", "variant", "dataset"]);
  /** The benchmark series set last, per benchmark, so that a variant or dataset dropped from a spec loses its series. */
  private readonly benchmarkSeries = new Map<string, { ranks: Record<string, string>[]; alcs: Record<string, string>[] }>();
  private readonly poolPods = this.gauge(METRICS.poolPods, "A warm pool's pods by state: ready (warm, claimable), starting (not ready yet), claimed (serving a run).", ["namespace", "pool", "state"]);
  private readonly poolClaimSeconds = new Histogram({
    name: METRICS.poolClaimDurationSeconds, help: "Seconds from a run's attempt asking for a warm pod to the pod accepting the run (claim patch and hand-over).", labelNames: ["namespace", "pool"],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry],
  });
  private readonly poolColdFallbacks = new Counter({ name: METRICS.poolColdFallbacksTotal, help: "Runs a warm pool serves that found no ready pod and went cold.", labelNames: ["namespace", "pool"], registers: [this.registry] });
  private readonly knownPools = new Set<string>();
  private readonly leader = this.gauge(METRICS.leader, "1 while this replica holds the leader Lease.", []);
  private readonly queueDepth = this.gauge(METRICS.queueDepth, "Objects waiting in the work queue.", []);

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client names these gauges `_total`, which the Prometheus naming rules reserve for counters.
      for (const name of NON_CONFORMING_DEFAULTS) this.registry.removeSingleMetric(name);
    }
    this.leader.set(0);
    this.queueDepth.set(0);
    for (const reason of ["subject", "run"] as const) this.eventsForged.inc({ reason }, 0);
  }

  private gauge(name: string, help: string, labelNames: string[]): Gauge {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  setRunPhase(namespace: string, run: string, phase: RunPhase): void {
    for (const p of RUN_PHASES) this.runPhase.set({ namespace, run, phase: p }, p === phase ? 1 : 0);
  }

  setRunScores(namespace: string, run: string, scores: { alc?: number; nauc?: number; elapsedSeconds?: number; imagesPerSecond?: number }): void {
    if (scores.alc !== undefined) this.runAlc.set({ namespace, run }, scores.alc);
    if (scores.nauc !== undefined) this.runNauc.set({ namespace, run }, scores.nauc);
    if (scores.elapsedSeconds !== undefined) this.runElapsed.set({ namespace, run }, scores.elapsedSeconds);
    if (scores.imagesPerSecond !== undefined) this.runImagesPerSecond.set({ namespace, run }, scores.imagesPerSecond);
  }

  setRunGpuWait(namespace: string, run: string, seconds: number): void {
    this.runGpuWait.set({ namespace, run }, seconds);
  }

  /** Drops every series of a deleted run. */
  forgetRun(namespace: string, run: string): void {
    for (const gauge of [this.runAlc, this.runNauc, this.runElapsed, this.runGpuWait, this.runImagesPerSecond]) gauge.remove({ namespace, run });
    for (const phase of RUN_PHASES) this.runPhase.remove({ namespace, run, phase });
  }

  setBenchmarkStandings(namespace: string, benchmark: string, standings: readonly VariantStanding[]): void {
    this.forgetBenchmark(namespace, benchmark);
    const series = { ranks: [] as Record<string, string>[], alcs: [] as Record<string, string>[] };
    for (const { variant, averageRank, datasets } of standings) {
      const labels = { namespace, benchmark, variant };
      this.benchmarkRank.set(labels, averageRank);
      series.ranks.push(labels);
      for (const { dataset, meanAlc } of datasets) {
        if (meanAlc === undefined) continue;
        this.benchmarkAlc.set({ ...labels, dataset }, meanAlc);
        series.alcs.push({ ...labels, dataset });
      }
    }
    this.benchmarkSeries.set(`${namespace}/${benchmark}`, series);
  }

  /** Drops every series of a benchmark (deleted, or about to be set afresh). */
  forgetBenchmark(namespace: string, benchmark: string): void {
    const series = this.benchmarkSeries.get(`${namespace}/${benchmark}`);
    if (!series) return;
    for (const labels of series.ranks) this.benchmarkRank.remove(labels);
    for (const labels of series.alcs) this.benchmarkAlc.remove(labels);
    this.benchmarkSeries.delete(`${namespace}/${benchmark}`);
  }

  setPoolPods(namespace: string, pool: string, counts: Record<(typeof POOL_POD_STATES)[number], number>): void {
    for (const state of POOL_POD_STATES) this.poolPods.set({ namespace, pool, state }, counts[state]);
    // A pool's claim and fallback series exist (at zero) from its first reconcile: rates and
    // alerts over them see "none yet", not "no data".
    if (this.knownPools.has(`${namespace}/${pool}`)) return;
    this.knownPools.add(`${namespace}/${pool}`);
    this.poolClaimSeconds.zero({ namespace, pool });
    this.poolColdFallbacks.inc({ namespace, pool }, 0);
  }

  forgetPool(namespace: string, pool: string): void {
    for (const state of POOL_POD_STATES) this.poolPods.remove({ namespace, pool, state });
    this.poolClaimSeconds.remove({ namespace, pool });
    this.poolColdFallbacks.remove({ namespace, pool });
    this.knownPools.delete(`${namespace}/${pool}`);
  }

  observeClaim(namespace: string, pool: string, seconds: number): void {
    this.poolClaimSeconds.observe({ namespace, pool }, seconds);
  }

  countColdFallback(namespace: string, pool: string): void {
    this.poolColdFallbacks.inc({ namespace, pool });
  }

  observeReconcile(kind: string, outcome: ReconcileOutcome, seconds: number): void {
    this.reconciles.inc({ kind, outcome });
    this.reconcileSeconds.observe({ kind }, seconds);
  }

  setQueueDepth(depth: number): void {
    this.queueDepth.set(depth);
  }

  countEvent(type: string, outcome: EventOutcome): void {
    this.eventsConsumed.inc({ type, outcome });
  }

  countForgedEvent(reason: ForgeryReason): void {
    this.eventsForged.inc({ reason });
  }

  countEventStoreRecreated(): void {
    this.eventStoreRecreated.inc();
  }

  observeEventLag(seconds: number): void {
    if (Number.isFinite(seconds)) this.eventLag.observe(Math.max(0, seconds));
  }

  countKubeRequest(kind: ApiRequestKind): void {
    this.kubeRequests.inc({ ...kind });
  }

  countStatusWrite(writer: "reconciler" | "events"): void {
    this.statusWrites.inc({ writer });
  }

  setLeader(leading: boolean): void {
    this.leader.set(leading ? 1 : 0);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * Prometheus metric names the operator exports: the contract the chart's dashboard and alert rules
 * query. Names follow the Prometheus rules (base units, `_total` for counters).
 */
export const METRIC_PREFIX = "autoclint_";

export const METRICS = {
  /** gauge {namespace, run}: ALC of the test learning curve so far. */
  runAlc: "autoclint_run_alc",
  /** gauge {namespace, run}: latest test NAUC. */
  runNauc: "autoclint_run_nauc",
  /** gauge {namespace, run, phase}: 1 for the run's current phase, 0 for the others. */
  runPhase: "autoclint_run_phase",
  /** gauge {namespace, run}: the trainer's clock at its latest event. */
  runElapsedSeconds: "autoclint_run_elapsed_seconds",
  /** gauge {namespace, run}: seconds trainer pods waited for a node (and a GPU). */
  runGpuWaitSeconds: "autoclint_run_gpu_wait_seconds",
  /** gauge {namespace, run}: trainer images per second at its latest NAUC event. */
  runImagesPerSecond: "autoclint_run_images_per_second",
  /** gauge {namespace, benchmark, variant}: the variant's average rank over the datasets (AutoDL; 1 is best). */
  benchmarkVariantAverageRank: "autoclint_benchmark_variant_average_rank",
  /** gauge {namespace, benchmark, variant, dataset}: mean ALC of the variant's succeeded seeds on the dataset. */
  benchmarkVariantAlc: "autoclint_benchmark_variant_alc",
  /** gauge {namespace, pool, state}: a warm pool's pods by state (ready, starting, claimed). */
  poolPods: "autoclint_pool_pods",
  /** histogram {namespace, pool}: seconds from a run's attempt asking for a warm pod to the pod accepting the run. */
  poolClaimDurationSeconds: "autoclint_pool_claim_duration_seconds",
  /** counter {namespace, pool}: runs a pool serves that found no ready warm pod and went cold. */
  poolColdFallbacksTotal: "autoclint_pool_cold_fallbacks_total",
  /** counter {kind, outcome}: reconciles by outcome (success, requeue, error, conflict, terminal). */
  reconcileTotal: "autoclint_reconcile_total",
  /** histogram {kind}: reconcile duration. */
  reconcileDurationSeconds: "autoclint_reconcile_duration_seconds",
  /** counter {type, outcome}: trainer events consumed (applied, duplicate, stale, orphaned, invalid, forged). */
  eventsConsumedTotal: "autoclint_events_consumed_total",
  /**
   * counter {reason}: events dropped as forged. `subject`: the body's namespace, uid, attempt or
   * type disagrees with the subject it was published on (the subject is what the publisher's NATS
   * credential allows); `run`: the subject's uid belongs to a run other than the one the body names.
   */
  eventsForgedTotal: "autoclint_events_forged_total",
  /** counter {writer}: status writes by the reconciler and by the event consumer (coalesced: fewer than events). */
  statusWritesTotal: "autoclint_status_writes_total",
  /**
   * counter {verb, group, resource, subresource}: API requests the operator sent (watches aside), in
   * the API server's terms (apiserver_request_total's labels), so that its share can be told apart.
   */
  kubeRequestsTotal: "autoclint_kube_requests_total",
  /** counter: times the operator found the event stream or its durable consumer deleted and re-created them. */
  eventStoreRecreatedTotal: "autoclint_event_store_recreated_total",
  /** histogram: wall-clock lag from an event's wallTime to its fold into status. */
  eventLagSeconds: "autoclint_event_lag_seconds",
  /** gauge: 1 while this replica holds the leader Lease. */
  leader: "autoclint_operator_leader",
  /** gauge {kind}: objects waiting in the work queue. */
  queueDepth: "autoclint_workqueue_depth",
} as const;

/**
 * Assembly: the Kubernetes clients, informers, work queue, reconcilers, event consumer, metrics,
 * HTTP endpoints and leader election wired together. Informers only enqueue keys; reconcilers and
 * the consumer do the work, and only while this replica leads.
 */
import type { CoreV1Event, KubeConfig, V1Job, V1Pod } from "@kubernetes/client-node";
import type { AutoClintBenchmark, AutoClintPool, AutoClintRun } from "@autoclint/api";
import type { OperatorConfig } from "./config";
import { Controller } from "./controller/controller";
import { WorkQueue } from "./controller/queue";
import { kubeAuthorityStore, ensureNatsAuthority, type AuthorityStore } from "./events/authority";
import { EventConsumer } from "./events/consumer";
import { issueOperatorCredential, issueTrainerCredential, type NatsAuthority } from "./events/credentials";
import { startHttpServer, type RunningHttpServer } from "./http";
import {
  BENCHMARK_RESOURCE, POOL_RESOURCE, RUN_RESOURCE, KubeResources, connectKube, customSource, jobSource, kubeCall, orUndefinedIfNotFound, podSource,
} from "./kube/client";
import { Informer, type KubeObject, type ListWatchSource } from "./kube/informer";
import { KeepAliveKubeConfig } from "./kube/keep-alive";
import { OwnWrites } from "./kube/own-writes";
import { apiRequestKind } from "./kube/requests";
import { Tombstones } from "./kube/tombstones";
import { NotLeaderError } from "./errors";
import { LeaderElector, type LeaseApi } from "./leader";
import type { Logger } from "./log";
import { OperatorMetrics } from "./metrics";
import { BenchmarkReconciler } from "./reconcile/benchmark";
import { ANNOTATION_BENCHMARK, ANNOTATION_RUN, LABEL_BENCHMARK_UID, LABEL_POOL, LABEL_POOL_UID, LABEL_RUN_UID, MANAGED_SELECTOR } from "./reconcile/labels";
import { EventRecorder } from "./reconcile/recorder";
import { RunReconciler } from "./reconcile/run";
import { postAssignment, WarmPodClaimer } from "./reconcile/claim";
import { PoolDemand, PoolReconciler } from "./reconcile/pool";
import { backoffDelayMs } from "./controller/queue";

export interface RunningOperator {
  httpPort: number;
  metrics: OperatorMetrics;
  stop(): Promise<void>;
}

export interface OperatorHooks {
  /** Leadership was lost: the process should exit so that it restarts clean. */
  onLostLeadership?: () => void;
}

type Annotated = KubeObject & { metadata?: { annotations?: Record<string, string> } };

function leaseApi(resources: KubeResources): LeaseApi {
  const { coordination } = resources.kube;
  return {
    get: (namespace, name) => orUndefinedIfNotFound(kubeCall("get lease", () => coordination.readNamespacedLease({ namespace, name }))),
    create: (lease) => kubeCall("create lease", () => coordination.createNamespacedLease({ namespace: lease.metadata?.namespace ?? "", body: lease })),
    replace: (lease) =>
      kubeCall("update lease", () =>
        coordination.replaceNamespacedLease({ namespace: lease.metadata?.namespace ?? "", name: lease.metadata?.name ?? "", body: lease }),
      ),
  };
}

/**
 * Whether `next` differs from `previous` in status alone (and in the metadata every write moves).
 * A resync or relist re-delivers the same version: that is not an update, it is a reminder.
 */
export function statusOnlyUpdate(next: AutoClintRun, previous: AutoClintRun | undefined): boolean {
  if (!previous || previous.metadata.resourceVersion === next.metadata.resourceVersion) return false;
  const meta = (run: AutoClintRun) => [run.metadata.generation, run.metadata.deletionTimestamp, run.metadata.labels, run.metadata.annotations];
  return JSON.stringify(meta(previous)) === JSON.stringify(meta(next));
}

/**
 * The authority (made on the first start) and the operator's own credential; until they are loaded
 * nothing reconciles or consumes. An unreadable Secret (RBAC, not installed) is logged and retried.
 */
async function loadNatsIdentity(store: AuthorityStore, log: Logger, going: () => boolean): Promise<{ authority?: NatsAuthority; operatorCreds?: string }> {
  for (let failures = 1; going(); failures++) {
    try {
      const authority = await ensureNatsAuthority(store, log);
      return { authority, operatorCreds: await issueOperatorCredential(authority) };
    } catch (error) {
      log.warn("cannot load the NATS authority: retrying", { error, failures });
      await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(failures, { baseMs: 1000, maxMs: 30_000 })));
    }
  }
  return {};
}

export async function startOperator(config: OperatorConfig, kubeConfig: KubeConfig, log: Logger, hooks: OperatorHooks = {}): Promise<RunningOperator> {
  const metrics = new OperatorMetrics();
  if (kubeConfig instanceof KeepAliveKubeConfig) {
    kubeConfig.onRequest = (method, url) => {
      const kind = apiRequestKind(method, url);
      if (kind) metrics.countKubeRequest(kind);
    };
  }
  // Every write is fenced by the Lease: a replica that cannot show a renewal within the renew
  // deadline (say it was frozen and has just resumed) writes nothing.
  const resources = new KubeResources(connectKube(kubeConfig), () => {
    if (elector && !elector.holds()) throw new NotLeaderError();
  });
  const queue = new WorkQueue();
  const runApi = {
    get: (ns: string, name: string) => resources.getCustom<AutoClintRun>(RUN_RESOURCE, ns, name),
    patchStatus: (ns: string, name: string, uid: string, status: Record<string, unknown>) => resources.patchCustomStatus<AutoClintRun>(RUN_RESOURCE, ns, name, uid, status),
  };
  const informerOptions = (name: string) => ({ name, resyncMs: config.resyncSeconds * 1000, reconnect: { baseMs: 500, maxMs: 30_000 }, log });
  const controllerRef: { current?: Controller } = {};
  const enqueueRunOf = (object: Annotated) => {
    const run = object.metadata?.annotations?.[ANNOTATION_RUN];
    if (run && object.metadata?.namespace) controllerRef.current?.enqueue(RUN_RESOURCE.kind, object.metadata.namespace, run);
  };
  const byRunUid = (object: { metadata?: { labels?: Record<string, string> } }) => object.metadata?.labels?.[LABEL_RUN_UID];
  // Deleted trainer pods' final states, by run uid: an eviction's cause goes with the pod.
  const deletedPods = new Tombstones<V1Pod & KubeObject>({ ttlMs: 15 * 60_000, max: 10_000, groupOf: byRunUid });
  // Trainer Jobs and pods, cached and indexed by their run's uid: the run reconciler reads them there.
  const jobInformer = new Informer<V1Job & KubeObject>(jobSource(resources.kube, MANAGED_SELECTOR, config.watchNamespace) as ListWatchSource<V1Job & KubeObject>, {
    onUpsert: enqueueRunOf, onDelete: enqueueRunOf,
  }, { ...informerOptions("jobs"), indexBy: byRunUid });
  // A warm pool pod's changes concern its pool (and, once claimed, its run).
  const enqueuePoolOf = (pod: V1Pod) => {
    const pool = pod.metadata?.labels?.[LABEL_POOL];
    if (pool && pod.metadata?.namespace) controllerRef.current?.enqueue(POOL_RESOURCE.kind, pod.metadata.namespace, pool);
  };
  const podInformer = new Informer<V1Pod & KubeObject>(podSource(resources.kube, MANAGED_SELECTOR, config.watchNamespace) as ListWatchSource<V1Pod & KubeObject>, {
    onUpsert: (pod) => {
      enqueueRunOf(pod);
      enqueuePoolOf(pod);
    },
    onDelete: (pod) => {
      deletedPods.remember(pod);
      enqueueRunOf(pod);
      enqueuePoolOf(pod);
    },
  }, { ...informerOptions("pods"), indexBy: byRunUid });
  const ownRunWrites = new OwnWrites<AutoClintRun & KubeObject>((ns, name) => runInformer.get(ns, name));
  const poolInformer = new Informer<AutoClintPool & KubeObject>(customSource<AutoClintPool>(resources.kube, POOL_RESOURCE, config.watchNamespace) as ListWatchSource<AutoClintPool & KubeObject>, {
    onUpsert: (pool) => controllerRef.current?.enqueue(POOL_RESOURCE.kind, pool.metadata.namespace ?? "", pool.metadata.name),
    onDelete: (pool) => {
      poolDemand.forget(pool.metadata.uid ?? "");
      controllerRef.current?.enqueue(POOL_RESOURCE.kind, pool.metadata.namespace ?? "", pool.metadata.name);
    },
  }, informerOptions("autoclintpools"));
  const poolsIn = (namespace: string) => poolInformer.list().filter((pool) => pool.metadata.namespace === namespace);
  const podsOfPool = (namespace: string, poolUid: string) =>
    podInformer.list().filter((pod) => pod.metadata?.namespace === namespace && pod.metadata.labels?.[LABEL_POOL_UID] === poolUid);
  const poolDemand = new PoolDemand();
  // NATS in JWT mode: loaded (or made) once this replica leads, before any reconcile or consume.
  const nats: { authority?: NatsAuthority; operatorCreds?: string } = {};
  const issueCredential = config.natsAuthority
    ? (grant: Parameters<typeof issueTrainerCredential>[1]) => {
        if (!nats.authority) throw new Error("the NATS authority is not loaded yet: retrying");
        return issueTrainerCredential(nats.authority, grant);
      }
    : undefined;
  const claimer = new WarmPodClaimer({
    api: {
      poolsIn,
      podsOf: podsOfPool,
      patchPod: (namespace, name, patch) => resources.patchPod(namespace, name, patch),
      deletePod: (namespace, name) => resources.deletePod(namespace, name),
      assign: (url, body) => postAssignment(url, body),
    },
    metrics,
    demand: poolDemand,
    images: config.trainerImages,
    natsUrl: config.trainerNatsUrl,
    graceSeconds: config.graceSeconds,
    issueCredential,
    enqueuePool: (namespace, name) => controllerRef.current?.enqueue(POOL_RESOURCE.kind, namespace, name),
  });
  // Kubernetes Events go out beside the reconciles, not in them; 1,000 waiting is client-go's queue length too.
  const eventRecorder = new EventRecorder<CoreV1Event>({
    send: (event) => resources.createEvent(event), concurrency: 4, maxPending: 1000,
    onError: (error, event) => log.warn("recording an event failed", { error, reason: event.reason, object: event.involvedObject.name }),
    onDrop: (event) => log.warn("too many Kubernetes Events waiting: dropped one", { reason: event.reason, object: event.involvedObject.name }),
  });
  const runReconciler = new RunReconciler({
    api: {
      // The run as the informer has it (controller-runtime's cached client), or as our own last
      // status write returned it while the cache is behind that write: no GET per reconcile, and
      // no write repeated because the cache had not seen it yet.
      get: async (ns, name) => ownRunWrites.get(ns, name),
      patchStatus: (ns, name, uid, status) => ownRunWrites.write(ns, name, () => runApi.patchStatus(ns, name, uid, status)),
      jobsOf: (ns, runUid) => jobInformer.byIndex(runUid).filter((job) => job.metadata?.namespace === ns),
      podsOf: (ns, runUid) => podInformer.byIndex(runUid).filter((pod) => pod.metadata?.namespace === ns),
      deletedPods: (runUid) => deletedPods.of(runUid),
      createJob: (job) => resources.createJob(job),
      createSecret: (secret) => resources.createSecret(secret),
      getJob: (ns, name) => resources.getJob(ns, name),
      deleteJob: (ns, name) => resources.deleteJob(ns, name),
      deletePod: (ns, name) => resources.deletePod(ns, name),
      recordEvent: (event) => eventRecorder.record(event),
      // Through the own-writes too: the status write after it must not be read back from a cache at this version.
      setFinalizers: (run, finalizers) =>
        ownRunWrites.write(run.metadata.namespace ?? "", run.metadata.name, () => resources.setCustomFinalizers(RUN_RESOURCE, run, finalizers) as Promise<AutoClintRun & KubeObject>),
      purgeEvents: (namespace, name, uid) => consumer.purgeRun(namespace, name, uid),
    },
    metrics,
    claimer,
    issueCredential,
    job: {
      images: config.trainerImages,
      imagePullPolicy: config.trainerImagePullPolicy,
      natsUrl: config.trainerNatsUrl,
      graceSeconds: config.graceSeconds,
      defaultRequests: config.trainerDefaultRequests,
      tmpSizeLimit: config.trainerTmpSizeLimit,
      runAsUser: config.trainerRunAsUser,
    },
    activeRequeueMs: config.activeRequeueSeconds * 1000,
    instance: config.identity,
  });
  const enqueueBenchmarkOf = (object: Annotated) => {
    const benchmark = object.metadata?.annotations?.[ANNOTATION_BENCHMARK];
    if (benchmark && object.metadata?.namespace) controllerRef.current?.enqueue(BENCHMARK_RESOURCE.kind, object.metadata.namespace, benchmark);
  };
  const enqueueSelf = (kind: string) => (object: KubeObject) => controllerRef.current?.enqueue(kind, object.metadata?.namespace ?? "", object.metadata?.name ?? "");
  const kube = resources.kube;
  const ns = config.watchNamespace;
  // Runs, cached and indexed by their benchmark's uid: the benchmark reconciler reads its runs there.
  const runInformer = new Informer<AutoClintRun & KubeObject>(customSource<AutoClintRun>(kube, RUN_RESOURCE, ns) as ListWatchSource<AutoClintRun & KubeObject>, {
    onUpsert: (run, previous) => {
      // A status-only update (the event consumer's or the reconciler's own write) gives the
      // reconciler nothing new to act on; a benchmark, though, follows its runs' status.
      if (!statusOnlyUpdate(run, previous)) enqueueSelf(RUN_RESOURCE.kind)(run);
      enqueueBenchmarkOf(run);
      // A pool sizes itself by the runs of its class waiting for a pod.
      for (const pool of poolsIn(run.metadata.namespace ?? "")) controllerRef.current?.enqueue(POOL_RESOURCE.kind, pool.metadata.namespace ?? "", pool.metadata.name);
    },
    onDelete: (run) => {
      const { namespace = "", name } = run.metadata;
      metrics.forgetRun(namespace, name);
      enqueueBenchmarkOf(run);
    },
  }, { ...informerOptions("autoclintruns"), indexBy: (run) => run.metadata.labels?.[LABEL_BENCHMARK_UID] });
  const benchmarkReconciler = new BenchmarkReconciler({
    get: (ns, name) => resources.getCustom<AutoClintBenchmark>(BENCHMARK_RESOURCE, ns, name),
    patchStatus: (ns, name, uid, status) => resources.patchCustomStatus<AutoClintBenchmark>(BENCHMARK_RESOURCE, ns, name, uid, status),
    runsOf: (ns, benchmarkUid) => runInformer.byIndex(benchmarkUid).filter((run) => run.metadata.namespace === ns),
    createRun: (run) => resources.createCustom(RUN_RESOURCE, run),
  }, { metrics });
  const poolReconciler = new PoolReconciler({
    api: {
      get: (ns, name) => resources.getCustom<AutoClintPool>(POOL_RESOURCE, ns, name),
      patchStatus: (ns, name, uid, status) => resources.patchCustomStatus<AutoClintPool>(POOL_RESOURCE, ns, name, uid, status),
      podsOf: podsOfPool,
      runsIn: (namespace) => runInformer.list().filter((run) => run.metadata.namespace === namespace),
      createPod: (pod) => resources.createPod(pod),
      deletePod: (ns, name, resourceVersion) => resources.deletePod(ns, name, resourceVersion),
    },
    metrics,
    pod: { images: config.trainerImages, imagePullPolicy: config.trainerImagePullPolicy, runAsUser: config.trainerRunAsUser },
    demand: poolDemand,
  });
  const controller = new Controller(queue, [runReconciler, benchmarkReconciler, poolReconciler], { workers: config.workers, log, metrics });
  controllerRef.current = controller;
  const consumer = new EventConsumer({
    natsUrl: config.natsUrl, credentials: () => nats.operatorCreds, durable: config.durableConsumer, runs: runApi, metrics, log: log.child({ component: "events" }),
    // Asked only for an event whose named run does not have the subject's uid (rare): a scan of the cache.
    runNameOfUid: (namespace, uid) => runInformer.list().find((run) => run.metadata.uid === uid && run.metadata.namespace === namespace)?.metadata.name,
    streamMaxAgeMs: config.streamMaxAgeSeconds * 1000, streamMaxBytes: config.streamMaxBytes,
  });

  const informers: Informer<KubeObject>[] = [
    runInformer,
    new Informer(customSource<AutoClintBenchmark>(kube, BENCHMARK_RESOURCE, ns) as ListWatchSource<KubeObject>, {
      onUpsert: enqueueSelf(BENCHMARK_RESOURCE.kind),
      onDelete: enqueueSelf(BENCHMARK_RESOURCE.kind),
    }, informerOptions("autoclintbenchmarks")),
    jobInformer,
    podInformer,
    poolInformer,
  ] as Informer<KubeObject>[];

  let working = false;
  let consumerStarting: Promise<void> | undefined;
  const loadNatsAuthority = async () => {
    if (config.natsAuthority) Object.assign(nats, await loadNatsIdentity(kubeAuthorityStore(resources, config.natsAuthority.namespace, config.natsAuthority), log, () => working));
  };
  let authorityLoading: Promise<void> = Promise.resolve();
  const startConsumer = async () => {
    await authorityLoading;
    for (let failures = 1; working; failures++) {
      try {
        await consumer.start();
        return;
      } catch (error) {
        log.warn("event consumer failed to start: retrying", { error, failures });
        await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(failures, { baseMs: 1000, maxMs: 30_000 })));
      }
    }
  };
  const startWork = () => {
    working = true;
    metrics.setLeader(true);
    authorityLoading = loadNatsAuthority();
    for (const informer of informers) informer.start();
    // Reconcilers read the caches: they start once every informer has listed (client-go's WaitForCacheSync).
    void (async () => {
      await authorityLoading;
      while (working && informers.some((i) => !i.hasSynced)) await new Promise((resolve) => setTimeout(resolve, 100));
      if (working) controller.start();
    })();
    consumerStarting = startConsumer();
  };
  /** Kubernetes Events still waiting are sent on a graceful stop; a replica that lost the lease sends none. */
  const stopWork = async (waitingEvents: "send" | "discard") => {
    if (!working) return;
    working = false;
    if (waitingEvents === "discard") eventRecorder.discardWaiting();
    metrics.setLeader(false);
    await Promise.all(informers.map((i) => i.stop()));
    await controller.stop();
    await eventRecorder.drain(5000);
    await consumerStarting;
    await consumer.stop();
  };

  const elector = config.leaderElection
    ? new LeaderElector({
        api: leaseApi(resources), namespace: config.leaseNamespace, name: config.leaseName, identity: config.identity,
        leaseDurationMs: config.leaseDurationSeconds * 1000, renewDeadlineMs: config.renewDeadlineSeconds * 1000, retryPeriodMs: config.retryPeriodSeconds * 1000, log,
      })
    : undefined;

  const http: RunningHttpServer = await startHttpServer({
    port: config.httpPort,
    metrics,
    notReadyReason: () => {
      if (!working) return elector ? undefined : "starting"; // a standby replica is ready to take over
      if (config.natsAuthority && !nats.authority) return "the NATS authority is not loaded yet";
      const unsynced = informers.filter((i) => !i.hasSynced).length;
      if (unsynced > 0) return `${unsynced} informers not synced`;
      return consumer.notConsumingReason;
    },
  });

  if (elector) {
    elector.start({
      onStartedLeading: startWork,
      onStoppedLeading: () => {
        void stopWork("discard");
        hooks.onLostLeadership?.();
      },
    });
  } else startWork();

  return {
    httpPort: http.port,
    metrics,
    async stop() {
      await stopWork("send");
      await elector?.stop();
      await http.close();
    },
  };
}

/**
 * The operator against a real control plane (hack/cluster-up.sh: etcd, kube-apiserver with RBAC,
 * scheduler, controller-manager, kwok GPU nodes), running as a child process under the
 * ServiceAccount identity that charts/autoclint/templates/rbac.yaml grants, with a real nats-server.
 *   node hack/run-tests.mjs e2e operator
 * Skipped when .cluster/kubeconfig is missing or the API server does not answer.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, type V1Job } from "@kubernetes/client-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { eventMessageId, eventSubject, runSubjects, GROUP, VERSION, type AutoClintRun, type TrainerEvent } from "@autoclint/api";
import { freePort, startNatsServer, type TestNatsServer } from "@autoclint/api/testing";
import { eventually } from "./eventually";
import { ADMIN_KUBECONFIG, clusterAnswers, prepareOperatorNamespace, removeOperatorNamespace, spawnOperator, stopOperator } from "./local-cluster";

const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const NS = `acr-e2e-${suffix}`;
const RELEASE = `ac-e2e-${suffix}`;
const SA = `${RELEASE}-operator`;
const plural = "autoclintruns";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


const skip = clusterAnswers() ? false : `no local control plane at ${ADMIN_KUBECONFIG} (run hack/cluster-up.sh)`;

void describe("operator on a real control plane", { skip, concurrency: false }, () => {
  const admin = new KubeConfig();
  let custom: CustomObjectsApi;
  let batch: BatchV1Api;
  let core: CoreV1Api;
  let nats: TestNatsServer;
  let operator: ChildProcess;
  let operatorLog = "";
  let metricsUrl = "";
  let saKubeconfig = "";
  let httpPort = 0;

  /** The operator as a child process, ready and leading when this resolves (started again by a test that stops it). */
  const startOperatorProcess = async () => {
    operator = spawnOperator({
      kubeconfig: saKubeconfig, natsUrl: nats.url, namespace: NS, httpPort, durableConsumer: `e2e-${suffix}`, podName: `operator-${suffix}`,
      env: { AUTOCLINT_ACTIVE_REQUEUE_SECONDS: "3" },
      onOutput: (text) => (operatorLog += text),
    });
    // Ready, and leading: only the leader reconciles and consumes events.
    const leading = async () => /^autoclint_operator_leader 1$/m.test(await (await fetch(`${metricsUrl}/metrics`)).text());
    await eventually("the operator to be ready and leading", async () => ((await fetch(`${metricsUrl}/readyz`)).ok && (await leading()) ? true : undefined), 60_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\noperator log:\n${operatorLog.slice(-4000)}`);
    });
  };
  /** SIGTERM, and it exits cleanly. */
  const stopOperatorProcess = async () => {
    await stopOperator(operator);
    assert.equal(operator.exitCode, 0, `graceful shutdown\n${operatorLog.slice(-3000)}`);
  };

  // kwok nodes carry this taint; the trainer pods tolerate it the way a user's would a GPU taint.
  const kwokToleration = { tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }] };
  const runManifest = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name, namespace: NS },
    spec: { dataset: { source: { url: "https://datasets.example/fmnist.tar.gz" } }, timeBudgetSeconds: 120, ...spec },
  });
  const getRun = async (name: string) => (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural, name })) as AutoClintRun;
  const createRun = async (name: string, spec: Record<string, unknown>) =>
    (await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural, body: runManifest(name, spec) })) as AutoClintRun;
  const jobsOf = async (uid: string) => (await batch.listNamespacedJob({ namespace: NS, labelSelector: `autoclint.io/run-uid=${uid}` })).items;

  before(async () => {
    admin.loadFromFile(ADMIN_KUBECONFIG);
    custom = admin.makeApiClient(CustomObjectsApi);
    batch = admin.makeApiClient(BatchV1Api);
    core = admin.makeApiClient(CoreV1Api);
    // Exactly what the chart grants: its ServiceAccount and RBAC templates, rendered for this release.
    saKubeconfig = await prepareOperatorNamespace({ namespace: NS, release: RELEASE, serviceAccount: SA });
    nats = await startNatsServer();
    httpPort = await freePort();
    metricsUrl = `http://127.0.0.1:${httpPort}`;
    await startOperatorProcess();
  });

  after(async () => {
    if (await stopOperator(operator)) {
      assert.equal(operator.exitCode, 0, `graceful shutdown\n${operatorLog.slice(-3000)}`);
    }
    if (process.env.E2E_OPERATOR_LOG) process.stderr.write(operatorLog);
    await nats?.dispose();
    removeOperatorNamespace({ namespace: NS, release: RELEASE });
  });

  let trainerRun: AutoClintRun;
  let trainerJob: V1Job;

  void test("applying a run creates exactly one trainer Job with the GPU request, owner and security fields", async () => {
    trainerRun = await createRun("fmnist", { resources: { gpu: 1, cpu: "1", memory: "1Gi" }, scheduling: kwokToleration });
    const uid = trainerRun.metadata.uid!;
    const jobs = await eventually("the trainer Job", async () => {
      const found = await jobsOf(uid);
      return found.length > 0 ? found : undefined;
    });
    await sleep(4000); // several reconciles later, still one
    const settled = await jobsOf(uid);
    assert.equal(settled.length, 1, "exactly one Job");
    trainerJob = jobs[0]!;
    const pod = trainerJob.spec!.template.spec!;
    const container = pod.containers[0]!;
    assert.equal(container.resources!.limits!["nvidia.com/gpu"], "1");
    assert.equal(trainerJob.spec!.backoffLimit, 0);
    assert.equal(pod.activeDeadlineSeconds, 120 + 300);
    assert.ok(trainerJob.spec!.activeDeadlineSeconds! > 120);
    assert.deepEqual(trainerJob.metadata!.ownerReferences!.map((o) => [o.kind, o.uid, o.controller]), [["AutoClintRun", uid, true]]);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.securityContext!.runAsNonRoot, true);
    assert.equal(pod.securityContext!.seccompProfile!.type, "RuntimeDefault");
    assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext!.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext!.capabilities!.drop, ["ALL"]);
    assert.deepEqual(container.volumeMounts!.map((m) => m.mountPath).sort(), ["/dev/shm", "/etc/autoclint", "/tmp"]);
    assert.ok(container.env!.some((e) => e.name === "AUTOCLINT_NATS_URL" && e.value === nats.url));
    // kwok ends a Job's pod as soon as it runs unless told otherwise, so the run may already be
    // past Running: any phase after Pending shows the operator followed its pod.
    const status = await eventually("a phase past Pending", async () => {
      const run = await getRun("fmnist");
      return ["Scheduling", "Running", "Succeeded", "Failed"].includes(run.status?.phase ?? "") ? run.status : undefined;
    });
    assert.equal(status.attempts, 1);
  });

  void test("a run asking for more GPUs than any node has sits in Scheduling with the scheduler's reason", async () => {
    await createRun("too-big", { resources: { gpu: 8 }, scheduling: kwokToleration });
    const status = await eventually("the scheduler's reason in status", async () => {
      const run = await getRun("too-big");
      const scheduled = run.status?.conditions?.find((c) => c.type === "Scheduled");
      // The scheduler's reason can name a passing condition first (e.g. a node not yet ready): wait for the GPU one.
      return run.status?.phase === "Scheduling" && scheduled?.status === "False" && /Insufficient nvidia\.com\/gpu/.test(scheduled.message) ? run.status : undefined;
    }, 90_000);
    const scheduled = status.conditions!.find((c) => c.type === "Scheduled")!;
    assert.match(scheduled.message, /Insufficient nvidia\.com\/gpu/);
    assert.match(status.message ?? "", /Insufficient nvidia\.com\/gpu/);
    // Events are recorded beside the reconcile (reconcile/recorder.ts), so the status may show first.
    await eventually("a Kubernetes Event for the run", async () => {
      const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: `involvedObject.name=too-big` });
      return events.items.some((e) => e.reason === "FailedScheduling" && e.source?.component === "autoclint-operator") || undefined;
    });
  });

  void test("a spec that breaks validation is refused by the API server with a clear message", async () => {
    const both = createRun("bad-source", { dataset: { source: { path: "x", url: "https://a/b.tar" } } });
    await assert.rejects(both, (error: { code?: number; body?: unknown }) => {
      assert.equal(error.code, 422);
      assert.match(JSON.stringify(error.body), /dataset.source needs exactly one of path or url/);
      return true;
    });
    const pvcWithoutPath = createRun("bad-pvc", { dataset: { source: { pvc: "data", url: "https://a/b.tar" } } });
    await assert.rejects(pvcWithoutPath, (error: { body?: unknown }) => /pvc requires path/.test(JSON.stringify(error.body)));
    const budget = createRun("bad-budget", { timeBudgetSeconds: 1 });
    await assert.rejects(budget, (error: { body?: unknown }) => /timeBudgetSeconds/.test(JSON.stringify(error.body)));
  });

  void test("a spec the API server accepts but the operator cannot run fails with a SpecValid condition and no Job", async () => {
    const run = await createRun("zip-dataset", { dataset: { format: "idx", source: { url: "https://a/fmnist.zip" } } });
    const status = await eventually("SpecValid=False", async () => {
      const current = await getRun("zip-dataset");
      return current.status?.conditions?.some((c) => c.type === "SpecValid" && c.status === "False") ? current.status : undefined;
    });
    assert.equal(status.phase, "Failed");
    assert.match(status.message ?? "", /\.tar/);
    assert.equal((await jobsOf(run.metadata.uid!)).length, 0);
  });

  void test("NATS events for a run show up in its status and /metrics; republishing them changes nothing", async () => {
    const connection: NatsConnection = await connect({ servers: nats.url });
    try {
      const js = jetstream(connection);
      const event = (seq: number, nauc: number): TrainerEvent => ({
        version: 1, type: "nauc", run: { namespace: NS, name: "fmnist", uid: trainerRun.metadata.uid!, attempt: 0 }, seq,
        elapsedSeconds: 15 * (seq + 1), wallTime: new Date().toISOString(), split: "test", nauc, epoch: seq, lr: 0.025, imagesPerSecond: 1000,
      });
      const events = [event(0, 0.6), event(1, 0.85), event(2, 0.93)];
      const publish = (e: TrainerEvent, msgID = eventMessageId(e)) => js.publish(eventSubject(e.run, "nauc"), JSON.stringify(e), { msgID });
      for (const e of events) await eventually("a stored publish", async () => (await publish(e)) ?? undefined, 20_000);
      const status = await eventually("the learning curve in status", async () => {
        const run = await getRun("fmnist");
        return run.status?.learningCurve?.length === 3 ? run : undefined;
      });
      assert.equal(status.status!.nauc, 0.93);
      assert.ok(status.status!.alc! > 0 && status.status!.alc! < 1);
      const metrics = await (await fetch(`${metricsUrl}/metrics`)).text();
      assert.match(metrics, new RegExp(`autoclint_run_alc\\{namespace="${NS}",run="fmnist"\\} ${String(status.status!.alc).replace(".", "\\.")}`));
      assert.match(metrics, new RegExp(`autoclint_run_nauc\\{namespace="${NS}",run="fmnist"\\} 0\\.93`));
      const before = JSON.stringify({ curve: status.status!.learningCurve, alc: status.status!.alc, events: status.status!.events });
      for (const e of events) await publish(e);
      for (const e of events) await publish(e, `${eventMessageId(e)}/republished`);
      await sleep(3000);
      const again = await getRun("fmnist");
      assert.equal(JSON.stringify({ curve: again.status!.learningCurve, alc: again.status!.alc, events: again.status!.events }), before);
      assert.match(await (await fetch(`${metricsUrl}/metrics`)).text(), /autoclint_events_consumed_total\{type="nauc",outcome="duplicate"\} 3/);
    } finally {
      await connection.close();
    }
  });

  // ---- issue 11 regressions: each defect on the real control plane -------------------------

  const phaseOf = async (name: string) => (await getRun(name)).status;
  const waitPhase = (name: string, phases: string[], ms = 60_000) =>
    eventually(`${name} in ${phases.join("|")}`, async () => {
      const status = await phaseOf(name);
      return phases.includes(status?.phase ?? "") ? status! : undefined;
    }, ms, () => `\nstatus: ${JSON.stringify(lastStatus[name])}\noperator log:\n${operatorLog.slice(-2000)}`);
  const lastStatus: Record<string, unknown> = {};
  const deleteJob = (name: string) => batch.deleteNamespacedJob({ namespace: NS, name, propagationPolicy: "Background" });
  const jobGone = (uid: string) => eventually("the Job to be gone", async () => ((await jobsOf(uid)).length === 0 ? true : undefined), 60_000);

  void test("defect 1: a Succeeded run whose Job is deleted stays Succeeded; no new attempt", async () => {
    const run = await createRun("done", { scheduling: kwokToleration });
    const done = await waitPhase("done", ["Succeeded"]);
    assert.equal(done.attempts, 1);
    await deleteJob("done-a0");
    await jobGone(run.metadata.uid!);
    await sleep(8000); // the operator requeues active runs every 3 s here; a finished one must stay put
    assert.equal((await jobsOf(run.metadata.uid!)).length, 0, "no Job re-created");
    const after = await phaseOf("done");
    assert.equal(after?.phase, "Succeeded");
    assert.equal(after?.attempts, 1);
    assert.deepEqual(after?.attemptHistory, done.attemptHistory);
  });

  void test("defect 1: a running attempt whose Job is deleted ends as JobDeleted; the attempt count never goes down", async () => {
    const run = await createRun("lost-job", { image: "e2e.invalid/trainer:runs-until-deleted", scheduling: kwokToleration });
    await waitPhase("lost-job", ["Running"]);
    await deleteJob("lost-job-a0");
    const failed = await waitPhase("lost-job", ["Failed"]);
    assert.equal(failed.attempts, 1);
    assert.equal(failed.attemptHistory?.[0]?.failureClass, "JobDeleted");
    assert.match(failed.message ?? "", /JobDeleted: trainer Job lost-job-a0 was deleted while the attempt was Running/);
    await jobGone(run.metadata.uid!);
    await sleep(5000);
    assert.equal((await jobsOf(run.metadata.uid!)).length, 0, "no attempt -a0 again");
  });

  void test("defect 3: an image the kubelet cannot pull fails the run now, with the kubelet's reason, and frees the GPU", async () => {
    // kwok plays the kubelet: this image's container waits with reason ErrImagePull (hack/control-plane/kwok/stages.yaml).
    const run = await createRun("no-image", { image: "e2e.invalid/trainer:err-image-pull", scheduling: kwokToleration });
    const failed = await waitPhase("no-image", ["Failed"]);
    assert.match(failed.message ?? "", /^ImagePull: ErrImagePull: failed to pull and unpack image/);
    assert.equal(failed.conditions?.find((c) => c.type === "Succeeded")?.reason, "ImagePull");
    await jobGone(run.metadata.uid!); // deleted by the operator, long before its deadline
  });

  void test("defect 3: an Eviction-API eviction is Evicted (not NodeLost) and retried as a new attempt", async () => {
    const run = await createRun("evicted", { image: "e2e.invalid/trainer:runs-until-deleted", scheduling: kwokToleration });
    const running = await waitPhase("evicted", ["Running"]);
    const pod = running.trainerPod!;
    await core.createNamespacedPodEviction({ namespace: NS, name: pod, body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: pod, namespace: NS } } });
    const retried = await eventually("attempt 1 after the eviction", async () => {
      const status = await phaseOf("evicted");
      lastStatus.evicted = status;
      return (status?.attempts ?? 0) >= 2 ? status : undefined;
    }, 90_000, () => `\nstatus: ${JSON.stringify(lastStatus.evicted)}`);
    assert.equal(retried.attemptHistory?.[0]?.failureClass, "Evicted", JSON.stringify(retried.attemptHistory));
    assert.ok((await jobsOf(run.metadata.uid!)).some((j) => j.metadata?.name === "evicted-a1"));
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural, name: "evicted" });
  });

  void test("defect 4: a URL the schema refuses is refused by the API server; one it accepts but cannot use is SpecValid=False naming the field", async () => {
    await assert.rejects(createRun("spaced-url", { dataset: { source: { url: "https://exa mple.com/d.tar" } } }), (error: { code?: number; body?: unknown }) => {
      assert.equal(error.code, 422);
      assert.match(JSON.stringify(error.body), /dataset\.source\.url/);
      return true;
    });
    const run = await createRun("bad-port", { dataset: { source: { url: "https://example.com:99999/d.tar" } } });
    const failed = await waitPhase("bad-port", ["Failed"]);
    const specValid = failed.conditions?.find((c) => c.type === "SpecValid");
    assert.equal(specValid?.status, "False");
    assert.match(specValid?.message ?? "", /dataset\.source\.url/);
    assert.equal((await jobsOf(run.metadata.uid!)).length, 0);
    assert.doesNotMatch(operatorLog, /reconcile failed.*bad-port/);
  });

  void test("defect 2: a same-named Job of another owner is not taken for the run's; a condition names it until it goes", async () => {
    // Left over by someone else: suspended, so it holds no pod; labelled like ours, so the operator sees it go.
    await batch.createNamespacedJob({
      namespace: NS,
      body: {
        metadata: { name: "taken-a0", labels: { "app.kubernetes.io/managed-by": "autoclint-operator" }, annotations: { "autoclint.io/run": "taken" } },
        spec: { suspend: true, template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "busybox" }] } } },
      },
    });
    const run = await createRun("taken", { scheduling: kwokToleration });
    const blocked = await eventually("a JobCreated=False condition", async () => {
      const status = await phaseOf("taken");
      return status?.conditions?.find((c) => c.type === "JobCreated" && c.status === "False") ? status : undefined;
    });
    const condition = blocked.conditions!.find((c) => c.type === "JobCreated")!;
    assert.equal(condition.reason, "NameTaken");
    assert.match(condition.message, /taken-a0 already exists and is not this run's \(controller: no controller\)/);
    assert.equal(blocked.phase, "Pending");
    await deleteJob("taken-a0");
    const mine = await eventually("the run's own Job", async () => {
      const jobs = await jobsOf(run.metadata.uid!);
      return jobs.find((j) => j.metadata?.ownerReferences?.some((o) => o.uid === run.metadata.uid && o.controller));
    }, 60_000);
    assert.equal(mine.metadata?.name, "taken-a0");
  });

  void test("defect 5: the spec is immutable after creation except spec.cancel, which stops the run and frees its Job", async () => {
    const run = await createRun("edited", { image: "e2e.invalid/trainer:runs-until-deleted", scheduling: kwokToleration });
    await waitPhase("edited", ["Running"]);
    const patch = (body: unknown) =>
      custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural, name: "edited", body }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    await assert.rejects(patch({ spec: { timeBudgetSeconds: 600 } }), (error: { code?: number; body?: unknown }) => {
      assert.equal(error.code, 422);
      assert.match(JSON.stringify(error.body), /spec\.timeBudgetSeconds is immutable/);
      return true;
    });
    await assert.rejects(patch({ spec: { seed: 7 } }), (error: { body?: unknown }) => /spec\.seed is immutable/.test(JSON.stringify(error.body)));
    const generation = (await getRun("edited")).metadata.generation;
    await patch({ spec: { cancel: true } });
    const cancelled = await waitPhase("edited", ["Failed"]);
    assert.equal(cancelled.conditions?.find((c) => c.type === "Succeeded")?.reason, "Cancelled");
    assert.equal(cancelled.observedGeneration, (generation ?? 0) + 1);
    await jobGone(run.metadata.uid!);
    await assert.rejects(patch({ spec: { cancel: false } }), (error: { body?: unknown }) => /spec\.cancel cannot be set back/.test(JSON.stringify(error.body)));
  });

  void test("5 runs of 1 GPU on nodes with 3 GPUs in all: 3 run, 2 wait in Scheduling with the scheduler's reason, and start as GPUs free up", async () => {
    // Earlier tests' runs are finished or cancelled; their pods no longer hold GPUs (kwok-gpu-0 has 1, kwok-gpu-1 has 2).
    const names = ["gpu-a", "gpu-b", "gpu-c", "gpu-d", "gpu-e"];
    for (const name of names) await createRun(name, { image: "e2e.invalid/trainer:runs-until-deleted", resources: { gpu: 1 }, scheduling: kwokToleration });
    const phases = async () => Promise.all(names.map(async (name) => (await phaseOf(name))));
    const settled = await eventually("3 Running and 2 Scheduling", async () => {
      const all = await phases();
      const running = all.filter((s) => s?.phase === "Running").length;
      const waiting = all.filter((s) => s?.phase === "Scheduling" && /Insufficient nvidia\.com\/gpu/.test(s.message ?? "")).length;
      return running === 3 && waiting === 2 ? all : undefined;
    }, 90_000);
    const waiting = names.filter((_, i) => settled[i]!.phase === "Scheduling");
    const running = names.filter((_, i) => settled[i]!.phase === "Running");
    for (const name of waiting) {
      const scheduled = settled[names.indexOf(name)]!.conditions!.find((c) => c.type === "Scheduled")!;
      assert.equal(scheduled.status, "False");
      // 0/N: the kwok nodes, and the real node when the cluster has one (tainted, so not counted as free).
      assert.match(scheduled.message, /0\/\d+ nodes are available: .*Insufficient nvidia\.com\/gpu/);
    }
    // Cancelling two running runs deletes their Jobs; the GPUs go to the two that waited.
    for (const name of running.slice(0, 2)) {
      await custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: NS, plural, name, body: { spec: { cancel: true } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    }
    await eventually("the waiting runs to start", async () => {
      const all = await Promise.all(waiting.map((name) => phaseOf(name)));
      return all.every((s) => s?.phase === "Running") ? true : undefined;
    }, 90_000);
    for (const name of names) await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural, name });
  });

  void test("defect 9: a run holds the purge finalizer; deleting it purges exactly its uid's events before it goes", async () => {
    const run = await createRun("purged", { image: "e2e.invalid/trainer:runs-until-deleted", scheduling: kwokToleration });
    const uid = run.metadata.uid!;
    await eventually("the purge finalizer", async () => ((await getRun("purged")).metadata.finalizers?.includes("autoclint.io/purge-events") ? true : undefined));
    const connection = await connect({ servers: nats.url });
    try {
      const js = jetstream(connection);
      const manager = await jetstreamManager(connection);
      for (const attempt of [0, 1]) {
        const event: TrainerEvent = {
          version: 1, type: "phase", run: { namespace: NS, name: "purged", uid, attempt }, seq: 0, elapsedSeconds: 1, wallTime: new Date().toISOString(), phase: "starting",
        };
        await js.publish(eventSubject(event.run, "phase"), JSON.stringify(event), { msgID: eventMessageId(event) });
      }
      const count = async (filter: string) => Object.values((await manager.streams.info("AUTOCLINT", { subjects_filter: filter })).state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
      assert.equal(await count(runSubjects(NS, uid)), 2);
      const others = await count(runSubjects(NS, trainerRun.metadata.uid!));
      assert.ok(others > 0, "fmnist has events");
      await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural, name: "purged" });
      await eventually("the run to be gone", async () => (await getRun("purged").then(() => false, () => true)) || undefined, 60_000);
      assert.equal(await count(runSubjects(NS, uid)), 0, "its events were purged");
      assert.equal(await count(runSubjects(NS, trainerRun.metadata.uid!)), others, "another run's events stay");
    } finally {
      await connection.close();
    }
  });

  void test("defect 9: a run deleted while the operator is down is held by its finalizer; the restarted operator purges its events and lets it go", async () => {
    const run = await createRun("deleted-while-down", { image: "e2e.invalid/trainer:runs-until-deleted", scheduling: kwokToleration });
    const uid = run.metadata.uid!;
    await eventually("the purge finalizer", async () => ((await getRun("deleted-while-down")).metadata.finalizers?.includes("autoclint.io/purge-events") ? true : undefined));
    const connection = await connect({ servers: nats.url });
    try {
      const js = jetstream(connection);
      const manager = await jetstreamManager(connection);
      for (const seq of [0, 1]) {
        const event: TrainerEvent = {
          version: 1, type: "phase", run: { namespace: NS, name: "deleted-while-down", uid, attempt: 0 }, seq, elapsedSeconds: 1 + seq, wallTime: new Date().toISOString(), phase: "starting",
        };
        await js.publish(eventSubject(event.run, "phase"), JSON.stringify(event), { msgID: eventMessageId(event) });
      }
      const count = async () => Object.values((await manager.streams.info("AUTOCLINT", { subjects_filter: runSubjects(NS, uid) })).state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
      assert.equal(await count(), 2);

      await stopOperatorProcess();
      await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural, name: "deleted-while-down" });
      await sleep(3000);
      const held = await getRun("deleted-while-down");
      assert.ok(held.metadata.deletionTimestamp, "the delete was accepted");
      assert.deepEqual(held.metadata.finalizers, ["autoclint.io/purge-events"], "the finalizer holds the run while no operator can purge");
      assert.equal(await count(), 2, "its events are still stored");

      await startOperatorProcess();
      await eventually("the run to be gone", async () => (await getRun("deleted-while-down").then(() => false, () => true)) || undefined, 60_000,
        () => `\noperator log:\n${operatorLog.slice(-2000)}`);
      assert.equal(await count(), 0, "the restarted operator purged its events before releasing it");
    } finally {
      await connection.close();
    }
  });

  void test("deleting a run removes its Job (garbage collection by the controller-manager)", async () => {
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural, name: "fmnist" });
    await eventually("the Job to be collected", async () => {
      const jobs = await jobsOf(trainerRun.metadata.uid!);
      return jobs.length === 0 ? true : undefined;
    }, 90_000);
    const metrics = await eventually("the run's series to go", async () => {
      const text = await (await fetch(`${metricsUrl}/metrics`)).text();
      return text.includes(`run="fmnist"`) ? undefined : text;
    }, 20_000);
    assert.doesNotMatch(metrics, /run="fmnist"/);
  });
});

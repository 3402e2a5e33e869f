/**
 * Fault tests on a real control plane (hack/cluster-up.sh) with a real nats-server (JetStream file
 * store): the operator SIGKILLed while events flow, and nats-server restarted while events flow.
 * Either way every event reaches the run's status once: the event count is exact and status ALC
 * equals, to 1e-9, the ALC of the published curve by the shared scorer (`alc()` of @autoclint/api,
 * the function the trainer's result.json ALC comes from). The test publishes the events as a
 * trainer does (JetStream, message id `<uid>/<attempt>/<seq>`): a stand-in for a trainer pod.
 *   node hack/run-tests.mjs e2e faults
 * Skipped when .cluster/kubeconfig is missing or the API server does not answer.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { alc, eventMessageId, eventSubject, GROUP, VERSION, type AutoClintRun, type TrainerEvent } from "@autoclint/api";
import { freePort, startNatsServer, type TestNatsServer } from "@autoclint/api/testing";
import { eventually } from "./eventually";
import { ADMIN_KUBECONFIG, clusterAnswers, prepareOperatorNamespace, removeOperatorNamespace, spawnOperator, stopOperator } from "./local-cluster";

const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const NS = `faults-e2e-${suffix}`;
const RELEASE = `fa-e2e-${suffix}`;
const SA = `${RELEASE}-operator`;
const BUDGET = 300;
const EVENTS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface MalformedSpec {
  /** The field the refusal or the SpecValid condition must name. */
  field: string;
  spec: Record<string, unknown>;
  name?: string;
}

/**
 * Malformed specs generated from the schema's shape: every field given values of the wrong types,
 * values out of range, bad URLs, missing required parts, unknown fields, 1 MB strings and bad
 * names. Each one is invalid: a test that expects a refusal or SpecValid=False for each can fail.
 */
function malformedSpecs(): MalformedSpec[] {
  const valid = (): Record<string, unknown> => ({ dataset: { source: { url: "https://datasets.example/d.tar" } }, timeBudgetSeconds: 120 });
  const at = (field: string, value: unknown): MalformedSpec => {
    const spec = valid();
    const path = field.split(".");
    let node = spec;
    for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[path.at(-1)!] = value;
    return { field, spec };
  };
  const wrongTypes: [string, unknown[]][] = [
    ["timeBudgetSeconds", ["300", 3.5, [], {}]], ["engine", [7, "jax"]], ["seed", ["1", 0.5]], ["image", [5, [], ""]], ["cancel", ["yes", 1]],
    ["dataset", ["d.tar", 5]], ["dataset.name", [5, {}]], ["dataset.format", [1, "zip"]], ["dataset.source", ["https://x/d.tar", []]],
    ["dataset.source.url", [5, {}, ["https://x/d.tar"]]],
    ["model", ["resnet", 3]], ["model.arch", ["resnet50", 1]], ["model.weights", [5, {}]], ["model.tau", ["8", {}]],
    ["augmentation", ["fast", 1]], ["augmentation.strategy", ["autoaugment", 2]], ["augmentation.subPolicies", ["3", 2.5]],
    ["augmentation.trials", ["100", 1.5]], ["augmentation.keep", ["5", []]], ["augmentation.minSecondsLeft", ["120", 0.5]],
    ["resources", ["1 gpu", 1]], ["resources.gpu", ["1", 1.5]], ["resources.gpuResourceName", [5, "Nvidia GPU"]], ["resources.cpu", ["four", [], -1]],
    ["resources.memory", ["16 GB", {}]], ["resources.shmSize", ["1 gig", true]],
    ["scheduling", ["gpu-pool", 1]], ["scheduling.nodeSelector", ["pool=a", [], { pool: 5 }]], ["scheduling.tolerations", [{}, "gpu"]],
    ["scheduling.priorityClassName", [5, []]], ["scheduling.runtimeClassName", [5, {}]], ["scheduling.maxGpuWaitSeconds", ["600", 1.5]],
    ["retries", [3, "always"]], ["retries.limit", ["2", 0.5]], ["retries.onFailure", ["Evicted", ["Nope"], [5]]],
  ];
  const outOfRange: [string, unknown[]][] = [
    ["timeBudgetSeconds", [1, 9, 86_401, -5]], ["seed", [-1]], ["resources.gpu", [-1, 17]], ["model.tau", [0, -1, 65]],
    ["augmentation.subPolicies", [0, 26]], ["augmentation.trials", [0, 1001]], ["augmentation.keep", [0, 101]], ["augmentation.minSecondsLeft", [-1]],
    ["retries.limit", [-1, 11]], ["scheduling.maxGpuWaitSeconds", [-1, 7 * 86_400 + 1]], ["scheduling.priorityClassName", ["p".repeat(254)]],
  ];
  const mb = "x".repeat(1024 * 1024);
  const cases: MalformedSpec[] = [
    ...wrongTypes.flatMap(([field, values]) => values.map((v) => at(field, v))),
    ...outOfRange.flatMap(([field, values]) => values.map((v) => at(field, v))),
    // Bad URLs: the API server's format and pattern, or the operator's own checks (SpecValid).
    ...["ftp://datasets.example/d.tar", "https://exa mple.com/d.tar", "notaurl", "//datasets.example/d.tar", `https://x/${mb}.tar`].map((u) => at("dataset.source.url", u)),
    ...["https://datasets.example:99999/d.tar", "https://datasets.example/d.zip", "https://datasets.example/"].map((u) => at("dataset.source.url", u)),
    // Missing and contradicting parts.
    { field: "dataset", spec: { timeBudgetSeconds: 120 } },
    { field: "source", spec: { dataset: {}, timeBudgetSeconds: 120 } },
    { field: "source", spec: { dataset: { source: {} }, timeBudgetSeconds: 120 } },
    { field: "source", spec: { dataset: { source: { path: "d", url: "https://x/d.tar" } }, timeBudgetSeconds: 120 } },
    { field: "pvc", spec: { dataset: { source: { pvc: "data", url: "https://x/d.tar" } }, timeBudgetSeconds: 120 } },
    at("augmentation", { trials: 3, keep: 5 }),
    // Unknown fields (refused under strict field validation, as kubectl does by default).
    at("foo", 1), at("dataset.bar", "x"), at("resources.gpus", 2), at("scheduling.nodeSelectors", { a: "b" }),
    // 1 MB strings.
    ...["image", "dataset.name", "model.weights", "scheduling.priorityClassName", "scheduling.runtimeClassName"].map((f) => at(f, mb)),
    { ...at("dataset.source.path", mb), spec: { dataset: { source: { path: mb } }, timeBudgetSeconds: 120 } },
    // Values the operator refuses (SpecValid=False).
    at("model.weights", "weights.bin"), at("resources.gpuResourceName", "memory"), at("scheduling.affinity", { nodeAfinity: {} }),
    { field: "dataset.source.path", spec: { dataset: { source: { pvc: "data", path: "../etc" } }, timeBudgetSeconds: 120 } },
  ];
  // Bad names.
  for (const name of ["UpperCase", "-leading-dash", "trailing-dash-", "under_score", "n".repeat(254), "n".repeat(64), "spaced name", "dotted.name", "a.b.c"]) cases.push({ field: "metadata.name", spec: valid(), name });
  return cases;
}

const skip = clusterAnswers() ? false : `no local control plane at ${ADMIN_KUBECONFIG} (run hack/cluster-up.sh)`;

void describe("faults while events flow: no event lost or counted twice", { skip, concurrency: false }, () => {
  const admin = new KubeConfig();
  let custom: CustomObjectsApi;
  let nats: TestNatsServer;
  let saKubeconfig = "";
  let operator: ChildProcess | undefined;
  let operatorLog = "";
  let httpPort = 0;

  const startOperator = async () => {
    const child = spawnOperator({
      kubeconfig: saKubeconfig, natsUrl: nats.url, namespace: NS, httpPort, durableConsumer: `faults-${suffix}`, podName: `operator-${suffix}`,
      // No leader election: the restarted process must not wait out the killed one's Lease.
      env: { AUTOCLINT_LEADER_ELECTION: "false" },
      onOutput: (text) => (operatorLog += text),
    });
    operator = child;
    await eventually("the operator to be ready", async () => {
      try {
        return (await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(2000) })).ok ? true : undefined;
      } catch {
        return undefined;
      }
    }, 60_000, () => `\n${operatorLog.slice(-3000)}`);
  };

  const createRun = async (name: string) =>
    (await custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: NS, plural: "autoclintruns",
      body: {
        apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name, namespace: NS },
        spec: { dataset: { source: { url: "https://datasets.example/fmnist.tar.gz" } }, timeBudgetSeconds: BUDGET, image: "e2e.invalid/trainer:runs-until-deleted",
          scheduling: { tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }] } },
      },
    })) as AutoClintRun;
  const getRun = async (name: string) => (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: NS, plural: "autoclintruns", name })) as AutoClintRun;

  /** The events a trainer would send: test NAUC rising over the budget, in seq order. */
  const curveEvents = (run: AutoClintRun): TrainerEvent[] =>
    Array.from({ length: EVENTS }, (_, seq) => ({
      version: 1, type: "nauc", run: { namespace: NS, name: run.metadata.name, uid: run.metadata.uid!, attempt: 0 }, seq,
      elapsedSeconds: 0.7 + seq * (BUDGET / EVENTS) * 0.97, wallTime: new Date().toISOString(), split: "test",
      nauc: 0.2 + 0.75 * (1 - Math.exp(-seq / 60)) + 0.01 * Math.sin(seq), epoch: seq, lr: 0.025, imagesPerSecond: 1000,
    }));

  /**
   * Publishes at about `perSecond`, retrying each event until JetStream stores it (the trainer's
   * publisher does the same); `fault` starts when event `faultAt` is due.
   */
  const publishAll = async (connection: NatsConnection, events: TrainerEvent[], perSecond: number, faultAt: number, midway: () => Promise<void>) => {
    const js = jetstream(connection);
    let fault: Promise<void> | undefined;
    for (const [i, event] of events.entries()) {
      if (i === faultAt) fault = midway();
      for (let tries = 0; ; tries++) {
        try {
          await js.publish(eventSubject(event.run, "nauc"), JSON.stringify(event), { msgID: eventMessageId(event), timeout: 2000 });
          break;
        } catch (error) {
          if (tries > 120) throw error;
          await sleep(250);
        }
      }
      await sleep(1000 / perSecond);
    }
    await fault;
  };

  const assertExact = async (name: string, events: TrainerEvent[]) => {
    const expected = alc(events.map((e) => ({ t: e.elapsedSeconds, nauc: (e as { nauc: number }).nauc })), BUDGET);
    const status = await eventually(`all ${events.length} events in ${name}'s status`, async () => {
      const run = await getRun(name);
      return run.status?.events?.count === events.length ? run.status : undefined;
    }, 90_000, () => `\n${operatorLog.slice(-3000)}`);
    await sleep(2000);
    const settled = (await getRun(name)).status!;
    assert.equal(settled.events!.count, events.length, "no event counted twice");
    assert.equal(settled.events!.seq, events.length - 1);
    assert.ok(Math.abs(settled.alc! - expected) <= 1e-9, `status ALC ${settled.alc} vs the scorer's ${expected}`);
    assert.equal(settled.nauc, (events.at(-1) as { nauc: number }).nauc);
    return status;
  };

  before(async () => {
    admin.loadFromFile(ADMIN_KUBECONFIG);
    custom = admin.makeApiClient(CustomObjectsApi);
    // Exactly what the chart grants: its ServiceAccount and RBAC templates, rendered for this release.
    saKubeconfig = await prepareOperatorNamespace({ namespace: NS, release: RELEASE, serviceAccount: SA });
    nats = await startNatsServer();
    httpPort = await freePort();
    await startOperator();
  });

  after(async () => {
    await stopOperator(operator);
    if (process.env.E2E_OPERATOR_LOG) process.stderr.write(operatorLog);
    await nats?.dispose();
    removeOperatorNamespace({ namespace: NS, release: RELEASE });
  });

  void test("the operator SIGKILLed mid-run: after its restart, status ALC equals the scorer's to 1e-9, every event counted once", async () => {
    const run = await createRun("killed");
    const events = curveEvents(run);
    const connection = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    try {
      // Past the 200-point cap of the status curve: a fold rebuilt from that curve would change ALC.
      await publishAll(connection, events, 100, 240, async () => {
        const exited = new Promise((r) => operator!.once("exit", r));
        operator!.kill("SIGKILL");
        await exited;
        await sleep(1000);
        await startOperator();
      });
    } finally {
      await connection.close();
    }
    await assertExact("killed", events);
  });

  void test("malformed specs: each refused by the API server or marked SpecValid=False naming the field; the operator never crashes and its error counter stays flat", async () => {
    const cases = malformedSpecs();
    assert.ok(cases.length >= 100, `${cases.length} cases`);
    const accepted: { name: string; field: string }[] = [];
    let refused = 0;
    for (const [i, c] of cases.entries()) {
      const name = c.name ?? `bad-${i}`;
      try {
        await custom.createNamespacedCustomObject({
          group: GROUP, version: VERSION, namespace: NS, plural: "autoclintruns", fieldValidation: "Strict",
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name, namespace: NS }, spec: c.spec },
        });
        accepted.push({ name, field: c.field });
      } catch (error) {
        const e = error as { code?: number; body?: unknown };
        assert.ok(e.code === 422 || e.code === 400, `case ${i} (${c.field}): ${String(error)}`);
        const body = JSON.stringify(e.body);
        assert.ok(body.includes(c.field === "metadata.name" ? "metadata.name" : c.field.split(".").at(-1)!), `case ${i}: the refusal names ${c.field}: ${body.slice(0, 400)}`);
        refused++;
      }
    }
    process.stderr.write(`# malformed specs: ${cases.length} generated, ${refused} refused by the API server, ${accepted.length} accepted and left to the operator\n`);
    for (const { name, field } of accepted) {
      const status = await eventually(`SpecValid=False on ${name}`, async () => {
        const run = await getRun(name);
        return run.status?.conditions?.some((c) => c.type === "SpecValid" && c.status === "False") ? run.status : undefined;
      }, 60_000, () => `\n${operatorLog.slice(-2000)}`);
      assert.match(status.conditions!.find((c) => c.type === "SpecValid")!.message, new RegExp(field.replaceAll(".", "\\.")));
      assert.equal(status.phase, "Failed");
    }
    const errors = async () => {
      const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      return Number(/^autoclint_reconcile_total\{kind="AutoClintRun",outcome="error"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    const before = await errors();
    await sleep(8000);
    assert.equal(await errors(), before, "no reconcile keeps failing");
    assert.equal(operator!.exitCode, null, "the operator is still running");
    assert.equal(operator!.signalCode, null);
  });

  void test("nats-server restarted mid-run (JetStream file store): the same", async () => {
    const run = await createRun("nats-restart");
    const events = curveEvents(run);
    const connection = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    try {
      await publishAll(connection, events, 100, 100, async () => {
        await nats.restart();
      });
    } finally {
      await connection.close();
    }
    await assertExact("nats-restart", events);
  });
});

/**
 * Two operator replicas on a real control plane (hack/cluster-up.sh), each a child process under
 * the chart's ServiceAccount and RBAC, sharing one Lease and one real nats-server. The leader is
 * frozen with SIGSTOP: the standby takes over within the lease duration plus a stated bound, and
 * the old leader, resumed with SIGCONT, writes nothing and exits.
 *   node hack/run-tests.mjs e2e leader
 * Skipped when .cluster/kubeconfig is missing or the API server does not answer.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess } from "node:child_process";
import { BatchV1Api, CoordinationV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { GROUP, VERSION, type AutoClintRun } from "@autoclint/api";
import { freePort, startNatsServer, type TestNatsServer } from "@autoclint/api/testing";
import { eventually } from "./eventually";
import { ADMIN_KUBECONFIG, clusterAnswers, prepareOperatorNamespace, removeOperatorNamespace, spawnOperator } from "./local-cluster";

const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const NS = `lease-e2e-${suffix}`;
const RELEASE = `le-e2e-${suffix}`;
const SA = `${RELEASE}-operator`;
const LEASE = "autoclint-operator";
// The operator's defaults, client-go's: leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s.
const LEASE_DURATION_MS = 15_000;
const RETRY_PERIOD_MS = 2_000;
/**
 * Take-over bound: the standby may have seen the last renewal up to one retry period late, and it
 * looks once per retry period; 5 s more for a loaded 2-core machine shared with other work.
 */
const TAKEOVER_BOUND_MS = LEASE_DURATION_MS + 2 * RETRY_PERIOD_MS + 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Replica {
  name: string;
  process: ChildProcess;
  url: string;
  log: string;
  exited: Promise<number | null>;
}

const skip = clusterAnswers() ? false : `no local control plane at ${ADMIN_KUBECONFIG} (run hack/cluster-up.sh)`;

void describe("two operator replicas: one leader at a time", { skip, concurrency: false }, () => {
  const admin = new KubeConfig();
  let nats: TestNatsServer;
  let saKubeconfig = "";
  const replicas: Replica[] = [];

  const startReplica = async (name: string): Promise<Replica> => {
    const port = await freePort();
    // Output arrives only after this function returns, when `replica` exists.
    const child = spawnOperator({
      kubeconfig: saKubeconfig, natsUrl: nats.url, namespace: NS, httpPort: port, durableConsumer: `lease-${suffix}`, podName: name,
      env: { AUTOCLINT_LEASE_NAME: LEASE, AUTOCLINT_ACTIVE_REQUEUE_SECONDS: "2" },
      onOutput: (text) => (replica.log += text),
    });
    const replica: Replica = { name, process: child, url: `http://127.0.0.1:${port}`, log: "", exited: new Promise((r) => child.once("exit", (code) => r(code))) };
    replicas.push(replica);
    return replica;
  };
  const leading = async (replica: Replica) => {
    try {
      return (await (await fetch(`${replica.url}/metrics`, { signal: AbortSignal.timeout(2000) })).text()).match(/^autoclint_operator_leader 1$/m) !== null;
    } catch {
      return false;
    }
  };
  const ready = async (replica: Replica) => {
    try {
      return (await fetch(`${replica.url}/readyz`, { signal: AbortSignal.timeout(2000) })).ok;
    } catch {
      return false;
    }
  };

  before(async () => {
    admin.loadFromFile(ADMIN_KUBECONFIG);
    // Exactly what the chart grants: its ServiceAccount and RBAC templates, rendered for this release.
    saKubeconfig = await prepareOperatorNamespace({ namespace: NS, release: RELEASE, serviceAccount: SA });
    nats = await startNatsServer();
  });

  after(async () => {
    for (const replica of replicas) {
      if (replica.process.exitCode !== null || replica.process.signalCode !== null) continue;
      replica.process.kill("SIGCONT");
      replica.process.kill("SIGTERM");
      await Promise.race([replica.exited, sleep(20_000)]);
      if (replica.process.exitCode === null) replica.process.kill("SIGKILL");
    }
    if (process.env.E2E_OPERATOR_LOG) for (const r of replicas) process.stderr.write(`---- ${r.name}\n${r.log}`);
    await nats?.dispose();
    removeOperatorNamespace({ namespace: NS, release: RELEASE });
  });

  void test("the leader frozen with SIGSTOP: the standby takes over within the bound; resumed, the old leader writes nothing and exits", async () => {
    const a = await startReplica(`replica-a-${suffix}`);
    await eventually("replica a to lead", async () => ((await leading(a)) ? true : undefined), 60_000, () => `\n${a.log.slice(-3000)}`);
    const b = await startReplica(`replica-b-${suffix}`);
    await eventually("replica b to be ready as a standby", async () => ((await ready(b)) ? true : undefined), 60_000, () => `\n${b.log.slice(-3000)}`);
    await sleep(2 * RETRY_PERIOD_MS);
    assert.equal(await leading(b), false, "one leader: b stands by");

    a.process.kill("SIGSTOP");
    const frozenAt = Date.now();
    await eventually("replica b to take over", async () => ((await leading(b)) ? true : undefined), TAKEOVER_BOUND_MS + 5_000, () => `\n${b.log.slice(-3000)}`);
    const tookMs = Date.now() - frozenAt;
    process.stderr.write(`# take-over after SIGSTOP: ${tookMs} ms (lease duration ${LEASE_DURATION_MS} ms, bound ${TAKEOVER_BOUND_MS} ms)\n`);
    assert.ok(tookMs >= LEASE_DURATION_MS - RETRY_PERIOD_MS, `no take-over before the lease could expire (${tookMs} ms)`);
    assert.ok(tookMs <= TAKEOVER_BOUND_MS, `take-over in ${tookMs} ms, bound ${TAKEOVER_BOUND_MS} ms`);
    const coordination = admin.makeApiClient(CoordinationV1Api);
    assert.equal((await coordination.readNamespacedLease({ namespace: NS, name: LEASE })).spec?.holderIdentity, b.name);

    // The new leader works: a run gets its Job.
    const custom = admin.makeApiClient(CustomObjectsApi);
    const run = (await custom.createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: NS, plural: "autoclintruns",
      body: {
        apiVersion: `${GROUP}/${VERSION}`, kind: "AutoClintRun", metadata: { name: "during-freeze", namespace: NS },
        spec: {
          dataset: { source: { url: "https://datasets.example/fmnist.tar.gz" } }, timeBudgetSeconds: 60, image: "e2e.invalid/trainer:runs-until-deleted",
          scheduling: { tolerations: [{ key: "kwok.x-k8s.io/node", operator: "Exists", effect: "NoSchedule" }] },
        },
      },
    })) as AutoClintRun;
    const batch = admin.makeApiClient(BatchV1Api);
    const jobsOfRun = async () => (await batch.listNamespacedJob({ namespace: NS, labelSelector: `autoclint.io/run-uid=${run.metadata.uid!}` })).items;
    await eventually("the new leader to create the run's Job", async () => ((await jobsOfRun()).length === 1 ? true : undefined), 30_000);

    // The old leader resumes: its renewal is long past the renew deadline, so it writes nothing and exits.
    const logBefore = a.log.length;
    a.process.kill("SIGCONT");
    const code = await Promise.race([a.exited, sleep(15_000).then(() => "still running")]);
    const resumedLog = a.log.slice(logBefore);
    assert.equal(code, 1, `the old leader exits on losing the lease\n${resumedLog}`);
    assert.match(resumedLog, /stopped leading/);
    assert.doesNotMatch(resumedLog, /created trainer job|deleted trainer job|became leader/, "no write after resuming");
    assert.equal((await jobsOfRun()).length, 1, "still exactly one Job");
    assert.equal((await coordination.readNamespacedLease({ namespace: NS, name: LEASE })).spec?.holderIdentity, b.name, "the Lease stays b's");
    assert.equal(await leading(b), true);
  });
});

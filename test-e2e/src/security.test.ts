/**
 * Issue 12 on a real control plane (hack/cluster-up.sh) and a real nats-server: the chart's NATS in
 * JWT mode, made ready the way `helm install` makes it (the chart's empty authority Secret and
 * ConfigMap; the operator, under the chart's ServiceAccount and RBAC, fills them; nats-server
 * starts from the chart's own nats.conf, which includes what the operator wrote), then a run whose
 * dataset URL is presigned and whose download needs a secretRef's token. The run's attempt Secret
 * is mounted the way the kubelet would (its files in a folder) and the real trainer CLI runs with
 * it: its download is refused (HTTP 403), it reports the failure over NATS with its own credential.
 * Then every object the test can list in the namespace, the Events, the operator's and the
 * trainer's logs and every event stored in NATS are searched for the URL's signature and the token.
 *   node hack/run-tests.mjs e2e security
 * Skipped when .cluster/kubeconfig is missing or the API server does not answer.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { STREAM_NAME } from "@autoclint/api";
import { freePort, startNatsServer, type TestNatsServer } from "@autoclint/api/testing";
import { issueOperatorCredential } from "../../operator/src/events/credentials";
import { eventually } from "./eventually";
import { renderChartTemplates } from "./operator-chart";
import { ADMIN_KUBECONFIG, clusterAnswers, kubectl, prepareOperatorNamespace, removeOperatorNamespace, ROOT, spawnOperator, stopOperator } from "./local-cluster";

const suffix = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const NS = `sec-e2e-${suffix}`;
const RELEASE = `sec-${suffix}`;
const SA = `${RELEASE}-operator`;
const skip = clusterAnswers() ? false : `no local control plane at ${ADMIN_KUBECONFIG} (run hack/cluster-up.sh)`;

// The secret parts: a presigned URL's signature and a bearer token, random so that nothing else holds them by chance.
const SIGNATURE = randomBytes(24).toString("hex");
const TOKEN = `tok-${randomBytes(24).toString("hex")}`;

interface KubeObject {
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; ownerReferences?: { kind: string; uid: string }[] };
  data?: Record<string, string>;
  spec?: unknown;
}
const json = <T>(args: string[]) => JSON.parse(kubectl([...args, "-o", "json"])) as T;

void describe("security on a real control plane: NATS in JWT mode, the attempt Secret, nothing secret where it can be listed", { skip, concurrency: false }, () => {
  let nats: TestNatsServer | undefined;
  let operator: ChildProcess;
  let operatorLog = "";
  let dataServer: Server;
  const requests: { url: string; authorization?: string }[] = [];
  const work = mkdtempSync(join(tmpdir(), "autoclint-security-"));
  const operatorTail = () => `\noperator log:\n${operatorLog.slice(-3000)}`;
  let natsUrl = "";
  let metricsUrl = "";

  before(async () => {
    const saKubeconfig = await prepareOperatorNamespace({ namespace: NS, release: RELEASE, serviceAccount: SA });
    // What `helm install` lays down for NATS in JWT mode (the chart's defaults): the empty authority
    // Secret and trust ConfigMap, and the server configuration.
    const natsObjects = parseAllDocuments(renderChartTemplates(ROOT, ["nats.yaml"], { name: RELEASE, namespace: NS, serviceAccount: SA }))
      .map((d) => d.toJS() as KubeObject & { data?: Record<string, string> })
      .filter(Boolean);
    const named = (kind: string, name: string) => natsObjects.find((o) => o.kind === kind && o.metadata.name === name)!;
    const authority = named("Secret", `${RELEASE}-nats-authority`);
    const trust = named("ConfigMap", `${RELEASE}-nats-auth`);
    assert.equal(authority.data, undefined, "the chart renders the authority empty");
    assert.equal(trust.data, undefined, "the chart renders the trust configuration empty");
    kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: [authority, trust] }));
    const natsConf = named("ConfigMap", `${RELEASE}-nats-config`).data!["nats.conf"]!;

    const port = await freePort();
    natsUrl = `nats://127.0.0.1:${port}`;
    const httpPort = await freePort();
    metricsUrl = `http://127.0.0.1:${httpPort}`;
    operator = spawnOperator({
      kubeconfig: saKubeconfig, natsUrl, namespace: NS, httpPort, durableConsumer: `sec-${suffix}`, podName: `operator-${suffix}`,
      // One operator, no Lease: on a loaded machine a slow Lease renewal would end it mid-test.
      env: { AUTOCLINT_ACTIVE_REQUEUE_SECONDS: "3", AUTOCLINT_LEADER_ELECTION: "false", AUTOCLINT_NATS_AUTHORITY_SECRET: authority.metadata.name, AUTOCLINT_NATS_AUTH_CONFIGMAP: trust.metadata.name },
      onOutput: (text) => (operatorLog += text),
    });
    // The NATS pod waits for the ConfigMap's key; so does this test.
    const authConf = await eventually("the operator to write the NATS trust configuration", () => {
      const data = json<{ data?: Record<string, string> }>(["-n", NS, "get", "configmap", trust.metadata.name]).data;
      return data?.["auth.conf"];
    }, 180_000, operatorTail);
    // The chart's nats.conf as the pod has it, its files where the pod's mounts put them (only the
    // paths and names a pod provides change); nats-server must accept its include.
    mkdirSync(join(work, "nats"));
    mkdirSync(join(work, "nats-auth"));
    writeFileSync(join(work, "nats-auth", "auth.conf"), authConf);
    const localConf = natsConf
      .replace(/^server_name: .*$/m, `server_name: sec-${suffix}`)
      .replace(/^pid_file: .*$/m, `pid_file: ${join(work, "nats.pid")}`)
      .replace(/^http_port: .*$/m, "")
      .replace(/^\s*store_dir: .*$/m, ""); // startNatsServer gives its own (-sd)
    assert.match(localConf, /^include "\.\.\/nats-auth\/auth\.conf"$/m, "the chart's NATS includes the operator's trust configuration");
    writeFileSync(join(work, "nats", "nats.conf"), localConf);
    nats = await startNatsServer(port, { configFile: join(work, "nats", "nats.conf") });
    await eventually("the operator to consume (its own credential) and be ready", async () => ((await fetch(`${metricsUrl}/readyz`)).ok ? true : undefined), 90_000, operatorTail);

    // The dataset host: it records what it was sent and refuses the download.
    dataServer = createServer((request, response) => {
      requests.push({ url: request.url ?? "", authorization: request.headers.authorization });
      response.writeHead(403, { "content-type": "text/plain" }).end("SignatureDoesNotMatch");
    });
    await new Promise<void>((resolve) => dataServer.listen(0, "127.0.0.1", resolve));
  });

  after(async () => {
    await stopOperator(operator);
    if (process.env.E2E_OPERATOR_LOG) process.stderr.write(operatorLog);
    await nats?.dispose();
    await new Promise((resolve) => (dataServer ? dataServer.close(resolve) : resolve(undefined)));
    removeOperatorNamespace({ namespace: NS, release: RELEASE });
    rmSync(work, { recursive: true, force: true });
  });

  test("the chart's NATS refuses a client without a credential", async () => {
    await assert.rejects(connect({ servers: natsUrl, reconnect: false, timeout: 3000 }), /Authorization|auth/i);
  });

  test("a presigned URL's secret part and a secretRef's token appear nowhere the test can list: objects, Events, operator and trainer logs, NATS", async () => {
    const address = dataServer.address() as { port: number };
    const url = `http://127.0.0.1:${address.port}/sets/fmnist.tar?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=${SIGNATURE}`;
    // create, not apply: apply would copy both into a last-applied-configuration annotation.
    kubectl(["create", "-f", "-"], JSON.stringify({
      apiVersion: "v1", kind: "List", items: [
        { apiVersion: "v1", kind: "Secret", metadata: { name: "dataset-token", namespace: NS }, stringData: { token: `Bearer ${TOKEN}` } },
        {
          apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", metadata: { name: "presigned", namespace: NS },
          spec: { dataset: { source: { url, secretRef: { name: "dataset-token", key: "token" } } }, timeBudgetSeconds: 60, resources: { gpu: 0 } },
        },
      ],
    }));
    const run = json<KubeObject>(["-n", NS, "get", "autoclintrun", "presigned"]);
    const uid = run.metadata.uid!;
    // The attempt's Secret: the manifest and the attempt's NATS credential, owned by the run.
    const secret = await eventually("the attempt's Secret", () => {
      const list = json<{ items: KubeObject[] }>(["-n", NS, "get", "secrets", "-l", `autoclint.io/run-uid=${uid}`]).items;
      return list[0];
    }, 60_000, operatorTail);
    assert.deepEqual(secret.metadata.ownerReferences?.map((o) => [o.kind, o.uid]), [["AutoClintRun", uid]]);
    const attempt = secret.metadata.labels!["autoclint.io/attempt"]!;
    const job = await eventually("the attempt's Job", () => json<{ items: KubeObject[] }>(["-n", NS, "get", "jobs", "-l", `autoclint.io/run-uid=${uid}`]).items[0], 60_000, operatorTail);
    const pod = (job.spec as { template: { metadata: { annotations?: Record<string, string> }; spec: { volumes: { secret?: { secretName: string } }[]; containers: { env: { name: string; value?: string; valueFrom?: unknown }[] }[] } } }).template;
    assert.ok(pod.spec.volumes.some((v) => v.secret?.secretName === secret.metadata.name), "the pod mounts the attempt's Secret");
    assert.equal(pod.metadata.annotations?.["autoclint.io/run-manifest"], undefined, "no manifest annotation");
    const env = Object.fromEntries(pod.spec.containers[0]!.env.map((e) => [e.name, e]));
    assert.deepEqual(env.AUTOCLINT_DATASET_CREDENTIAL!.valueFrom, { secretKeyRef: { name: "dataset-token", key: "token" } }, "the token by reference only");

    // The trainer as its pod would run it: the Secret's files in a folder, the Job's environment.
    const mounted = join(work, "mounted");
    mkdirSync(mounted);
    for (const [file, value] of Object.entries(secret.data!)) writeFileSync(join(mounted, file), Buffer.from(value, "base64"));
    assert.ok(readFileSync(join(mounted, "run.json"), "utf8").includes(SIGNATURE), "control: the manifest the trainer reads holds the signature");
    const trainerEnv: Record<string, string> = {
      PATH: process.env.PATH ?? "", HOME: work, AUTOCLINT_OUT_DIR: join(work, "out"), AUTOCLINT_CACHE: join(work, "cache"),
      AUTOCLINT_NATS_URL: natsUrl, AUTOCLINT_NATS_CREDS: join(mounted, "nats.creds"), AUTOCLINT_NATS_INBOX_PREFIX: env.AUTOCLINT_NATS_INBOX_PREFIX!.value!,
      AUTOCLINT_RUN_NAMESPACE: NS, AUTOCLINT_RUN_NAME: "presigned", AUTOCLINT_RUN_UID: uid, AUTOCLINT_ATTEMPT: attempt, AUTOCLINT_DATASET_CREDENTIAL: `Bearer ${TOKEN}`,
    };
    const trainer = spawn(process.execPath, [join(ROOT, "trainer", "bin", "autoclint.mjs"), "run", join(mounted, "run.json")], { env: trainerEnv, stdio: ["ignore", "pipe", "pipe"] });
    let trainerLog = "";
    trainer.stdout!.on("data", (c: Buffer) => (trainerLog += c.toString()));
    trainer.stderr!.on("data", (c: Buffer) => (trainerLog += c.toString()));
    const code = await new Promise<number | null>((resolve) => trainer.once("exit", resolve));
    assert.notEqual(code, 0, `the download was refused, so the trainer fails:\n${trainerLog}`);
    assert.deepEqual(requests.map((r) => [r.url, r.authorization]), [[`/sets/fmnist.tar?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=${SIGNATURE}`, `Bearer ${TOKEN}`]], "the dataset host got the whole URL and the token");
    assert.match(trainerLog, /HTTP 403/, `the trainer says why:\n${trainerLog}`);
    // Everything listable in the namespace, minus the two places the secrets are meant to be: the
    // run's own spec (the user wrote the URL there) and the two Secrets' data.
    const resources = kubectl(["api-resources", "--verbs=list", "--namespaced", "-o", "name"]).split("\n").filter(Boolean);
    const listed = json<{ items: KubeObject[] }>(["-n", NS, "get", resources.join(",")]).items;
    assert.ok(listed.some((o) => o.kind === "Event"), "Events are among the listed objects");
    assert.ok(listed.some((o) => o.kind === "Job") && listed.some((o) => o.kind === "AutoClintRun"), "the Job and the run are listed");
    const scrubbed = listed.map((o) => {
      if (o.kind === "AutoClintRun" && o.metadata.uid === uid) return { ...o, spec: undefined };
      if (o.kind === "Secret" && (o.metadata.name === secret.metadata.name || o.metadata.name === "dataset-token")) return { ...o, data: undefined };
      return o;
    });
    // Stored NATS events, read with the operator's identity (from the authority the operator stored).
    const seeds = Object.fromEntries(Object.entries(json<{ data: Record<string, string> }>(["-n", NS, "get", "secret", `${RELEASE}-nats-authority`]).data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    const reader: NatsConnection = await connect({ servers: natsUrl, authenticator: credsAuthenticator(new TextEncoder().encode(await issueOperatorCredential(seeds as never))), reconnect: false });
    const stored: string[] = [];
    try {
      const manager = await jetstreamManager(reader);
      const info = await manager.streams.info(STREAM_NAME);
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const message = await manager.streams.getMessage(STREAM_NAME, { seq }).catch(() => undefined);
        if (message) stored.push(`${message.subject} ${new TextDecoder().decode(message.data)}`);
      }
    } finally {
      await reader.close();
    }
    // Its error event, published with the attempt's own credential, is in the stream.
    assert.ok(stored.some((m) => m.startsWith(`autoclint.v1.${NS}.${uid}.${attempt}.error `)), `the trainer's error event is stored: ${stored.join("\n")}`);
    const places: Record<string, string> = {
      "listed objects (annotations, env, status, Events)": JSON.stringify(scrubbed),
      "the operator's log": operatorLog,
      "the trainer's log": trainerLog,
      "the events stored in NATS": stored.join("\n"),
    };
    for (const [place, text] of Object.entries(places)) {
      assert.ok(!text.includes(SIGNATURE), `the URL's signature is in ${place}`);
      assert.ok(!text.includes(TOKEN), `the token is in ${place}`);
      assert.ok(!text.includes("X-Amz-Signature"), `the URL's query string is in ${place}`);
    }
    // Controls: the search would have found them where they are meant to be.
    assert.ok(Buffer.from(secret.data!["run.json"]!, "base64").toString().includes(SIGNATURE));
    assert.ok(JSON.stringify(listed).includes(SIGNATURE), "the run's own spec holds the URL the user wrote");
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { attemptGrant, renderAttemptSecret, renderTrainerJob, trainerJobName, trainerManifest } from "./job";
import { runFixture } from "./fixtures";

const options = { images: { torch: "trainer:1", tfjs: "trainer-tfjs:1" }, natsUrl: "nats://nats:4222", graceSeconds: 120, runAsUser: 10001 };

void test("the trainer Job carries the GPU request, the scheduling fields and the deadlines", () => {
  const run = runFixture({
    resources: { gpu: 2, gpuResourceName: "amd.com/gpu", cpu: "4", memory: "16Gi" },
    scheduling: {
      nodeSelector: { pool: "a100" },
      tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } },
      priorityClassName: "batch-high",
      runtimeClassName: "nvidia",
      maxGpuWaitSeconds: 600,
    },
  });
  const job = renderTrainerJob(run, 1, options);
  const pod = job.spec!.template.spec!;
  const container = pod.containers[0]!;
  assert.equal(job.metadata!.name, "fmnist-a1");
  assert.equal(job.spec!.backoffLimit, 0);
  assert.equal(job.spec!.activeDeadlineSeconds, 300 + 120 + 600);
  assert.equal(pod.activeDeadlineSeconds, 300 + 120);
  assert.deepEqual(container.resources, { limits: { cpu: "4", memory: "16Gi", "amd.com/gpu": "2" }, requests: { cpu: "4", memory: "16Gi" } });
  assert.deepEqual(pod.nodeSelector, { pool: "a100" });
  assert.equal(pod.tolerations![0]!.key, "gpu");
  assert.ok(pod.affinity!.nodeAffinity);
  assert.equal(pod.priorityClassName, "batch-high");
  assert.equal(pod.runtimeClassName, "nvidia");
  assert.equal(container.image, "trainer:1");
});

void test("a run without an image gets its engine's trainer image; its own image wins", () => {
  const image = (spec: Parameters<typeof runFixture>[0]) => renderTrainerJob(runFixture(spec), 0, options).spec!.template.spec!.containers[0]!.image;
  assert.equal(image({}), "trainer:1");
  assert.equal(image({ engine: "torch" }), "trainer:1");
  assert.equal(image({ engine: "tfjs" }), "trainer-tfjs:1");
  assert.equal(image({ engine: "tfjs", image: "mine:2" }), "mine:2");
});

void test("the trainer pod meets the restricted Pod Security profile and has no API token", () => {
  const job = renderTrainerJob(runFixture(), 0, options);
  const pod = job.spec!.template.spec!;
  const container = pod.containers[0]!;
  assert.equal(pod.automountServiceAccountToken, false);
  assert.equal(pod.securityContext!.runAsNonRoot, true);
  assert.equal(pod.securityContext!.seccompProfile!.type, "RuntimeDefault");
  assert.equal(container.securityContext!.runAsNonRoot, true);
  assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext!.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext!.capabilities, { drop: ["ALL"] });
  assert.equal(container.securityContext!.seccompProfile!.type, "RuntimeDefault");
  const mounts = Object.fromEntries(container.volumeMounts!.map((m) => [m.mountPath, m.name]));
  assert.equal(mounts["/tmp"], "tmp");
  assert.equal(mounts["/dev/shm"], "dshm");
  assert.equal(pod.volumes!.find((v) => v.name === "dshm")!.emptyDir!.medium, "Memory");
});

void test("the Job is owned by its run (controller) and tells the trainer who it is", () => {
  const job = renderTrainerJob(runFixture(), 3, options);
  assert.deepEqual(job.metadata!.ownerReferences, [
    { apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", name: "fmnist", uid: "uid-1", controller: true, blockOwnerDeletion: true },
  ]);
  const env = Object.fromEntries(job.spec!.template.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
  assert.equal(env.AUTOCLINT_NATS_URL, "nats://nats:4222");
  assert.equal(env.AUTOCLINT_RUN_UID, "uid-1");
  assert.equal(env.AUTOCLINT_RUN_NAMESPACE, "team-a");
  assert.equal(env.AUTOCLINT_ATTEMPT, "3");
});

void test("the manifest and the NATS credential reach the pod as files of the attempt's Secret, owned by the run; neither is in the Job", () => {
  const run = runFixture({ dataset: { source: { url: "https://data.example/fmnist.tar?X-Amz-Signature=s3cr3t" } } });
  const credential = { creds: "-----BEGIN NATS USER JWT-----\nsecret\n", inboxPrefix: "_INBOX_AUTOCLINT.uid-1.2" };
  const secret = renderAttemptSecret(run, 2, credential);
  assert.equal(secret.metadata!.name, "autoclint-uid-1-a2", "named by the run's uid: a later same-named run never meets it");
  assert.deepEqual(secret.metadata!.ownerReferences, [
    { apiVersion: "autoclint.io/v1alpha1", kind: "AutoClintRun", name: "fmnist", uid: "uid-1", controller: true, blockOwnerDeletion: true },
  ]);
  assert.equal((JSON.parse(secret.stringData!["run.json"]!) as { metadata: { uid: string } }).metadata.uid, "uid-1");
  assert.equal(secret.stringData!["nats.creds"], credential.creds);
  const job = renderTrainerJob(run, 2, options, credential);
  const pod = job.spec!.template.spec!;
  const volume = pod.volumes!.find((v) => v.secret)!;
  assert.deepEqual(volume.secret, { secretName: "autoclint-uid-1-a2", defaultMode: 0o440 });
  const mount = pod.containers[0]!.volumeMounts!.find((m) => m.name === volume.name)!;
  assert.deepEqual([mount.mountPath, mount.readOnly], ["/etc/autoclint", true]);
  assert.deepEqual(pod.containers[0]!.args, ["run", "/etc/autoclint/run.json"]);
  const env = Object.fromEntries(pod.containers[0]!.env!.map((e) => [e.name, e.value]));
  assert.equal(env.AUTOCLINT_NATS_CREDS, "/etc/autoclint/nats.creds");
  assert.equal(env.AUTOCLINT_NATS_INBOX_PREFIX, credential.inboxPrefix);
  const text = JSON.stringify(job);
  for (const secretPart of ["s3cr3t", "BEGIN NATS USER JWT", "run-manifest"]) assert.ok(!text.includes(secretPart), `the Job holds ${secretPart}`);
  // Without NATS authentication: the manifest alone, and no credential variables.
  const plain = renderTrainerJob(run, 0, options);
  assert.equal(renderAttemptSecret(run, 0).stringData!["nats.creds"], undefined);
  assert.ok(!plain.spec!.template.spec!.containers[0]!.env!.some((e) => e.name.startsWith("AUTOCLINT_NATS_CREDS") || e.name === "AUTOCLINT_NATS_INBOX_PREFIX"));
});

void test("an attempt's credential expires after budget + grace + the longest GPU wait", () => {
  const from = new Date("2026-01-01T00:00:00Z");
  const grant = attemptGrant(runFixture({ scheduling: { maxGpuWaitSeconds: 600 } }), 1, 120, from);
  assert.deepEqual({ ...grant, expiresAt: grant.expiresAt.toISOString() }, { namespace: "team-a", name: "fmnist", uid: "uid-1", attempt: 1, expiresAt: "2026-01-01T00:17:00.000Z" });
});

void test("a GPU count of 0 asks for no GPU; a PVC source becomes a read-only mount and a plain path", () => {
  const run = runFixture({ resources: { gpu: 0 }, dataset: { source: { pvc: "datasets", path: "fmnist" } } });
  const job = renderTrainerJob(run, 0, options);
  const container = job.spec!.template.spec!.containers[0]!;
  assert.deepEqual(container.resources!.limits, {});
  assert.equal(job.spec!.template.spec!.volumes!.find((v) => v.name === "data")!.persistentVolumeClaim!.readOnly, true);
  assert.equal(trainerManifest(run).spec.dataset.source.path, "/data/fmnist");
  assert.equal(trainerManifest(run).spec.dataset.source.pvc, undefined);
});

void test("job names are deterministic and fit 63 characters", () => {
  const long = "x".repeat(80);
  assert.equal(trainerJobName(long, 2), trainerJobName(long, 2));
  assert.ok(trainerJobName(long, 2).length <= 63);
  assert.ok(trainerJobName(long, 2).endsWith("-a2"));
});

void test("a run that names no CPU or memory still requests the defaults (no limits), and /tmp is size-limited", () => {
  const pod = renderTrainerJob(runFixture(), 0, options).spec!.template.spec!;
  assert.deepEqual(pod.containers[0]!.resources, { limits: { "nvidia.com/gpu": "1" }, requests: { cpu: "500m", memory: "1Gi" } });
  assert.equal(pod.volumes!.find((v) => v.name === "tmp")!.emptyDir!.sizeLimit, "20Gi");
  const configured = renderTrainerJob(runFixture({ resources: { memory: "3Gi" } }), 0, { ...options, defaultRequests: { cpu: "2", memory: "8Gi" }, tmpSizeLimit: "50Gi" }).spec!.template.spec!;
  assert.deepEqual(configured.containers[0]!.resources, { limits: { memory: "3Gi", "nvidia.com/gpu": "1" }, requests: { cpu: "2", memory: "3Gi" } });
  assert.equal(configured.volumes!.find((v) => v.name === "tmp")!.emptyDir!.sizeLimit, "50Gi");
});

/**
 * The trainer Job of one attempt, rendered from the run as plain data. One Job per attempt, with a
 * deterministic name; the operator owns retries, so the Job itself never retries (backoffLimit 0).
 */
import type { V1EnvVar, V1Job, V1PodSecurityContext, V1PodSpec, V1Secret, V1SecurityContext, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { API_VERSION, DATASET_CREDENTIAL_ENV, DEFAULT_GPU_RESOURCE_NAME, type AutoClintRun, type AutoClintRunManifest, type Resources } from "@autoclint/api";
import { trainerCredentialExpiry, type TrainerGrant } from "../events/credentials";
import {
  ANNOTATION_RUN, LABEL_ATTEMPT, LABEL_MANAGED_BY, LABEL_NAME, LABEL_RUN_UID, MANAGED_BY, childName,
} from "./labels";

/** The trainer image for each engine, for a run or pool that names none (tfjs ships in its own image). */
export interface TrainerImages {
  torch: string;
  tfjs: string;
}

/** The image a run's (or pool's) trainer runs: its own, else the one of its engine. Pure. */
export function trainerImage(spec: { image?: string; engine?: keyof TrainerImages }, images: TrainerImages): string {
  return spec.image ?? images[spec.engine ?? "torch"];
}

export interface TrainerJobOptions {
  /** Trainer images for runs that name none. */
  images: TrainerImages;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** NATS URL the trainer publishes its events to. */
  natsUrl: string;
  /** Seconds beyond the budget for start-up, data loading and the last prediction. */
  graceSeconds: number;
  /** Non-root user the trainer runs as. */
  runAsUser: number;
  /**
   * CPU and memory requested for a run whose spec names none, so that the scheduler counts every
   * trainer (requests only: a run asks for limits itself). Default DEFAULT_TRAINER_REQUESTS.
   */
  defaultRequests?: { cpu: string; memory: string };
  /** Size limit of the trainer's writable /tmp (downloads, predictions, caches). Default DEFAULT_TMP_SIZE_LIMIT. */
  tmpSizeLimit?: string;
}

export const TRAINER_CONTAINER = "trainer";
export const MANIFEST_DIR = "/etc/autoclint";
export const MANIFEST_FILE = "run.json";
/** The attempt's NATS credential, beside the manifest in the attempt's Secret. */
export const NATS_CREDS_FILE = "nats.creds";
export const DATA_DIR = "/data";
export const DEFAULT_SHM_SIZE = "1Gi";
export const DEFAULT_TRAINER_REQUESTS = { cpu: "500m", memory: "1Gi" };
export const DEFAULT_TMP_SIZE_LIMIT = "20Gi";
export const DEFAULT_MAX_GPU_WAIT_SECONDS = 3600;

export function trainerJobName(runName: string, attempt: number): string {
  return childName(runName, `a${attempt}`);
}

/**
 * What the trainer reads: the same manifest a local `autoclint run` takes. A PVC source becomes a
 * plain path under the claim's mount point (`dataRoot`: /data in a cold pod, /data/<claim> in a
 * warm pool pod), so the trainer needs no cluster knowledge.
 */
export function trainerManifest(run: AutoClintRun, dataRoot = DATA_DIR): AutoClintRunManifest {
  const source = run.spec.dataset.source;
  const dataset = source.pvc
    ? { ...run.spec.dataset, source: { path: `${dataRoot}/${(source.path ?? "").replace(/^\/+/, "")}` } }
    : run.spec.dataset;
  return {
    apiVersion: API_VERSION,
    kind: "AutoClintRun",
    metadata: { name: run.metadata.name, namespace: run.metadata.namespace, uid: run.metadata.uid },
    spec: { ...run.spec, dataset },
  };
}

/**
 * What a trainer is told about its run beyond the manifest: the one hand-over point of run
 * identity (and, with per-run NATS credentials, of those), for a cold pod's env and a warm pod's
 * assignment alike.
 */
export function trainerRunEnvironment(run: AutoClintRun, attempt: number, options: Pick<TrainerJobOptions, "natsUrl">, credential?: AttemptCredential): Record<string, string> {
  return {
    AUTOCLINT_NATS_URL: options.natsUrl,
    AUTOCLINT_RUN_NAMESPACE: run.metadata.namespace ?? "",
    AUTOCLINT_RUN_NAME: run.metadata.name,
    AUTOCLINT_RUN_UID: run.metadata.uid ?? "",
    AUTOCLINT_ATTEMPT: String(attempt),
    // The inbox is no secret; the credential itself travels as a file (a Secret, or the claim's body).
    ...(credential ? { AUTOCLINT_NATS_INBOX_PREFIX: credential.inboxPrefix } : {}),
  };
}

/**
 * What an attempt's NATS credential grants, from `from` (the Job's creation or the warm pod's
 * claim): the attempt's own subjects until budget + grace + the longest GPU wait have passed.
 */
export function attemptGrant(run: AutoClintRun, attempt: number, graceSeconds: number, from: Date): TrainerGrant {
  return {
    namespace: run.metadata.namespace ?? "",
    name: run.metadata.name,
    uid: run.metadata.uid ?? "",
    attempt,
    expiresAt: trainerCredentialExpiry(from, {
      budgetSeconds: run.spec.timeBudgetSeconds,
      graceSeconds,
      gpuWaitSeconds: run.spec.scheduling?.maxGpuWaitSeconds ?? DEFAULT_MAX_GPU_WAIT_SECONDS,
    }),
  };
}

/** An attempt's NATS identity (credentials.ts issues it): the `.creds` text is a secret. */
export interface AttemptCredential {
  creds: string;
  inboxPrefix: string;
}

/**
 * The attempt's Secret: everything the trainer is handed that must not show in the Job, the pod or
 * their annotations: the run manifest (a dataset URL may be presigned) and the NATS credential. The
 * name carries the run's uid, so a same-named later run never meets an earlier one's Secret; it
 * is owned by the run and goes with it.
 */
export function attemptSecretName(run: AutoClintRun, attempt: number): string {
  return `autoclint-${run.metadata.uid ?? ""}-a${attempt}`;
}

export function renderAttemptSecret(run: AutoClintRun, attempt: number, credential?: AttemptCredential): V1Secret {
  const uid = run.metadata.uid ?? "";
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    immutable: true,
    metadata: {
      name: attemptSecretName(run, attempt),
      namespace: run.metadata.namespace,
      labels: { [LABEL_NAME]: "autoclint-trainer", [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_RUN_UID]: uid, [LABEL_ATTEMPT]: String(attempt) },
      annotations: { [ANNOTATION_RUN]: run.metadata.name },
      ownerReferences: [{ apiVersion: API_VERSION, kind: "AutoClintRun", name: run.metadata.name, uid, controller: true, blockOwnerDeletion: true }],
    },
    stringData: {
      [MANIFEST_FILE]: JSON.stringify(trainerManifest(run)),
      ...(credential ? { [NATS_CREDS_FILE]: credential.creds } : {}),
    },
  };
}

/** Where a trainer writes (the root filesystem is read-only): results, predictions, URL downloads. */
export const TRAINER_SCRATCH_ENV = [
  { name: "HOME", value: "/tmp" },
  { name: "AUTOCLINT_OUT_DIR", value: "/tmp/run" },
  { name: "AUTOCLINT_CACHE", value: "/tmp/cache" },
];

/** The restricted Pod Security profile, for cold trainer pods and warm pool pods alike. */
export function trainerPodSecurityContext(runAsUser: number): V1PodSecurityContext {
  return { runAsNonRoot: true, runAsUser, runAsGroup: runAsUser, fsGroup: runAsUser, seccompProfile: { type: "RuntimeDefault" } };
}

export const TRAINER_CONTAINER_SECURITY_CONTEXT: V1SecurityContext = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  privileged: false,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

export function resourceRequirements(resources: Resources = {}, defaults = DEFAULT_TRAINER_REQUESTS): { limits: Record<string, string>; requests: Record<string, string> } {
  const limits: Record<string, string> = {};
  const requests: Record<string, string> = { cpu: defaults.cpu, memory: defaults.memory };
  if (resources.cpu !== undefined) limits.cpu = requests.cpu = String(resources.cpu);
  if (resources.memory !== undefined) limits.memory = requests.memory = String(resources.memory);
  const gpus = resources.gpu ?? 1;
  // Extended resources are requested through limits (requests default to them and must match).
  if (gpus > 0) limits[resources.gpuResourceName ?? DEFAULT_GPU_RESOURCE_NAME] = String(gpus);
  return { limits, requests };
}

/**
 * The root filesystem is read-only: scratch space and the torch worker's shared tensors live here,
 * /tmp size-limited so that one trainer cannot fill the node's disk (the kubelet evicts it).
 */
export function scratchVolumes(resources: Resources = {}, tmpSizeLimit = DEFAULT_TMP_SIZE_LIMIT): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  return {
    volumes: [
      { name: "tmp", emptyDir: { sizeLimit: tmpSizeLimit } },
      { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: String(resources.shmSize ?? DEFAULT_SHM_SIZE) } },
    ],
    mounts: [
      { name: "tmp", mountPath: "/tmp" },
      { name: "dshm", mountPath: "/dev/shm" },
    ],
  };
}

function volumes(run: AutoClintRun, attempt: number, tmpSizeLimit = DEFAULT_TMP_SIZE_LIMIT): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const scratch = scratchVolumes(run.spec.resources, tmpSizeLimit);
  const list: V1Volume[] = [
    ...scratch.volumes,
    // Readable by the trainer's group (fsGroup) only.
    { name: "run", secret: { secretName: attemptSecretName(run, attempt), defaultMode: 0o440 } },
  ];
  const mounts: V1VolumeMount[] = [
    ...scratch.mounts,
    { name: "run", mountPath: MANIFEST_DIR, readOnly: true },
  ];
  const pvc = run.spec.dataset.source.pvc;
  if (pvc) {
    list.push({ name: "data", persistentVolumeClaim: { claimName: pvc, readOnly: true } });
    mounts.push({ name: "data", mountPath: DATA_DIR, readOnly: true });
  }
  return { volumes: list, mounts };
}

/** A dataset secretRef reaches the trainer by reference: the value is never in the Job, the manifest or the operator. */
function datasetCredentialEnv(run: AutoClintRun): V1EnvVar[] {
  const ref = run.spec.dataset.source.secretRef;
  return ref ? [{ name: ref.env ?? DATASET_CREDENTIAL_ENV, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } }] : [];
}

function podSpec(run: AutoClintRun, attempt: number, options: TrainerJobOptions, credential?: AttemptCredential): V1PodSpec {
  const scheduling = run.spec.scheduling ?? {};
  const { volumes: podVolumes, mounts } = volumes(run, attempt, options.tmpSizeLimit);
  const runEnv = { ...trainerRunEnvironment(run, attempt, options, credential), ...(credential ? { AUTOCLINT_NATS_CREDS: `${MANIFEST_DIR}/${NATS_CREDS_FILE}` } : {}) };
  const spec: V1PodSpec = {
    restartPolicy: "Never",
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    // Counts from the pod's start on a node, so waiting for a GPU does not eat the budget.
    activeDeadlineSeconds: run.spec.timeBudgetSeconds + options.graceSeconds,
    securityContext: trainerPodSecurityContext(options.runAsUser),
    containers: [
      {
        name: TRAINER_CONTAINER,
        image: trainerImage(run.spec, options.images),
        imagePullPolicy: options.imagePullPolicy,
        args: ["run", `${MANIFEST_DIR}/${MANIFEST_FILE}`],
        env: [...Object.entries(runEnv).map(([name, value]) => ({ name, value })), ...TRAINER_SCRATCH_ENV, ...datasetCredentialEnv(run)],
        resources: resourceRequirements(run.spec.resources, options.defaultRequests),
        volumeMounts: mounts,
        // The trainer writes its own error there; the operator shows it when an attempt fails.
        terminationMessagePolicy: "FallbackToLogsOnError",
        securityContext: TRAINER_CONTAINER_SECURITY_CONTEXT,
      },
    ],
    volumes: podVolumes,
  };
  if (scheduling.nodeSelector) spec.nodeSelector = scheduling.nodeSelector;
  if (scheduling.tolerations) spec.tolerations = scheduling.tolerations;
  if (scheduling.affinity) spec.affinity = scheduling.affinity as V1PodSpec["affinity"];
  if (scheduling.priorityClassName) spec.priorityClassName = scheduling.priorityClassName;
  if (scheduling.runtimeClassName) spec.runtimeClassName = scheduling.runtimeClassName;
  return spec;
}

/** The attempt's Job; its pod reads the manifest (and credential) from the attempt's Secret (renderAttemptSecret). */
export function renderTrainerJob(run: AutoClintRun, attempt: number, options: TrainerJobOptions, credential?: AttemptCredential): V1Job {
  const uid = run.metadata.uid ?? "";
  const labels = {
    [LABEL_NAME]: "autoclint-trainer",
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_RUN_UID]: uid,
    [LABEL_ATTEMPT]: String(attempt),
  };
  const maxGpuWait = run.spec.scheduling?.maxGpuWaitSeconds ?? DEFAULT_MAX_GPU_WAIT_SECONDS;
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: trainerJobName(run.metadata.name, attempt),
      namespace: run.metadata.namespace,
      labels,
      annotations: { [ANNOTATION_RUN]: run.metadata.name },
      ownerReferences: [{ apiVersion: API_VERSION, kind: "AutoClintRun", name: run.metadata.name, uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      // The whole attempt: waiting for a GPU (bounded by maxGpuWaitSeconds) plus budget plus grace.
      activeDeadlineSeconds: run.spec.timeBudgetSeconds + options.graceSeconds + maxGpuWait,
      template: {
        metadata: {
          labels,
          annotations: { [ANNOTATION_RUN]: run.metadata.name },
        },
        spec: podSpec(run, attempt, options, credential),
      },
    },
  };
}

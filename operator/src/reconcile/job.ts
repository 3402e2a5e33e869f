/**
 * The trainer Job of one attempt, rendered from the run as plain data. One Job per attempt, with a
 * deterministic name; the operator owns retries, so the Job itself never retries (backoffLimit 0).
 */
import type { V1Job, V1PodSecurityContext, V1PodSpec, V1SecurityContext, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { API_VERSION, DEFAULT_GPU_RESOURCE_NAME, type AutoClintRun, type AutoClintRunManifest, type Resources } from "@autoclint/api";
import {
  ANNOTATION_MANIFEST, ANNOTATION_RUN, LABEL_ATTEMPT, LABEL_MANAGED_BY, LABEL_NAME, LABEL_RUN_UID, MANAGED_BY, childName,
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
export function trainerRunEnvironment(run: AutoClintRun, attempt: number, options: Pick<TrainerJobOptions, "natsUrl">): Record<string, string> {
  return {
    AUTOCLINT_NATS_URL: options.natsUrl,
    AUTOCLINT_RUN_NAMESPACE: run.metadata.namespace ?? "",
    AUTOCLINT_RUN_NAME: run.metadata.name,
    AUTOCLINT_RUN_UID: run.metadata.uid ?? "",
    AUTOCLINT_ATTEMPT: String(attempt),
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

function volumes(run: AutoClintRun, tmpSizeLimit = DEFAULT_TMP_SIZE_LIMIT): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const scratch = scratchVolumes(run.spec.resources, tmpSizeLimit);
  const list: V1Volume[] = [
    ...scratch.volumes,
    {
      name: "run-manifest",
      downwardAPI: { items: [{ path: MANIFEST_FILE, fieldRef: { fieldPath: `metadata.annotations['${ANNOTATION_MANIFEST}']` } }] },
    },
  ];
  const mounts: V1VolumeMount[] = [
    ...scratch.mounts,
    { name: "run-manifest", mountPath: MANIFEST_DIR, readOnly: true },
  ];
  const pvc = run.spec.dataset.source.pvc;
  if (pvc) {
    list.push({ name: "data", persistentVolumeClaim: { claimName: pvc, readOnly: true } });
    mounts.push({ name: "data", mountPath: DATA_DIR, readOnly: true });
  }
  return { volumes: list, mounts };
}

function podSpec(run: AutoClintRun, attempt: number, options: TrainerJobOptions): V1PodSpec {
  const scheduling = run.spec.scheduling ?? {};
  const { volumes: podVolumes, mounts } = volumes(run, options.tmpSizeLimit);
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
        env: [...Object.entries(trainerRunEnvironment(run, attempt, options)).map(([name, value]) => ({ name, value })), ...TRAINER_SCRATCH_ENV],
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

export function renderTrainerJob(run: AutoClintRun, attempt: number, options: TrainerJobOptions): V1Job {
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
          annotations: { [ANNOTATION_RUN]: run.metadata.name, [ANNOTATION_MANIFEST]: JSON.stringify(trainerManifest(run)) },
        },
        spec: podSpec(run, attempt, options),
      },
    },
  };
}

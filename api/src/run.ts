/**
 * The AutoClintRun spec: the one source of truth for what a run asks for. The CRD manifest
 * (crds/) and the TypeScript types are both generated from these schemas.
 */
import { FormatRegistry, Type, type Static } from "@sinclair/typebox";
import { Affinity, Conditions, OBJECT_NAME, ObjectMeta, Quantity, Toleration } from "./kube";
import { SubPolicy } from "./policy";

export const GROUP = "autoclint.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

const Description = (text: string) => ({ description: text });

/**
 * `format: uri` as TypeBox checks it (the API server checks its own, Go's url.ParseRequestURI):
 * an absolute URL that WHATWG parsing accepts, with no whitespace. Registered where the schemas
 * live, so every Value.Check of them knows the format.
 */
export function isUri(value: string): boolean {
  return !/\s/.test(value) && URL.canParse(value);
}
if (!FormatRegistry.Has("uri")) FormatRegistry.Set("uri", isUri);

/** Environment variable through which the trainer gets a dataset secretRef's value (never the manifest, never a log). */
export const DATASET_CREDENTIAL_ENV = "AUTOCLINT_DATASET_CREDENTIAL";

export const DatasetSecretRef = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 253, pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description: "Secret in the run's namespace." }),
    key: Type.String({ minLength: 1, maxLength: 253, pattern: "^[-._a-zA-Z0-9]+$", description: "Key in the Secret whose value is the credential." }),
    header: Type.Optional(
      Type.String({
        minLength: 1, maxLength: 128, pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        description: "HTTP header that carries the value on the download (default Authorization, e.g. with a value `Bearer <token>`).",
      }),
    ),
    env: Type.Optional(
      Type.String({
        minLength: 1, maxLength: 128, pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
        description: "Instead of a header: the environment variable of the trainer container that holds the value (for an image that reads it itself).",
      }),
    ),
  },
  {
    description:
      "A credential for the dataset download, from a Secret in the run's namespace: sent as an HTTP header (default) or set as an environment variable. The operator never reads it; the trainer's pod gets it by reference. Runs with one are served cold, never by a warm pool.",
    "x-kubernetes-validations": [{ rule: "!(has(self.header) && has(self.env))", message: "dataset.source.secretRef takes header or env, not both" }],
  },
);
export type DatasetSecretRef = Static<typeof DatasetSecretRef>;

export const DatasetSource = Type.Object(
  {
    path: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description: "Folder holding the dataset: a local path for `autoclint run`, or a path inside `pvc` on a cluster.",
      }),
    ),
    pvc: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: "PersistentVolumeClaim mounted read-only at /data; `path` is relative to it." })),
    url: Type.Optional(
      Type.String({ format: "uri", pattern: "^https?://", maxLength: 2048, description: "HTTP(S) URL of a .tar or .tar.gz of the dataset folder." }),
    ),
    secretRef: Type.Optional(DatasetSecretRef),
  },
  {
    ...Description("Where the dataset lives: `path` (optionally inside `pvc`) or `url`."),
    // Rules that span fields: the API server enforces them (CEL), the generator copies them into the CRD.
    "x-kubernetes-validations": [
      { rule: "has(self.path) != has(self.url)", message: "dataset.source needs exactly one of path or url" },
      { rule: "!has(self.pvc) || has(self.path)", message: "dataset.source.pvc requires path (the dataset folder inside the claim)" },
      { rule: "!has(self.secretRef) || has(self.url)", message: "dataset.source.secretRef is a credential for the download: it requires url" },
    ],
  },
);

export const DatasetFormat = Type.Union(
  [Type.Literal("autodl"), Type.Literal("image-folder"), Type.Literal("idx")],
  { default: "autodl", description: "autodl: TFRecord + metadata.textproto; image-folder: a folder per class; idx: MNIST-style idx files." },
);

export const Dataset = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 253, description: "Task name used in prediction file names (<task>.predict_N). Defaults to the folder name." })),
  format: Type.Optional(DatasetFormat),
  source: DatasetSource,
});

export const AugmentationStrategy = Type.Union(
  [Type.Literal("none"), Type.Literal("random"), Type.Literal("fast-autoaugment-light")],
  { default: "fast-autoaugment-light", description: "Augmentation policy search." },
);

export const Augmentation = Type.Object(
  {
    strategy: Type.Optional(AugmentationStrategy),
    subPolicies: Type.Optional(Type.Integer({ minimum: 1, maximum: 25, default: 3, description: "C: sub-policies drawn per trial." })),
    trials: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: "T: trials of the search." })),
    keep: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 5, description: "N: best trials whose sub-policies are kept." })),
    minSecondsLeft: Type.Optional(
      Type.Integer({ minimum: 0, default: 120, description: "The search starts only with more than this many seconds of budget left (AutoCLINT: 120)." }),
    ),
  },
  {
    "x-kubernetes-validations": [
      { rule: "!has(self.keep) || !has(self.trials) || self.keep <= self.trials", message: "augmentation.keep cannot exceed augmentation.trials" },
    ],
  },
);

export const Model = Type.Object({
  arch: Type.Optional(Type.Union([Type.Literal("resnet18")], { default: "resnet18" })),
  weights: Type.Optional(
    Type.String({ maxLength: 4096, description: "Pretrained ImageNet weights (safetensors or torchvision .pth). Random init when absent." }),
  ),
  tau: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 64, default: 8, description: "Softmax annealing temperature: logits / tau." })),
});

export const Anytime = Type.Object({
  quickModel: Type.Optional(
    Type.Boolean({
      default: true,
      description:
        "A ridge model on downsampled pixels makes the first test prediction within seconds of start, while the engine starts; the network replaces it once it scores better on valid. false: network predictions only (fidelity runs).",
    }),
  ),
});

export const Engine = Type.Union([Type.Literal("torch"), Type.Literal("tfjs")], {
  default: "torch",
  description: "Compute engine: torch (Python worker, CUDA when present) or tfjs.",
});

export const DEFAULT_GPU_RESOURCE_NAME = "nvidia.com/gpu";

export const Resources = Type.Object(
  {
    gpu: Type.Optional(Type.Integer({ minimum: 0, maximum: 16, default: 1, description: "GPUs requested by the trainer pod (0 runs on CPU)." })),
    gpuResourceName: Type.Optional(
      Type.String({
        default: DEFAULT_GPU_RESOURCE_NAME,
        pattern: "^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$",
        maxLength: 253,
        description: "Extended resource that names a GPU on the nodes, e.g. nvidia.com/gpu or amd.com/gpu.",
      }),
    ),
    cpu: Type.Optional(Quantity("CPU requested and limited, e.g. \"4\" or \"3500m\".")),
    memory: Type.Optional(Quantity("Memory requested and limited, e.g. \"16Gi\".")),
    shmSize: Type.Optional(Quantity("Size limit of the in-memory /dev/shm (data loaders and the torch worker share tensors through it).")),
  },
  Description("Compute the trainer pod asks for."),
);

export const Scheduling = Type.Object(
  {
    nodeSelector: Type.Optional(
      Type.Record(Type.String(), Type.String({ maxLength: 63 }), { maxProperties: 64, description: "Node labels the trainer pod requires." }),
    ),
    tolerations: Type.Optional(Type.Array(Toleration, { maxItems: 32, description: "Taints the trainer pod tolerates (GPU nodes are often tainted)." })),
    affinity: Type.Optional(Affinity),
    priorityClassName: Type.Optional(Type.String({ maxLength: 253 })),
    runtimeClassName: Type.Optional(Type.String({ maxLength: 253, description: "e.g. nvidia, where the GPU runtime is not the default." })),
    maxGpuWaitSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 7 * 86400,
        default: 3600,
        description: "How long the trainer may wait for a GPU before the attempt fails; waiting does not count against the budget.",
      }),
    ),
  },
  Description("Where the trainer pod may run."),
);

/** Why an attempt failed: what a retry policy matches on. */
export const FAILURE_CLASSES = [
  "OOMKilled", "Error", "ImagePull", "ContainerConfig", "Evicted", "NodeLost", "NodeRejected", "DeadlineExceeded", "JobDeleted", "Unknown",
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];
export const FailureClassSchema = Type.Union(
  FAILURE_CLASSES.map((c) => Type.Literal(c)),
  {
    description:
      "OOMKilled: out of memory; Error: the trainer exited non-zero (its message is kept); ImagePull: the kubelet cannot pull the image (ErrImagePull, ImagePullBackOff, InvalidImageName); ContainerConfig: the kubelet cannot create the container (CreateContainerConfigError, CreateContainerError); Evicted: evicted or preempted; NodeLost: the node went away; NodeRejected: the kubelet refused the pod at admission (e.g. UnexpectedAdmissionError); DeadlineExceeded: budget plus grace, or scheduling.maxGpuWaitSeconds, ran out; JobDeleted: the attempt's Job was deleted while it ran; Unknown: anything else.",
  },
);

export const Retries = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 2, description: "Retries after the first attempt: at most limit + 1 attempts." })),
    onFailure: Type.Optional(
      Type.Array(FailureClassSchema, {
        maxItems: FAILURE_CLASSES.length,
        default: ["Evicted", "NodeLost", "NodeRejected"],
        description: "Failure classes that are retried. Infrastructure failures by default: a trainer bug or OOM fails the same way again.",
      }),
    ),
  },
  Description("Retry policy for failed attempts. Each attempt is a new trainer Job."),
);

export const AutoClintRunSpec = Type.Object({
  dataset: Dataset,
  timeBudgetSeconds: Type.Integer({ minimum: 10, maximum: 86400, default: 1200, description: "T: the compute budget; no prediction is made after it." }),
  engine: Type.Optional(Engine),
  model: Type.Optional(Model),
  augmentation: Type.Optional(Augmentation),
  anytime: Type.Optional(Anytime),
  seed: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  resources: Type.Optional(Resources),
  scheduling: Type.Optional(Scheduling),
  retries: Type.Optional(Retries),
  image: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: "Trainer image; the operator's default when absent." })),
  cancel: Type.Optional(
    Type.Boolean({
      description:
        "Set to true to stop the run: its trainer Job is deleted and the run ends Failed with reason Cancelled. The only field that may change after creation (the rest of the spec is immutable), and it cannot be set back.",
    }),
  ),
});

/** Spec fields a user may change after creation; every other one is immutable (see crd.ts). */
export const MUTABLE_SPEC_FIELDS = ["cancel"] as const;

export type AutoClintRunSpec = Static<typeof AutoClintRunSpec>;
export type Resources = Static<typeof Resources>;
export type Scheduling = Static<typeof Scheduling>;
export type Retries = Static<typeof Retries>;
export type DatasetSource = Static<typeof DatasetSource>;

// ----------------------------------------------------------------------------------------------
// Status: written by the operator only, through the status subresource.

export const RUN_PHASES = ["Pending", "Scheduling", "Running", "Succeeded", "Failed"] as const;
export type RunPhase = (typeof RUN_PHASES)[number];
export const RunPhaseSchema = Type.Union(
  RUN_PHASES.map((p) => Type.Literal(p)),
  { description: "Pending: accepted, no trainer pod yet; Scheduling: waiting for a node (and a GPU); Running; Succeeded; Failed." },
);

/**
 * Points of the learning curve the status carries. Every status write costs the API server in
 * proportion to the object's size (decode, merge, schema validation, encode; CEL rules do not
 * show): measured with bench/status-write-cost.ts, 27 ms of its CPU per write with 200 points
 * against 16 ms with 50. ALC does not depend on it (status.alc comes from an exact accumulator),
 * and a real run rarely makes 50 test predictions; the whole curve is in the trainer's result.
 */
export const LEARNING_CURVE_CAP = 50;

export const CurvePointSchema = Type.Object({
  t: Type.Number({ description: "Seconds since the trainer started." }),
  nauc: Type.Number(),
});

export const AttemptStatus = Type.Object({
  attempt: Type.Integer({ minimum: 0 }),
  job: Type.String(),
  pod: Type.Optional(Type.String()),
  phase: RunPhaseSchema,
  failureClass: Type.Optional(FailureClassSchema),
  message: Type.Optional(Type.String()),
  gpuWaitSeconds: Type.Optional(Type.Number({ minimum: 0 })),
  computeSeconds: Type.Optional(Type.Number({ minimum: 0 })),
});
export type AttemptStatus = Static<typeof AttemptStatus>;

export const RunStartup = Type.Object(
  {
    mode: Type.Union([Type.Literal("warm"), Type.Literal("cold")], { description: "warm: a pool's standby pod took the run; cold: a trainer Job was created for it." }),
    pool: Type.Optional(Type.String({ description: "The pool whose warm pod served the run." })),
    queuedSeconds: Type.Optional(Type.Number({ minimum: 0, description: "kubectl apply to the attempt's start (its Job created, or its warm pod claimed)." })),
    schedulingSeconds: Type.Optional(Type.Number({ minimum: 0, description: "The trainer pod's creation to its placement on a node (0 warm: placed before the run)." })),
    pullingSeconds: Type.Optional(Type.Number({ minimum: 0, description: "Placement to the trainer container's start: image pull and container creation (0 warm)." })),
    trainerStartSeconds: Type.Optional(Type.Number({ minimum: 0, description: "kubectl apply to the trainer clock's zero (the claim, warm; the container's start, cold). Engine start-up is on the trainer's clock (cold) or done before (warm)." })),
    firstPredictionSeconds: Type.Optional(Type.Number({ minimum: 0, description: "kubectl apply to the first scored prediction." })),
    alcApplyClock: Type.Optional(Type.Number({ description: "ALC of the learning curve on the clock that starts at kubectl apply (status.alc is on the trainer's clock)." })),
  },
  Description("The latest attempt's start-up, to about a second (Kubernetes timestamps)."),
);
export type RunStartup = Static<typeof RunStartup>;

export const AutoClintRunStatus = Type.Object({
  phase: Type.Optional(RunPhaseSchema),
  observedGeneration: Type.Optional(Type.Integer()),
  conditions: Type.Optional(Conditions),
  message: Type.Optional(Type.String()),
  attempts: Type.Optional(Type.Integer({ minimum: 0, description: "Trainer Jobs created so far." })),
  attemptHistory: Type.Optional(Type.Array(AttemptStatus, { maxItems: 16 })),
  trainerPod: Type.Optional(Type.String()),
  startTime: Type.Optional(Type.String({ format: "date-time" })),
  completionTime: Type.Optional(Type.String({ format: "date-time" })),
  gpuWaitSeconds: Type.Optional(Type.Number({ minimum: 0, description: "Seconds trainer pods waited to be placed (and get a GPU), all attempts." })),
  computeSeconds: Type.Optional(Type.Number({ minimum: 0, description: "Seconds trainer containers ran, all attempts." })),
  startup: Type.Optional(RunStartup),
  trainerPhase: Type.Optional(Type.String({ description: "The trainer's own phase: exploring, training, searching, ..." })),
  elapsedSeconds: Type.Optional(Type.Number({ description: "The trainer's clock at its latest event." })),
  nauc: Type.Optional(Type.Number({ description: "Latest test NAUC." })),
  validNauc: Type.Optional(Type.Number({ description: "Latest valid NAUC." })),
  alc: Type.Optional(Type.Number({ description: "ALC of the test learning curve so far." })),
  finalAlc: Type.Optional(Type.Number({ description: "ALC when the run finished (the trainer's result)." })),
  learningCurve: Type.Optional(Type.Array(CurvePointSchema, { maxItems: LEARNING_CURVE_CAP, description: `Test NAUC over time: at most ${LEARNING_CURVE_CAP} points, the first, the last and evenly spaced ones between (alc is exact, not computed from them).` })),
  chosenPolicy: Type.Optional(Type.Array(SubPolicy, { maxItems: 125, description: "Sub-policies the augmentation search kept." })),
  events: Type.Optional(
    Type.Object(
      {
        attempt: Type.Integer({ minimum: 0 }),
        seq: Type.Integer({ minimum: -1 }),
        count: Type.Integer({ minimum: 0 }),
        alcArea: Type.Optional(
          Type.Number({ description: "ALC accumulator: the area under the test curve up to alcLast (transformed time), summed exactly as the events came." }),
        ),
        alcLast: Type.Optional(Type.Object({ t: Type.Number(), nauc: Type.Number() }, Description("The latest test point within the budget: it holds to t~ = 1."))),
        keptTrials: Type.Optional(
          Type.Array(Type.Object({ score: Type.Number(), subPolicies: Type.Array(SubPolicy, { maxItems: 25 }) }), {
            maxItems: 100,
            description: "The best kept policy-search trials (augmentation.keep of them): what chosenPolicy is made from.",
          }),
        ),
      },
      Description(
        "What the operator needs to go on folding trainer events after a restart without changing any number: the watermark (attempt and highest seq, so a redelivery changes nothing), the ALC accumulator and the kept trials.",
      ),
    ),
  ),
});
export type AutoClintRunStatus = Static<typeof AutoClintRunStatus>;

export const AutoClintRun = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  metadata: ObjectMeta,
  spec: AutoClintRunSpec,
  status: Type.Optional(AutoClintRunStatus),
});
export type AutoClintRun = Static<typeof AutoClintRun>;

/** A manifest as written in YAML: the fields a local run reads. */
export const AutoClintRunManifest = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal("AutoClintRun"),
  metadata: Type.Object({ name: Type.String(OBJECT_NAME), namespace: Type.Optional(Type.String()), uid: Type.Optional(Type.String()) }),
  spec: AutoClintRunSpec,
});
export type AutoClintRunManifest = Static<typeof AutoClintRunManifest>;

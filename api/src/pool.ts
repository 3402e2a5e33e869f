/**
 * AutoClintPool: warm trainer pods of one class (GPU resource and count, image, engine), each
 * started in standby (engine imported, device initialised, kernels warmed, no dataset, no
 * credentials) and waiting for one run. The operator hands a new run of that class to a ready
 * pod; the pod serves that one run and exits. The pool keeps `minWarm` pods ready while it is in
 * use, grows with runs waiting for a pod up to `maxWarm`, and scales to zero after `idleSeconds`
 * without a claim.
 */
import { Type, type Static } from "@sinclair/typebox";
import { Conditions, ObjectMeta } from "./kube";
import { Engine, Resources, Scheduling } from "./run";

export const AutoClintPoolSpec = Type.Object(
  {
    resources: Type.Optional(Resources),
    image: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: "Trainer image of the warm pods; the operator's default when absent. A run is served only by a pool with its image." })),
    engine: Type.Optional(Engine),
    minWarm: Type.Integer({ minimum: 0, maximum: 1024, description: "Ready pods kept while the pool is in use (a claim within idleSeconds)." }),
    maxWarm: Type.Integer({ minimum: 1, maximum: 1024, description: "At most this many unclaimed pods (ready or starting): the pool grows with runs waiting for a pod up to it." }),
    idleSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 7 * 86400, default: 600, description: "Seconds without a claim after which the pool scales to zero; the next run of its class (served cold) wakes it." }),
    ),
    datasetClaims: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
        maxItems: 16,
        "x-kubernetes-list-type": "set",
        description: "PersistentVolumeClaims mounted read-only at /data/<claim> in every warm pod (a pod cannot mount a volume once started): a run whose dataset is on a PVC is served only by a pool that mounts it.",
      }),
    ),
    scheduling: Type.Optional(Type.Omit(Scheduling, ["maxGpuWaitSeconds"], { description: "Where the warm pods may run." })),
  },
  {
    "x-kubernetes-validations": [{ rule: "self.minWarm <= self.maxWarm", message: "minWarm cannot exceed maxWarm" }],
  },
);
export type AutoClintPoolSpec = Static<typeof AutoClintPoolSpec>;

export const AutoClintPoolStatus = Type.Object({
  observedGeneration: Type.Optional(Type.Integer()),
  conditions: Type.Optional(Conditions),
  desired: Type.Optional(Type.Integer({ minimum: 0, description: "Unclaimed pods the pool aims for now." })),
  ready: Type.Optional(Type.Integer({ minimum: 0, description: "Warm pods ready to be claimed." })),
  starting: Type.Optional(Type.Integer({ minimum: 0, description: "Warm pods not ready yet (scheduling, pulling, engine starting)." })),
  claimed: Type.Optional(Type.Integer({ minimum: 0, description: "Pods serving a run." })),
  waitingRuns: Type.Optional(Type.Integer({ minimum: 0, description: "Runs of this class waiting for a pod (served cold)." })),
  peakWaitingRuns: Type.Optional(Type.Integer({ minimum: 0, description: "The most runs of this class that waited at once since the pool was last idle: the pool holds that many spares (within minWarm..maxWarm) until it is idle again." })),
  lastClaimTime: Type.Optional(Type.String({ format: "date-time", description: "When a pod was last claimed (or the pool was woken): the idle clock." })),
  message: Type.Optional(Type.String()),
});
export type AutoClintPoolStatus = Static<typeof AutoClintPoolStatus>;

export const AutoClintPool = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  metadata: ObjectMeta,
  spec: AutoClintPoolSpec,
  status: Type.Optional(AutoClintPoolStatus),
});
export type AutoClintPool = Static<typeof AutoClintPool>;

/** The standby trainer's assignment endpoint (POST) and readiness probe (GET), on this port. */
export const STANDBY_PORT = 8642;
export const STANDBY_ASSIGN_PATH = "/assign";
export const STANDBY_READY_PATH = "/readyz";

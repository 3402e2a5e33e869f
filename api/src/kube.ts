/**
 * Kubernetes shapes the CRDs reuse, written once as TypeBox schemas: resource quantities,
 * tolerations, affinity, object metadata and the standard metav1.Condition.
 */
import { Type, type Static } from "@sinclair/typebox";

/** A resource quantity as Kubernetes accepts it: an integer or a string such as "500m" or "16Gi". */
export const Quantity = (description: string) =>
  Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: "^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$" })], {
    description,
    "x-kubernetes-int-or-string": true,
  });
export type Quantity = number | string;

export const Toleration = Type.Object({
  key: Type.Optional(Type.String({ maxLength: 317 })),
  operator: Type.Optional(Type.Union([Type.Literal("Exists"), Type.Literal("Equal")])),
  value: Type.Optional(Type.String({ maxLength: 63 })),
  effect: Type.Optional(Type.Union([Type.Literal("NoSchedule"), Type.Literal("PreferNoSchedule"), Type.Literal("NoExecute")])),
  tolerationSeconds: Type.Optional(Type.Integer()),
});
export type Toleration = Static<typeof Toleration>;

/** core/v1 Affinity, passed through to the trainer pod as written (the API server validates the pod). */
export const Affinity = Type.Record(Type.String(), Type.Unknown(), {
  description: "core/v1 Affinity of the trainer pod (nodeAffinity, podAffinity, podAntiAffinity).",
  "x-kubernetes-preserve-unknown-fields": true,
});
export type Affinity = Static<typeof Affinity>;

export const CONDITION_STATUSES = ["True", "False", "Unknown"] as const;

/** metav1.Condition, field for field. */
export const Condition = Type.Object({
  type: Type.String({ maxLength: 316, pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$" }),
  status: Type.Union(CONDITION_STATUSES.map((s) => Type.Literal(s))),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  lastTransitionTime: Type.String({ format: "date-time" }),
  reason: Type.String({ minLength: 1, maxLength: 1024, pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$" }),
  message: Type.String({ maxLength: 32768 }),
});
export type Condition = Static<typeof Condition>;

export const Conditions = Type.Array(Condition, {
  maxItems: 16,
  "x-kubernetes-list-type": "map",
  "x-kubernetes-list-map-keys": ["type"],
});

export const OwnerReference = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  name: Type.String(),
  uid: Type.String(),
  controller: Type.Optional(Type.Boolean()),
  blockOwnerDeletion: Type.Optional(Type.Boolean()),
});

/** An RFC 1123 DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit. */
export const DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/**
 * Runs and benchmarks are named by DNS labels, stricter than the subdomain Kubernetes allows: a dot
 * in a run's name would split its NATS subject token, and a benchmark's name starts its runs'.
 */
export const OBJECT_NAME = { pattern: DNS_LABEL_PATTERN, maxLength: 63 } as const;

/** The metadata fields the operator reads; the CRD leaves metadata to the API server. */
export const ObjectMeta = Type.Object({
  name: Type.String(),
  namespace: Type.Optional(Type.String()),
  uid: Type.Optional(Type.String()),
  generation: Type.Optional(Type.Integer()),
  resourceVersion: Type.Optional(Type.String()),
  creationTimestamp: Type.Optional(Type.String()),
  deletionTimestamp: Type.Optional(Type.String()),
  finalizers: Type.Optional(Type.Array(Type.String())),
  labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  ownerReferences: Type.Optional(Type.Array(OwnerReference)),
});
export type ObjectMeta = Static<typeof ObjectMeta>;

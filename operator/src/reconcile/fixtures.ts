/** Plain-data runs, Jobs and Pods for the reconcile tests. */
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import type { AutoClintRun, AutoClintRunSpec } from "@autoclint/api";
import { LABEL_ATTEMPT, LABEL_RUN_UID } from "./labels";

export const T0 = Date.parse("2025-01-01T00:00:00Z");
export const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

export function runFixture(spec: Partial<AutoClintRunSpec> = {}, status?: AutoClintRun["status"]): AutoClintRun {
  const run: AutoClintRun = {
    apiVersion: "autoclint.io/v1alpha1",
    kind: "AutoClintRun",
    metadata: { name: "fmnist", namespace: "team-a", uid: "uid-1", generation: 1, resourceVersion: "10" },
    spec: { dataset: { source: { url: "https://data.example/fmnist.tar.gz" } }, timeBudgetSeconds: 300, ...spec },
  };
  if (status) run.status = status;
  return run;
}

export function jobFixture(attempt: number, conditions: { type: string; reason?: string; message?: string; at: number }[] = []): V1Job {
  return {
    metadata: { name: `fmnist-a${attempt}`, namespace: "team-a", labels: { [LABEL_RUN_UID]: "uid-1", [LABEL_ATTEMPT]: String(attempt) }, creationTimestamp: new Date(T0) },
    status: { conditions: conditions.map((c) => ({ type: c.type, status: "True", reason: c.reason, message: c.message, lastTransitionTime: new Date(T0 + c.at * 1000) })) },
  };
}

type PodShape = {
  phase?: string;
  reason?: string;
  message?: string;
  scheduled?: { status: "True" | "False"; reason?: string; message?: string; at: number };
  disruption?: string;
  running?: number;
  waiting?: { reason: string; message?: string };
  terminated?: { exitCode: number; reason?: string; message?: string; started: number; finished: number };
};

export function podFixture(attempt: number, shape: PodShape): V1Pod {
  const conditions = [];
  if (shape.scheduled) conditions.push({ type: "PodScheduled", ...shape.scheduled, lastTransitionTime: new Date(T0 + shape.scheduled.at * 1000) });
  if (shape.disruption) conditions.push({ type: "DisruptionTarget", status: "True", reason: shape.disruption });
  const state = shape.running !== undefined
    ? { running: { startedAt: new Date(T0 + shape.running * 1000) } }
    : shape.terminated
      ? { terminated: { ...shape.terminated, startedAt: new Date(T0 + shape.terminated.started * 1000), finishedAt: new Date(T0 + shape.terminated.finished * 1000) } }
      : { waiting: shape.waiting ?? { reason: "ContainerCreating" } };
  return {
    metadata: { name: `fmnist-a${attempt}-xyz`, namespace: "team-a", labels: { [LABEL_ATTEMPT]: String(attempt) }, creationTimestamp: new Date(T0 + 1000) },
    status: {
      phase: shape.phase ?? "Pending",
      reason: shape.reason,
      message: shape.message,
      conditions,
      containerStatuses: [{ name: "trainer", image: "i", imageID: "", ready: false, restartCount: 0, state }],
    },
  } as V1Pod;
}

/**
 * The trainer's event stream: versioned JSON, one message per fact. The trainer writes every
 * event to events.jsonl and, when given a NATS URL, publishes it to JetStream; the operator folds
 * them into the run's status.
 */
import { Type, type Static } from "@sinclair/typebox";

export const EVENT_VERSION = 1;
export const STREAM_NAME = "AUTOCLINT";
export const SUBJECT_ROOT = "autoclint.v1";
export const STREAM_SUBJECTS = [`${SUBJECT_ROOT}.>`];

export const EventType = Type.Union([
  Type.Literal("nauc"),
  Type.Literal("phase"),
  Type.Literal("policy"),
  Type.Literal("result"),
  Type.Literal("error"),
]);
export type EventType = Static<typeof EventType>;

const Base = {
  version: Type.Literal(EVENT_VERSION),
  run: Type.Object({ namespace: Type.String(), name: Type.String(), uid: Type.String(), attempt: Type.Integer({ minimum: 0 }) }),
  seq: Type.Integer({ minimum: 0, description: "Per-attempt sequence number: the de-duplication key." }),
  elapsedSeconds: Type.Number({ description: "Seconds since the trainer started." }),
  wallTime: Type.String({ description: "ISO 8601 wall-clock time." }),
};

export const NaucEvent = Type.Object({
  ...Base,
  type: Type.Literal("nauc"),
  split: Type.Union([Type.Literal("test"), Type.Literal("valid")]),
  nauc: Type.Number(),
  /** ALC of the test curve so far (test split only). */
  alc: Type.Optional(Type.Number()),
  predictionIndex: Type.Optional(Type.Integer()),
  epoch: Type.Number(),
  lr: Type.Number(),
  imagesPerSecond: Type.Number(),
});

export const PhaseEvent = Type.Object({
  ...Base,
  type: Type.Literal("phase"),
  phase: Type.String({ description: "Trainer phase: starting, exploring, training, searching, finished." }),
  detail: Type.Optional(Type.String()),
});

export const PolicyEvent = Type.Object({
  ...Base,
  type: Type.Literal("policy"),
  trial: Type.Integer(),
  subPolicies: Type.Array(Type.Array(Type.Tuple([Type.String(), Type.Number(), Type.Number()]))),
  score: Type.Number(),
  baseline: Type.Number(),
  kept: Type.Boolean(),
});

export const ResultEvent = Type.Object({
  ...Base,
  type: Type.Literal("result"),
  alc: Type.Number(),
  nauc: Type.Number(),
  firstPredictionSeconds: Type.Union([Type.Number(), Type.Null()]),
  predictions: Type.Integer(),
});

export const ErrorEvent = Type.Object({
  ...Base,
  type: Type.Literal("error"),
  message: Type.String(),
  reason: Type.Optional(Type.String()),
});

export const TrainerEvent = Type.Union([NaucEvent, PhaseEvent, PolicyEvent, ResultEvent, ErrorEvent]);
export type NaucEvent = Static<typeof NaucEvent>;
export type PhaseEvent = Static<typeof PhaseEvent>;
export type PolicyEvent = Static<typeof PolicyEvent>;
export type ResultEvent = Static<typeof ResultEvent>;
export type ErrorEvent = Static<typeof ErrorEvent>;
export type TrainerEvent = Static<typeof TrainerEvent>;

/**
 * NATS subject of one event: `autoclint.v1.<namespace>.<run uid>.<attempt>.<type>`. Keyed by the
 * run's uid, not its name: a uid is one token that no other run shares (names may hold dots and are
 * reused after a delete), so a run's publish permission and its purge filter are exact.
 */
export function eventSubject(run: { namespace: string; uid: string; attempt: number }, type: EventType): string {
  return `${runAttemptSubjectPrefix(run)}.${type}`;
}

/** Every subject of one attempt of one run (the trainer credential's publish permission). */
export function attemptSubjects(run: { namespace: string; uid: string; attempt: number }): string {
  return `${runAttemptSubjectPrefix(run)}.*`;
}

/**
 * The reply inbox of one attempt's trainer: it subscribes there (JetStream's publish acks) and
 * nowhere else. Its own prefix, not the shared `_INBOX`, where the operator's consumer pulls events.
 */
export function trainerInboxPrefix(run: { uid: string; attempt: number }): string {
  return `_INBOX_AUTOCLINT.${checkToken(run.uid, "uid")}.${run.attempt}`;
}

/** Every subject of one run, all attempts: the filter that purges a deleted run's events. */
export function runSubjects(namespace: string, uid: string): string {
  return `${SUBJECT_ROOT}.${checkToken(namespace, "namespace")}.${checkToken(uid, "uid")}.>`;
}

function runAttemptSubjectPrefix(run: { namespace: string; uid: string; attempt: number }): string {
  if (!Number.isInteger(run.attempt) || run.attempt < 0) throw new Error(`run attempt must be a non-negative integer, got ${run.attempt}`);
  return `${SUBJECT_ROOT}.${checkToken(run.namespace, "namespace")}.${checkToken(run.uid, "uid")}.${run.attempt}`;
}

/** A subject token may not be empty or hold dots, spaces or wildcards. */
function checkToken(value: string, what: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(value)) throw new Error(`run ${what} ${JSON.stringify(value)} cannot be a NATS subject token (letters, digits, '-' and '_' only)`);
  return value;
}

/** The parts of an event subject, or undefined when the subject is not one. */
export interface SubjectParts {
  namespace: string;
  uid: string;
  attempt: number;
  type: string;
}

export function parseEventSubject(subject: string): SubjectParts | undefined {
  const tokens = subject.split(".");
  const root = SUBJECT_ROOT.split(".");
  if (tokens.length !== root.length + 4 || root.some((token, i) => tokens[i] !== token)) return undefined;
  const [namespace, uid, attempt, type] = tokens.slice(root.length) as [string, string, string, string];
  if (!/^\d+$/.test(attempt)) return undefined;
  return { namespace, uid, attempt: Number(attempt), type };
}

/** JetStream message id: `<run uid>/<attempt>/<seq>`, so a republished event is dropped as a duplicate. */
export function eventMessageId(event: Pick<TrainerEvent, "run" | "seq">): string {
  return `${event.run.uid}/${event.run.attempt}/${event.seq}`;
}

/**
 * Folding a run's trainer events into its status, as a pure function. Each event is applied at
 * most once per (run uid, attempt, seq): a redelivered or republished event changes nothing. The
 * current attempt's learning curve is what the status shows; a newer attempt starts a new curve,
 * events of older attempts or of an older run with the same name are stale.
 */
import {
  LEARNING_CURVE_CAP, pointsWithinBudget, transformTime, type AutoClintRunStatus, type CurvePoint, type SubPolicy, type TrainerEvent,
} from "@autoclint/api";

interface KeptTrial {
  score: number;
  subPolicies: SubPolicy[];
}

/**
 * ALC as an accumulator, summed exactly as `alc()` sums it: the area up to the latest point within
 * the budget, and that point (its score holds to t~ = 1). Persisted in status, it lets a restarted
 * operator go on from the same number instead of recomputing from the capped curve.
 */
export interface AlcAccumulator {
  area: number;
  last?: CurvePoint;
}

/** Adds a point made after every point so far; a point past the budget does not count. */
export function accumulate(acc: AlcAccumulator, point: CurvePoint, budget: number): AlcAccumulator {
  if (point.t > budget) return acc;
  const x = transformTime(point.t, budget);
  const previousX = acc.last ? transformTime(acc.last.t, budget) : 0;
  return { area: acc.area + (acc.last?.nauc ?? 0) * (x - previousX), last: point };
}

export function alcOf(acc: AlcAccumulator, budget: number): number {
  const lastX = acc.last ? transformTime(acc.last.t, budget) : 0;
  return acc.area + (acc.last?.nauc ?? 0) * (1 - lastX);
}

/** The accumulator of a whole curve (in time order, as alc() takes it). */
export function accumulateCurve(curve: readonly CurvePoint[], budget: number): AlcAccumulator {
  return pointsWithinBudget(curve, budget).reduce<AlcAccumulator>((acc, point) => accumulate(acc, point, budget), { area: 0 });
}

export interface RunFold {
  uid: string;
  attempt: number;
  /**
   * Every seq up to here is applied (or was, before this process saw the run: the persisted
   * watermark). In-order events move it on, so `seen` stays small and copying it per event is cheap.
   */
  floorSeq: number;
  /** Applied seqs above floorSeq (events that came out of order). */
  seen: Set<number>;
  /** The highest seq applied (what status persists as the watermark). */
  maxSeq: number;
  count: number;
  curve: CurvePoint[];
  acc: AlcAccumulator;
  /** The best `keepTrials` kept trials, best first. */
  keptTrials: KeptTrial[];
  trainerPhase?: string;
  elapsedSeconds?: number;
  nauc?: number;
  validNauc?: number;
  alc?: number;
  finalAlc?: number;
  imagesPerSecond?: number;
  chosenPolicy?: SubPolicy[];
}

export type FoldOutcome = "applied" | "duplicate" | "stale";

export interface FoldContext {
  budgetSeconds: number;
  /** N of the policy search: the best kept trials whose sub-policies make the chosen policy. */
  keepTrials: number;
}

/** The fold of a run as its status left it (after a restart, or for a run not seen before). */
export function foldFromStatus(uid: string, status: AutoClintRunStatus | undefined, budgetSeconds = Number.POSITIVE_INFINITY): RunFold {
  const fold: RunFold = {
    uid,
    attempt: status?.events?.attempt ?? 0,
    floorSeq: status?.events?.seq ?? -1,
    seen: new Set(),
    maxSeq: status?.events?.seq ?? -1,
    count: status?.events?.count ?? 0,
    curve: [...(status?.learningCurve ?? [])],
    // A status written before the accumulator existed: the curve it has is the best there is.
    acc: status?.events?.alcArea !== undefined ? { area: status.events.alcArea, ...(status.events.alcLast ? { last: status.events.alcLast } : {}) } : { area: 0 },
    keptTrials: (status?.events?.keptTrials ?? []) as KeptTrial[],
  };
  if (status?.events?.alcArea === undefined && status?.learningCurve) fold.acc = accumulateCurve(status.learningCurve, budgetSeconds);
  for (const key of ["trainerPhase", "elapsedSeconds", "nauc", "validNauc", "alc", "finalAlc", "chosenPolicy"] as const) {
    if (status?.[key] !== undefined) Object.assign(fold, { [key]: status[key] });
  }
  return fold;
}

function newAttempt(fold: RunFold, attempt: number): RunFold {
  return { uid: fold.uid, attempt, floorSeq: -1, seen: new Set(), maxSeq: -1, count: 0, curve: [], acc: { area: 0 }, keptTrials: [] };
}

/** The best `keep` trials, best first; ties keep arrival order. */
function bestTrials(trials: KeptTrial[], keep: number): KeptTrial[] {
  return [...trials].sort((a, b) => b.score - a.score).slice(0, keep);
}

function chosenPolicy(best: KeptTrial[]): SubPolicy[] {
  const unique = new Map<string, SubPolicy>();
  for (const sub of best.flatMap((t) => t.subPolicies)) unique.set(JSON.stringify(sub), sub);
  return [...unique.values()];
}

function addTestPoint(fold: RunFold, point: CurvePoint, budget: number): void {
  const last = fold.curve.at(-1);
  const inOrder = last === undefined || last.t <= point.t;
  fold.curve = inOrder ? [...fold.curve, point] : [...fold.curve, point].sort((a, b) => a.t - b.t);
  // In order (the usual case): one exact step. Out of order: the curve again, from what is held
  // (after a restart past LEARNING_CURVE_CAP points that is the capped curve: the one approximation).
  fold.acc = inOrder ? accumulate(fold.acc, point, budget) : accumulateCurve(fold.curve, budget);
  fold.nauc = fold.curve.at(-1)?.nauc;
  fold.alc = alcOf(fold.acc, budget);
}

function apply(fold: RunFold, event: TrainerEvent, context: FoldContext): void {
  fold.elapsedSeconds = Math.max(fold.elapsedSeconds ?? 0, event.elapsedSeconds);
  switch (event.type) {
    case "nauc":
      fold.imagesPerSecond = event.imagesPerSecond;
      if (event.split === "valid") {
        fold.validNauc = event.nauc;
        break;
      }
      addTestPoint(fold, { t: event.elapsedSeconds, nauc: event.nauc }, context.budgetSeconds);
      break;
    case "phase":
      fold.trainerPhase = event.phase;
      break;
    case "policy":
      if (event.kept) {
        fold.keptTrials = bestTrials([...fold.keptTrials, { score: event.score, subPolicies: event.subPolicies as SubPolicy[] }], context.keepTrials);
        fold.chosenPolicy = chosenPolicy(fold.keptTrials);
      }
      break;
    case "result":
      fold.finalAlc = event.alc;
      fold.nauc = event.nauc;
      fold.trainerPhase = "finished";
      break;
    case "error":
      fold.trainerPhase = "error";
      break;
  }
}

/** Records seq as applied: the floor moves on over every seq now contiguous with it. */
function markSeen(fold: RunFold, seq: number): void {
  fold.maxSeq = Math.max(fold.maxSeq, seq);
  if (seq !== fold.floorSeq + 1) {
    fold.seen.add(seq);
    return;
  }
  fold.floorSeq = seq;
  while (fold.seen.delete(fold.floorSeq + 1)) fold.floorSeq++;
}

/** Applies one event. The returned fold is a new object when the outcome is "applied". */
export function foldEvent(fold: RunFold, event: TrainerEvent, context: FoldContext): { fold: RunFold; outcome: FoldOutcome } {
  const { uid, attempt } = event.run;
  if (uid !== fold.uid || attempt < fold.attempt) return { fold, outcome: "stale" };
  let next: RunFold = attempt > fold.attempt ? newAttempt(fold, attempt) : { ...fold, seen: new Set(fold.seen) };
  if (event.seq <= next.floorSeq || next.seen.has(event.seq)) return { fold, outcome: "duplicate" };
  markSeen(next, event.seq);
  next.count++;
  apply(next, event, context);
  next = { ...next };
  return { fold: next, outcome: "applied" };
}

/** Keeps at most `cap` points: the first, the last, and evenly spaced ones between. */
export function capCurve(curve: CurvePoint[], cap = LEARNING_CURVE_CAP): CurvePoint[] {
  if (curve.length <= cap) return curve;
  const picked: CurvePoint[] = [];
  for (let i = 0; i < cap; i++) picked.push(curve[Math.round((i * (curve.length - 1)) / (cap - 1))]!);
  return picked;
}

/** The status fields the event consumer owns. */
export function statusOfFold(fold: RunFold): Partial<AutoClintRunStatus> {
  const status: Partial<AutoClintRunStatus> = {
    learningCurve: capCurve(fold.curve),
    events: {
      attempt: fold.attempt, seq: fold.maxSeq, count: fold.count,
      alcArea: fold.acc.area, ...(fold.acc.last ? { alcLast: fold.acc.last } : {}), keptTrials: fold.keptTrials,
    },
  };
  for (const key of ["trainerPhase", "elapsedSeconds", "nauc", "validNauc", "alc", "finalAlc", "chosenPolicy"] as const) {
    if (fold[key] !== undefined) Object.assign(status, { [key]: fold[key] });
  }
  return status;
}

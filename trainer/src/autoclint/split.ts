/** The valid split: min(10%, 256) training samples, stratified by (first) label, seeded. */
import { shuffled } from "@autoclint/api";
import { seededRandom } from "../util/random";

export const MAX_VALID_SAMPLES = 256;
export const VALID_FRACTION = 0.1;

export interface TrainValidSplit {
  train: number[];
  valid: number[];
}

export function validSize(total: number): number {
  return Math.max(1, Math.min(MAX_VALID_SAMPLES, Math.floor(total * VALID_FRACTION)));
}

/**
 * Takes the same share of every class for valid (largest remainders first), so rare classes
 * are represented whenever the valid size allows.
 */
export function stratifiedSplit(labels: readonly (readonly number[])[], seed: number): TrainValidSplit {
  const random = seededRandom(seed);
  const byClass = new Map<number, number[]>();
  labels.forEach((row, index) => {
    const key = row[0] ?? -1;
    const group = byClass.get(key);
    if (group) group.push(index);
    else byClass.set(key, [index]);
  });
  const target = validSize(labels.length);
  const groups = [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, indices]) => shuffled(indices, random));
  const exact = groups.map((g) => (g.length * target) / labels.length);
  const take = exact.map(Math.floor);
  const byRemainder = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  let missing = target - take.reduce((a, b) => a + b, 0);
  for (const [, i] of byRemainder) {
    if (missing <= 0) break;
    if (take[i]! < groups[i]!.length) {
      take[i]!++;
      missing--;
    }
  }
  const valid: number[] = [];
  const train: number[] = [];
  groups.forEach((group, i) => {
    valid.push(...group.slice(0, take[i]));
    train.push(...group.slice(take[i]));
  });
  return { train: shuffled(train, random), valid: valid.sort((a, b) => a - b) };
}

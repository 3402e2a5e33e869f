/** NAUC over flat, row-major score blocks: how the trainer scores its own splits. */
import { nauc } from "@autoclint/api";

/** NAUC of prediction rows against a 0/1 label matrix, both flat and row-major. */
export function flatNauc(labels: Float32Array, scores: Float32Array, classes: number, offset = 0): number {
  const rows = labels.length / classes;
  const solution: number[][] = [];
  const prediction: number[][] = [];
  for (let i = 0; i < rows; i++) {
    solution.push(Array.from(labels.subarray(i * classes, (i + 1) * classes)));
    prediction.push(Array.from(scores.subarray(offset + i * classes, offset + (i + 1) * classes)));
  }
  return nauc(solution, prediction);
}

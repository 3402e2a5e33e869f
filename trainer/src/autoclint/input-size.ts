/**
 * Input size from measured speed. Exploration's rule gives the largest input worth training on;
 * on a slow device that size can make one test prediction eat a large share of the budget (each
 * prediction is training time lost). So a short probe at start measures prediction speed at that
 * size, and the size shrinks (aspect ratio kept, sides multiples of 16, never below 16) until one
 * test prediction is expected to cost at most a small share of the budget.
 */
import type { SpeedProbe } from "../engines/engine";
import { roundToMultipleOf16, type SampleShape } from "./explore";

/** One test prediction may cost at most this share of the budget. */
export const PREDICTION_SHARE_OF_BUDGET = 0.05;
const SMALLEST_SIDE = 16;

export interface InputSizeChoice {
  shape: SampleShape;
  /** Expected seconds of one test prediction at the chosen shape. */
  predictSeconds: number;
  reason: string;
}

/** Expected seconds to predict `samples` at (height, width): cost taken as proportional to pixels. */
export function predictSecondsAt(probe: SpeedProbe, samples: number, height: number, width: number): number {
  const pixelRatio = (height * width) / (probe.height * probe.width);
  return (samples * pixelRatio) / probe.samplesPerSecond;
}

/** The sizes to try, largest first: the exploration size, then its long side stepped down by 16. */
export function candidateShapes(upper: SampleShape): SampleShape[] {
  const long = Math.max(upper.height, upper.width);
  const shapes: SampleShape[] = [upper];
  for (let side = Math.ceil(long / 16) * 16 - 16; side >= SMALLEST_SIDE; side -= 16) {
    if (side >= long) continue;
    const scale = side / long;
    const height = upper.height >= upper.width ? side : roundToMultipleOf16(upper.height * scale);
    const width = upper.width >= upper.height ? side : roundToMultipleOf16(upper.width * scale);
    shapes.push({ ...upper, height, width });
  }
  return shapes;
}

const size = (s: { height: number; width: number }) => `${s.height}x${s.width}`;

export function chooseInputSize(input: { upper: SampleShape; probe: SpeedProbe; testSamples: number; budget: number; share?: number }): InputSizeChoice {
  const { upper, probe, testSamples, budget, share = PREDICTION_SHARE_OF_BUDGET } = input;
  const limit = share * budget;
  const costed = candidateShapes(upper).map((shape) => ({ shape, predictSeconds: predictSecondsAt(probe, testSamples, shape.height, shape.width) }));
  const measured = `probe: ${probe.samplesPerSecond.toFixed(0)} samples/s at ${size(probe)}`;
  const cost = (c: { shape: SampleShape; predictSeconds: number }) =>
    `${testSamples} test samples at ${size(c.shape)} ~${c.predictSeconds.toFixed(1)} s = ${((100 * c.predictSeconds) / budget).toFixed(1)}% of T (limit ${(100 * share).toFixed(0)}%)`;
  const fits = costed.find((c) => c.predictSeconds <= limit);
  if (fits === costed[0]) return { ...fits!, reason: `${measured}; ${cost(fits!)}: exploration size kept` };
  if (fits) return { ...fits, reason: `${measured}; at ${size(upper)} a prediction would cost ${costed[0]!.predictSeconds.toFixed(1)} s; ${cost(fits)}` };
  const smallest = costed.at(-1)!;
  return { ...smallest, reason: `${measured}; ${cost(smallest)}: over the limit even at the smallest size` };
}

/**
 * Measures the torch worker's CPU prediction tricks against each other (AUTOCLINT_TORCH_INFERENCE:
 * channels_last, fold, bf16), on random uint8 images through a random-init ResNet18. One worker per
 * variant, all started first; then rounds in which each variant predicts the same split in turn,
 * so that a change in the machine's load hits every variant alike. Prints images/s per variant
 * (median over rounds) and whether its scores match the plain model's.
 *
 *   node --import tsx trainer/src/engines/measure-inference.ts [size=28] [channels=1] [rounds=5] [images=2048]
 */
import { TorchEngine } from "./torch";

const [size = 28, channels = 1, rounds = 5, n = 2048] = process.argv.slice(2, 6).map(Number);
const VARIANTS = ["none", "channels_last", "fold", "channels_last,fold", "bf16", "channels_last,fold,bf16"];
const pixels = new Uint8Array(n * size * size * channels).map((_, i) => (i * 2654435761) >>> 24);
const images = { pixels, shape: [n, 1, size, size, channels] as const };

const engines = VARIANTS.map((variant) => new TorchEngine({ env: { ...process.env, AUTOCLINT_TORCH_INFERENCE: variant } }));
try {
  const info = await engines[0]!.ready();
  for (const engine of engines) {
    await engine.ready();
    await engine.loadSplit("test", images);
    await engine.buildModel({ arch: "resnet18", numClasses: 10, inputChannels: channels, multiLabel: false, tau: 8, seed: 0, momentum: 0.9, weightDecay: 2.5e-4 });
    await engine.predict({ split: "test" }); // warm-up
  }
  const speeds: number[][] = VARIANTS.map(() => []);
  let reference: Float32Array | undefined;
  const maxDiff: number[] = VARIANTS.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    for (const [v, engine] of engines.entries()) {
      const predicted = await engine.predict({ split: "test" });
      speeds[v]!.push(predicted.rows / predicted.seconds);
      reference ??= predicted.scores;
      for (let i = 0; i < reference.length; i++) maxDiff[v] = Math.max(maxDiff[v]!, Math.abs(reference[i]! - predicted.scores[i]!));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`${info.version} on ${info.deviceName}; ${n} images ${size}x${size}x${channels}, ${rounds} rounds`);
  console.log("| AUTOCLINT_TORCH_INFERENCE | images/s (median) | min-max | max score difference vs none |");
  console.log("| --- | --- | --- | --- |");
  VARIANTS.forEach((variant, v) => {
    const s = speeds[v]!;
    console.log(`| ${variant} | ${median(s).toFixed(0)} | ${Math.min(...s).toFixed(0)}-${Math.max(...s).toFixed(0)} | ${maxDiff[v]!.toExponential(1)} |`);
  });
} finally {
  await Promise.all(engines.map((engine) => engine.close()));
}

/**
 * Measures an engine: start-to-ready seconds, then full-ResNet18 train and predict images/s on
 * random uint8 images (DESIGN.md's calibration: 28x28x1, batch 64).
 *
 *   node --import tsx trainer/src/engines/measure-engine.ts [torch|tfjs] [size=28] [channels=1] [batch=64] [steps=20] [aug]
 *
 * With `aug`, training and prediction run under five sub-policies of the AutoAugment CIFAR-10 policy.
 */
import type { Policy } from "@autoclint/api";
import { createEngine, ENGINE_NAMES, type EngineName } from "./index";

const engineName = (process.argv[2] ?? "torch") as EngineName;
if (!ENGINE_NAMES.includes(engineName)) throw new Error(`unknown engine ${engineName}; known: ${ENGINE_NAMES.join(", ")}`);
const [size = 28, channels = 1, batchSize = 64, steps = 20] = process.argv.slice(3, 7).map(Number);
const policy: Policy | undefined = process.argv[7] === "aug"
  ? [
      [["Invert", 0.1, 7], ["Contrast", 0.2, 6]], [["Rotate", 0.7, 2], ["TranslateX", 0.3, 9]],
      [["Sharpness", 0.8, 1], ["Sharpness", 0.9, 3]], [["ShearY", 0.5, 8], ["TranslateY", 0.7, 9]],
      [["AutoContrast", 0.5, 8], ["Equalize", 0.9, 2]],
    ]
  : undefined;
const n = 2048;
const pixels = new Uint8Array(n * size * size * channels).map((_, i) => (i * 2654435761) >>> 24);
const labels = new Float32Array(n * 10).map((_, i) => (i % 10 === Math.floor(i / 10) % 10 ? 1 : 0));

const engine = createEngine(engineName, { log: (line) => console.error(line) });
try {
  const info = await engine.ready();
  console.log(`start-to-ready: ${info.startupSeconds.toFixed(2)} s (${info.version}, ${info.device}, ${info.deviceName})`);
  const images = { pixels, shape: [n, 1, size, size, channels] as const };
  await engine.loadSplit("train", images, labels);
  await engine.loadSplit("test", images);
  await engine.buildModel({
    arch: "resnet18", numClasses: 10, inputChannels: channels, multiLabel: false, tau: 8, seed: 0,
    momentum: 0.9, weightDecay: 2.5e-4,
  });
  await engine.train({ steps: 3, batchSize, lr: 0.025 }); // warm-up: allocator, kernels
  const train = await engine.train({ steps, batchSize, lr: 0.025, policy });
  console.log(`train: ${train.imagesPerSecond.toFixed(1)} images/s (${size}x${size}x${channels}, batch ${batchSize}, ${steps} steps${policy ? ", augmented" : ""})`);
  await engine.predict({ split: "test", policy });
  const predict = await engine.predict({ split: "test", policy });
  console.log(`predict: ${(predict.rows / predict.seconds).toFixed(1)} images/s (${predict.rows} images)`);
} finally {
  await engine.close();
}

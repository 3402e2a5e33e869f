// Parity of the tfjs engine with the torch engine (both real: tfjs-node over libtensorflow 2.18.1,
// Debian's torch 1.13 CPU): the same weights give the same logits, one SGD step from the same state
// moves every tensor the same way, and the two losses agree. Images are 28x28 (MNIST's size: odd
// feature maps, 7x7, where TensorFlow's 'same' and torch's padding would disagree).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ImageTensor, ModelConfig } from "./engine";
import { readSafetensors, type NamedTensor } from "./safetensors";
import { TfjsEngine } from "./tfjs";
import { TorchEngine } from "./torch";

const SIZE = 28;
const CLASSES = 4;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** n images with a bright bar per class over noise. */
function bars(n: number, channels: number, seed: number): { images: ImageTensor; labels: Float32Array } {
  const random = rng(seed);
  const pixels = new Uint8Array(n * SIZE * SIZE * channels);
  const labels = new Float32Array(n * CLASSES);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(random() * CLASSES);
    labels[i * CLASSES + k] = 1;
    for (let p = 0; p < SIZE * SIZE; p++) {
      const lit = Math.floor(p / SIZE) >= 2 + 6 * k && Math.floor(p / SIZE) < 5 + 6 * k;
      for (let c = 0; c < channels; c++) pixels[(i * SIZE * SIZE + p) * channels + c] = lit ? 200 + 10 * c : Math.floor(random() * 80);
    }
  }
  return { images: { pixels, shape: [n, 1, SIZE, SIZE, channels] }, labels };
}

function config(channels: number): ModelConfig {
  return { arch: "resnet18", numClasses: CLASSES, inputChannels: channels, multiLabel: false, tau: 8, seed: 3, momentum: 0.9, weightDecay: 2.5e-4 };
}

/** Per row, log-probabilities less their mean: the logits / tau up to the softmax's free shift. */
function centredLogits(scores: Float32Array, k: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < scores.length / k; r++) {
    const logs = [...scores.subarray(r * k, (r + 1) * k)].map(Math.log);
    const mean = logs.reduce((a, b) => a + b, 0) / k;
    out.push(...logs.map((v) => v - mean));
  }
  return out;
}

const maxAbs = (values: ArrayLike<number>) => Array.from(values).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Every tensor's step (after - before) in both engines: the same within 1e-3 of torch's step plus
 *  2 float32 ulps of the weights (w - w0 cannot be read finer than that). */
function compareSteps(before: Map<string, NamedTensor>, torchAfter: Map<string, NamedTensor>, tfjsAfter: Map<string, NamedTensor>) {
  let compared = 0;
  let worst = { ratio: 0, text: "" };
  for (const [name, expected] of torchAfter) {
    const actual = tfjsAfter.get(name)!;
    const initial = before.get(name)!;
    assert.deepEqual(actual.shape, expected.shape, name);
    const torchStep = expected.data.map((v, i) => v - initial.data[i]!);
    const size = maxAbs(torchStep);
    assert.ok(size > 0, `${name}: torch's step moved nothing`);
    const gap = maxAbs(torchStep.map((v, i) => v - (actual.data[i]! - initial.data[i]!)));
    const ulp = maxAbs(initial.data) * 2 ** -23;
    assert.ok(gap <= 1e-3 * size + 2 * ulp, `${name}: the steps differ by ${gap} (torch's step ${size}, ulp ${ulp})`);
    if (gap / size > worst.ratio) worst = { ratio: gap / size, text: `${(gap / size).toExponential(2)} of torch's step, ${name} (gap ${gap.toExponential(2)}, step ${size.toExponential(2)}, ulp ${ulp.toExponential(2)})` };
    compared++;
  }
  return { compared, worst: worst.text };
}

void describe("tfjs engine parity with the torch engine", () => {
  let torch: TorchEngine;
  let tfjs: TfjsEngine;
  let dir: string;

  before(async () => {
    torch = new TorchEngine();
    tfjs = new TfjsEngine();
    dir = await mkdtemp(join(tmpdir(), "autoclint-parity-"));
    await Promise.all([torch.ready(), tfjs.ready()]);
  });
  after(async () => {
    await Promise.all([torch.close(), tfjs.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  for (const channels of [1, 3]) {
    void test(`${channels}-channel input: the same weights give the same logits (within 1e-4), one SGD step moves every tensor alike (within 1e-3 of the step + 2 float32 ulps)`, async (t) => {
      const train = bars(32, channels, 1);
      const testSet = bars(24, channels, 2);
      for (const engine of [torch, tfjs]) {
        await engine.loadSplit("train", train.images, train.labels);
        await engine.loadSplit("test", testSet.images);
        await engine.buildModel(config(channels));
      }
      // a few torch steps first, so BatchNorm's running statistics are not their initial 0 and 1
      await torch.train({ steps: 3, batchSize: 32, lr: 0.05 });
      await torch.snapshot("start");
      await torch.restore("start"); // a fresh optimizer: momentum forgotten, as the tfjs engine's is
      const start = join(dir, `start-${channels}.safetensors`);
      await torch.saveWeights(start);
      assert.equal(await tfjs.loadWeights(start, { head: true }), 101, "20 convs, 20 BatchNorms (4 tensors each), the head");

      // forward, in eval mode (running statistics)
      const [a, b] = [await torch.predict({ split: "test" }), await tfjs.predict({ split: "test" })];
      const tfjsLogits = centredLogits(b.scores, CLASSES);
      const logitGap = maxAbs(centredLogits(a.scores, CLASSES).map((v, i) => v - tfjsLogits[i]!));
      const spread = maxAbs(centredLogits(a.scores, CLASSES));
      assert.ok(spread > 1e-2, `the logits must tell the classes apart for the check to mean anything (spread ${spread})`);
      assert.ok(logitGap < 1e-4, `logits / tau differ by ${logitGap} (spread ${spread})`);
      t.diagnostic(`logits / tau: largest gap ${logitGap.toExponential(2)} for a spread of ${spread.toFixed(3)}`);

      // one SGD step (Nesterov, weight decay) on the whole 32-image split: the batch order cannot matter
      await torch.train({ steps: 1, batchSize: 32, lr: 0.05 });
      await tfjs.train({ steps: 1, batchSize: 32, lr: 0.05 });
      const after = join(dir, `after-${channels}.safetensors`);
      await torch.saveWeights(after);
      const { compared, worst } = compareSteps(await readSafetensors(start), await readSafetensors(after), await tfjs.exportWeights());
      t.diagnostic(`one SGD step: the largest gap between the engines' steps is ${worst}`);
      assert.equal(compared, 101);
    });
  }

  void test("the losses agree: softmax cross-entropy and the class-balanced multi-label BCE", async () => {
    const random = rng(9);
    const logits = Float32Array.from({ length: 30 * 5 }, () => random() * 6 - 3);
    const single = Float32Array.from({ length: 150 }, (_, i) => (i % 5 === Math.floor(i / 5) % 5 ? 1 : 0));
    const multi = Float32Array.from({ length: 150 }, () => (random() < 0.2 ? 1 : 0));
    for (const [labels, multiLabel] of [[single, false], [multi, true]] as const) {
      const [a, b] = [await torch.loss(logits, labels, 5, multiLabel), await tfjs.loss(logits, labels, 5, multiLabel)];
      assert.ok(Math.abs(a - b) < 1e-5 * Math.max(1, a), `multiLabel ${multiLabel}: torch ${a}, tfjs ${b}`);
    }
  });
});

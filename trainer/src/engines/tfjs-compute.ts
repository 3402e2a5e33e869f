/**
 * The `tfjs` engine's compute: TensorFlow.js on @tensorflow/tfjs-node (a real libtensorflow, see
 * hack/tfjs.sh), run inside the engine's worker thread (tfjs-worker.ts, driven by tfjs.ts). The same network, loss, optimizer and augmentation as the torch worker
 * (trainer/engines/torch/worker.py), so the two engines are interchangeable under the trainer:
 *
 * - ResNet18 (ImageNet style, torchvision's parameter names) after the channel adapter (1 channel
 *   copied to 3, other counts through a 3x3 conv + BatchNorm), FC without bias, logits / tau; video
 *   through the residual temporal block and the mean over time.
 * - Tensors are NHWC (TensorFlow's layout); weights are kept in TensorFlow's layout and converted to
 *   and from torch's ([out, in, kh, kw] <-> [kh, kw, in, out]) only at the weights-file boundary.
 * - Padding is explicit (tf.pad, then a 'valid' convolution): TensorFlow's 'same' pads a strided
 *   convolution on the bottom/right only, torch pads both sides, and the two disagree on the grid.
 * - BatchNorm as torch's: batch statistics (biased variance) in training, running statistics updated
 *   with momentum 0.1 and the unbiased variance, eps 1e-5.
 * - SGD as torch's: d = g + wd p; buf = d on the first step, else m buf + d; Nesterov d + m buf.
 */
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import type { Scalar, Tensor, Tensor2D, Tensor3D, Tensor4D, Variable } from "@tensorflow/tfjs-core";
import type { Policy, SubPolicy } from "@autoclint/api";
import {
  EngineError,
  type Engine,
  type EngineInfo,
  type ImageTensor,
  type ModelConfig,
  type ModelReport,
  type PredictRequest,
  type Predictions,
  type SpeedProbe,
  type SplitName,
  type TrainReport,
  type TrainRequest,
} from "./engine";
import { readSafetensors, writeSafetensors, type NamedTensor } from "./safetensors";
import { seededRandom } from "../util/random";
import { applyPolicy, applySubPolicy } from "./tfjs-augment";
import { loadTfjsNode, type Tf } from "./tfjs-node";

export interface TfjsComputeOptions {
  /** Receives the engine's log lines. Default: dropped. */
  log?: (line: string) => void;
  /** Where tfjs-node is found (AUTOCLINT_TFJS_NODE, AUTOCLINT_CACHE). Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

const MEAN = 0.5;
const STD = 0.25;
const BN_EPS = 1e-5;
const BN_MOMENTUM = 0.1;
const PREDICT_BATCH = 256;
/** The speed probe: clips per timed pass (as the torch worker's) and the least time it measures. */
const PROBE_BATCH = 64;
const PROBE_MIN_SECONDS = 0.2;

interface Split {
  pixels: Uint8Array;
  shape: ImageTensor["shape"];
  /** (N x K) 0/1. */
  labels?: Float32Array;
}

/** One tensor of the model: its torchvision name, its shape in TensorFlow's layout, how it starts. */
interface ParamSpec {
  name: string;
  shape: number[];
  init: "kaimingFanOut" | "uniformFanIn" | "xavier" | "ones" | "zeros";
  /** Running statistics are buffers: saved and restored, never trained. */
  buffer?: boolean;
}

type Weights = (name: string) => Tensor;

interface BatchStat {
  name: string;
  mean: Tensor;
  variance: Tensor;
  count: number;
}

// ---------------------------------------------------------------------------------------------
// the network, as a list of named tensors and a forward function over them

function convSpec(name: string, k: number, cin: number, cout: number): ParamSpec {
  return { name, shape: [k, k, cin, cout], init: "kaimingFanOut" };
}

function bnSpecs(prefix: string, channels: number): ParamSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [channels], init: "ones" },
    { name: `${prefix}.bias`, shape: [channels], init: "zeros" },
    { name: `${prefix}.running_mean`, shape: [channels], init: "zeros", buffer: true },
    { name: `${prefix}.running_var`, shape: [channels], init: "ones", buffer: true },
  ];
}

/** The stages of ResNet18: (name, input channels, output channels, stride of its first block). */
const STAGES = [
  ["layer1", 64, 64, 1],
  ["layer2", 64, 128, 2],
  ["layer3", 128, 256, 2],
  ["layer4", 256, 512, 2],
] as const;

export function modelSpecs(config: Pick<ModelConfig, "numClasses" | "inputChannels" | "video">): ParamSpec[] {
  const specs: ParamSpec[] = [];
  if (config.inputChannels !== 1 && config.inputChannels !== 3) {
    specs.push({ ...convSpec("adapter.0.weight", 3, config.inputChannels, 3), init: "uniformFanIn" }, ...bnSpecs("adapter.1", 3));
  }
  specs.push(convSpec("conv1.weight", 7, 3, 64), ...bnSpecs("bn1", 64));
  for (const [stage, cin, cout, stride] of STAGES) {
    for (const block of [0, 1]) {
      const p = `${stage}.${block}`;
      const inC = block === 0 ? cin : cout;
      specs.push(convSpec(`${p}.conv1.weight`, 3, inC, cout), ...bnSpecs(`${p}.bn1`, cout));
      specs.push(convSpec(`${p}.conv2.weight`, 3, cout, cout), ...bnSpecs(`${p}.bn2`, cout));
      if (block === 0 && (stride !== 1 || cin !== cout)) {
        specs.push(convSpec(`${p}.downsample.0.weight`, 1, cin, cout), ...bnSpecs(`${p}.downsample.1`, cout));
      }
    }
  }
  if (config.video) {
    specs.push({ name: "temporal.conv.weight", shape: [5, 512, 512], init: "uniformFanIn" }, ...bnSpecs("temporal.bn", 512));
  }
  specs.push({ name: "fc.weight", shape: [512, config.numClasses], init: "xavier" });
  return specs;
}

class Network {
  constructor(
    private readonly tf: Tf,
    private readonly config: Pick<ModelConfig, "inputChannels" | "video" | "tau">,
  ) {}

  /** x: (clips * frames, H, W, C) normalized -> logits (clips, K). Training collects batch statistics. */
  forward(w: Weights, x: Tensor4D, clips: number, stats?: BatchStat[]): Tensor2D {
    const tf = this.tf;
    const bn = (input: Tensor, name: string): Tensor => {
      const axes = input.rank === 4 ? [0, 1, 2] : [0, 1];
      const gamma = w(`${name}.weight`);
      const beta = w(`${name}.bias`);
      let mean: Tensor;
      let variance: Tensor;
      if (stats) {
        ({ mean, variance } = tf.moments(input, axes));
        stats.push({ name, mean: tf.keep(mean), variance: tf.keep(variance), count: input.size / (input.shape.at(-1) ?? 1) });
      } else {
        mean = w(`${name}.running_mean`);
        variance = w(`${name}.running_var`);
      }
      return input.sub(mean).mul(gamma.mul(variance.add(BN_EPS).rsqrt())).add(beta);
    };
    const conv = (input: Tensor4D, name: string, stride: number, pad: number): Tensor4D => {
      const padded = pad ? tf.pad(input, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) : input;
      return tf.conv2d(padded, w(name) as Tensor4D, stride, "valid");
    };
    const relu = (t: Tensor) => tf.relu(t) as Tensor4D;

    let h: Tensor4D = x;
    if (this.config.inputChannels === 1) h = tf.tile(h, [1, 1, 1, 3]);
    else if (this.config.inputChannels !== 3) h = bn(conv(h, "adapter.0.weight", 1, 1), "adapter.1") as Tensor4D;
    h = relu(bn(conv(h, "conv1.weight", 2, 3), "bn1"));
    // 3x3/2 max pool with padding 1: after a ReLU every value is >= 0, so zeros pad as torch's -inf does
    h = tf.maxPool(tf.pad(h, [[0, 0], [1, 1], [1, 1], [0, 0]]), 3, 2, "valid");
    for (const [stage, cin, cout, stride] of STAGES) {
      for (const block of [0, 1]) {
        const p = `${stage}.${block}`;
        const s = block === 0 ? stride : 1;
        const identity = block === 0 && (stride !== 1 || cin !== cout)
          ? (bn(conv(h, `${p}.downsample.0.weight`, s, 0), `${p}.downsample.1`) as Tensor4D)
          : h;
        const out = relu(bn(conv(h, `${p}.conv1.weight`, s, 1), `${p}.bn1`));
        h = relu(bn(conv(out, `${p}.conv2.weight`, 1, 1), `${p}.bn2`).add(identity));
      }
    }
    const frames = h.shape[0] / clips;
    let features = tf.mean(h, [1, 2]).reshape([clips, frames, 512]) as Tensor;
    if (this.config.video) {
      const temporal = tf.conv1d(
        tf.pad(features, [[0, 0], [2, 2], [0, 0]]) as Tensor3D,
        w("temporal.conv.weight") as Tensor3D,
        1,
        "valid",
      );
      features = features.add(tf.relu(bn(temporal, "temporal.bn")));
    }
    return tf.matMul(tf.mean(features, 1) as Tensor2D, w("fc.weight") as Tensor2D).div(this.config.tau);
  }
}

/** Softmax cross-entropy; multi-label: BCE with its positive and negative terms divided by their
 *  share of the batch's labels, each clamped to 0.1..0.9 (as the torch worker's loss_fn). */
export function lossOf(tf: Tf, logits: Tensor2D, labels: Tensor2D, multiLabel: boolean): Tensor {
  if (!multiLabel) {
    const target = tf.oneHot(tf.argMax(labels, 1), logits.shape[1]).toFloat();
    return tf.neg(tf.mean(tf.sum(target.mul(tf.logSoftmax(logits)), 1)));
  }
  // BCE with logits, stable: max(z, 0) - z y + log(1 + exp(-|z|))
  const bce = tf.relu(logits).sub(logits.mul(labels)).add(tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
  const positive = tf.equal(labels, 1).toFloat();
  const negative = tf.less(labels, 1).toFloat();
  const total = positive.sum().add(negative.sum());
  const positiveShare = tf.clipByValue(positive.sum().div(total), 0.1, 0.9);
  const negativeShare = tf.clipByValue(negative.sum().div(total), 0.1, 0.9);
  return tf.mean(bce.mul(positive).div(positiveShare).add(bce.mul(negative).div(negativeShare)));
}

// ---------------------------------------------------------------------------------------------
// weights files: torchvision names, torch's layouts

function torchShape(spec: ParamSpec): number[] {
  const s = spec.shape;
  if (s.length === 4) return [s[3]!, s[2]!, s[0]!, s[1]!];
  if (s.length === 3) return [s[2]!, s[1]!, s[0]!];
  if (s.length === 2) return [s[1]!, s[0]!];
  return s;
}

function fromTorch(tf: Tf, spec: ParamSpec, tensor: NamedTensor): Tensor {
  const t = tf.tensor(tensor.data, tensor.shape);
  if (spec.shape.length === 4) return t.transpose([2, 3, 1, 0]);
  if (spec.shape.length === 3) return t.transpose([2, 1, 0]);
  if (spec.shape.length === 2) return t.transpose();
  return t;
}

function toTorch(tf: Tf, spec: ParamSpec, t: Tensor): NamedTensor {
  const converted = spec.shape.length === 4 ? t.transpose([3, 2, 0, 1]) : spec.shape.length === 3 ? t.transpose([2, 1, 0]) : spec.shape.length === 2 ? t.transpose() : t;
  const data = converted.dataSync() as Float32Array;
  if (converted !== t) converted.dispose();
  return { shape: torchShape(spec), data: Float32Array.from(data) };
}

// ---------------------------------------------------------------------------------------------
// the engine

let modelCounter = 0;

export class TfjsCompute implements Engine {
  private readonly log: (line: string) => void;
  private readonly readyPromise: Promise<EngineInfo>;
  private tf!: Tf;
  private readonly splits = new Map<SplitName, Split>();
  private config: ModelConfig | undefined;
  private specs: ParamSpec[] = [];
  private network: Network | undefined;
  private variables = new Map<string, Variable>();
  private momentum = new Map<string, Tensor>();
  private snapshots = new Map<string, Map<string, Tensor>>();
  private sampler = { random: seededRandom(0), perm: [] as number[], cursor: 0 };
  private closed = false;

  constructor(options: TfjsComputeOptions = {}) {
    this.log = options.log ?? (() => undefined);
    const started = performance.now();
    // a macrotask later: the caller's next synchronous work is not held up by loading the library
    this.readyPromise = new Promise<EngineInfo>((resolve, reject) => {
      setImmediate(() => {
        try {
          const loaded = loadTfjsNode(options.env);
          this.tf = loaded.tf;
          const startupSeconds = (performance.now() - started) / 1000;
          const threads = cpus().length;
          this.log(`[tfjs-engine] ${loaded.version} from ${loaded.path}, ready in ${startupSeconds.toFixed(2)} s`);
          resolve({ engine: "tfjs", device: "cpu", deviceName: `${process.arch} CPU, ${threads} threads`, version: loaded.version, startupSeconds });
        } catch (error) {
          reject(error instanceof EngineError ? error : new EngineError(String(error), "ready", "Unavailable", { cause: error }));
        }
      });
    });
    this.readyPromise.catch(() => undefined); // observed by ready() and every call
  }

  ready(): Promise<EngineInfo> {
    return this.readyPromise;
  }

  async loadSplit(name: SplitName, images: ImageTensor, labels?: Float32Array): Promise<void> {
    await this.begin("loadSplit");
    const expected = images.shape.reduce((a, b) => a * b, 1);
    if (images.pixels.length !== expected) {
      throw new EngineError(`split ${name}: ${images.pixels.length} pixels, shape ${images.shape.join("x")} needs ${expected}`, "loadSplit", "ShapeMismatch");
    }
    if (labels && (images.shape[0] === 0 || labels.length % images.shape[0] !== 0)) {
      throw new EngineError(`split ${name}: ${labels.length} label values for ${images.shape[0]} samples`, "loadSplit", "ShapeMismatch");
    }
    this.splits.set(name, { pixels: images.pixels, shape: images.shape, ...(labels ? { labels } : {}) });
    if (name === "train") this.sampler = { ...this.sampler, perm: [], cursor: 0 };
  }

  async buildModel(config: ModelConfig): Promise<ModelReport> {
    await this.begin("buildModel");
    if (config.arch !== "resnet18") throw new EngineError(`unknown arch ${JSON.stringify(config.arch)}: this engine has resnet18`, "buildModel", "BadRequest");
    const tf = this.tf;
    this.disposeModel();
    const id = ++modelCounter;
    this.config = config;
    this.specs = modelSpecs(config);
    this.network = new Network(tf, config);
    for (const [i, spec] of this.specs.entries()) {
      const initial = tf.tidy(() => initialValue(tf, spec, config.seed * 1000 + i));
      this.variables.set(spec.name, tf.variable(initial, !spec.buffer, `tfjs-engine-${id}/${spec.name}`));
      initial.dispose();
    }
    this.sampler = { random: seededRandom(config.seed), perm: [], cursor: 0 };
    let init: ModelReport["init"] = "random";
    let detail = "random init (no weights file given)";
    if (config.weightsPath) {
      const count = await this.loadWeights(config.weightsPath, { head: false });
      init = "pretrained";
      detail = `${count} tensors from ${config.weightsPath} (final FC skipped: new head)`;
    }
    const parameters = this.specs.filter((s) => !s.buffer).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    this.log(`[tfjs-engine] model: resnet18, ${config.numClasses} classes, ${config.inputChannels} channels, ${detail}`);
    return { init, detail, parameters };
  }

  async train(request: TrainRequest): Promise<TrainReport> {
    await this.begin("train");
    const { tf, config, network } = this.model("train");
    const train = this.split("train", true);
    const lrs = typeof request.lr === "number" ? new Array<number>(request.steps).fill(request.lr) : [...request.lr];
    if (lrs.length !== request.steps) throw new EngineError(`train: ${lrs.length} learning rates for ${request.steps} steps`, "train", "BadRequest");
    const trainable = this.specs.filter((s) => !s.buffer).map((s) => this.variables.get(s.name)!);
    const started = performance.now();
    let total: Tensor = tf.scalar(0);
    let steps = 0;
    for (const lr of lrs) {
      // a time limit (the loop's, before the first network prediction) ends the chunk early
      if (steps > 0 && request.maxSeconds !== undefined && (performance.now() - started) / 1000 >= request.maxSeconds) break;
      steps++;
      const indices = this.nextBatch(request.batchSize, train.shape[0]);
      const stats: BatchStat[] = [];
      const { x, clips } = this.batchInput(train, indices, request.policy, this.sampler.random);
      const y = tf.tensor2d(gatherRows(train.labels!, indices, config.numClasses), [indices.length, config.numClasses]);
      const { value, grads } = tf.variableGrads(() => lossOf(tf, network.forward(this.weights(), x, clips, stats), y, config.multiLabel) as Scalar, trainable);
      tf.dispose([x, y]);
      this.sgdStep(grads, lr);
      this.updateRunningStats(stats);
      const next = total.add(value);
      tf.dispose([total, value]);
      total = next;
    }
    const mean = (await total.data())[0]! / Math.max(steps, 1);
    total.dispose();
    const seconds = (performance.now() - started) / 1000;
    if (!Number.isFinite(mean)) throw new EngineError(`training loss is ${mean} at lr ${Math.max(...lrs)}: lower the learning rate`, "train", "Diverged");
    const images = steps * request.batchSize;
    return { loss: mean, images, seconds, imagesPerSecond: seconds > 0 ? images / seconds : 0 };
  }

  async predict(request: PredictRequest): Promise<Predictions> {
    await this.begin("predict");
    const { tf, config, network } = this.model("predict");
    const split = this.split(request.split);
    const weights = this.weights(request.checkpoint);
    const passes = request.passes ?? 1;
    const n = split.shape[0];
    const k = config.numClasses;
    const scores = new Float32Array(passes * n * k);
    const started = performance.now();
    for (let pass = 0; pass < passes; pass++) {
      const random = seededRandom((request.seed ?? 0) + pass);
      for (let start = 0; start < n; start += PREDICT_BATCH) {
        const indices = range(start, Math.min(n, start + PREDICT_BATCH));
        const { x, clips } = this.batchInput(split, indices, request.policy, random);
        const probs = tf.tidy(() => {
          let logits = network.forward(weights, x, clips);
          if (request.flip) logits = logits.add(network.forward(weights, tf.reverse(x, 2), clips)).div(2);
          return config.multiLabel ? tf.sigmoid(logits) : tf.softmax(logits);
        });
        scores.set(await probs.data(), (pass * n + start) * k);
        tf.dispose([x, probs]);
      }
    }
    return { scores, passes, rows: n, classes: k, seconds: (performance.now() - started) / 1000 };
  }

  /**
   * Prediction speed at a sample shape, before any data or model: a throwaway ResNet18 of the same
   * kind (its own random weights; the live model is untouched) predicts random inputs, once to warm
   * up, then timed (at least 3 passes and PROBE_MIN_SECONDS). The trainer picks its input size from it.
   */
  async probe(shape: readonly [frames: number, height: number, width: number, channels: number], classes: number): Promise<SpeedProbe> {
    await this.begin("probe");
    const tf = this.tf;
    const [frames, height, width, channels] = shape;
    const config = { numClasses: classes, inputChannels: channels, video: frames > 1, tau: 1 };
    const network = new Network(tf, config);
    const weights = new Map(modelSpecs(config).map((spec, i) => [spec.name, tf.tidy(() => initialValue(tf, spec, i))]));
    const clips = Math.max(1, Math.floor(PROBE_BATCH / frames));
    const x = tf.randomUniform([clips * frames, height, width, channels], -2, 2, "float32", 0) as Tensor4D;
    const pass = async () => {
      const probs = tf.tidy(() => tf.softmax(network.forward((name) => weights.get(name)!, x, clips)));
      await probs.data();
      probs.dispose();
    };
    try {
      await pass(); // warm-up: kernels, allocator
      const started = performance.now();
      let done = 0;
      while (done < 3 || (performance.now() - started) / 1000 < PROBE_MIN_SECONDS) {
        await pass();
        done++;
      }
      const seconds = (performance.now() - started) / 1000;
      return { frames, height, width, channels, samplesPerSecond: (clips * done) / seconds };
    } finally {
      tf.dispose([x, ...weights.values()]);
    }
  }

  async snapshot(name: string): Promise<void> {
    await this.begin("snapshot");
    this.model("snapshot");
    const old = this.snapshots.get(name);
    if (old) this.tf.dispose([...old.values()]);
    this.snapshots.set(name, new Map([...this.variables].map(([key, v]) => [key, this.tf.keep(v.clone())])));
  }

  async restore(name: string): Promise<void> {
    await this.begin("restore");
    this.model("restore");
    const snapshot = this.snapshots.get(name);
    if (!snapshot) throw this.noSnapshot(name, "restore");
    for (const [key, v] of this.variables) v.assign(snapshot.get(key)!);
    this.clearMomentum(); // momentum belongs to the abandoned trajectory
  }

  async resetOptimizer(): Promise<void> {
    await this.begin("resetOptimizer");
    this.model("resetOptimizer");
    this.clearMomentum();
  }

  /** The backbone (and adapter, temporal block) as a torchvision-format state dict in .safetensors. */
  async saveWeights(path: string): Promise<void> {
    await this.begin("saveWeights");
    const { tf } = this.model("saveWeights");
    const out = new Map<string, NamedTensor>();
    for (const spec of this.specs) out.set(spec.name, toTorch(tf, spec, this.variables.get(spec.name)!));
    await writeSafetensors(path, out);
  }

  /** Every tensor of the live model in torch's layout, by torchvision name: what parity tests compare. */
  async exportWeights(): Promise<Map<string, NamedTensor>> {
    await this.begin("exportWeights");
    const { tf } = this.model("exportWeights");
    return new Map(this.specs.map((spec) => [spec.name, toTorch(tf, spec, this.variables.get(spec.name)!)]));
  }

  /**
   * Loads a torchvision-format ResNet18 state dict (.safetensors) into the live model: the backbone
   * without the final FC (a new head), or with it (`head: true`, for parity tests). Returns the
   * count of tensors loaded.
   */
  async loadWeights(path: string, options: { head: boolean }): Promise<number> {
    const { tf } = this.model("loadWeights");
    if (!existsSync(path)) throw new EngineError(`weights file not found: ${path} (check the run's model weights path)`, "buildModel", "WeightsError");
    if (!path.endsWith(".safetensors")) {
      throw new EngineError(
        `${path}: the tfjs engine reads .safetensors weights only (a .pth is a Python pickle); convert it with the torch engine's saveWeights or safetensors.torch.save_file`,
        "buildModel",
        "WeightsError",
      );
    }
    let state: Map<string, NamedTensor>;
    try {
      state = await readSafetensors(path);
    } catch (error) {
      throw new EngineError(`cannot read weights file ${path}: ${(error as Error).message}`, "buildModel", "WeightsError", { cause: error });
    }
    const strip = (name: string) => name.replace(/^(module\.|backbone\.|model\.)/, "");
    const byName = new Map([...state].map(([name, t]) => [strip(name), t]));
    const wanted = this.specs.filter((s) => !s.name.startsWith("adapter.") && !s.name.startsWith("temporal.") && (options.head || s.name !== "fc.weight"));
    const missing = wanted.filter((s) => !byName.has(s.name)).map((s) => s.name);
    const wrong = wanted
      .filter((s) => byName.has(s.name) && byName.get(s.name)!.shape.join() !== torchShape(s).join())
      .map((s) => `${s.name} ${byName.get(s.name)!.shape.join("x")} != ${torchShape(s).join("x")}`);
    if (missing.length || wrong.length) {
      throw new EngineError(
        `${path} is not a torchvision ResNet18 state dict: ${missing.length} missing (e.g. ${missing.slice(0, 3).join(", ")}), ${wrong.length} wrong shapes (e.g. ${wrong.slice(0, 3).join(", ")})`,
        "buildModel",
        "WeightsError",
      );
    }
    for (const spec of wanted) {
      const value = tf.tidy(() => fromTorch(tf, spec, byName.get(spec.name)!));
      this.variables.get(spec.name)!.assign(value);
      value.dispose();
    }
    return wanted.length;
  }

  /** Applies one sub-policy (with its probabilities) to images: a preview, and what tests pin each op with. */
  async augment(images: ImageTensor, subPolicy: SubPolicy, seed = 0): Promise<ImageTensor> {
    await this.begin("augment");
    const [n, frames, h, w, c] = images.shape;
    const pixels = Uint8Array.from(images.pixels);
    try {
      applySubPolicy({ pixels, n, frames, h, w, c }, subPolicy, seededRandom(seed));
    } catch (error) {
      throw new EngineError((error as Error).message, "augment", "BadRequest", { cause: error });
    }
    return { pixels, shape: images.shape };
  }

  /** The training loss of logits (rows x classes) against 0/1 labels: what tests pin the loss with. */
  async loss(logits: Float32Array, labels: Float32Array, classes: number, multiLabel: boolean): Promise<number> {
    await this.begin("loss");
    const tf = this.tf;
    const rows = logits.length / classes;
    const value = tf.tidy(() => lossOf(tf, tf.tensor2d(logits, [rows, classes]), tf.tensor2d(labels, [rows, classes]), multiLabel));
    const out = (await value.data())[0]!;
    value.dispose();
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.tf) this.disposeModel();
    this.splits.clear();
  }

  // ---------------------------------------------------------------------------------------------
  // internals

  private async begin(op: string): Promise<void> {
    await this.readyPromise;
    if (this.closed) throw new EngineError(`${op}: tfjs engine closed`, op, "Closed");
  }

  private model(op: string): { tf: Tf; config: ModelConfig; network: Network } {
    if (!this.config || !this.network) throw new EngineError("no model yet: call buildModel first", op, "NoModel");
    return { tf: this.tf, config: this.config, network: this.network };
  }

  private split(name: SplitName, labelled = false): Split {
    const split = this.splits.get(name);
    if (!split) throw new EngineError(`split ${JSON.stringify(name)} is not loaded (loaded: ${[...this.splits.keys()].join(", ") || "none"})`, "split", "NotFound");
    if (labelled && !split.labels) throw new EngineError(`split ${JSON.stringify(name)} has no labels`, "split", "BadRequest");
    return split;
  }

  private noSnapshot(name: string, op: string): EngineError {
    return new EngineError(`no snapshot named ${JSON.stringify(name)} (have: ${[...this.snapshots.keys()].join(", ") || "none"})`, op, "NotFound");
  }

  /** The live weights, or a named snapshot's. */
  private weights(checkpoint?: string): Weights {
    if (!checkpoint) return (name) => this.variables.get(name)!;
    const snapshot = this.snapshots.get(checkpoint);
    if (!snapshot) throw this.noSnapshot(checkpoint, "predict");
    return (name) => snapshot.get(name)!;
  }

  /** Indices of the next training batch: shuffled epochs, a fresh permutation when one runs out. */
  private nextBatch(size: number, n: number): number[] {
    const out: number[] = [];
    while (out.length < size) {
      if (this.sampler.cursor >= this.sampler.perm.length) {
        this.sampler.perm = shuffle(range(0, n), this.sampler.random);
        this.sampler.cursor = 0;
      }
      const take = this.sampler.perm.slice(this.sampler.cursor, this.sampler.cursor + size - out.length);
      this.sampler.cursor += take.length;
      out.push(...take);
    }
    return out;
  }

  /** uint8 (B, T, H, W, C) rows -> normalized float (B*T, H, W, C), augmented when a policy is given. */
  private batchInput(split: Split, indices: number[], policy: Policy | undefined, random: () => number): { x: Tensor4D; clips: number } {
    const [, t, h, w, c] = split.shape;
    const sample = t * h * w * c;
    const pixels = new Uint8Array(indices.length * sample);
    indices.forEach((index, row) => pixels.set(split.pixels.subarray(index * sample, (index + 1) * sample), row * sample));
    if (policy && policy.length) {
      try {
        applyPolicy({ pixels, n: indices.length, frames: t, h, w, c }, policy, random);
      } catch (error) {
        throw new EngineError((error as Error).message, "augment", "BadRequest", { cause: error });
      }
    }
    const tf = this.tf;
    const x = tf.tidy(() => tf.tensor4d(Float32Array.from(pixels), [indices.length * t, h, w, c]).div(255).sub(MEAN).div(STD) as Tensor4D);
    return { x, clips: indices.length };
  }

  private sgdStep(grads: Record<string, Tensor>, lr: number): void {
    const tf = this.tf;
    const m = this.config!.momentum;
    const wd = this.config!.weightDecay;
    for (const spec of this.specs) {
      if (spec.buffer) continue;
      const variable = this.variables.get(spec.name)!;
      const grad = grads[variable.name];
      if (!grad) continue;
      const previous = this.momentum.get(spec.name);
      const buf = tf.tidy(() => {
        const d = grad.add(variable.mul(wd));
        return previous ? previous.mul(m).add(d) : d;
      });
      tf.tidy(() => {
        const d = grad.add(variable.mul(wd));
        const step = m > 0 ? d.add(buf.mul(m)) : d;
        variable.assign(variable.sub(step.mul(lr)));
      });
      previous?.dispose();
      this.momentum.set(spec.name, buf);
    }
    tf.dispose(Object.values(grads));
  }

  private updateRunningStats(stats: BatchStat[]): void {
    const tf = this.tf;
    for (const { name, mean, variance, count } of stats) {
      const runningMean = this.variables.get(`${name}.running_mean`)!;
      const runningVar = this.variables.get(`${name}.running_var`)!;
      tf.tidy(() => {
        runningMean.assign(runningMean.mul(1 - BN_MOMENTUM).add(mean.mul(BN_MOMENTUM)));
        const unbiased = variance.mul(count / Math.max(count - 1, 1));
        runningVar.assign(runningVar.mul(1 - BN_MOMENTUM).add(unbiased.mul(BN_MOMENTUM)));
      });
      tf.dispose([mean, variance]);
    }
  }

  private clearMomentum(): void {
    this.tf.dispose([...this.momentum.values()]);
    this.momentum.clear();
  }

  private disposeModel(): void {
    this.clearMomentum();
    for (const snapshot of this.snapshots.values()) this.tf.dispose([...snapshot.values()]);
    this.snapshots.clear();
    this.tf.dispose([...this.variables.values()]);
    this.variables.clear();
    this.config = undefined;
    this.network = undefined;
  }
}

/** torch's initializers: kaiming normal (fan out, ReLU) for the ResNet's convs, kaiming uniform
 *  (a = sqrt 5, i.e. bound 1 / sqrt(fan in)) for the adapter and temporal convs, xavier uniform for
 *  the head. Seeded: the same seed builds the same model. */
function initialValue(tf: Tf, spec: ParamSpec, seed: number): Tensor {
  const s = spec.shape;
  switch (spec.init) {
    case "ones":
      return tf.ones(s);
    case "zeros":
      return tf.zeros(s);
    case "kaimingFanOut": {
      const fanOut = s[3]! * s[0]! * s[1]!;
      return tf.randomNormal(s, 0, Math.sqrt(2 / fanOut), "float32", seed);
    }
    case "uniformFanIn": {
      const fanIn = s.slice(0, -1).reduce((a, b) => a * b, 1);
      const bound = 1 / Math.sqrt(fanIn);
      return tf.randomUniform(s, -bound, bound, "float32", seed);
    }
    case "xavier": {
      const bound = Math.sqrt(6 / (s[0]! + s[1]!));
      return tf.randomUniform(s, -bound, bound, "float32", seed);
    }
  }
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

function shuffle(values: number[], random: () => number): number[] {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values;
}

function gatherRows(matrix: Float32Array, indices: number[], k: number): Float32Array {
  const out = new Float32Array(indices.length * k);
  indices.forEach((index, row) => out.set(matrix.subarray(index * k, (index + 1) * k), row * k));
  return out;
}

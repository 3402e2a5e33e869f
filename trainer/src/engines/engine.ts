/**
 * The compute-engine boundary. The TS trainer owns the algorithm, the clock, the data and the
 * events; an engine owns tensors. Calls are coarse (a whole split, k training steps) so that the
 * cost of crossing the boundary never shows next to the work itself.
 */
import type { Policy } from "@autoclint/api";

export type SplitName = "train" | "valid" | "test" | "train-probe";

/** N samples of T frames of H x W x C uint8 pixels, row-major (N, T, H, W, C). */
export interface ImageTensor {
  pixels: Uint8Array;
  shape: readonly [n: number, frames: number, height: number, width: number, channels: number];
}

export interface EngineInfo {
  engine: string;
  /** "cuda:0", "cpu", ... */
  device: string;
  /** Human-readable accelerator or CPU name. */
  deviceName: string;
  /** Framework version, e.g. torch 2.11.0. */
  version: string;
  /** Seconds from spawn to ready (imports, device init). */
  startupSeconds: number;
}

export interface ModelConfig {
  arch: "resnet18";
  numClasses: number;
  /** Channels of the input tensor; 1 is copied to 3, others go through a 3x3 conv + BatchNorm to 3. */
  inputChannels: number;
  multiLabel: boolean;
  /** Clips of several frames: per-frame features go through a residual temporal block, then the mean over time. */
  video?: boolean;
  /** Softmax annealing: logits / tau. */
  tau: number;
  /** Pretrained weights file (safetensors or torchvision .pth); random init when absent. */
  weightsPath?: string;
  seed: number;
  /** SGD: Nesterov momentum and weight decay. */
  momentum: number;
  weightDecay: number;
}

export interface ModelReport {
  /** "pretrained" when weights were loaded, "random" otherwise. */
  init: "pretrained" | "random";
  detail: string;
  parameters: number;
}

export interface TrainRequest {
  steps: number;
  batchSize: number;
  /** One learning rate for every step, or one per step (a warm-up moves it step by step). */
  lr: number | readonly number[];
  /** Augmentation applied per sample while training; none when absent or empty. */
  policy?: Policy;
  /** Stop once this many seconds have passed (after at least one step): `images` says how many ran. */
  maxSeconds?: number;
  /** Return the class scores of the later half of the chunk's batches (`batchScores`). */
  scoreBatches?: boolean;
}

export interface TrainReport {
  /** Mean training loss over the steps. */
  loss: number;
  /** Training samples seen: steps run x batch size. */
  images: number;
  seconds: number;
  imagesPerSecond: number;
  /**
   * When asked (`scoreBatches`) and the engine can: each batch scored by the weights before its
   * own step, so a score on samples the model had not yet learnt from, at no extra cost.
   * `indices` are train rows; `scores` is (indices.length x K), row-major, like `Predictions`.
   */
  batchScores?: { indices: readonly number[]; scores: Float32Array };
}

/** Prediction speed at one sample shape, measured on a throwaway model before any data is loaded. */
export interface SpeedProbe {
  frames: number;
  height: number;
  width: number;
  channels: number;
  samplesPerSecond: number;
}

export interface PredictRequest {
  split: SplitName;
  /** A named checkpoint to predict with; the live weights when absent. */
  checkpoint?: string;
  /** Augment the inputs with this policy (policy search); `passes` independent draws. */
  policy?: Policy;
  passes?: number;
  seed?: number;
  /** Average the logits of each image (clip) and of its left-right mirror image before the softmax. */
  flip?: boolean;
}

/** Class scores, row-major (passes x N x K): probabilities (softmax) or sigmoids (multi-label). */
export interface Predictions {
  scores: Float32Array;
  passes: number;
  rows: number;
  classes: number;
  seconds: number;
}

export interface Engine {
  /** Resolves once the engine can take work. Spawned first thing so imports overlap data loading. */
  ready(): Promise<EngineInfo>;
  /** Prediction speed at a sample shape (frames, height, width, channels); engines that cannot measure leave it out. */
  probe?(shape: readonly [frames: number, height: number, width: number, channels: number], classes: number): Promise<SpeedProbe>;
  /** Hands a split to the engine. Labels are a 0/1 (N x K) matrix; a test split has none. */
  loadSplit(name: SplitName, images: ImageTensor, labels?: Float32Array): Promise<void>;
  buildModel(config: ModelConfig): Promise<ModelReport>;
  train(request: TrainRequest): Promise<TrainReport>;
  predict(request: PredictRequest): Promise<Predictions>;
  /** Keeps a copy of the current weights under a name (in memory). */
  snapshot(name: string): Promise<void>;
  /** Makes a named snapshot the live weights again. */
  restore(name: string): Promise<void>;
  /** A fresh optimizer for the live weights: momentum forgotten (retraining after the policy search). */
  resetOptimizer(): Promise<void>;
  close(): Promise<void>;
}

/** A failure inside an engine, with the engine's own error type and message. */
export class EngineError extends Error {
  override name = "EngineError";
  constructor(
    message: string,
    readonly operation: string,
    readonly engineErrorType?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * From a dataset on disk to tensors on the engine: exploration on a scan of a few hundred
 * samples, the input shape, the stratified valid split, and one decode of every sample at that
 * shape. Runs while the engine is still starting (Python imports, CUDA init).
 */
import { decodeSplit, probeSample } from "../datasets/decode";
import type { Dataset } from "../datasets/dataset";
import type { ImageTensor } from "../engines/engine";
import { explore, EXPLORATION_SAMPLES, type Exploration, type SampleShape } from "./explore";
import type { LabeledTensor, PreparedData } from "./loop";
import { stratifiedSplit } from "./split";

/** Samples in the training-score probe. */
export const TRAIN_PROBE_SAMPLES = 256;

/** Indices spread evenly over a split: a scan that sees its start, middle and end. */
export function evenlySpaced(size: number, count: number): number[] {
  const n = Math.min(size, count);
  return Array.from({ length: n }, (_, i) => Math.floor((i * size) / n));
}

export async function exploreDataset(dataset: Dataset): Promise<Exploration> {
  const indices = evenlySpaced(dataset.train.size, EXPLORATION_SAMPLES);
  const shapes: SampleShape[] = [];
  for (const index of indices) shapes.push(await probeSample(await dataset.train.read(index)));
  return explore(shapes, indices.map((i) => dataset.train.labels[i]!), dataset.numClasses);
}

/** A 0/1 (rows x classes) matrix from label index lists. */
export function labelMatrix(labels: readonly (readonly number[])[], indices: readonly number[], classes: number): Float32Array {
  const matrix = new Float32Array(indices.length * classes);
  indices.forEach((sample, row) => {
    for (const label of labels[sample]!) matrix[row * classes + label] = 1;
  });
  return matrix;
}

/** The first `count` samples of a tensor, without copying. */
export function headOf(tensor: ImageTensor, count: number): ImageTensor {
  const [n, frames, height, width, channels] = tensor.shape;
  const rows = Math.min(n, count);
  const size = frames * height * width * channels;
  return { pixels: tensor.pixels.subarray(0, rows * size), shape: [rows, frames, height, width, channels] };
}

export interface PrepareProgress {
  (stage: string, done: number, total: number): void;
}

/** What is decoded first: enough for a quick model to predict on test before the rest of train. */
export interface EarlyData {
  exploration: Exploration;
  classes: number;
  /** The first rows of the (shuffled) training split. */
  train: LabeledTensor;
  valid: LabeledTensor;
  test: ImageTensor;
}

export interface PrepareOptions {
  onProgress?: PrepareProgress;
  /** Runs once valid, test and the first `earlyTrainRows` training samples are decoded, before the rest of train. */
  onEarlyData?: (early: EarlyData) => Promise<void>;
  earlyTrainRows?: number;
}

/**
 * Training samples decoded before the early-data hook (a random sample: the split is shuffled):
 * as many as 2,000 28x28 grey images hold, between 500 and 2,000. Decoding costs about in
 * proportion to the pixels, and a 64x64 RGB image or an 8-frame clip holds 16-42 times those of a
 * digit, so larger samples get fewer rows; the quick model's features are pooled to a few hundred
 * whatever the size, and its fit wants rows, hence the floor.
 */
export function earlyTrainRows(sample: { frames: number; height: number; width: number; channels: number }): number {
  const values = sample.frames * sample.height * sample.width * sample.channels;
  return Math.max(MIN_EARLY_TRAIN_ROWS, Math.min(MAX_EARLY_TRAIN_ROWS, Math.round(EARLY_TRAIN_VALUES / values)));
}
const MAX_EARLY_TRAIN_ROWS = 2000;
const MIN_EARLY_TRAIN_ROWS = 500;
const EARLY_TRAIN_VALUES = MAX_EARLY_TRAIN_ROWS * 28 * 28;

export interface PreparedRun {
  exploration: Exploration;
  data: PreparedData;
  /**
   * The test tensor. With an early-data hook it was decoded first (the quick model predicts on
   * it); without one nothing needs it before the network's first prediction, so it decodes on the
   * first call, which the run makes as training starts.
   */
  test: () => Promise<ImageTensor>;
  /** Origins of training samples that could not be decoded and were skipped. */
  skipped: string[];
  splitSizes: { train: number; valid: number; test: number };
}

/** Rows of two tensors of the same sample shape, one after the other. */
function concatRows(a: ImageTensor, b: ImageTensor): ImageTensor {
  if (b.shape[0] === 0) return a;
  const pixels = new Uint8Array(a.pixels.length + b.pixels.length);
  pixels.set(a.pixels);
  pixels.set(b.pixels, a.pixels.length);
  return { pixels, shape: [a.shape[0] + b.shape[0], a.shape[1], a.shape[2], a.shape[3], a.shape[4]] };
}

/**
 * Explores, splits and decodes. Order matters for the clock: valid first; with an early-data hook
 * then test and a first slice of train (a quick model predicts from them), then the rest of train;
 * without one, train and then test, which is left decoding when this returns.
 */
export async function prepareData(dataset: Dataset, seed: number, options: PrepareOptions = {}): Promise<PreparedRun> {
  const { onProgress } = options;
  const exploration = await exploreDataset(dataset);
  const target = exploration.inputShape;
  const { train, valid } = stratifiedSplit(dataset.train.labels, seed);
  const classes = dataset.numClasses;

  // A test sample cannot be dropped (a prediction needs every row), so a corrupt one fails the
  // run with its origin named; training samples that fail to decode are dropped and reported.
  const validDecoded = await decodeSplit(dataset.train, target, { indices: valid, onCorrupt: "fail" });
  const decodeTest = async () =>
    (
      await decodeSplit(dataset.test, target, {
        onCorrupt: "fail",
        onProgress: (done, total) => onProgress?.("decode test", done, total),
      })
    ).tensor;
  const testFirst = options.onEarlyData ? await decodeTest() : undefined;
  const validTensor: LabeledTensor = { images: validDecoded.tensor, labels: labelMatrix(dataset.train.labels, valid, classes) };

  const earlyRows = Math.min(train.length, options.earlyTrainRows ?? earlyTrainRows(target));
  const decodeTrain = (indices: number[], offset: number) =>
    decodeSplit(dataset.train, target, {
      indices,
      onCorrupt: "skip",
      onProgress: (done) => onProgress?.("decode train", offset + done, train.length),
    });
  const early = await decodeTrain(train.slice(0, earlyRows), 0);
  if (options.onEarlyData) {
    const earlyTrain = { images: early.tensor, labels: labelMatrix(dataset.train.labels, early.indices, classes) };
    await options.onEarlyData({ exploration, classes, train: earlyTrain, valid: validTensor, test: testFirst! });
  }
  const rest = await decodeTrain(train.slice(earlyRows), earlyRows);

  const keptTrain = [...early.indices, ...rest.indices];
  const trainTensor: LabeledTensor = { images: concatRows(early.tensor, rest.tensor), labels: labelMatrix(dataset.train.labels, keptTrain, classes) };
  const probeRows = Math.min(TRAIN_PROBE_SAMPLES, keptTrain.length);
  const data: PreparedData = {
    classes,
    multiLabel: exploration.multiLabel,
    video: exploration.video,
    train: trainTensor,
    valid: validTensor,
    trainProbe: { images: headOf(trainTensor.images, probeRows), labels: trainTensor.labels.subarray(0, probeRows * classes) },
    testRows: dataset.test.size,
  };
  let decoding: Promise<ImageTensor> | undefined;
  const test = () => (decoding ??= testFirst ? Promise.resolve(testFirst) : decodeTest());
  return {
    exploration,
    data,
    test,
    skipped: [...early.skipped, ...rest.skipped],
    splitSizes: { train: keptTrain.length, valid: valid.length, test: dataset.test.size },
  };
}

/**
 * The quick first model: ridge regression from block-averaged pixels to the 0/1 label matrix.
 * ALC weighs the first seconds of a run the most (log time), and the network cannot predict
 * before its engine has started; this model can, from the decoded data alone, in a fraction of
 * a second. One code path serves every task kind: single-label and multi-label (one regression
 * per class column; NAUC only ranks each column), and video (frames averaged).
 *
 * The solver: centred features, normal equations with a ridge term, Cholesky in float64. The
 * ridge term is chosen among a few multiples of the mean feature variance by the valid score.
 */
import type { ImageTensor } from "../engines/engine";
import { flatNauc } from "./flat-nauc";

/** Features per sample at most (before the pooling factor is rounded): keeps the Gram matrix cheap. */
export const QUICK_MAX_FEATURES = 256;

/** One fit of the quick model: how many features, and how many input values it reads per sample. */
export interface QuickStage {
  maxFeatures: number;
  /** Input values read per sample at most: rows and columns are sampled with a step above it. */
  maxValues: number;
}

/**
 * The quick model is fitted twice, coarse then fine. The coarse stage caps the features at 64 (the
 * Gram matrix 16x and the solve 64x cheaper than at 256) and reads at most 2,048 values of each
 * sample (every pixel of a 28x28 digit; every 4th row and column of an 8-frame 64x64 clip, all
 * frames kept, since a video's class can lie in how its frames differ), so its prediction goes
 * out soonest: pooling the pixels is most of its cost, and it grows with the sample. The fine
 * stage reads every value into up to QUICK_MAX_FEATURES features; its prediction follows only
 * when its valid score is better.
 */
export const QUICK_FEATURE_STAGES: readonly QuickStage[] = [
  { maxFeatures: 64, maxValues: 2048 },
  { maxFeatures: QUICK_MAX_FEATURES, maxValues: Infinity },
];
/** Ridge terms tried, as multiples of the mean diagonal of the centred Gram matrix. */
export const RIDGE_CANDIDATES = [1e-3, 1e-2, 1e-1, 1] as const;
/**
 * What a pixel becomes before pooling: (v / 255) ^ gamma, or with `relative` (|v - b| / 255) ^ gamma
 * where b is the image's background, the mean colour of its border.
 */
export interface PixelTransform {
  gamma: number;
  relative: boolean;
}
/**
 * Pixel transforms tried. The exponent is a monotone non-linearity that the linear model cannot
 * make itself (on Fashion-MNIST 0.25 lifts test NAUC from 0.921 to 0.937). The distance from the
 * background is for images whose colours change from sample to sample (a letter dark on light in
 * one, light on dark in the next, as in the fonts and emoji tasks): raw intensities flip sign
 * there, and a linear model on them scores at chance.
 */
export const PIXEL_TRANSFORMS: readonly PixelTransform[] = [
  { gamma: 1, relative: false },
  { gamma: 0.5, relative: false },
  { gamma: 0.25, relative: false },
  { gamma: 1, relative: true },
  { gamma: 0.5, relative: true },
];
/** Training rows the pixel transform is chosen on; the chosen one is then fitted on all of them. */
export const TRANSFORM_PROBE_ROWS = 500;

export interface PooledGrid {
  height: number;
  width: number;
  channels: number;
  /** Rows and columns read: every `step`-th one, from step / 2 (1: every pixel). */
  step: number;
}

export interface LabeledImages {
  images: ImageTensor;
  /** 0/1 matrix, rows x classes, row-major. */
  labels: Float32Array;
}

export interface RidgeModel {
  grid: PooledGrid;
  dims: number;
  classes: number;
  xMean: Float64Array;
  yMean: Float64Array;
  /** dims x classes, row-major. */
  weights: Float64Array;
  /** The ridge term the valid score chose, as a multiple of the mean feature variance. */
  ridge: number;
  /** The pixel transform the valid score chose. */
  transform: PixelTransform;
}

export interface QuickFit {
  model: RidgeModel;
  /** Valid NAUC of the chosen model: what the network's valid score must beat to replace it. */
  validScore: number;
  trainRows: number;
}

/**
 * The pooled grid: the input divided by the smallest integer factor that brings it under the
 * feature cap; and the sampling step that brings the values read per sample under `maxValues`,
 * never wider than a bin (so that every bin is read).
 */
export function pooledGrid(shape: ImageTensor["shape"], stage: QuickStage = { maxFeatures: QUICK_MAX_FEATURES, maxValues: Infinity }): PooledGrid {
  const [, frames, height, width, channels] = shape;
  const factor = Math.max(1, Math.ceil(Math.sqrt((height * width * channels) / stage.maxFeatures)));
  const grid = { height: Math.ceil(height / factor), width: Math.ceil(width / factor), channels };
  const wanted = Math.ceil(Math.sqrt((frames * height * width * channels) / stage.maxValues));
  const narrowestBin = Math.min(Math.floor(height / grid.height), Math.floor(width / grid.width));
  return { ...grid, step: Math.max(1, Math.min(wanted, narrowestBin)) };
}

/** "7x7x1", or "8x8x1 (1 in 4 rows and columns)" when the grid samples. */
export function describeGrid(grid: PooledGrid): string {
  const size = `${grid.height}x${grid.width}x${grid.channels}`;
  return grid.step === 1 ? size : `${size} (1 in ${grid.step} rows and columns)`;
}

/** The rows (or columns) of a side that a grid with this step reads: step / 2, then every step-th. */
function sampledIndices(size: number, step: number): Int32Array {
  const first = Math.min(size - 1, Math.floor(step / 2));
  return Int32Array.from({ length: Math.ceil((size - first) / step) }, (_, k) => first + k * step);
}

/**
 * The mean of a sample's border pixels over its frames, per channel, rounded: its background
 * colour. The border is read at the sampled rows and columns, like the rest of the sample.
 */
function borderColour(pixels: Uint8Array, start: number, shape: ImageTensor["shape"], rows: Int32Array, cols: Int32Array): Int32Array {
  const [, frames, height, width, channels] = shape;
  const sums = new Float64Array(channels);
  let count = 0;
  const add = (f: number, y: number, x: number) => {
    const p = start + ((f * height + y) * width + x) * channels;
    for (let c = 0; c < channels; c++) sums[c]! += pixels[p + c]!;
    count++;
  };
  for (let f = 0; f < frames; f++) {
    for (const x of cols) {
      add(f, 0, x);
      if (height > 1) add(f, height - 1, x);
    }
    for (const y of rows) {
      if (y === 0 || y === height - 1) continue;
      add(f, y, 0);
      if (width > 1) add(f, y, width - 1);
    }
  }
  return Int32Array.from(sums, (sum) => Math.round(sum / count));
}

const IDENTITY: PixelTransform = { gamma: 1, relative: false };

/**
 * Block averages of the transformed pixels over frames and pixel bins: rows x (h * w * c),
 * row-major. A grid with a step above 1 averages the pixels of its sampled rows and columns only.
 */
export function pooledFeatures(tensor: ImageTensor, grid: PooledGrid, transform: PixelTransform = IDENTITY, rows = tensor.shape[0]): Float64Array {
  const [n, frames, height, width, channels] = tensor.shape;
  const count = Math.min(rows, n);
  const dims = grid.height * grid.width * channels;
  const out = new Float64Array(count * dims);
  const sampledRows = sampledIndices(height, grid.step);
  const sampledCols = sampledIndices(width, grid.step);
  // The values read, once for all samples: offset in the sample, feature index, channel. One
  // flat loop over them per sample is what keeps the pooling (most of the fit's cost) cheap.
  const reads = frames * sampledRows.length * sampledCols.length * channels;
  const offset = new Int32Array(reads);
  const feature = new Int32Array(reads);
  const channel = new Int32Array(reads);
  const binSize = new Float64Array(grid.height * grid.width);
  let j = 0;
  for (let f = 0; f < frames; f++) {
    for (const y of sampledRows) {
      const rowBin = Math.min(grid.height - 1, Math.floor((y * grid.height) / height));
      for (const x of sampledCols) {
        const bin = rowBin * grid.width + Math.min(grid.width - 1, Math.floor((x * grid.width) / width));
        binSize[bin]!++;
        for (let c = 0; c < channels; c++, j++) {
          offset[j] = ((f * height + y) * width + x) * channels + c;
          feature[j] = bin * channels + c;
          channel[j] = c;
        }
      }
    }
  }
  // Indexed by the pixel value minus the background plus 255 (a zero background: value + 255).
  const intensity = Float64Array.from({ length: 511 }, (_, k) => (Math.abs(k - 255) / 255) ** transform.gamma);
  const shift = new Int32Array(channels).fill(255);
  const pixels = tensor.pixels;
  const sampleBytes = frames * height * width * channels;
  for (let i = 0; i < count; i++) {
    const base = i * dims;
    const start = i * sampleBytes;
    if (transform.relative) {
      const background = borderColour(pixels, start, tensor.shape, sampledRows, sampledCols);
      for (let c = 0; c < channels; c++) shift[c] = 255 - background[c]!;
    }
    if (channels === 1) {
      const grey = shift[0]!; // grey images and clips, most tasks: one shift for every value
      for (let k = 0; k < reads; k++) out[base + feature[k]!]! += intensity[pixels[start + offset[k]!]! + grey]!;
    } else {
      for (let k = 0; k < reads; k++) out[base + feature[k]!]! += intensity[pixels[start + offset[k]!]! + shift[channel[k]!]!]!;
    }
    for (let b = 0; b < grid.height * grid.width; b++) {
      const scale = 1 / binSize[b]!; // values read into the bin, over all frames
      for (let c = 0; c < channels; c++) out[base + b * channels + c]! *= scale;
    }
  }
  return out;
}

function columnMeans(x: Float64Array, rows: number, cols: number): Float64Array {
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j]! += x[i * cols + j]!;
  for (let j = 0; j < cols; j++) mean[j]! /= Math.max(1, rows);
  return mean;
}

/**
 * (X - mean)^T (X - mean) as X^T X - n mean mean^T: the one O(n d^2) step, on the raw features so
 * that the zeros of dark pixels are skipped. Float64 keeps the subtraction exact enough for
 * features in 0..1.
 */
function centredGram(x: Float64Array, rows: number, dims: number, mean: Float64Array): Float64Array {
  const gram = new Float64Array(dims * dims);
  for (let r = 0; r < rows; r++) {
    const base = r * dims;
    for (let i = 0; i < dims; i++) {
      const xi = x[base + i]!;
      if (xi === 0) continue;
      const out = i * dims;
      for (let j = i; j < dims; j++) gram[out + j]! += xi * x[base + j]!;
    }
  }
  for (let i = 0; i < dims; i++) {
    for (let j = i; j < dims; j++) {
      const centred = gram[i * dims + j]! - rows * mean[i]! * mean[j]!;
      gram[i * dims + j] = centred;
      gram[j * dims + i] = centred;
    }
  }
  return gram;
}

/** (X - xMean)^T (Y - yMean): dims x classes. */
function centredCross(x: Float64Array, y: Float32Array, xMean: Float64Array, yMean: Float64Array, rows: number): Float64Array {
  const dims = xMean.length;
  const classes = yMean.length;
  const cross = new Float64Array(dims * classes);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < dims; i++) {
      const xi = x[r * dims + i]! - xMean[i]!;
      for (let k = 0; k < classes; k++) cross[i * classes + k]! += xi * (y[r * classes + k]! - yMean[k]!);
    }
  }
  return cross;
}

/**
 * Solves (A + ridge I) W = B for a symmetric positive semi-definite A (dims x dims) and
 * B (dims x classes) by Cholesky; ridge > 0 makes the system positive definite.
 */
export function solveRidge(a: Float64Array, b: Float64Array, dims: number, classes: number, ridge: number): Float64Array {
  const l = new Float64Array(dims * dims);
  for (let i = 0; i < dims; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * dims + j]! + (i === j ? ridge : 0);
      for (let k = 0; k < j; k++) sum -= l[i * dims + k]! * l[j * dims + k]!;
      if (i === j) {
        if (!(sum > 0)) throw new Error(`ridge system is not positive definite at ${i} (ridge ${ridge})`);
        l[i * dims + i] = Math.sqrt(sum);
      } else {
        l[i * dims + j] = sum / l[j * dims + j]!;
      }
    }
  }
  const w = new Float64Array(dims * classes);
  for (let c = 0; c < classes; c++) {
    // L z = b, then L^T w = z.
    const z = new Float64Array(dims);
    for (let i = 0; i < dims; i++) {
      let sum = b[i * classes + c]!;
      for (let k = 0; k < i; k++) sum -= l[i * dims + k]! * z[k]!;
      z[i] = sum / l[i * dims + i]!;
    }
    for (let i = dims - 1; i >= 0; i--) {
      let sum = z[i]!;
      for (let k = i + 1; k < dims; k++) sum -= l[k * dims + i]! * w[k * classes + c]!;
      w[i * classes + c] = sum / l[i * dims + i]!;
    }
  }
  return w;
}

/** Class scores (rows x classes) of pooled features under a ridge model. */
export function scoreFeatures(model: RidgeModel, x: Float64Array, rows: number): Float32Array {
  const { dims, classes, weights, xMean, yMean } = model;
  const out = new Float32Array(rows * classes);
  const acc = new Float64Array(classes);
  for (let r = 0; r < rows; r++) {
    acc.set(yMean);
    for (let i = 0; i < dims; i++) {
      const xi = x[r * dims + i]! - xMean[i]!;
      for (let k = 0; k < classes; k++) acc[k]! += xi * weights[i * classes + k]!;
    }
    out.set(acc, r * classes);
  }
  return out;
}

/** Class scores (rows x classes) for images. */
export function predictQuick(model: RidgeModel, images: ImageTensor): Float32Array {
  return scoreFeatures(model, pooledFeatures(images, model.grid, model.transform), images.shape[0]);
}

/**
 * Fits the ridge model on train over the pooled grid of a stage, choosing the pixel
 * transform and the ridge term by the valid NAUC. Labels must have both 0s and 1s in some valid
 * column for the score to exist.
 */
export function fitQuickModel(train: LabeledImages, valid: LabeledImages, classes: number, stage: QuickStage = QUICK_FEATURE_STAGES.at(-1)!): QuickFit {
  const grid = pooledGrid(train.images.shape, stage);
  const rows = train.images.shape[0];
  // The Gram matrix is the cost: the transform is chosen on a smaller sample, then refitted.
  const probeRows = Math.min(rows, TRANSFORM_PROBE_ROWS);
  let best: QuickFit | undefined;
  for (const transform of PIXEL_TRANSFORMS) {
    const fit = fitRidgeFamily(train, valid, classes, { grid, rows: probeRows, transform });
    if (!best || fit.validScore > best.validScore) best = fit;
  }
  if (rows === probeRows) return best!;
  return fitRidgeFamily(train, valid, classes, { grid, rows, transform: best!.model.transform });
}

/** One Gram matrix for one feature transform, solved for every ridge term; the best on valid. */
function fitRidgeFamily(train: LabeledImages, valid: LabeledImages, classes: number, setting: { grid: PooledGrid; rows: number; transform: PixelTransform }): QuickFit {
  const { grid, rows, transform } = setting;
  const dims = grid.height * grid.width * grid.channels;
  const x = pooledFeatures(train.images, grid, transform, rows);
  const y = train.labels.subarray(0, rows * classes);
  const xMean = columnMeans(x, rows, dims);
  const yMean = new Float64Array(classes);
  for (let r = 0; r < rows; r++) for (let k = 0; k < classes; k++) yMean[k]! += y[r * classes + k]! / rows;
  const gram = centredGram(x, rows, dims, xMean);
  const cross = centredCross(x, y, xMean, yMean, rows);
  let meanVariance = 0;
  for (let i = 0; i < dims; i++) meanVariance += gram[i * dims + i]! / dims;
  // A constant input (all features equal) still needs a positive ridge term.
  meanVariance = Math.max(meanVariance, 1e-12);

  const validX = pooledFeatures(valid.images, grid, transform);
  const validRows = valid.images.shape[0];
  let best: QuickFit | undefined;
  for (const ridge of RIDGE_CANDIDATES) {
    const weights = solveRidge(gram, cross, dims, classes, ridge * meanVariance);
    const model: RidgeModel = { grid, dims, classes, xMean, yMean, weights, ridge, transform };
    const validScore = flatNauc(valid.labels, scoreFeatures(model, validX, validRows), classes);
    if (!best || validScore > best.validScore) best = { model, validScore, trainRows: rows };
  }
  return best!;
}

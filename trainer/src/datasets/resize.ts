/**
 * Resizes a decoded uint8 tensor (N, T, H, W, C) to another height and width, each axis on its
 * own: shrinking by area averaging (each output pixel is the mean of the source area it covers,
 * fractional edges weighted by how much of them it covers), enlarging by linear interpolation
 * between pixel centres (as sharp and PIL align them). Used when the start-up speed probe picks an
 * input smaller than the one the data was decoded at, and for every decoded image whose size is
 * not the input's: one sharp call costs about a millisecond in fixed overhead (pipeline set-up,
 * a thread-pool round trip), most of the work for a 48x48 letter, and this a few microseconds.
 */
import type { ImageTensor } from "../engines/engine";

interface AxisWeights {
  index: Int32Array;
  weight: Float64Array;
  start: Int32Array;
}

/** For each output index along one axis: the source indices it draws on and their weights (summing to 1). */
function axisWeights(from: number, to: number): AxisWeights {
  const scale = from / to;
  const index: number[] = [];
  const weight: number[] = [];
  const start = new Int32Array(to + 1);
  for (let o = 0; o < to; o++) {
    start[o] = index.length;
    if (to > from) {
      // Enlarging: the output pixel's centre, in source coordinates, between two source centres.
      const centre = Math.min(from - 1, Math.max(0, (o + 0.5) * scale - 0.5));
      const left = Math.floor(centre);
      const share = centre - left;
      index.push(left);
      weight.push(1 - share);
      if (share > 0) {
        index.push(left + 1);
        weight.push(share);
      }
      continue;
    }
    const lo = o * scale;
    const hi = (o + 1) * scale;
    for (let s = Math.floor(lo); s < Math.min(from, Math.ceil(hi)); s++) {
      const covered = Math.min(hi, s + 1) - Math.max(lo, s);
      if (covered <= 0) continue;
      index.push(s);
      weight.push(covered / scale);
    }
  }
  start[to] = index.length;
  return { index: Int32Array.from(index), weight: Float64Array.from(weight), start };
}

/**
 * One row of pixels (C channels) into `out` at `to`, by the column weights; `offsets` are the
 * weights' source columns times C. Grey and RGB rows have loops of their own (every channel of a
 * pixel from one pass over its weights): decoding larger images is mostly this.
 */
function resampleRow(row: Uint8Array, out: Float64Array, to: number, cols: AxisWeights & { offsets: Int32Array }, c: number): void {
  const { offsets, weight, start } = cols;
  const width = start.length - 1;
  if (c === 1) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = start[x]!; k < start[x + 1]!; k++) sum += weight[k]! * row[offsets[k]!]!;
      out[to + x] = sum;
    }
  } else if (c === 3) {
    for (let x = 0, o = to; x < width; x++, o += 3) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = start[x]!; k < start[x + 1]!; k++) {
        const w = weight[k]!;
        const p = offsets[k]!;
        r += w * row[p]!;
        g += w * row[p + 1]!;
        b += w * row[p + 2]!;
      }
      out[o] = r;
      out[o + 1] = g;
      out[o + 2] = b;
    }
  } else {
    for (let x = 0; x < width; x++) {
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let k = start[x]!; k < start[x + 1]!; k++) sum += weight[k]! * row[offsets[k]! + ch]!;
        out[to + x * c + ch] = sum;
      }
    }
  }
}

export function resizeTensor(tensor: ImageTensor, height: number, width: number): ImageTensor {
  const [n, frames, h, w, c] = tensor.shape;
  if (height === h && width === w) return tensor;
  if (!(height >= 1 && width >= 1 && h >= 1 && w >= 1)) throw new RangeError(`cannot resize ${h}x${w} to ${height}x${width}`);
  const colWeights = axisWeights(w, width);
  const cols = { ...colWeights, offsets: colWeights.index.map((i) => i * c) };
  const { index: rowIndex, weight: rowWeight, start: rowStart } = axisWeights(h, height);
  const pixels = tensor.pixels;
  const out = new Uint8Array(n * frames * height * width * c);
  const inRow = w * c;
  const outRow = width * c;
  // Columns first (every source row, into a float buffer), then rows: each output row a weighted
  // sum of whole buffer rows, a loop over contiguous values (decoding larger images is mostly this).
  const across = new Float64Array(h * outRow);
  const sums = new Float64Array(outRow);
  for (let f = 0; f < n * frames; f++) {
    const src = f * h * inRow;
    for (let y = 0; y < h; y++) resampleRow(pixels.subarray(src + y * inRow, src + (y + 1) * inRow), across, y * outRow, cols, c);
    const dst = f * height * outRow;
    for (let y = 0; y < height; y++) {
      sums.fill(0);
      for (let k = rowStart[y]!; k < rowStart[y + 1]!; k++) {
        const weight = rowWeight[k]!;
        const from = rowIndex[k]! * outRow;
        for (let x = 0; x < outRow; x++) sums[x]! += weight * across[from + x]!;
      }
      const to = dst + y * outRow;
      for (let x = 0; x < outRow; x++) {
        const value = Math.round(sums[x]!);
        out[to + x] = value > 255 ? 255 : value;
      }
    }
  }
  return { pixels: out, shape: [n, frames, height, width, c] };
}

/**
 * From samples to one uint8 tensor (N, T, H, W, C) at the input shape exploration chose. Each
 * image is decoded once: PNGs of the common kind by png.ts and raw frames are resized in TS
 * (resize.ts: a sharp call's fixed cost is most of the work for a small image), everything else
 * by sharp (decode and resize in one call).
 *
 * Corrupt samples. A sample that cannot be read or decoded raises a `SampleError` naming its
 * origin ("<file>#<record>" or the file path). `decodeSplit` takes `onCorrupt`:
 *   - "fail" (the default, and what the run uses for test and valid): a prediction needs every
 *     row, so the first corrupt sample fails the run with its origin named;
 *   - "skip" (what the run uses for train): the sample is dropped, its origin is listed in
 *     `skipped`, and `indices` (aligned with the tensor's rows) leaves it out.
 *
 * Frames: a video with more frames than the target keeps `target.frames` evenly spaced ones
 * (first and last included); one with fewer repeats frames in order (0,0,1,1,2,2,...).
 * Channels: grey <-> RGB by copying or by luma (ITU-R 601 weights); alpha is dropped.
 */
import type { ImageTensor } from "../engines/engine";
import { SampleError, type Frame, type Sample, type Split } from "./dataset";
import { decodeSimplePng, pngChannels, readPngHeader, type RawImage } from "./png";
import { resizeTensor } from "./resize";
import { loadSharp } from "../util/sharp";

export interface FrameShape {
  frames: number;
  height: number;
  width: number;
  channels: number;
}

export type OnCorrupt = "fail" | "skip";

export interface DecodeOptions {
  /** Split indices to decode, in this order; all samples when absent. */
  indices?: readonly number[];
  onProgress?: (done: number, total: number) => void;
  /** Samples in flight at once (sharp decodes on its own thread pool). */
  concurrency?: number;
  onCorrupt?: OnCorrupt;
}

export interface DecodedSplit {
  tensor: ImageTensor;
  /** Split indices of the tensor's rows (the requested ones minus the skipped ones). */
  indices: number[];
  /** Origins of the samples dropped under onCorrupt: "skip". */
  skipped: string[];
}

const DEFAULT_CONCURRENCY = 8;

function asSampleError(origin: string, error: unknown): SampleError {
  if (error instanceof SampleError) return error;
  return new SampleError(origin, `cannot decode: ${(error as Error).message}`, { cause: error });
}

/** The shape of a sample without decoding its pixels (image header or raw fields). */
export async function probeSample(sample: Sample): Promise<FrameShape> {
  const frame = sample.frames[0];
  if (!frame) throw new SampleError(sample.origin, "sample has no frames");
  if (frame.kind === "raw") return { frames: sample.frames.length, height: frame.height, width: frame.width, channels: frame.channels };
  const png = readPngHeader(frame.bytes);
  if (png) return { frames: sample.frames.length, height: png.height, width: png.width, channels: pngChannels(png) };
  try {
    const sharp = await loadSharp();
    const meta = await sharp(frame.bytes).metadata();
    if (!meta.width || !meta.height) throw new Error("no image size in header");
    return { frames: sample.frames.length, height: meta.height, width: meta.width, channels: meta.channels ?? 3 };
  } catch (error) {
    throw asSampleError(sample.origin, error);
  }
}

/** Which of `available` frames fill `wanted` slots. */
export function pickFrames(available: number, wanted: number): number[] {
  if (available >= wanted) {
    if (wanted === 1) return [Math.floor((available - 1) / 2)];
    return Array.from({ length: wanted }, (_, k) => Math.round((k * (available - 1)) / (wanted - 1)));
  }
  return Array.from({ length: wanted }, (_, k) => Math.floor((k * available) / wanted));
}

/** Copies `count` pixels from `cin` to `cout` channels into `out`. */
export function convertChannels(src: Uint8Array, cin: number, out: Uint8Array, cout: number, count: number): void {
  if (cin === cout) {
    out.set(src.subarray(0, count * cin));
    return;
  }
  const srcColour = cin >= 3;
  const outColour = cout >= 3;
  for (let p = 0, s = 0, o = 0; p < count; p++, s += cin, o += cout) {
    if (outColour) {
      out[o] = src[s]!;
      out[o + 1] = srcColour ? src[s + 1]! : src[s]!;
      out[o + 2] = srcColour ? src[s + 2]! : src[s]!;
    } else {
      out[o] = srcColour ? (77 * src[s]! + 150 * src[s + 1]! + 29 * src[s + 2]! + 128) >> 8 : src[s]!;
    }
    if (cout === 2 || cout === 4) out[o + cout - 1] = 255;
  }
}

function checkRaw(frame: Extract<Frame, { kind: "raw" }>, origin: string): void {
  if (frame.pixels.length !== frame.height * frame.width * frame.channels) {
    throw new SampleError(origin, `raw frame has ${frame.pixels.length} bytes, expected ${frame.height}x${frame.width}x${frame.channels}`);
  }
}

/** One frame as raw pixels at the target height and width (channels not yet converted). */
async function frameAtSize(frame: Frame, target: FrameShape, origin: string): Promise<RawImage> {
  let image: RawImage | undefined;
  if (frame.kind === "raw") {
    checkRaw(frame, origin);
    image = frame;
  } else {
    image = decodeSimplePng(frame.bytes);
  }
  if (image) {
    if (image.height === target.height && image.width === target.width) return image;
    const resized = resizeTensor({ pixels: image.pixels, shape: [1, 1, image.height, image.width, image.channels] }, target.height, target.width);
    return { pixels: resized.pixels, height: target.height, width: target.width, channels: image.channels };
  }
  const sharp = await loadSharp();
  const { data, info } = await sharp((frame as { bytes: Uint8Array }).bytes)
    .resize(target.width, target.height, { fit: "fill" })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { pixels: data, height: info.height, width: info.width, channels: info.channels };
}

/** Writes one sample's frames into `out` (T x H x W x C). */
export async function decodeSampleInto(sample: Sample, target: FrameShape, out: Uint8Array): Promise<void> {
  if (sample.frames.length === 0) throw new SampleError(sample.origin, "sample has no frames");
  const picks = pickFrames(sample.frames.length, target.frames);
  const frameBytes = target.height * target.width * target.channels;
  const decoded = new Map<number, RawImage>();
  for (let slot = 0; slot < picks.length; slot++) {
    const index = picks[slot]!;
    let image = decoded.get(index);
    if (!image) {
      try {
        image = await frameAtSize(sample.frames[index]!, target, sample.origin);
      } catch (error) {
        throw asSampleError(`${sample.origin}`, error);
      }
      decoded.set(index, image);
    }
    convertChannels(image.pixels, image.channels, out.subarray(slot * frameBytes, (slot + 1) * frameBytes), target.channels, target.height * target.width);
  }
}

export async function decodeSplit(split: Split, target: FrameShape, options: DecodeOptions = {}): Promise<DecodedSplit> {
  const indices = options.indices ? [...options.indices] : Array.from({ length: split.size }, (_, i) => i);
  const sampleBytes = target.frames * target.height * target.width * target.channels;
  const pixels = new Uint8Array(indices.length * sampleBytes);
  const ok = new Uint8Array(indices.length);
  const skipped: string[] = [];
  const progressEvery = Math.max(1, Math.floor(indices.length / 100));
  let next = 0;
  let done = 0;

  const decodeRow = async (row: number) => {
    const index = indices[row]!;
    let origin = `sample ${index}`;
    try {
      const sample = await split.read(index);
      origin = sample.origin;
      await decodeSampleInto(sample, target, pixels.subarray(row * sampleBytes, (row + 1) * sampleBytes));
      ok[row] = 1;
    } catch (error) {
      const sampleError = asSampleError(origin, error);
      if (options.onCorrupt !== "skip") throw sampleError;
      skipped.push(sampleError.origin);
    }
    done++;
    if (done % progressEvery === 0 || done === indices.length) options.onProgress?.(done, indices.length);
  };
  const worker = async () => {
    while (next < indices.length) await decodeRow(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY) }, worker));
  return { ...compact(pixels, ok, indices, target), skipped };
}

/** Drops the rows of skipped samples (in place) and shapes the result. */
function compact(pixels: Uint8Array, ok: Uint8Array, indices: number[], target: FrameShape): Omit<DecodedSplit, "skipped"> {
  const sampleBytes = target.frames * target.height * target.width * target.channels;
  const kept: number[] = [];
  for (let row = 0; row < indices.length; row++) {
    if (!ok[row]) continue;
    if (kept.length !== row) pixels.copyWithin(kept.length * sampleBytes, row * sampleBytes, (row + 1) * sampleBytes);
    kept.push(indices[row]!);
  }
  const tensor: ImageTensor = {
    pixels: kept.length === indices.length ? pixels : pixels.subarray(0, kept.length * sampleBytes),
    shape: [kept.length, target.frames, target.height, target.width, target.channels],
  };
  return { tensor, indices: kept };
}

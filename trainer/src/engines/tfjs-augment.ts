/**
 * The AutoAugment operations for the tfjs engine, on uint8 pixels (N*T, H, W, C) before they become
 * a tensor. The same rules as the torch worker's trainer/engines/torch/augment.py, pinned by the same
 * tests (augment.test.ts): levels to magnitudes by the original AutoCLINT's rules, pixels by PIL's
 * integer definitions (affine NEAREST at floor(M (x + .5, y + .5)), lookup tables, Image.blend's
 * truncation).
 *
 * Why TS over the pixels and not tf ops: PIL's results hang on float64 arithmetic then truncation
 * (a blend factor of 0.9999999999 moves a pixel by one), and TensorFlow.js has no float64. The ops
 * run per batch on the CPU (32 images of 28x28 in well under a millisecond per op); what the network
 * sees is then built as one tensor. Video clips share one draw across their frames.
 */
import type { Operation, Policy, SubPolicy } from "@autoclint/api";

// ---- levels to magnitudes (augment.py MAGNITUDES) ---------------------------------------------

const float = (level: number, max: number) => (level * max) / 10;

const MAGNITUDES: Partial<Record<Operation, { rule: (l: number) => number; low: number; high: number; signed: boolean }>> = {
  ShearX: { rule: (l) => float(l, 0.3), low: -0.3, high: 0.3, signed: true },
  ShearY: { rule: (l) => float(l, 0.3), low: -0.3, high: 0.3, signed: true },
  TranslateX: { rule: (l) => l, low: 0, high: 10, signed: true },
  TranslateY: { rule: (l) => l, low: 0, high: 10, signed: true },
  Rotate: { rule: (l) => Math.trunc(float(l, 30)), low: -30, high: 30, signed: true },
  Solarize: { rule: (l) => 256 - Math.trunc(float(l, 256)), low: 0, high: 256, signed: false },
  Posterize: { rule: (l) => 4 - Math.trunc(float(l, 4)), low: 0, high: 4, signed: false },
  Contrast: { rule: (l) => float(l, 1.8) + 0.1, low: 0.1, high: 1.9, signed: false },
  Color: { rule: (l) => float(l, 1.8) + 0.1, low: 0.1, high: 1.9, signed: false },
  Brightness: { rule: (l) => float(l, 1.8) + 0.1, low: 0.1, high: 1.9, signed: false },
  Sharpness: { rule: (l) => float(l, 1.8) + 0.1, low: 0.1, high: 1.9, signed: false },
  Cutout: { rule: (l) => Math.trunc(float(l, 20)), low: 0, high: 20, signed: false },
};

/** The original passes each value through a fraction of the op's range and back: kept to the bit. */
function magnitudeValue(op: Operation, level: number): number {
  const m = MAGNITUDES[op]!;
  return ((m.rule(level) - m.low) / (m.high - m.low)) * (m.high - m.low) + m.low;
}

// ---- one image (H, W, C) ---------------------------------------------------------------------

interface Image {
  data: Uint8Array;
  h: number;
  w: number;
  c: number;
}

type Op = (img: Image, v: number, u: readonly [number, number]) => Uint8Array;

function mapPixels(img: Image, f: (value: number, y: number, x: number, ch: number) => number): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let y = 0, i = 0; y < img.h; y++) for (let x = 0; x < img.w; x++) for (let ch = 0; ch < img.c; ch++, i++) out[i] = f(img.data[i]!, y, x, ch);
  return out;
}

/** PIL Image.transform(AFFINE, NEAREST): out(x, y) = in(floor(a X + b Y + c), floor(d X + e Y + f)), X = x + .5, black outside. */
function affine(img: Image, [a, b, c, d, e, f]: readonly number[]): Uint8Array {
  const { h, w, c: channels } = img;
  return mapPixels(img, (_v, y, x, ch) => {
    const X = x + 0.5;
    const Y = y + 0.5;
    const xi = Math.floor(a! * X + b! * Y + c!);
    const yi = Math.floor(d! * X + e! * Y + f!);
    return xi >= 0 && xi < w && yi >= 0 && yi < h ? img.data[(yi * w + xi) * channels + ch]! : 0;
  });
}

/** PIL Image.rotate(degrees): counter-clockwise about (w/2, h/2), the matrix as PIL builds it. */
function rotateMatrix(img: Image, degrees: number): number[] {
  const angle = -((((degrees % 360) + 360) % 360) * (Math.PI / 180));
  const round15 = (v: number) => Math.round(v * 1e15) / 1e15;
  const cos = round15(Math.cos(angle));
  const sin = round15(Math.sin(angle));
  const cx = img.w / 2;
  const cy = img.h / 2;
  return [cos, sin, cos * -cx + sin * -cy + cx, -sin, cos, -sin * -cx + cos * -cy + cy];
}

/** PIL Image.blend(degenerate, img, alpha): truncated; extrapolation through a float32, clipped. */
function blend(degenerate: (i: number) => number, img: Image, alpha: number): Uint8Array {
  const out = new Uint8Array(img.data.length);
  const extrapolating = alpha < 0 || alpha > 1;
  for (let i = 0; i < out.length; i++) {
    const d = degenerate(i);
    let v = d + alpha * (img.data[i]! - d);
    if (extrapolating) v = Math.fround(v);
    out[i] = Math.floor(Math.min(255, Math.max(0, v)));
  }
  return out;
}

/** PIL convert("L"): ITU-R 601-2 luma in 16-bit fixed point; other channel counts: the rounded mean. */
function gray(img: Image, pixel: number): number {
  const base = pixel * img.c;
  if (img.c === 1) return img.data[base]!;
  if (img.c === 3) return Math.floor((img.data[base]! * 19595 + img.data[base + 1]! * 38470 + img.data[base + 2]! * 7471 + 32768) / 65536);
  let sum = 0;
  for (let ch = 0; ch < img.c; ch++) sum += img.data[base + ch]!;
  return Math.floor(sum / img.c + 0.5);
}

function perChannelLut(img: Image, lutOf: (values: (i: number) => number, count: number) => number[] | undefined): Uint8Array {
  const pixels = img.h * img.w;
  const luts = [...Array(img.c).keys()].map((ch) => lutOf((i) => img.data[i * img.c + ch]!, pixels));
  return mapPixels(img, (v, _y, _x, ch) => luts[ch]?.[v] ?? v);
}

const CUTOUT_RGB = [125, 123, 114]; // the original's fill colour
const CUTOUT_GREY = 123; // its luma, for other channel counts

const OPS: Record<Operation, Op> = {
  ShearX: (img, v) => affine(img, [1, v, 0, 0, 1, 0]),
  ShearY: (img, v) => affine(img, [1, 0, 0, v, 1, 0]),
  TranslateX: (img, v) => affine(img, [1, 0, v, 0, 1, 0]),
  TranslateY: (img, v) => affine(img, [1, 0, 0, 0, 1, v]),
  Rotate: (img, v) => affine(img, rotateMatrix(img, v)),
  AutoContrast: (img) =>
    perChannelLut(img, (values, n) => {
      let lo = 255;
      let hi = 0;
      for (let i = 0; i < n; i++) {
        lo = Math.min(lo, values(i));
        hi = Math.max(hi, values(i));
      }
      if (hi <= lo) return undefined;
      const scale = 255 / (hi - lo);
      return [...Array(256).keys()].map((v) => Math.min(255, Math.max(0, Math.trunc(v * scale + -lo * scale))));
    }),
  Invert: (img) => mapPixels(img, (v) => 255 - v),
  Equalize: (img) =>
    perChannelLut(img, (values, n) => {
      const hist = new Array<number>(256).fill(0);
      for (let i = 0; i < n; i++) hist[values(i)]!++;
      let last = 0;
      for (let b = 0; b < 256; b++) if (hist[b]! > 0) last = b;
      const step = Math.floor((n - hist[last]!) / 255);
      if (step === 0) return undefined;
      let before = Math.floor(step / 2);
      return hist.map((count) => {
        const out = Math.min(255, Math.floor(before / step));
        before += count;
        return out;
      });
    }),
  Solarize: (img, v) => mapPixels(img, (p) => (p < v ? p : 255 - p)),
  Posterize: (img, v) => {
    const div = 2 ** (8 - Math.min(8, Math.max(0, Math.floor(v))));
    return mapPixels(img, (p) => Math.floor(p / div) * div);
  },
  Contrast: (img, v) => {
    let sum = 0;
    for (let p = 0; p < img.h * img.w; p++) sum += gray(img, p);
    const mean = Math.floor(sum / (img.h * img.w) + 0.5);
    return blend(() => mean, img, v);
  },
  Color: (img, v) => blend((i) => gray(img, Math.floor(i / img.c)), img, v),
  Brightness: (img, v) => blend(() => 0, img, v),
  Sharpness: (img, v) => {
    // ImageFilter.SMOOTH (1 1 1 / 1 5 1 / 1 1 1, /13, rounded); its one-pixel border is the image itself
    const { h, w, c } = img;
    const smooth = mapPixels(img, (p, y, x, ch) => {
      if (y === 0 || x === 0 || y === h - 1 || x === w - 1) return p;
      let s = 4 * p;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += img.data[((y + dy) * w + x + dx) * c + ch]!;
      return Math.floor((s + 6) / 13);
    });
    return blend((i) => smooth[i]!, img, v);
  },
  Cutout: (img, v, u) => {
    // the original's CutoutAbs: corner int(max(0, point - v / 2)), both ends filled (v + 1 pixels a side)
    const x0 = Math.floor(Math.max(0, u[0] * img.w - v / 2));
    const y0 = Math.floor(Math.max(0, u[1] * img.h - v / 2));
    return mapPixels(img, (p, y, x, ch) =>
      x >= x0 && x <= x0 + v && y >= y0 && y <= y0 + v ? (img.c === 3 ? CUTOUT_RGB[ch]! : CUTOUT_GREY) : p,
    );
  },
  FlipLR: (img) => mapPixels(img, (_p, y, x, ch) => img.data[(y * img.w + (img.w - 1 - x)) * img.c + ch]!),
};

// ---- policies over a batch --------------------------------------------------------------------

export interface PixelBatch {
  /** uint8 (N * frames, H, W, C), changed in place. */
  pixels: Uint8Array;
  /** Clips (or images) in the batch. */
  n: number;
  frames: number;
  h: number;
  w: number;
  c: number;
}

/** One sub-policy's steps in order, each firing with its probability per clip (all frames alike). */
function applySteps(batch: PixelBatch, clips: readonly number[], steps: SubPolicy, random: () => number): void {
  const frame = batch.h * batch.w * batch.c;
  for (const [op, probability, level] of steps) {
    const fn = OPS[op] as Op | undefined;
    if (!fn) throw new Error(`unknown augmentation op ${JSON.stringify(op)}; known: ${Object.keys(OPS).join(", ")}`);
    const magnitude = MAGNITUDES[op] ? magnitudeValue(op, level) : 0;
    for (const clip of clips) {
      const fire = random() < probability;
      const sign = random() < 0.5 ? -1 : 1;
      const u = [random(), random()] as const;
      if (!fire) continue;
      const v = MAGNITUDES[op]?.signed ? sign * magnitude : magnitude;
      for (let f = 0; f < batch.frames; f++) {
        const start = (clip * batch.frames + f) * frame;
        const img = { data: batch.pixels.subarray(start, start + frame), h: batch.h, w: batch.w, c: batch.c };
        batch.pixels.set(fn(img, v, u), start);
      }
    }
  }
}

/** One sub-policy (with its probabilities) on every clip of the batch. */
export function applySubPolicy(batch: PixelBatch, steps: SubPolicy, random: () => number): void {
  applySteps(batch, [...Array(batch.n).keys()], steps, random);
}

/** A policy: one of its sub-policies drawn uniformly per clip, then applied. */
export function applyPolicy(batch: PixelBatch, policy: Policy, random: () => number): void {
  if (policy.length === 0) return;
  const choice = Array.from({ length: batch.n }, () => Math.floor(random() * policy.length));
  policy.forEach((steps, s) => {
    const clips = choice.flatMap((c, clip) => (c === s ? [clip] : []));
    if (clips.length) applySteps(batch, clips, steps, random);
  });
}

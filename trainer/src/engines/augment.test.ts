// Pins each augmentation op of both engines (the torch worker's augment.py, the tfjs engine's
// tfjs-augment.ts), at levels 0, 5 and 9, against an independent
// computation written here in TS: magnitudes by the original AutoCLINT's rules (AutoAugment's,
// skeleton/data/augmentations.py), pixels by PIL's definitions (what the original runs), on small
// fixed images.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Operation } from "@autoclint/api";
import { EngineError, type ImageTensor } from "./engine";
import { TfjsEngine } from "./tfjs";
import { TorchEngine } from "./torch";

/** One H x W x C image, pixel (y, x, c) from `f`. */
interface Image {
  h: number;
  w: number;
  c: number;
  data: number[];
}

function image(h: number, w: number, c: number, f: (y: number, x: number, ch: number) => number): Image {
  const data: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) data.push(f(y, x, ch));
  return { h, w, c, data };
}

function at(img: Image, y: number, x: number, ch: number): number {
  return img.data[(y * img.w + x) * img.c + ch] ?? 0;
}

function map(img: Image, f: (v: number, y: number, x: number, ch: number) => number): Image {
  return image(img.h, img.w, img.c, (y, x, ch) => f(at(img, y, x, ch), y, x, ch));
}

// ---- the original's level -> magnitude rules, restated ------------------------------------------

const LEVELS = [0, 5, 9] as const;
/** AutoAugment's float_parameter: a level on a scale of 10. */
const float = (level: number, max: number) => (level * max) / 10;
/** The original passes each value through a fraction of the op's range and back. */
const viaRange = (v: number, low: number, high: number) => ((v - low) / (high - low)) * (high - low) + low;
const magnitude = {
  shear: (l: number) => viaRange(float(l, 0.3), -0.3, 0.3),
  translate: (l: number) => viaRange(l, 0, 10),
  rotate: (l: number) => viaRange(Math.trunc(float(l, 30)), -30, 30),
  solarize: (l: number) => viaRange(256 - Math.trunc(float(l, 256)), 0, 256),
  posterize: (l: number) => Math.trunc(viaRange(4 - Math.trunc(float(l, 4)), 0, 4)),
  enhance: (l: number) => viaRange(float(l, 1.8) + 0.1, 0.1, 1.9),
  cutout: (l: number) => viaRange(Math.trunc(float(l, 20)), 0, 20),
};

// ---- PIL, restated ---------------------------------------------------------------------------

/** Image.transform(AFFINE, NEAREST): out(x, y) = in(floor(a X + b Y + c), floor(d X + e Y + f)), X = x + .5. */
function affine(img: Image, [a, b, c, d, e, f]: readonly number[]): Image {
  return image(img.h, img.w, img.c, (y, x, ch) => {
    const X = x + 0.5;
    const Y = y + 0.5;
    const xi = Math.floor(a! * X + b! * Y + c!);
    const yi = Math.floor(d! * X + e! * Y + f!);
    return xi >= 0 && xi < img.w && yi >= 0 && yi < img.h ? at(img, yi, xi, ch) : 0;
  });
}

/** Image.rotate(degrees): about (w/2, h/2), matrix as PIL builds it. */
function rotateMatrix(img: Image, degrees: number): number[] {
  const angle = (-((degrees % 360) + 360) % 360 * Math.PI) / 180;
  const r15 = (v: number) => Math.round(v * 1e15) / 1e15;
  const cos = r15(Math.cos(angle));
  const sin = r15(Math.sin(angle));
  const cx = img.w / 2;
  const cy = img.h / 2;
  return [cos, sin, cos * -cx + sin * -cy + cx, -sin, cos, -sin * -cx + cos * -cy + cy];
}

/** Image.blend(degenerate, img, alpha): truncated; extrapolation through a float32, clipped. */
function blend(degenerate: Image, img: Image, alpha: number): Image {
  return map(img, (v, y, x, ch) => {
    const d = at(degenerate, y, x, ch);
    const out = d + alpha * (v - d);
    if (alpha >= 0 && alpha <= 1) return Math.trunc(out);
    return Math.trunc(Math.min(255, Math.max(0, Math.fround(out))));
  });
}

/** convert("L") of an RGB image: (R 19595 + G 38470 + B 7471 + 0x8000) >> 16. */
function luma(img: Image, y: number, x: number): number {
  if (img.c === 1) return at(img, y, x, 0);
  return (at(img, y, x, 0) * 19595 + at(img, y, x, 1) * 38470 + at(img, y, x, 2) * 7471 + 0x8000) >> 16;
}

function equalizeLut(values: number[]): number[] {
  const hist = new Array<number>(256).fill(0);
  for (const v of values) hist[v]!++;
  const nonEmpty = hist.filter((n) => n > 0);
  const identity = [...Array(256).keys()];
  if (nonEmpty.length <= 1) return identity;
  const step = Math.floor((values.length - nonEmpty[nonEmpty.length - 1]!) / 255);
  if (step === 0) return identity;
  let n = Math.floor(step / 2);
  return identity.map((i) => {
    const out = Math.min(255, Math.floor(n / step));
    n += hist[i]!;
    return out;
  });
}

const channel = (img: Image, ch: number) => img.data.filter((_, i) => i % img.c === ch);

// ---- the engine side ---------------------------------------------------------------------------

function batch(img: Image, copies: number, frames = 1): ImageTensor {
  const pixels = new Uint8Array(copies * frames * img.data.length);
  for (let i = 0; i < copies * frames; i++) pixels.set(img.data, i * img.data.length);
  return { pixels, shape: [copies, frames, img.h, img.w, img.c] };
}

function unbatch(tensor: ImageTensor, template: Image): Image[] {
  const size = template.data.length;
  return [...Array(tensor.pixels.length / size).keys()].map((i) => ({
    ...template,
    data: [...tensor.pixels.subarray(i * size, (i + 1) * size)],
  }));
}

const ENGINES = [
  ["torch", () => new TorchEngine()],
  ["tfjs", () => new TfjsEngine()],
] as const;

for (const [engineName, makeEngine] of ENGINES) void describe(`augmentation ops of the ${engineName} engine, pinned to PIL's definitions`, () => {
  let engine: TorchEngine | TfjsEngine;
  before(async () => {
    engine = makeEngine();
    await engine.ready();
  });
  after(() => engine.close());

  /** Applies [op, probability, m] to `copies` copies of img. */
  async function apply(op: Operation, m: number, img: Image, options: { copies?: number; p?: number; seed?: number } = {}) {
    const out = await engine.augment(batch(img, options.copies ?? 1), [[op, options.p ?? 1, m]], options.seed ?? 0);
    return unbatch(out, img);
  }

  /** Signed ops: each copy is the +v or the -v result, and over 16 copies both show up. */
  async function assertSigned(op: Operation, m: number, img: Image, expected: (sign: number) => Image) {
    const plus = expected(1).data;
    const minus = expected(-1).data;
    assert.notDeepEqual(plus, minus, "the test image must tell the signs apart");
    const outs = await apply(op, m, img, { copies: 16, seed: 3 });
    const signs = outs.map((out) => {
      if (JSON.stringify(out.data) === JSON.stringify(plus)) return 1;
      assert.deepEqual(out.data, minus);
      return -1;
    });
    assert.ok(signs.includes(1) && signs.includes(-1), `signs drawn: ${signs.join(",")}`);
  }

  const gradient = image(6, 7, 3, (y, x, ch) => (37 * y + 23 * x + 91 * ch + 11 * x * y) % 256);
  const lit = (h: number, w: number, py: number, px: number) => image(h, w, 1, (y, x) => (y === py && x === px ? 255 : 0));

  /** Every copy is the expected image; signed ops: the +v or the -v one, and over 16 copies both. */
  async function assertOp(op: Operation, level: number, img: Image, expected: (sign: number) => Image) {
    const plus = expected(1).data;
    const minus = expected(-1).data;
    if (JSON.stringify(plus) === JSON.stringify(minus)) {
      for (const out of await apply(op, level, img, { copies: 4 })) assert.deepEqual(out.data, plus, `${op} level ${level}`);
      return;
    }
    await assertSigned(op, level, img, expected);
  }

  void test("the level rules: the magnitudes at levels 0, 5 and 9", () => {
    const at3 = (f: (l: number) => number) => LEVELS.map((l) => +f(l).toFixed(12));
    assert.deepEqual(at3(magnitude.shear), [0, 0.15, 0.27]);
    assert.deepEqual(at3(magnitude.translate), [0, 5, 9]);
    assert.deepEqual(at3(magnitude.rotate), [0, 15, 27]);
    assert.deepEqual(at3(magnitude.solarize), [256, 128, 26]);
    assert.deepEqual(at3(magnitude.posterize), [4, 2, 1]);
    assert.deepEqual(at3(magnitude.enhance), [0.1, 1, 1.72]);
    assert.deepEqual(at3(magnitude.cutout), [0, 10, 18]);
  });

  for (const level of LEVELS) {
    void test(`level ${level}: Invert, AutoContrast, Equalize take no magnitude`, async () => {
      const ramp = image(1, 6, 1, (_, x) => [0, 1, 127, 128, 254, 255][x]!);
      await assertOp("Invert", level, ramp, () => map(ramp, (v) => 255 - v));
      const img = image(4, 5, 3, (y, x, ch) => (ch === 2 ? 90 : 50 + ((y * 5 + x) * (ch + 3)) % 101));
      await assertOp("AutoContrast", level, img, () =>
        map(img, (v, _y, _x, ch) => {
          const values = channel(img, ch);
          const lo = Math.min(...values);
          const hi = Math.max(...values);
          if (hi <= lo) return v;
          const scale = 255 / (hi - lo);
          return Math.min(255, Math.max(0, Math.trunc(v * scale + -lo * scale)));
        }),
      );
      const bands = image(32, 32, 1, (y) => [0, 64, 128, 255][Math.floor(y / 8)]!);
      // step = (1024 - 256) // 255 = 3; lut[i] = (1 + pixels below i) // 3
      await assertOp("Equalize", level, bands, () => map(bands, (v) => ({ 0: 0, 64: 85, 128: 171, 255: 255 })[v]!));
      const noisy = image(24, 24, 3, (y, x, ch) => (ch === 1 ? 77 : Math.floor((((y * 24 + x) * 7919 * (ch + 1)) % 1000) / 8) + 60));
      const luts = [0, 1, 2].map((ch) => equalizeLut(channel(noisy, ch)));
      await assertOp("Equalize", level, noisy, () => map(noisy, (v, _y, _x, ch) => luts[ch]![v]!));
    });

    void test(`level ${level}: Solarize inverts pixels >= 256 - int(25.6 level)`, async () => {
      const img = image(1, 6, 1, (_, x) => [0, 25, 26, 127, 128, 255][x]!);
      const threshold = magnitude.solarize(level);
      await assertOp("Solarize", level, img, () => map(img, (v) => (v < threshold ? v : 255 - v)));
    });

    void test(`level ${level}: Posterize keeps 4 - int(0.4 level) bits`, async () => {
      const img = image(1, 4, 1, (_, x) => [183, 255, 7, 64][x]!);
      const mask = 256 - 2 ** (8 - magnitude.posterize(level));
      await assertOp("Posterize", level, img, () => map(img, (v) => v & mask));
    });

    void test(`level ${level}: Brightness, Contrast, Color, Sharpness blend by the factor 0.18 level + 0.1`, async () => {
      const factor = magnitude.enhance(level);
      await assertOp("Brightness", level, gradient, () => blend(map(gradient, () => 0), gradient, factor));
      let sum = 0;
      for (let y = 0; y < gradient.h; y++) for (let x = 0; x < gradient.w; x++) sum += luma(gradient, y, x);
      const mean = Math.trunc(sum / (gradient.h * gradient.w) + 0.5);
      await assertOp("Contrast", level, gradient, () => blend(map(gradient, () => mean), gradient, factor));
      await assertOp("Color", level, gradient, () => blend(map(gradient, (_v, y, x) => luma(gradient, y, x)), gradient, factor));
      const grey = image(3, 3, 1, (y, x) => 30 * y + 7 * x);
      await assertOp("Color", level, grey, () => grey);
      const kernel = [1, 1, 1, 1, 5, 1, 1, 1, 1];
      const smooth = map(gradient, (v, y, x, ch) => {
        if (y === 0 || x === 0 || y === gradient.h - 1 || x === gradient.w - 1) return v;
        let s = 0;
        for (let k = 0; k < 9; k++) s += kernel[k]! * at(gradient, y + Math.floor(k / 3) - 1, x + (k % 3) - 1, ch);
        return Math.round(s / 13);
      });
      await assertOp("Sharpness", level, gradient, () => blend(smooth, gradient, factor));
    });

    void test(`level ${level}: TranslateX/Y move by level pixels, either way`, async () => {
      const img = lit(20, 20, 10, 10);
      const d = magnitude.translate(level);
      await assertOp("TranslateX", level, img, (s) => lit(20, 20, 10, 10 - d * s));
      await assertOp("TranslateY", level, img, (s) => lit(20, 20, 10 - d * s, 10));
      await assertOp("TranslateX", level, gradient, (s) => affine(gradient, [1, 0, s * d, 0, 1, 0]));
    });

    void test(`level ${level}: ShearX/Y by 0.03 level, PIL's affine nearest rule`, async () => {
      const dot = lit(9, 9, 6, 4);
      const v = magnitude.shear(level);
      await assertOp("ShearX", level, dot, (s) => affine(dot, [1, s * v, 0, 0, 1, 0]));
      await assertOp("ShearY", level, gradient, (s) => affine(gradient, [1, 0, 0, s * v, 1, 0]));
      await assertOp("ShearX", level, gradient, (s) => affine(gradient, [1, s * v, 0, 0, 1, 0]));
    });

    void test(`level ${level}: Rotate by int(3 level) degrees counter-clockwise about the centre`, async () => {
      const block = image(10, 10, 1, (y, x) => (y >= 1 && y <= 2 && x >= 4 && x <= 5 ? 255 : 0)); // above the centre
      const degrees = magnitude.rotate(level);
      await assertOp("Rotate", level, block, (s) => affine(block, rotateMatrix(block, s * degrees)));
      await assertOp("Rotate", level, gradient, (s) => affine(gradient, rotateMatrix(gradient, s * degrees)));
    });

    void test(`level ${level}: Cutout fills one square of int(2 level) + 1 pixels a side with (125, 123, 114)`, async () => {
      const flat = image(32, 32, 3, () => 200);
      const side = magnitude.cutout(level) + 1; // PIL's rectangle includes both ends
      const outs = await apply("Cutout", level, flat, { copies: 24, seed: 5 });
      const areas = outs.map((out) => {
        const holes: number[] = [];
        for (let p = 0; p < 32 * 32; p++) {
          const pixel = out.data.slice(p * 3, p * 3 + 3);
          if (pixel.join() === "125,123,114") holes.push(p);
          else assert.deepEqual(pixel, [200, 200, 200]);
        }
        const ys = holes.map((i) => Math.floor(i / 32));
        const xs = holes.map((i) => i % 32);
        const height = Math.max(...ys) - Math.min(...ys) + 1;
        const width = Math.max(...xs) - Math.min(...xs) + 1;
        assert.equal(holes.length, height * width, "the hole is one rectangle");
        assert.ok(height <= side && width <= side);
        return holes.length;
      });
      assert.ok(areas.includes(side * side), `areas ${areas.join(",")}: an unclipped hole is ${side}x${side}`);
    });
  }

  void test("Cutout on a grey image fills with the colour's luma, 123", async () => {
    const out = (await apply("Cutout", 0, image(5, 5, 1, () => 200)))[0]!;
    assert.deepEqual(out.data.filter((v) => v !== 200), [123]);
  });

  void test("FlipLR mirrors the columns", async () => {
    assert.deepEqual((await apply("FlipLR", 0, gradient))[0]!, map(gradient, (_v, y, x, ch) => at(gradient, y, gradient.w - 1 - x, ch)));
  });

  void test("+30 degrees turns the top of the image to the left", () => {
    const block = image(10, 10, 1, (y, x) => (y >= 1 && y <= 2 && x >= 4 && x <= 5 ? 255 : 0));
    const litColumns = (img: Image) => img.data.flatMap((v, i) => (v ? [i % img.w] : []));
    assert.deepEqual(litColumns(affine(block, rotateMatrix(block, 30))).sort(), [2, 3, 3, 3, 4]);
  });

  void test("probabilities: p = 0 never applies, p = 0.5 applies to some", async () => {
    assert.ok((await apply("Invert", 0, gradient, { p: 0, copies: 8 })).every((out) => JSON.stringify(out) === JSON.stringify(gradient)));
    const outs = await apply("Invert", 0, gradient, { p: 0.5, copies: 32, seed: 1 });
    const inverted = outs.filter((out) => out.data[0] === 255 - gradient.data[0]!).length;
    assert.ok(inverted > 4 && inverted < 28, `${inverted} of 32 inverted`);
  });

  void test("video: every frame of a clip gets the same draw", async () => {
    const out = await engine.augment(batch(gradient, 16, 3), [["FlipLR", 0.5, 0], ["Rotate", 0.5, 9]], 2);
    const frames = unbatch(out, gradient);
    for (let clip = 0; clip < 16; clip++) {
      const first = JSON.stringify(frames[clip * 3]);
      assert.equal(JSON.stringify(frames[clip * 3 + 1]), first);
      assert.equal(JSON.stringify(frames[clip * 3 + 2]), first);
    }
    assert.ok(new Set(frames.map((f) => JSON.stringify(f))).size > 1);
  });

  void test("an unknown op is a BadRequest", async () => {
    const error = await engine.augment(batch(gradient, 1), [["Warp" as Operation, 1, 1]]).catch((e: unknown) => e);
    assert.ok(error instanceof EngineError);
    assert.equal(error.engineErrorType, "BadRequest");
  });
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { resizeTensor } from "./resize";

test("halving averages each 2x2 block, per channel and per frame", () => {
  // One sample, 2 frames, 2x4 pixels, 2 channels.
  const pixels = Uint8Array.from({ length: 2 * 2 * 4 * 2 }, (_, i) => i * 4);
  const out = resizeTensor({ pixels, shape: [1, 2, 2, 4, 2] }, 1, 2);
  assert.deepEqual(out.shape, [1, 2, 1, 2, 2]);
  const at = (f: number, y: number, x: number, c: number) => pixels[((f * 2 + y) * 4 + x) * 2 + c]!;
  const expected: number[] = [];
  for (let f = 0; f < 2; f++)
    for (let x = 0; x < 2; x++)
      for (let c = 0; c < 2; c++) expected.push(Math.round((at(f, 0, 2 * x, c) + at(f, 0, 2 * x + 1, c) + at(f, 1, 2 * x, c) + at(f, 1, 2 * x + 1, c)) / 4));
  assert.deepEqual([...out.pixels], expected);
});

test("a non-integer factor weights the source pixels by the area they share with the output pixel", () => {
  // 1 row of 3 pixels -> 2: output 0 covers source 0 and half of 1; output 1 half of 1 and 2.
  const out = resizeTensor({ pixels: Uint8Array.from([0, 90, 180]), shape: [1, 1, 1, 3, 1] }, 1, 2);
  assert.deepEqual([...out.pixels], [Math.round((0 + 45) / 1.5), Math.round((45 + 180) / 1.5)]);
});

test("a constant image stays constant either way, and the same size is returned as it is", () => {
  const flat = { pixels: new Uint8Array(28 * 28 * 3).fill(200), shape: [1, 1, 28, 28, 3] as const };
  assert.ok(resizeTensor(flat, 16, 16).pixels.every((v) => v === 200));
  assert.ok(resizeTensor(flat, 48, 20).pixels.every((v) => v === 200));
  assert.equal(resizeTensor(flat, 28, 28), flat);
  assert.throws(() => resizeTensor(flat, 0, 16), /cannot resize 28x28 to 0x16/);
});

test("enlarging interpolates linearly between pixel centres, edges held", () => {
  // 1 row of 2 pixels -> 4: output centres at source 0.25 - 0.5 (held at 0), 0.25, 0.75, 1.25 (held at 1).
  const out = resizeTensor({ pixels: Uint8Array.from([0, 200]), shape: [1, 1, 1, 2, 1] }, 1, 4);
  assert.deepEqual([...out.pixels], [0, 50, 150, 200]);
  // Both axes, one enlarged and one shrunk: 2x2 -> 4x1 (columns averaged, rows interpolated).
  const mixed = resizeTensor({ pixels: Uint8Array.from([0, 100, 200, 100]), shape: [1, 1, 2, 2, 1] }, 4, 1);
  assert.deepEqual([...mixed.pixels], [50, 75, 125, 150]);
});

test("an RGB image resizes as its three channels would, each on its own", () => {
  for (const [h, w, height, width] of [[37, 53, 64, 64], [90, 70, 64, 64], [5, 9, 3, 14]] as const) {
    const rgb = Uint8Array.from({ length: h * w * 3 }, (_, i) => (i * 37 + (i >> 5)) & 255);
    const out = resizeTensor({ pixels: rgb, shape: [1, 1, h, w, 3] }, height, width).pixels;
    for (let c = 0; c < 3; c++) {
      const grey = Uint8Array.from({ length: h * w }, (_, p) => rgb[p * 3 + c]!);
      const alone = resizeTensor({ pixels: grey, shape: [1, 1, h, w, 1] }, height, width).pixels;
      assert.deepEqual(Array.from({ length: height * width }, (_, p) => out[p * 3 + c]), [...alone], `${h}x${w} -> ${height}x${width}, channel ${c}`);
    }
  }
});

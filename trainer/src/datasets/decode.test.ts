import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { SampleError, type Frame, type Sample, type Split } from "./dataset";
import { convertChannels, decodeSplit, pickFrames, probeSample } from "./decode";
import { decodeSimplePng, encodePng } from "./png";

function splitOf(samples: Sample[]): Split {
  return { size: samples.length, read: (i) => Promise.resolve(samples[i]!) };
}
const raw = (pixels: number[], height: number, width: number, channels: number): Frame => ({ kind: "raw", pixels: Uint8Array.from(pixels), height, width, channels });
const gradient = (height: number, width: number, channels: number) => Uint8Array.from({ length: height * width * channels }, (_, i) => (i * 7) % 256);

test("our PNG codec agrees with sharp both ways", async () => {
  for (const channels of [1, 2, 3, 4]) {
    const pixels = gradient(5, 7, channels);
    const png = encodePng({ pixels, height: 5, width: 7, channels });
    // sharp decodes grey to RGB (and grey+alpha to RGBA): compare in its channels.
    const viaSharp = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const expected = new Uint8Array(viaSharp.data.length);
    if (channels === 2) for (let p = 0; p < 35; p++) expected.set([pixels[2 * p]!, pixels[2 * p]!, pixels[2 * p]!, pixels[2 * p + 1]!], 4 * p);
    else convertChannels(pixels, channels, expected, viaSharp.info.channels, 35);
    assert.deepEqual(new Uint8Array(viaSharp.data), expected);
    const fromSharp = await sharp(Buffer.from(pixels), { raw: { width: 7, height: 5, channels: channels as 1 | 2 | 3 | 4 } }).png({ adaptiveFiltering: true }).toBuffer();
    const decoded = decodeSimplePng(fromSharp)!;
    const back = new Uint8Array(pixels.length);
    convertChannels(decoded.pixels, decoded.channels, back, channels, 35);
    if (channels !== 2) assert.deepEqual(back, pixels); // sharp may write grey+alpha as RGBA
  }
});

test("frames are picked evenly, or repeated in order when too few", () => {
  assert.deepEqual(pickFrames(46, 8), [0, 6, 13, 19, 26, 32, 39, 45]);
  assert.deepEqual(pickFrames(3, 6), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(pickFrames(5, 1), [2]);
  assert.deepEqual(pickFrames(1, 1), [0]);
});

test("channels convert grey to RGB, RGB to grey, and drop alpha", () => {
  const out = new Uint8Array(6);
  convertChannels(Uint8Array.from([10, 200]), 1, out, 3, 2);
  assert.deepEqual([...out], [10, 10, 10, 200, 200, 200]);
  const grey = new Uint8Array(2);
  convertChannels(Uint8Array.from([255, 0, 0, 9, 255, 255, 255, 9]), 4, grey, 1, 2);
  assert.deepEqual([...grey], [77, 255]); // (77 r + 150 g + 29 b) / 256
  const rgb = new Uint8Array(3);
  convertChannels(Uint8Array.from([1, 2, 3, 0]), 4, rgb, 3, 1);
  assert.deepEqual([...rgb], [1, 2, 3]);
});

test("probe reads shapes without decoding", async () => {
  const jpeg = await sharp({ create: { width: 30, height: 20, channels: 3, background: "#00ff00" } }).jpeg().toBuffer();
  assert.deepEqual(await probeSample({ frames: [{ kind: "encoded", bytes: jpeg }], origin: "x" }), { frames: 1, height: 20, width: 30, channels: 3 });
  const png = encodePng({ pixels: new Uint8Array(12), height: 3, width: 4, channels: 1 });
  assert.deepEqual(await probeSample({ frames: [{ kind: "encoded", bytes: png }, { kind: "encoded", bytes: png }], origin: "y" }), { frames: 2, height: 3, width: 4, channels: 1 });
});

test("decodeSplit copies raw frames at size, resizes others, converts channels", async () => {
  const small = raw([0, 50, 100, 150], 2, 2, 1);
  const big = { kind: "encoded" as const, bytes: await sharp({ create: { width: 8, height: 4, channels: 3, background: { r: 200, g: 100, b: 0 } } }).png().toBuffer() };
  const decoded = await decodeSplit(splitOf([{ frames: [small], origin: "a" }, { frames: [big], origin: "b" }]), { frames: 1, height: 2, width: 2, channels: 3 });
  assert.deepEqual(decoded.tensor.shape, [2, 1, 2, 2, 3]);
  assert.deepEqual([...decoded.tensor.pixels.subarray(0, 12)], [0, 0, 0, 50, 50, 50, 100, 100, 100, 150, 150, 150]);
  assert.deepEqual([...decoded.tensor.pixels.subarray(12, 15)], [200, 100, 0]);
  assert.deepEqual(decoded.indices, [0, 1]);
});

test("videos are sampled or padded to the target frame count, in index order", async () => {
  const frames = Array.from({ length: 5 }, (_, t) => raw([t * 10], 1, 1, 1));
  const split = splitOf([{ frames, origin: "v0" }, { frames: frames.slice(0, 2), origin: "v1" }]);
  const decoded = await decodeSplit(split, { frames: 3, height: 1, width: 1, channels: 1 }, { indices: [1, 0] });
  assert.deepEqual([...decoded.tensor.pixels], [0, 0, 10, 0, 20, 40]);
  assert.deepEqual(decoded.indices, [1, 0]);
});

test("a corrupt sample fails by default, naming its origin, or is skipped on request", async () => {
  const good = raw([1, 2, 3, 4], 2, 2, 1);
  const corrupt: Frame = { kind: "encoded", bytes: Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5, 6]) };
  const split = splitOf([
    { frames: [good], origin: "file.tfrecord#0" },
    { frames: [corrupt], origin: "file.tfrecord#1" },
    { frames: [raw([9, 9, 9, 9], 2, 2, 1)], origin: "file.tfrecord#2" },
  ]);
  const target = { frames: 1, height: 2, width: 2, channels: 1 };
  await assert.rejects(decodeSplit(split, target), (error: unknown) => error instanceof SampleError && error.origin === "file.tfrecord#1");
  const progress: number[] = [];
  const skipped = await decodeSplit(split, target, { onCorrupt: "skip", onProgress: (done) => progress.push(done) });
  assert.deepEqual(skipped.skipped, ["file.tfrecord#1"]);
  assert.deepEqual(skipped.indices, [0, 2]);
  assert.deepEqual(skipped.tensor.shape, [2, 1, 2, 2, 1]);
  assert.deepEqual([...skipped.tensor.pixels], [1, 2, 3, 4, 9, 9, 9, 9]);
  assert.equal(progress.at(-1), 3);
});

test("the PNG decoder undoes every filter type sharp's adaptive filtering picks, on noisy images", async () => {
  for (const channels of [3, 4]) {
    // Smooth ramps with noise: each row favours a different filter.
    const pixels = Uint8Array.from({ length: 24 * 24 * channels }, (_, i) => ((i * 7) % 251) ^ ((i * 2654435761) >>> 27));
    const png = await sharp(Buffer.from(pixels), { raw: { width: 24, height: 24, channels: channels as 3 | 4 } }).png({ adaptiveFiltering: true }).toBuffer();
    assert.deepEqual(decodeSimplePng(png)!.pixels, pixels);
  }
});

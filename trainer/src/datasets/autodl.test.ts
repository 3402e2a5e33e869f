import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { openAutoDL } from "./autodl";
import { AutoDLWriter } from "./autodl-writer";
import type { Frame } from "./dataset";
import { decodeSimplePng } from "./png";
import { formatMetadata, parseMetadata } from "./metadata";
import { contextLabels, decodeSequenceExample, encodeSequenceExample, type Feature } from "./sequence-example";
import { frameRecord } from "./tfrecord";
import { openDataset } from "./open";

const tmp = () => mkdtempSync(join(tmpdir(), "autodl-"));
const rawFrame = (value: number, height = 4, width = 5, channels = 1): Frame => ({ kind: "raw", pixels: new Uint8Array(height * width * channels).map((_, i) => (value + i) % 256), height, width, channels });

test("metadata.textproto from the starting kit parses", () => {
  const text = "is_sequence: false\nsample_count: 50\noutput_dim: 10\nmatrix_spec {\n  col_count: 28\n  row_count: 28\n  is_sequence_col: false\n  has_locality_row: true\n  format: DENSE\n}\nlabel_to_index_map {\n  key: 'zero'\n  value: 0\n}\n";
  const metadata = parseMetadata(text);
  assert.equal(metadata.sampleCount, 50);
  assert.equal(metadata.outputDim, 10);
  assert.equal(metadata.sequenceSize, 1);
  assert.deepEqual(metadata.matrixSpec, [{ rowCount: 28, colCount: 28, numChannels: 1, format: "DENSE" }]);
  assert.equal(metadata.labelToIndex.get("zero"), 0);
  assert.deepEqual(parseMetadata(formatMetadata(metadata)), metadata);
});

test("a record's labels read from its context alone: label_index, kept where label_score > 0", () => {
  const labels = (context: [string, Feature][]) =>
    contextLabels(encodeSequenceExample({ context: new Map(context), featureLists: new Map([["0_compressed", [{ kind: "bytes", values: [Uint8Array.from([7, 8])] }]]]) }));
  const scores = (...values: number[]): [string, Feature] => ["label_score", { kind: "float", values: Float32Array.from(values) }];
  assert.deepEqual(labels([["label_index", { kind: "int64", values: [3, 300] }]]), [3, 300]);
  assert.deepEqual(labels([["id", { kind: "bytes", values: [Buffer.from("label_index")] }], ["label_index", { kind: "int64", values: [4, 1, 9] }], scores(1, 0, 0.5)]), [4, 9]);
  assert.deepEqual(labels([scores(0, 1), ["label_index", { kind: "int64", values: [2, 5] }]]), [5]); // order of the entries does not matter
  assert.deepEqual(labels([["label_index", { kind: "int64", values: [2, 5] }], scores(0)]), [2, 5]); // scores that do not line up are ignored
  assert.deepEqual(labels([["label_index", { kind: "int64", values: [] }]]), []); // test records carry no labels
  assert.deepEqual(labels([["label_index", { kind: "float", values: Float32Array.from([1]) }]]), []); // not an int64 list
  assert.deepEqual(labels([]), []);
  // Unpacked lists (legal protobuf, what some writers produce): field 1 repeated, one value each.
  const entry = (key: string, value: number[]) => [0x0a, 2 + key.length + 2 + value.length, 0x0a, key.length, ...Buffer.from(key), 0x12, value.length, ...value];
  const int64Unpacked = [0x1a, 4, 0x08, 6, 0x08, 2]; // Feature.int64_list { value: 6, value: 2 }
  const floatBytes = (x: number) => [...new Uint8Array(Float32Array.of(x).buffer)];
  const floatUnpacked = [0x12, 10, 0x0d, ...floatBytes(0), 0x0d, ...floatBytes(2)]; // Feature.float_list { value: 0, value: 2 }
  const features = [...entry("label_index", int64Unpacked), ...entry("label_score", floatUnpacked)];
  assert.deepEqual(contextLabels(Uint8Array.from([0x0a, features.length, ...features])), [2]);
});

test("SequenceExample encodes and decodes every feature kind", () => {
  const context = new Map<string, Feature>([
    ["label_index", { kind: "int64", values: [3, 300] }],
    ["label_score", { kind: "float", values: Float32Array.from([1, 0.5]) }],
    ["id", { kind: "bytes", values: [Buffer.from("x")] }],
  ]);
  const featureLists = new Map<string, Feature[]>([["0_compressed", [{ kind: "bytes", values: [Uint8Array.from([1, 2, 3])] }]]]);
  const decoded = decodeSequenceExample(encodeSequenceExample({ context, featureLists }));
  assert.deepEqual(decoded.context.get("label_index"), { kind: "int64", values: [3, 300] });
  assert.deepEqual([...(decoded.context.get("label_score")!.values as Float32Array)], [1, 0.5]);
  assert.deepEqual([...(decoded.featureLists.get("0_compressed")![0]!.values[0] as Uint8Array)], [1, 2, 3]);
  assert.equal(decodeSequenceExample(encodeSequenceExample({ context, featureLists }), true).featureLists.size, 0);
});

test("our writer round-trips through the AutoDL reader", async () => {
  const dir = tmp();
  const writer = await AutoDLWriter.create({ dir, name: "toy", numClasses: 3, classNames: ["a", "b", "c"], channels: 1 });
  const jpeg = await sharp({ create: { width: 6, height: 3, channels: 3, background: "#ff0000" } }).jpeg().toBuffer();
  await writer.add("train", { frames: [rawFrame(0)], labels: [1] });
  await writer.add("train", { frames: [rawFrame(7), rawFrame(9), rawFrame(11)], labels: [2, 0] });
  await writer.add("train", { frames: [{ kind: "encoded", bytes: jpeg }], labels: [0] });
  await writer.add("test", { frames: [rawFrame(50)], labels: [2] });
  await writer.add("test", { frames: [rawFrame(60)], labels: [0, 1] });
  const summary = await writer.close();
  assert.deepEqual(summary, { train: 3, test: 2, sequenceSize: 3, height: -1, width: -1 });
  assert.equal(readFileSync(join(dir, "toy.solution"), "utf8"), "0 0 1\n1 1 0\n");

  const { dataset, solution } = await openDataset(dir);
  assert.equal(dataset.name, "toy");
  assert.equal(dataset.numClasses, 3);
  assert.deepEqual(dataset.classNames, ["a", "b", "c"]);
  assert.deepEqual(dataset.train.labels, [[1], [0, 2], [0]]);
  assert.deepEqual(solution, [[0, 0, 1], [1, 1, 0]]);
  assert.deepEqual(dataset.declaredShape, { frames: 3, height: -1, width: -1, channels: 1 });
  const video = await dataset.train.read(1);
  assert.equal(video.frames.length, 3);
  assert.match(video.origin, /sample-toy-train\.tfrecord#1$/);
  const frame = video.frames[2]!;
  assert.equal(frame.kind, "encoded");
  assert.deepEqual(decodeSimplePng((frame as { bytes: Uint8Array }).bytes)!.pixels, (rawFrame(11) as { pixels: Uint8Array }).pixels);
  const stored = (await dataset.train.read(2)).frames[0] as { bytes: Uint8Array };
  assert.deepEqual(Buffer.from(stored.bytes), jpeg, "encoded frames are stored as given");
  // Test records carry no labels: the learner cannot see them.
  const testRecord = readFileSync(join(dir, "toy.data", "test", "sample-toy-test.tfrecord"));
  const example = decodeSequenceExample(testRecord.subarray(12, 12 + Number(testRecord.readBigUInt64LE(0))));
  assert.deepEqual(example.context.get("label_index")?.values, []);
});

test("dense and uint8 frames of AutoDL records are read as raw pixels", async () => {
  const dir = join(tmp(), "dense");
  for (const split of ["train", "test"]) {
    mkdirSync(join(dir, "dense.data", split), { recursive: true });
    const metadata = formatMetadata({ isSequence: false, sampleCount: 1, sequenceSize: 1, outputDim: 2, matrixSpec: [{ rowCount: 2, colCount: 2, numChannels: 1, format: "DENSE" }], labelToIndex: new Map() });
    writeFileSync(join(dir, "dense.data", split, "metadata.textproto"), metadata);
    const context = new Map<string, Feature>([["label_index", { kind: "int64", values: [1] }]]);
    const featureLists = new Map<string, Feature[]>([["0_dense_input", [{ kind: "float", values: Float32Array.from([0, 0.5, 1, 0.25]) }]]]);
    writeFileSync(join(dir, "dense.data", split, `sample-dense-${split}.tfrecord`), frameRecord(encodeSequenceExample({ context, featureLists })));
  }
  const { dataset, solution } = await openAutoDL(join(dir, "dense.data"));
  assert.equal(solution, undefined);
  assert.deepEqual(dataset.train.labels, [[1]]);
  const frame = (await dataset.test.read(0)).frames[0]!;
  assert.equal(frame.kind, "raw");
  assert.deepEqual([...(frame as { pixels: Uint8Array }).pixels], [0, 128, 255, 64]);
});

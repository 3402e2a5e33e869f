import { test } from "node:test";
import assert from "node:assert/strict";
import type { Dataset, Split } from "../datasets/dataset";
import { earlyTrainRows, prepareData } from "./prepare";

/** A small in-memory dataset of raw 8x8 grey frames that counts the test samples read. */
function countingDataset(trainSize: number, testSize: number): { dataset: Dataset; testReads: () => number } {
  let reads = 0;
  const sample = (i: number) => ({ frames: [{ kind: "raw" as const, pixels: new Uint8Array(64).fill(i % 256), height: 8, width: 8, channels: 1 }], origin: `#${i}` });
  const test: Split = { size: testSize, read: (i) => (reads++, Promise.resolve(sample(i))) };
  const dataset: Dataset = {
    name: "counting",
    numClasses: 2,
    train: { size: trainSize, labels: Array.from({ length: trainSize }, (_, i) => [i % 2]), read: (i) => Promise.resolve(sample(i)) },
    test,
    declaredShape: { frames: 1, height: 8, width: 8, channels: 1 },
    location: "memory",
  };
  return { dataset, testReads: () => reads };
}

test("without a quick model the test split is left to decode while training starts", async () => {
  const { dataset, testReads } = countingDataset(100, 40);
  const prepared = await prepareData(dataset, 0);
  assert.equal(testReads(), 0, "no test sample read before training can start");
  assert.equal(prepared.data.testRows, 40);
  const tensor = await prepared.test();
  assert.equal(testReads(), 40);
  assert.deepEqual(tensor.shape, [40, 1, 8, 8, 1]);
  assert.equal(await prepared.test(), tensor, "decoded once");
});

test("with a quick model the test split is decoded before the early data, and only once", async () => {
  const { dataset, testReads } = countingDataset(100, 40);
  let readsAtEarly = -1;
  const prepared = await prepareData(dataset, 0, {
    earlyTrainRows: 20,
    onEarlyData: (early) => {
      readsAtEarly = testReads();
      assert.equal(early.test.shape[0], 40);
      assert.equal(early.train.images.shape[0], 20);
      return Promise.resolve();
    },
  });
  assert.equal(readsAtEarly, 40);
  await prepared.test();
  assert.equal(testReads(), 40);
});

test("early training rows: 2,000 digits' worth of pixels, between 500 and 2,000 samples", () => {
  assert.equal(earlyTrainRows({ frames: 1, height: 28, width: 28, channels: 1 }), 2000);
  assert.equal(earlyTrainRows({ frames: 1, height: 16, width: 16, channels: 1 }), 2000);
  assert.equal(earlyTrainRows({ frames: 1, height: 32, width: 32, channels: 3 }), 510); // 1,568,000 / 3,072
  assert.equal(earlyTrainRows({ frames: 1, height: 64, width: 64, channels: 1 }), 500); // 383 by pixels
  assert.equal(earlyTrainRows({ frames: 8, height: 64, width: 64, channels: 1 }), 500);
});

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { crc32c, maskedCrc32c } from "./crc32c";
import { SampleError } from "./dataset";
import { frameRecord, TFRecordFile } from "./tfrecord";

test("crc32c matches the Castagnoli check value", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa); // RFC 3720 test vector: 32 zero bytes
  const crc = crc32c(Buffer.from("abc"));
  assert.equal(maskedCrc32c(Buffer.from("abc")), ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0);
});

function writeRecords(records: string[]): string {
  const path = join(mkdtempSync(join(tmpdir(), "tfrecord-")), "sample-x.tfrecord");
  writeFileSync(path, Buffer.concat(records.map((r) => frameRecord(Buffer.from(r)))));
  return path;
}

test("framed records index and read back", () => {
  const path = writeRecords(["first", "", "third record"]);
  const file = new TFRecordFile(path);
  const index = file.index();
  assert.deepEqual(index.map((r) => r.length), [5, 0, 12]);
  assert.equal(Buffer.from(file.read(2, index[2]!)).toString(), "third record");
  assert.equal(Buffer.from(file.read(0, index[0]!)).toString(), "first");
  // 8-byte length + 4-byte CRC + data + 4-byte CRC per record
  assert.equal(readFileSync(path).length, 3 * 16 + 5 + 12);
  file.close();
});

test("a corrupted record names the file and the record", () => {
  const path = writeRecords(["alpha", "bravo", "charlie"]);
  const bytes = readFileSync(path);
  bytes[16 + 5 + 12 + 2]! ^= 0xff; // a data byte of record 1
  writeFileSync(path, bytes);
  const file = new TFRecordFile(path);
  const index = file.index();
  assert.equal(Buffer.from(file.read(0, index[0]!)).toString(), "alpha");
  assert.throws(
    () => file.read(1, index[1]!),
    (error: unknown) => error instanceof SampleError && error.origin === `${path}#1` && /data CRC mismatch/.test(error.message),
  );
  // A label-only read skips the check; the pixel read of the same record still makes it.
  assert.equal(Buffer.from(file.read(1, index[1]!, false)).length, 5);
});

test("a corrupted length is caught while indexing", () => {
  const path = writeRecords(["alpha", "bravo"]);
  const bytes = readFileSync(path);
  bytes[21]! ^= 0x01; // low byte of record 1's length
  writeFileSync(path, bytes);
  assert.throws(() => new TFRecordFile(path).index(), (error: unknown) => error instanceof SampleError && error.origin === `${path}#1` && /length CRC/.test(error.message));
});

test("a truncated file is reported", () => {
  const path = writeRecords(["alpha", "bravo"]);
  writeFileSync(path, readFileSync(path).subarray(0, 30));
  assert.throws(() => new TFRecordFile(path).index(), /#1: truncated record/);
});

test("indexing hands every record's data to a visitor: across block boundaries, and a record larger than a block", () => {
  // 1 MiB blocks: 600 records of 3,001-3,600 bytes cross several block ends, then one of 1.5 MiB.
  const records = Array.from({ length: 600 }, (_, i) => String.fromCharCode(65 + (i % 26)).repeat(3001 + (i % 600)));
  records.push("z".repeat(1.5 * 2 ** 20));
  const path = writeRecords(records);
  const file = new TFRecordFile(path);
  const visited: string[] = [];
  const index = file.index((data, record) => {
    assert.equal(record, visited.length);
    visited.push(Buffer.from(data).toString());
  });
  assert.equal(visited.length, records.length);
  assert.ok(visited.every((data, i) => data === records[i]), "every record's data as written");
  assert.equal(Buffer.from(file.read(600, index[600]!)).toString(), records[600]);
  file.close();
});

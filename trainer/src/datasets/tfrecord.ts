/**
 * TFRecord framing: per record a little-endian u64 length, the masked CRC-32C of those 8 bytes,
 * the data, and the masked CRC-32C of the data. Files are indexed once (headers only) and records
 * read on demand, so a multi-gigabyte dataset is never held in memory.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { maskedCrc32c } from "./crc32c";
import { SampleError } from "./dataset";

const HEADER_BYTES = 12;
const FOOTER_BYTES = 4;
/** Read size for header scans and in-order record reads. */
const BLOCK_BYTES = 1 << 20;

export interface RecordLocation {
  offset: number;
  length: number;
}

/** A little-endian u32 at `at`, read byte by byte (no Buffer view per record). */
function littleEndianU32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/** One framed record, ready to append to a .tfrecord file. */
export function frameRecord(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.length + FOOTER_BYTES);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, HEADER_BYTES);
  out.writeUInt32LE(maskedCrc32c(data), HEADER_BYTES + data.length);
  return out;
}

/** Reads the records of one .tfrecord file; errors name the file and the record number. */
export class TFRecordFile {
  private fd: number | undefined;
  private readAhead: { start: number; bytes: Uint8Array } | undefined;
  private lastEnd = -1;

  constructor(readonly path: string) {}

  origin(record: number): string {
    return `${this.path}#${record}`;
  }

  /**
   * Scans the headers (checking each length CRC) and returns where every record lies. With
   * `visit`, each record's data (its CRC not checked) is handed to it on the way, from the same
   * block reads: a reader that needs something from every record (the labels) reads the file once.
   */
  index(visit?: (data: Uint8Array, record: number) => void): RecordLocation[] {
    const fd = this.descriptor();
    const size = fstatSync(fd).size;
    const records: RecordLocation[] = [];
    // Headers are read through a block buffer: one 12-byte read per record costs a system call
    // each, which is most of the time of opening a 60,000-record file.
    const block = Buffer.allocUnsafe(BLOCK_BYTES);
    let blockStart = 0;
    let blockEnd = 0;
    let offset = 0;
    const load = (from: number) => {
      blockStart = from;
      blockEnd = from + readSync(fd, block, 0, BLOCK_BYTES, from);
    };
    while (offset < size) {
      const origin = this.origin(records.length);
      if (offset + HEADER_BYTES > blockEnd) {
        load(offset);
        if (offset + HEADER_BYTES > blockEnd) throw new SampleError(origin, "truncated record header");
      }
      const header = block.subarray(offset - blockStart, offset - blockStart + HEADER_BYTES);
      if (header.readUInt32LE(8) !== maskedCrc32c(header.subarray(0, 8))) throw new SampleError(origin, "length CRC mismatch");
      const length = Number(header.readBigUInt64LE(0));
      if (offset + HEADER_BYTES + length + FOOTER_BYTES > size) throw new SampleError(origin, `truncated record (${length} bytes declared)`);
      const location = { offset: offset + HEADER_BYTES, length };
      if (visit) {
        if (location.offset + length > blockEnd && length + HEADER_BYTES <= BLOCK_BYTES) load(offset);
        const inBlock = location.offset + length <= blockEnd;
        visit(inBlock ? block.subarray(location.offset - blockStart, location.offset - blockStart + length) : this.read(records.length, location, false), records.length);
      }
      records.push(location);
      offset += HEADER_BYTES + length + FOOTER_BYTES;
    }
    return records;
  }

  /**
   * The data of one record, its CRC verified unless `verify` is false (a caller that reads only a
   * record's labels, and verifies the same bytes when it reads the pixels).
   */
  read(record: number, location: RecordLocation, verify = true): Uint8Array {
    const buffer = this.bytesAt(location.offset, location.length + FOOTER_BYTES);
    if (buffer.length !== location.length + FOOTER_BYTES) throw new SampleError(this.origin(record), "truncated record");
    const data = buffer.subarray(0, location.length);
    if (verify && littleEndianU32(buffer, location.length) !== maskedCrc32c(data)) {
      throw new SampleError(this.origin(record), "data CRC mismatch");
    }
    return data;
  }

  /**
   * Bytes at an offset. A read that continues where the last one ended (a scan in file order)
   * reads ahead a block and serves the next records from it; a random read reads just its bytes.
   */
  private bytesAt(offset: number, length: number): Uint8Array {
    const ahead = this.readAhead;
    if (ahead && offset >= ahead.start && offset + length <= ahead.start + ahead.bytes.length) {
      this.lastEnd = offset + length;
      return ahead.bytes.subarray(offset - ahead.start, offset - ahead.start + length);
    }
    const sequential = offset === this.lastEnd + HEADER_BYTES;
    const want = sequential ? Math.max(BLOCK_BYTES, length) : length;
    const buffer = Buffer.allocUnsafe(want);
    const got = readSync(this.descriptor(), buffer, 0, want, offset);
    this.lastEnd = offset + length;
    if (sequential) {
      this.readAhead = { start: offset, bytes: buffer.subarray(0, got) };
      return buffer.subarray(0, Math.min(got, length));
    }
    return buffer.subarray(0, got);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.readAhead = undefined;
  }

  private descriptor(): number {
    this.fd ??= openSync(this.path, "r");
    return this.fd;
  }
}

/**
 * The safetensors format (huggingface/safetensors): a little-endian u64 header length, a JSON header
 * {name: {dtype, shape, data_offsets}}, then the raw tensors. Float tensors only are returned as
 * Float32Array (F32, or F64/F16 converted); integer tensors (BatchNorm's num_batches_tracked) are
 * skipped. Written as F32.
 */
import { readFile, writeFile } from "node:fs/promises";

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const MAX_HEADER = 100_000_000;

function f16(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

export async function readSafetensors(path: string): Promise<Map<string, NamedTensor>> {
  const bytes = await readFile(path);
  if (bytes.length < 8) throw new Error(`${path} is not a safetensors file (${bytes.length} bytes)`);
  const length = Number(bytes.readBigUInt64LE(0));
  if (length > MAX_HEADER || 8 + length > bytes.length) throw new Error(`${path} is not a safetensors file (header length ${length})`);
  let header: Record<string, HeaderEntry>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + length).toString("utf8")) as Record<string, HeaderEntry>;
  } catch (error) {
    throw new Error(`${path} is not a safetensors file (its header is not JSON)`, { cause: error });
  }
  const base = 8 + length;
  const out = new Map<string, NamedTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [start, end] = entry.data_offsets;
    const raw = bytes.subarray(base + start, base + end);
    const count = entry.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (entry.dtype === "F32") data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + count * 4));
    else if (entry.dtype === "F64") data = Float32Array.from(new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + count * 8)));
    else if (entry.dtype === "F16") data = Float32Array.from({ length: count }, (_, i) => f16(raw.readUInt16LE(2 * i)));
    else continue;
    out.set(name, { shape: entry.shape, data });
  }
  return out;
}

export async function writeSafetensors(path: string, tensors: Map<string, NamedTensor>): Promise<void> {
  const header: Record<string, HeaderEntry> = {};
  let offset = 0;
  for (const [name, tensor] of tensors) {
    header[name] = { dtype: "F32", shape: tensor.shape, data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const blobs = [...tensors.values()].map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  await writeFile(path, Buffer.concat([prefix, Buffer.from(json), ...blobs]));
}

/**
 * A minimal PNG codec for 8-bit, non-interlaced grey / grey+alpha / RGB / RGBA images: the kind
 * our AutoDL writer produces. It exists for speed, not features: sharp costs a fraction of a
 * millisecond per call in fixed overhead, which is most of the work for a 28x28 digit, so
 * 70,000 Fashion-MNIST frames encode and decode here in about a second. Anything else (JPEG,
 * palettes, 16-bit, interlacing) goes through sharp.
 */
import { crc32, deflateSync, inflateSync } from "node:zlib";

export interface RawImage {
  pixels: Uint8Array;
  height: number;
  width: number;
  channels: number;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const COLOR_TYPE_BY_CHANNELS: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };
const CHANNELS_BY_COLOR_TYPE: Record<number, number> = { 0: 1, 4: 2, 2: 3, 6: 4 };

export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length <= 8) return false;
  for (let i = 0; i < 8; i++) if (bytes[i] !== SIGNATURE[i]) return false;
  return true;
}

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlace: number;
}

/** A big-endian u32 (PNG's byte order) at `at`. */
function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** The 4-letter chunk type at `at` is `type` (ASCII). */
function chunkTypeIs(bytes: Uint8Array, at: number, type: string): boolean {
  for (let i = 0; i < 4; i++) if (bytes[at + i] !== type.charCodeAt(i)) return false;
  return true;
}

/**
 * The IHDR fields, or undefined when the bytes are not a PNG. Read byte by byte, as the rest of
 * the decoder: a Buffer view per call is a measurable share of decoding 70,000 small images.
 */
export function readPngHeader(bytes: Uint8Array): PngHeader | undefined {
  if (!isPng(bytes) || bytes.length < 33 || !chunkTypeIs(bytes, 12, "IHDR")) return undefined;
  return { width: u32(bytes, 16), height: u32(bytes, 20), bitDepth: bytes[24]!, colorType: bytes[25]!, interlace: bytes[28]! };
}

/** Channels a PNG decodes to (sharp's convention), from its header. */
export function pngChannels(header: PngHeader): number {
  if (header.colorType === 3) return 3; // palette
  return CHANNELS_BY_COLOR_TYPE[header.colorType] ?? 3;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

export function encodePng(image: RawImage): Buffer {
  const { width, height, channels, pixels } = image;
  const colorType = COLOR_TYPE_BY_CHANNELS[channels];
  if (colorType === undefined) throw new Error(`cannot encode ${channels} channels as PNG`);
  const stride = width * channels;
  // Filter "Sub" on every row: cheap and a good fit for smooth images.
  const filtered = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (stride + 1);
    const src = y * stride;
    filtered[row] = 1;
    for (let x = 0; x < stride; x++) {
      filtered[row + 1 + x] = (pixels[src + x]! - (x >= channels ? pixels[src + x - channels]! : 0)) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, colorType, 0, 0, 0], 8);
  return Buffer.concat([SIGNATURE, chunk("IHDR", ihdr), chunk("IDAT", deflateSync(filtered, { level: 6 })), chunk("IEND", new Uint8Array(0))]);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Undoes one row's filter in place. One loop per filter type, not one test per byte: decoding is
 * the bulk of a run's start-up for larger images (a 64x64 RGB row is 192 bytes).
 */
function unfilterRow(type: number, cur: Uint8Array, prev: Uint8Array | undefined, bpp: number): void {
  const n = cur.length;
  if (type === 0 || (type === 2 && !prev)) return;
  if (type === 1 || (type === 4 && !prev)) {
    // Sub; Paeth over a missing row above is Sub.
    for (let x = bpp; x < n; x++) cur[x] = cur[x]! + cur[x - bpp]!;
  } else if (type === 2) {
    for (let x = 0; x < n; x++) cur[x] = cur[x]! + prev![x]!;
  } else if (type === 3) {
    for (let x = 0; x < n; x++) cur[x] = cur[x]! + (((x >= bpp ? cur[x - bpp]! : 0) + (prev ? prev[x]! : 0)) >> 1);
  } else if (type === 4) {
    const above = prev!;
    for (let x = 0; x < bpp; x++) cur[x] = cur[x]! + above[x]!; // paeth(0, b, 0) is b
    for (let x = bpp; x < n; x++) cur[x] = cur[x]! + paeth(cur[x - bpp]!, above[x]!, above[x - bpp]!);
  }
}

/** The image data: the IDAT chunks' contents, one after the other (the one chunk itself, uncopied, when there is one). */
function imageData(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 8;
  while (offset + 8 <= bytes.length) {
    const length = u32(bytes, offset);
    if (chunkTypeIs(bytes, offset + 4, "IDAT")) parts.push(bytes.subarray(offset + 8, offset + 8 + length));
    if (chunkTypeIs(bytes, offset + 4, "IEND")) break;
    offset += 12 + length;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/** Decodes the PNGs this codec handles; returns undefined for any other PNG (use sharp). */
export function decodeSimplePng(bytes: Uint8Array): RawImage | undefined {
  const header = readPngHeader(bytes);
  if (!header || header.bitDepth !== 8 || header.interlace !== 0) return undefined;
  const channels = CHANNELS_BY_COLOR_TYPE[header.colorType];
  if (channels === undefined) return undefined;
  const data = inflateSync(imageData(bytes));
  const stride = header.width * channels;
  if (data.length < (stride + 1) * header.height) throw new Error("truncated PNG image data");
  const pixels = new Uint8Array(stride * header.height);
  let prev: Uint8Array | undefined;
  for (let y = 0; y < header.height; y++) {
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const type = data[y * (stride + 1)]!;
    if (type > 4) throw new Error(`bad PNG filter type ${type}`);
    row.set(data.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    unfilterRow(type, row, prev, channels);
    prev = row;
  }
  return { pixels, height: header.height, width: header.width, channels };
}

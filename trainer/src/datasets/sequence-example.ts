/**
 * tf.train.SequenceExample on the wire, decoded and encoded by hand: the schema is four tiny
 * messages, and decoding by hand lets float lists land in a Float32Array and lets a reader skip
 * the (large) feature lists when it only needs the labels in the context.
 *
 *   SequenceExample { Features context = 1; FeatureLists feature_lists = 2; }
 *   Features        { map<string, Feature> feature = 1; }
 *   FeatureLists    { map<string, FeatureList> feature_list = 1; }
 *   FeatureList     { repeated Feature feature = 1; }
 *   Feature         { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
 */

export type Feature =
  | { kind: "bytes"; values: Uint8Array[] }
  | { kind: "float"; values: Float32Array }
  | { kind: "int64"; values: number[] };

export interface SequenceExample {
  context: Map<string, Feature>;
  featureLists: Map<string, Feature[]>;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** A cursor over protobuf wire data. */
class WireReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error("truncated varint");
      const byte = this.buf[this.pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  }

  /** Returns [field number, wire type]. */
  tag(): [number, number] {
    const tag = this.varint();
    return [Math.floor(tag / 8), tag & 7];
  }

  bytes(): Uint8Array {
    const length = this.varint();
    const start = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new Error("truncated length-delimited field");
    return this.buf.subarray(start, this.pos);
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_FIXED64) this.pos += 8;
    else if (wireType === WIRE_BYTES) this.bytes();
    else if (wireType === WIRE_FIXED32) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
  }
}

/** int64 as a number: labels and ids are small; a 10-byte negative varint is read as negative. */
function toInt64(value: number): number {
  return value >= 2 ** 63 ? value - 2 ** 64 : value;
}

function decodeFloats(field: Uint8Array): Float32Array {
  const copy = new Uint8Array(field); // aligned copy
  return new Float32Array(copy.buffer, 0, Math.floor(copy.length / 4));
}

function decodeList(kind: Feature["kind"], data: Uint8Array): Feature {
  const reader = new WireReader(data);
  const bytes: Uint8Array[] = [];
  const floats: number[] = [];
  const ints: number[] = [];
  let packedFloats: Float32Array | undefined;
  while (!reader.done()) {
    const [field, wire] = reader.tag();
    if (field !== 1) reader.skip(wire);
    else if (kind === "bytes") bytes.push(reader.bytes());
    else if (kind === "float" && wire === WIRE_BYTES) packedFloats = decodeFloats(reader.bytes());
    else if (kind === "float") {
      floats.push(new DataView(data.buffer, data.byteOffset + reader.pos, 4).getFloat32(0, true));
      reader.pos += 4;
    } else if (wire === WIRE_BYTES) {
      const packedInts = reader.bytes();
      const packed = new WireReader(packedInts);
      while (!packed.done()) ints.push(toInt64(packed.varint()));
    } else ints.push(toInt64(reader.varint()));
  }
  if (kind === "bytes") return { kind, values: bytes };
  if (kind === "float") return { kind, values: packedFloats && floats.length === 0 ? packedFloats : Float32Array.from([...(packedFloats ?? []), ...floats]) };
  return { kind, values: ints };
}

const KINDS: Record<number, Feature["kind"]> = { 1: "bytes", 2: "float", 3: "int64" };

export function decodeFeature(data: Uint8Array): Feature {
  const reader = new WireReader(data);
  let feature: Feature = { kind: "bytes", values: [] };
  while (!reader.done()) {
    const [field, wire] = reader.tag();
    const kind = KINDS[field];
    if (kind && wire === WIRE_BYTES) feature = decodeList(kind, reader.bytes());
    else reader.skip(wire);
  }
  return feature;
}

const utf8 = new TextDecoder();

/** Feature names are short ASCII ("label_index"); building those by hand is much cheaper than a decoder call. */
function keyText(bytes: Uint8Array): string {
  if (bytes.length > 64) return utf8.decode(bytes);
  let text = "";
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (byte >= 0x80) return utf8.decode(bytes);
    text += String.fromCharCode(byte);
  }
  return text;
}

/** A map<string, V> entry: key = 1, value = 2. */
function decodeMapEntry(data: Uint8Array): [string, Uint8Array] {
  const reader = new WireReader(data);
  let key = "";
  let value: Uint8Array = new Uint8Array(0);
  while (!reader.done()) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WIRE_BYTES) key = keyText(reader.bytes());
    else if (field === 2 && wire === WIRE_BYTES) value = reader.bytes();
    else reader.skip(wire);
  }
  return [key, value];
}

function decodeMap<V>(data: Uint8Array, decodeValue: (bytes: Uint8Array) => V): Map<string, V> {
  const out = new Map<string, V>();
  const reader = new WireReader(data);
  while (!reader.done()) {
    const [field, wire] = reader.tag();
    if (field !== 1 || wire !== WIRE_BYTES) {
      reader.skip(wire);
      continue;
    }
    const [key, value] = decodeMapEntry(reader.bytes());
    out.set(key, decodeValue(value));
  }
  return out;
}

function decodeFeatureList(data: Uint8Array): Feature[] {
  const features: Feature[] = [];
  const reader = new WireReader(data);
  while (!reader.done()) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WIRE_BYTES) features.push(decodeFeature(reader.bytes()));
    else reader.skip(wire);
  }
  return features;
}

/** Decodes a serialized SequenceExample; `contextOnly` skips the feature lists. */
export function decodeSequenceExample(data: Uint8Array, contextOnly = false): SequenceExample {
  const example: SequenceExample = { context: new Map(), featureLists: new Map() };
  const reader = new WireReader(data);
  while (!reader.done()) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WIRE_BYTES) mergeInto(example.context, decodeMap(reader.bytes(), decodeFeature));
    else if (field === 2 && wire === WIRE_BYTES && !contextOnly) mergeInto(example.featureLists, decodeMap(reader.bytes(), decodeFeatureList));
    else reader.skip(wire);
  }
  return example;
}

function mergeInto<V>(target: Map<string, V>, source: Map<string, V>): void {
  for (const [key, value] of source) target.set(key, value);
}

// ---- encoding ---------------------------------------------------------------------------------

function varintBytes(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  const prefix = [...varintBytes(field * 8 + WIRE_BYTES), ...varintBytes(payload.length)];
  const out = new Uint8Array(prefix.length + payload.length);
  out.set(prefix, 0);
  out.set(payload, prefix.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

export function encodeFeature(feature: Feature): Uint8Array {
  if (feature.kind === "bytes") return lengthDelimited(1, concat(feature.values.map((v) => lengthDelimited(1, v))));
  if (feature.kind === "float") {
    const floats = new Uint8Array(Float32Array.from(feature.values).buffer);
    return lengthDelimited(2, lengthDelimited(1, floats));
  }
  if (feature.values.some((v) => v < 0 || !Number.isInteger(v))) throw new Error("int64 features must be non-negative integers");
  const packed = Uint8Array.from(feature.values.flatMap(varintBytes));
  return lengthDelimited(3, lengthDelimited(1, packed));
}

function encodeMap<V>(map: Map<string, V>, encodeValue: (value: V) => Uint8Array): Uint8Array {
  const entries = [...map].map(([key, value]) =>
    lengthDelimited(1, concat([lengthDelimited(1, Buffer.from(key, "utf8")), lengthDelimited(2, encodeValue(value))])),
  );
  return concat(entries);
}

export function encodeSequenceExample(example: SequenceExample): Uint8Array {
  const context = encodeMap(example.context, encodeFeature);
  const featureLists = encodeMap(example.featureLists, (list) => concat(list.map((f) => lengthDelimited(1, encodeFeature(f)))));
  return concat([lengthDelimited(1, context), lengthDelimited(2, featureLists)]);
}

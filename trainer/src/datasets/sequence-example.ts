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

/** One field's bytes as a [start, end) span of the buffer, the reader moved past it (no copy, no view). */
function span(reader: WireReader): [number, number] {
  const length = reader.varint();
  const start = reader.pos;
  reader.pos += length;
  if (reader.pos > reader.end) throw new Error("truncated length-delimited field");
  return [start, reader.pos];
}

const LABEL_INDEX = Uint8Array.from("label_index", (c) => c.charCodeAt(0));
const LABEL_SCORE = Uint8Array.from("label_score", (c) => c.charCodeAt(0));

function spanEquals(buf: Uint8Array, [start, end]: [number, number], text: Uint8Array): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[start + i] !== text[i]) return false;
  return true;
}

const floatScratch = new Float32Array(1);
const floatScratchBytes = new Uint8Array(floatScratch.buffer);

/** One Feature's list (its last oneof field, as decodeFeature keeps): int64 (3) and float (2) values; bytes (1) lists give no values. */
function featureNumbers(buf: Uint8Array, [start, end]: [number, number]): { kind: number; values: number[] } {
  const out = { kind: 1, values: [] as number[] };
  const feature = new WireReader(buf, start, end);
  const readFloat = (at: number) => {
    for (let b = 0; b < 4; b++) floatScratchBytes[b] = buf[at + b]!;
    return floatScratch[0]!;
  };
  while (!feature.done()) {
    const [kind, wire] = feature.tag();
    if (kind < 1 || kind > 3 || wire !== WIRE_BYTES) {
      feature.skip(wire);
      continue;
    }
    const list = new WireReader(buf, ...span(feature));
    out.kind = kind;
    const values: number[] = (out.values = []);
    while (!list.done()) {
      const [field, listWire] = list.tag();
      if (field !== 1 || kind === 1) list.skip(listWire);
      else if (kind === 3 && listWire === WIRE_BYTES) {
        const packed = new WireReader(buf, ...span(list));
        while (!packed.done()) values.push(toInt64(packed.varint()));
      } else if (kind === 3) values.push(toInt64(list.varint()));
      else if (listWire === WIRE_BYTES) {
        const [from, to] = span(list);
        for (let at = from; at + 4 <= to; at += 4) values.push(readFloat(at));
      } else {
        values.push(readFloat(list.pos));
        list.pos += 4;
      }
    }
  }
  return out;
}

/**
 * A record's labels straight from its context: the `label_index` entries whose `label_score` (when
 * given, with one score per index) is > 0. The same as decoding the example and reading both
 * features, without building it: opening a dataset reads the labels of every training record,
 * and for 60,000 records the maps, views and copies of a full decode were most of that time.
 */
export function contextLabels(data: Uint8Array): number[] {
  let index: { kind: number; values: number[] } | undefined;
  let scores: { kind: number; values: number[] } | undefined;
  const example = new WireReader(data);
  while (!example.done()) {
    const [field, wire] = example.tag();
    if (field !== 1 || wire !== WIRE_BYTES) {
      example.skip(wire);
      continue;
    }
    const context = new WireReader(data, ...span(example));
    while (!context.done()) {
      const [entryField, entryWire] = context.tag();
      if (entryField !== 1 || entryWire !== WIRE_BYTES) {
        context.skip(entryWire);
        continue;
      }
      const entry = new WireReader(data, ...span(context));
      let key: [number, number] | undefined;
      let value: [number, number] = [0, 0];
      while (!entry.done()) {
        const [part, partWire] = entry.tag();
        if (part === 1 && partWire === WIRE_BYTES) key = span(entry);
        else if (part === 2 && partWire === WIRE_BYTES) value = span(entry);
        else entry.skip(partWire);
      }
      if (!key) continue;
      if (spanEquals(data, key, LABEL_INDEX)) index = featureNumbers(data, value);
      else if (spanEquals(data, key, LABEL_SCORE)) scores = featureNumbers(data, value);
    }
  }
  if (index?.kind !== 3) return [];
  if (scores?.kind !== 2 || scores.values.length !== index.values.length) return index.values;
  const score = scores.values;
  return index.values.filter((_, i) => score[i]! > 0);
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

/**
 * The AutoDL challenge format:
 *
 *   <task>/<task>.data/train/metadata.textproto   DataSpecification (text format)
 *   <task>/<task>.data/train/sample-*             TFRecords of tf.train.SequenceExample
 *   <task>/<task>.data/test/...                   same, labels erased
 *   <task>/<task>.solution                        test labels, rows of space-separated 0/1
 *
 * Each record: context `id`, `label_index` (int64 list), `label_score` (float list); the
 * frames in the feature list `0_compressed` (one JPEG/PNG per frame), `0_dense_input` (one float
 * list of row x col x channels values per frame) or `0_sparse_{row_index,col_index,value}`.
 * Dense values in [0, 1] (a frame whose maximum is at most 1) are scaled to 0..255.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { DatasetError, SampleError, type Dataset, type Frame, type LabeledSplit, type OpenedDataset, type Sample, type Solution, type Split } from "./dataset";
import { parseMetadata, type AutoDLMetadata, type MatrixSpec } from "./metadata";
import { contextLabels, decodeSequenceExample, type Feature, type SequenceExample } from "./sequence-example";
import { TFRecordFile, type RecordLocation } from "./tfrecord";

interface RecordRef {
  file: TFRecordFile;
  record: number;
  location: RecordLocation;
}

interface TaskPaths {
  name: string;
  dataDir: string;
  solution: string | undefined;
}

const isDir = (path: string) => existsSync(path) && statSync(path).isDirectory();

/** Finds `<task>.data` and the solution beside it, from the task folder or the .data folder. */
export function locateAutoDL(location: string): TaskPaths | undefined {
  const solutionFor = (name: string, dirs: string[]) => dirs.map((d) => join(d, `${name}.solution`)).find((p) => existsSync(p));
  if (isDir(join(location, "train")) && existsSync(join(location, "train", "metadata.textproto"))) {
    const name = basename(location).replace(/\.data$/, "");
    return { name, dataDir: location, solution: solutionFor(name, [dirname(location), location]) };
  }
  if (!isDir(location)) return undefined;
  const data = readdirSync(location).filter((entry) => entry.endsWith(".data") && existsSync(join(location, entry, "train", "metadata.textproto")));
  if (data.length !== 1) return undefined;
  const name = data[0]!.replace(/\.data$/, "");
  return { name, dataDir: join(location, data[0]!), solution: solutionFor(name, [location]) };
}

async function readMetadata(splitDir: string): Promise<AutoDLMetadata> {
  const path = join(splitDir, "metadata.textproto");
  try {
    return parseMetadata(await readFile(path, "utf8"));
  } catch (error) {
    throw new DatasetError(path, "cannot read metadata", { cause: error });
  }
}

/** Every record of a split's files, in order; `visit` sees each one's data on the way (see TFRecordFile.index). */
function indexRecords(splitDir: string, visit?: (data: Uint8Array, origin: string) => void): RecordRef[] {
  const files = readdirSync(splitDir)
    .filter((f) => f.startsWith("sample"))
    .sort()
    .map((f) => new TFRecordFile(join(splitDir, f)));
  if (files.length === 0) throw new DatasetError(splitDir, "no sample* TFRecord files");
  return files.flatMap((file) => file.index(visit && ((data, record) => visit(data, file.origin(record)))).map((location, record) => ({ file, record, location })));
}

/**
 * The labels of every record, read from the context alone while the files are indexed (one pass
 * over the bytes); the CRC (most of that time) is checked when the sample's pixels are read,
 * which covers the same bytes.
 */
function indexLabeledRecords(splitDir: string, numClasses: number): { records: RecordRef[]; labels: number[][] } {
  const labels: number[][] = [];
  const records = indexRecords(splitDir, (data, origin) => {
    let sampleLabels: number[];
    try {
      sampleLabels = contextLabels(data);
    } catch (error) {
      throw new SampleError(origin, `cannot decode SequenceExample: ${(error as Error).message}`, { cause: error });
    }
    const bad = sampleLabels.find((l) => l < 0 || l >= numClasses);
    if (bad !== undefined) throw new SampleError(origin, `label ${bad} outside 0..${numClasses - 1}`);
    labels.push(sampleLabels);
  });
  return { records, labels };
}

function toBytes(values: ArrayLike<number>, scale: number): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.max(0, Math.min(255, Math.round(values[i]! * scale)));
  return out;
}

function maxOf(values: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  return max;
}

function rawFrame(pixels: Uint8Array, spec: MatrixSpec, origin: string): Frame {
  const { rowCount: height, colCount: width, numChannels: channels } = spec;
  if (height <= 0 || width <= 0) throw new SampleError(origin, "dense frames need a fixed row_count and col_count in the metadata");
  if (pixels.length !== height * width * channels) throw new SampleError(origin, `dense frame has ${pixels.length} values, expected ${height}x${width}x${channels}`);
  return { kind: "raw", pixels, height, width, channels };
}

function denseFrame(feature: Feature, spec: MatrixSpec, origin: string): Frame {
  if (feature.kind === "bytes") return rawFrame(feature.values[0] ?? new Uint8Array(0), spec, origin);
  const scale = maxOf(feature.values) <= 1 ? 255 : 1;
  return rawFrame(toBytes(feature.values, scale), spec, origin);
}

function sparseFrames(lists: Map<string, Feature[]>, spec: MatrixSpec, origin: string): Frame[] {
  const rows = lists.get("0_sparse_row_index") ?? [];
  const cols = lists.get("0_sparse_col_index") ?? [];
  const values = lists.get("0_sparse_value") ?? [];
  return values.map((valueFeature, t) => {
    const dense = new Float32Array(Math.max(0, spec.rowCount * spec.colCount));
    const r = rows[t]?.values as ArrayLike<number>;
    const c = cols[t]?.values as ArrayLike<number>;
    const v = valueFeature.values as ArrayLike<number>;
    for (let i = 0; i < v.length; i++) dense[r[i]! * spec.colCount + c[i]!] = v[i]!;
    return denseFrame({ kind: "float", values: dense }, { ...spec, numChannels: 1 }, origin);
  });
}

/** The frames of a decoded record, whichever of the three AutoDL encodings it uses. */
export function framesOf(example: SequenceExample, spec: MatrixSpec, origin: string): Frame[] {
  const lists = example.featureLists;
  const compressed = lists.get("0_compressed");
  if (compressed) return compressed.flatMap((f) => (f.kind === "bytes" ? f.values.map((bytes): Frame => ({ kind: "encoded", bytes })) : []));
  const dense = lists.get("0_dense_input");
  if (dense) return dense.map((f) => denseFrame(f, spec, origin));
  if (lists.has("0_sparse_value")) return sparseFrames(lists, spec, origin);
  throw new SampleError(origin, `no 0_compressed, 0_dense_input or 0_sparse_value feature list (found: ${[...lists.keys()].join(", ") || "none"})`);
}

class AutoDLSplit implements Split {
  constructor(
    private readonly records: RecordRef[],
    private readonly spec: MatrixSpec,
  ) {}

  get size(): number {
    return this.records.length;
  }

  /** Decodes record `index` (its data CRC checked) as a SequenceExample; errors name the record. */
  private decodeRecord(index: number): { value: SequenceExample; origin: string } {
    const ref = this.records[index];
    if (!ref) throw new RangeError(`sample ${index} out of range (size ${this.size})`);
    const origin = ref.file.origin(ref.record);
    try {
      return { value: decodeSequenceExample(ref.file.read(ref.record, ref.location)), origin };
    } catch (error) {
      if (error instanceof SampleError) throw error;
      throw new SampleError(origin, `cannot decode SequenceExample: ${(error as Error).message}`, { cause: error });
    }
  }

  read(index: number): Promise<Sample> {
    try {
      const { value: example, origin } = this.decodeRecord(index);
      return Promise.resolve({ frames: framesOf(example, this.spec, origin), origin });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }
}

class LabeledAutoDLSplit extends AutoDLSplit implements LabeledSplit {
  constructor(
    records: RecordRef[],
    spec: MatrixSpec,
    readonly labels: number[][],
  ) {
    super(records, spec);
  }
}

export async function readSolution(path: string): Promise<Solution> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => line.split(/\s+/).map(Number));
}

function classNamesOf(metadata: AutoDLMetadata): string[] | undefined {
  const names: string[] = [];
  for (const [name, index] of metadata.labelToIndex) names[index] = name;
  const complete = names.length === metadata.outputDim && names.every((n) => n !== undefined);
  return complete ? names : undefined;
}

export async function openAutoDL(location: string): Promise<OpenedDataset> {
  const paths = locateAutoDL(location);
  if (!paths) throw new DatasetError(location, "no <task>.data/train/metadata.textproto found");
  const trainDir = join(paths.dataDir, "train");
  const testDir = join(paths.dataDir, "test");
  const metadata = await readMetadata(trainDir);
  const testMetadata = await readMetadata(testDir);
  const spec = metadata.matrixSpec[0] ?? { rowCount: -1, colCount: -1, numChannels: 1, format: "COMPRESSED" };
  if (metadata.outputDim <= 0) throw new DatasetError(trainDir, "metadata has no output_dim");
  const train = indexLabeledRecords(trainDir, metadata.outputDim);
  const dataset: Dataset = {
    name: paths.name,
    numClasses: metadata.outputDim,
    train: new LabeledAutoDLSplit(train.records, spec, train.labels),
    test: new AutoDLSplit(indexRecords(testDir), testMetadata.matrixSpec[0] ?? spec),
    declaredShape: { frames: metadata.sequenceSize, height: spec.rowCount, width: spec.colCount, channels: spec.numChannels },
    location,
  };
  const classNames = classNamesOf(metadata);
  if (classNames) dataset.classNames = classNames;
  const solution = paths.solution ? await readSolution(paths.solution) : undefined;
  if (solution && solution.length !== dataset.test.size) {
    throw new DatasetError(paths.solution!, `solution has ${solution.length} rows, test split has ${dataset.test.size} samples`);
  }
  return solution ? { dataset, solution } : { dataset };
}

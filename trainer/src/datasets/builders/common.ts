/** What every builder shares: options, the seeded RNG, split sizing and writing through AutoDLWriter. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AutoDLWriter, type AutoDLExample, type AutoDLWriteSummary, type SplitName } from "../autodl-writer";
import { seededRandom, type Random } from "../../util/random";

export interface BuildOptions {
  /** The task folder to write: `<out>/<name>.data/{train,test}`, `<out>/<name>.solution`. */
  out: string;
  seed: number;
  /** Total samples (train + test), split in the builder's default train:test ratio. */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface BuildResult extends AutoDLWriteSummary {
  name: string;
  dir: string;
  classes: number;
  classNames: string[];
  seconds: number;
}

export interface Builder {
  name: string;
  description: string;
  /** Where the material comes from (package and path). */
  source: string;
  licence: string;
  /** Samples written without --limit, train and test. */
  defaultSize: { train: number; test: number };
  build(options: BuildOptions): Promise<BuildResult>;
}

export { seededRandom, type Random };

export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export const randomInt = (random: Random, min: number, max: number) => min + Math.floor(random() * (max - min + 1));
export const uniform = (random: Random, min: number, max: number) => min + random() * (max - min);
export const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

/** Train and test sizes under a total limit, keeping the default ratio (at least one of each). */
export function splitSizes(defaults: { train: number; test: number }, limit?: number): { train: number; test: number } {
  const total = defaults.train + defaults.test;
  if (limit === undefined || limit >= total) return { ...defaults };
  if (limit < 2) throw new RangeError("--limit must be at least 2 (one train and one test sample)");
  const test = Math.max(1, Math.round((limit * defaults.test) / total));
  return { train: limit - test, test };
}

export interface TaskSpec {
  name: string;
  classNames: string[];
  channels: number;
  source: string;
  licence: string;
}

export interface PlannedExample {
  split: SplitName;
  make: () => AutoDLExample | Promise<AutoDLExample>;
}

/**
 * Writes planned examples in order, making up to `concurrency` at once (sharp renders on its
 * own threads), and records how the task was built in BUILD.json beside the data.
 */
export async function writeTask(spec: TaskSpec, plan: PlannedExample[], options: BuildOptions, concurrency = 1): Promise<BuildResult> {
  const started = Date.now();
  await mkdir(options.out, { recursive: true });
  const writer = await AutoDLWriter.create({ dir: options.out, name: spec.name, numClasses: spec.classNames.length, classNames: spec.classNames, channels: spec.channels });
  const batch = Math.max(64, concurrency * 4);
  for (let start = 0; start < plan.length; start += batch) {
    const slice = plan.slice(start, start + batch);
    const examples: Awaited<ReturnType<PlannedExample["make"]>>[] = [];
    for (let i = 0; i < slice.length; i += concurrency) {
      examples.push(...(await Promise.all(slice.slice(i, i + concurrency).map((p) => p.make()))));
    }
    await Promise.all(examples.map((example, i) => writer.add(slice[i]!.split, example)));
    options.onProgress?.(Math.min(plan.length, start + batch), plan.length);
  }
  const summary = await writer.close();
  const result: BuildResult = { ...summary, name: spec.name, dir: options.out, classes: spec.classNames.length, classNames: spec.classNames, seconds: (Date.now() - started) / 1000 };
  const record = { builder: spec.name, seed: options.seed, limit: options.limit ?? null, source: spec.source, licence: spec.licence, ...result };
  await writeFile(join(options.out, "BUILD.json"), `${JSON.stringify(record, null, 2)}\n`);
  return result;
}

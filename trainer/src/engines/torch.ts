/**
 * The `torch` engine: a Python worker (trainer/engines/torch/worker.py) driven over stdio with JSON
 * lines, tensors passed through files in shared memory. The worker is spawned by the constructor, so
 * `import torch` (seconds) overlaps whatever the trainer does next; every call waits for it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, unlinkSync } from "node:fs";
import { readFile, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { SubPolicy } from "@autoclint/api";
import {
  EngineError,
  type Engine,
  type EngineInfo,
  type ImageTensor,
  type ModelConfig,
  type ModelReport,
  type PredictRequest,
  type Predictions,
  type SplitName,
  type SpeedProbe,
  type TrainReport,
  type TrainRequest,
} from "./engine";

export interface TorchEngineOptions {
  /**
   * The Python interpreter. Default: `env.AUTOCLINT_PYTHON`, else the first of `python3` (on PATH)
   * and `/usr/bin/python3` that can `import torch`.
   */
  python?: string;
  /** The worker script. Default: trainer/engines/torch/worker.py, found from this module. */
  workerPath?: string;
  /** Where tensor files are written. Default: /dev/shm when it exists, else the OS temp dir. */
  shmDir?: string;
  /** Receives the worker's stderr (its logs), one line at a time. Default: dropped. */
  log?: (line: string) => void;
  /** The worker's environment (CUDA_VISIBLE_DEVICES, ...). Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The worker's own description of itself (op `info`). */
export interface TorchWorkerInfo {
  device: string;
  deviceName: string;
  version: string;
  python: string;
  importSeconds: number;
}

interface Pending {
  op: string;
  resolve: (result: unknown) => void;
  reject: (error: EngineError) => void;
}

interface WorkerMessage {
  id: number | null;
  ok: boolean;
  event?: string;
  result?: unknown;
  error?: { type: string; message: string };
}

/** Exit code with which the worker says "this interpreter cannot import torch". */
const NO_TORCH_EXIT_CODE = 3;
const STDERR_LINES_KEPT = 20;
const SHUTDOWN_GRACE_MS = 5000;

/** The interpreter that last started a worker in this process: later engines skip the probing. */
let provenPython: string | undefined;

function defaultWorkerPath(): string {
  // From the sources (trainer/src/engines/) or from the bundle (trainer/dist/).
  const candidates = ["../../engines/torch/worker.py", "../engines/torch/worker.py"].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
  return candidates.find((path) => existsSync(path)) ?? (candidates[0] as string);
}

function pythonCandidates(options: TorchEngineOptions, env: NodeJS.ProcessEnv): string[] {
  if (options.python) return [options.python];
  if (env.AUTOCLINT_PYTHON) return [env.AUTOCLINT_PYTHON];
  const all = [provenPython, "python3", "/usr/bin/python3"].filter((p): p is string => Boolean(p));
  return [...new Set(all)];
}

function bufferOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

export class TorchEngine implements Engine {
  private readonly env: NodeJS.ProcessEnv;
  private readonly workerPath: string;
  private readonly shmDir: string;
  private readonly log: (line: string) => void;
  private readonly candidates: string[];
  private readonly attempts: string[] = [];
  private readonly spawnedAt = performance.now();
  private readonly readyPromise: Promise<EngineInfo>;
  private resolveReady!: (info: EngineInfo) => void;
  private rejectReady!: (error: EngineError) => void;
  private child: ChildProcess | undefined;
  private isReady = false;
  private dead: EngineError | undefined;
  private closing = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly files = new Set<string>();
  private readonly stderrTail: string[] = [];
  private readonly onProcessExit = (): void => this.cleanupSync();

  constructor(options: TorchEngineOptions = {}) {
    this.env = options.env ?? process.env;
    this.workerPath = options.workerPath ?? defaultWorkerPath();
    this.shmDir = options.shmDir ?? (existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
    this.log = options.log ?? (() => undefined);
    this.candidates = pythonCandidates(options, this.env);
    this.readyPromise = new Promise<EngineInfo>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.readyPromise.catch(() => undefined); // observed by ready() and every call
    process.once("exit", this.onProcessExit);
    this.spawnNext();
  }

  /** The worker's process id (for tests and diagnostics); undefined before spawn or after exit. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  ready(): Promise<EngineInfo> {
    return this.readyPromise;
  }

  info(): Promise<TorchWorkerInfo> {
    return this.call<TorchWorkerInfo>("info", {});
  }

  async loadSplit(name: SplitName, images: ImageTensor, labels?: Float32Array): Promise<void> {
    const expected = images.shape.reduce((a, b) => a * b, 1);
    if (images.pixels.length !== expected) {
      throw new EngineError(
        `split ${name}: ${images.pixels.length} pixels, shape ${images.shape.join("x")} needs ${expected}`,
        "loadSplit",
        "ShapeMismatch",
      );
    }
    if (labels && (images.shape[0] === 0 || labels.length % images.shape[0] !== 0)) {
      throw new EngineError(
        `split ${name}: ${labels.length} label values for ${images.shape[0]} samples`,
        "loadSplit",
        "ShapeMismatch",
      );
    }
    const path = this.tempPath("u8");
    const labelsPath = labels ? this.tempPath("f32") : undefined;
    try {
      await writeFile(path, bufferOf(images.pixels));
      if (labels && labelsPath) await writeFile(labelsPath, bufferOf(labels));
      await this.call("loadSplit", { name, path, shape: images.shape, labelsPath });
    } finally {
      await this.removeFiles(path, labelsPath);
    }
  }

  buildModel(config: ModelConfig): Promise<ModelReport> {
    return this.call<ModelReport>("buildModel", { config });
  }

  async train(request: TrainRequest): Promise<TrainReport> {
    const { scoreBatches, ...rest } = request;
    if (!scoreBatches) return this.call<TrainReport>("train", { ...rest });
    const scoreOut = this.tempPath("f32");
    try {
      const { scoredIndices, ...report } = await this.call<TrainReport & { scoredIndices: number[] }>("train", { ...rest, scoreOut });
      const scores = await this.readScores(scoreOut);
      return { ...report, batchScores: { indices: scoredIndices, scores } };
    } finally {
      await this.removeFiles(scoreOut);
    }
  }

  async probe(shape: readonly [number, number, number, number], classes: number): Promise<SpeedProbe> {
    const [frames, height, width, channels] = shape;
    const { samplesPerSecond } = await this.call<{ samplesPerSecond: number }>("probe", { shape, classes });
    return { frames, height, width, channels, samplesPerSecond };
  }

  async predict(request: PredictRequest): Promise<Predictions> {
    const out = this.tempPath("f32");
    try {
      const result = await this.call<Omit<Predictions, "scores">>("predict", { ...request, out });
      const scores = await this.readScores(out);
      if (scores.length !== result.passes * result.rows * result.classes) {
        throw new EngineError(
          `predict: ${scores.length} scores for ${result.passes}x${result.rows}x${result.classes}`,
          "predict",
          "ShapeMismatch",
        );
      }
      return { ...result, scores };
    } finally {
      await this.removeFiles(out);
    }
  }

  private async readScores(path: string): Promise<Float32Array> {
    const bytes = await readFile(path);
    // A fresh, aligned copy: the Buffer may sit at any offset of a pooled ArrayBuffer.
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  snapshot(name: string): Promise<void> {
    return this.call<void>("snapshot", { name });
  }

  restore(name: string): Promise<void> {
    return this.call<void>("restore", { name });
  }

  resetOptimizer(): Promise<void> {
    return this.call<void>("resetOptimizer", {});
  }

  /** Writes the backbone as a torchvision-format ResNet18 state dict (.pth, or .safetensors by extension). */
  async saveWeights(path: string): Promise<void> {
    await this.call("saveWeights", { path });
  }

  /** Applies one sub-policy (with its probabilities) to images: a preview, and what tests pin each op with. */
  async augment(images: ImageTensor, subPolicy: SubPolicy, seed = 0): Promise<ImageTensor> {
    const path = this.tempPath("u8");
    const out = this.tempPath("u8");
    try {
      await writeFile(path, bufferOf(images.pixels));
      await this.call("augment", { path, shape: images.shape, subPolicy, seed, out });
      const bytes = await readFile(out);
      return { pixels: new Uint8Array(bytes), shape: images.shape };
    } finally {
      await this.removeFiles(path, out);
    }
  }

  /** The training loss of logits (rows x classes) against 0/1 labels: what tests pin the loss with. */
  async loss(logits: Float32Array, labels: Float32Array, classes: number, multiLabel: boolean): Promise<number> {
    const logitsPath = this.tempPath("f32");
    const labelsPath = this.tempPath("f32");
    try {
      await writeFile(logitsPath, bufferOf(logits));
      await writeFile(labelsPath, bufferOf(labels));
      const rows = logits.length / classes;
      const result = await this.call<{ loss: number }>("loss", { logitsPath, labelsPath, rows, classes, multiLabel });
      return result.loss;
    } finally {
      await this.removeFiles(logitsPath, labelsPath);
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    process.removeListener("exit", this.onProcessExit);
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      if (this.isReady && !this.dead) {
        this.send({ id: this.nextId++, op: "shutdown", args: {} });
        child.stdin?.end();
      } else {
        child.kill("SIGKILL");
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), SHUTDOWN_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    this.failAll(new EngineError("torch engine closed", "close", "Closed"));
    await this.removeFiles(...this.files);
  }

  // ---------------------------------------------------------------------------------------------
  // the worker process

  private spawnNext(): void {
    const python = this.candidates[this.attempts.length];
    if (python === undefined) {
      this.die(
        new EngineError(
          `no Python interpreter with torch found (tried: ${this.attempts.join("; ")}). ` +
            "Install torch (Debian: apt-get install python3-torch) or set AUTOCLINT_PYTHON.",
          "ready",
          "NoInterpreter",
        ),
      );
      return;
    }
    this.attempts.push(python);
    const child = spawn(python, ["-u", this.workerPath], { env: this.env, stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    child.stdin.on("error", () => undefined); // a dead worker is reported by "exit", not by EPIPE
    createInterface({ input: child.stdout }).on("line", (line) => this.onLine(python, line));
    createInterface({ input: child.stderr }).on("line", (line) => this.onStderr(line));
    child.on("error", (error) => this.onExit(python, child, { error }));
    // "close", not "exit": it comes after the last stdout line, so no response is lost to the race.
    child.on("close", (code, signal) => this.onExit(python, child, { code, signal }));
  }

  private onStderr(line: string): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_LINES_KEPT) this.stderrTail.shift();
    this.log(line);
  }

  private onLine(python: string, line: string): void {
    let message: WorkerMessage;
    try {
      message = JSON.parse(line) as WorkerMessage;
    } catch {
      this.log(`[torch-worker stdout] ${line}`);
      return;
    }
    if (message.event === "ready") {
      if (!message.ok) {
        this.attempts[this.attempts.length - 1] = `${python}: ${message.error?.message ?? "cannot import torch"}`;
        return; // the exit (code 3) moves on to the next candidate
      }
      this.onReady(python, message.result as TorchWorkerInfo);
      return;
    }
    const pending = message.id === null ? undefined : this.pending.get(message.id);
    if (!pending || message.id === null) return;
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new EngineError(message.error?.message ?? "unknown error", pending.op, message.error?.type));
  }

  private onReady(python: string, info: TorchWorkerInfo): void {
    provenPython = python;
    this.isReady = true;
    const startupSeconds = (performance.now() - this.spawnedAt) / 1000;
    this.log(`[torch-engine] ${python}: ${info.version} on ${info.device} (${info.deviceName}), ready in ${startupSeconds.toFixed(2)} s`);
    this.resolveReady({
      engine: "torch",
      device: info.device,
      deviceName: info.deviceName,
      version: info.version,
      startupSeconds,
    });
  }

  private onExit(
    python: string,
    child: ChildProcess,
    how: { code?: number | null; signal?: NodeJS.Signals | null; error?: Error },
  ): void {
    if (child !== this.child || this.dead) return;
    const missing = (how.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
    if (!this.isReady && !this.closing && (missing || how.code === NO_TORCH_EXIT_CODE)) {
      if (missing) this.attempts[this.attempts.length - 1] = `${python}: not found`;
      this.spawnNext();
      return;
    }
    const cause = how.error
      ? how.error.message
      : how.signal
        ? `killed by signal ${how.signal}`
        : `exited with code ${String(how.code)}`;
    const tail = this.stderrTail.length ? `; last stderr lines:\n${this.stderrTail.join("\n")}` : "";
    this.die(new EngineError(`torch worker (${python}) ${cause}${tail}`, "worker", "WorkerExited"));
  }

  /** The worker is gone: ready and every pending and future call reject with this error. */
  private die(error: EngineError): void {
    this.dead = error;
    this.child = undefined;
    this.rejectReady(error);
    this.failAll(error);
  }

  private failAll(error: EngineError): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(new EngineError(`${pending.op}: ${error.message}`, pending.op, error.engineErrorType, { cause: error }));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // requests and tensor files

  private async call<T>(op: string, args: Record<string, unknown>): Promise<T> {
    await this.readyPromise;
    if (this.dead) throw new EngineError(`${op}: ${this.dead.message}`, op, this.dead.engineErrorType, { cause: this.dead });
    if (this.closing) throw new EngineError(`${op}: torch engine closed`, op, "Closed");
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { op, resolve: resolve as (result: unknown) => void, reject });
      this.send({ id, op, args });
    });
  }

  private send(request: { id: number; op: string; args: Record<string, unknown> }): void {
    this.child?.stdin?.write(`${JSON.stringify(request)}\n`);
  }

  private tempPath(kind: string): string {
    const path = join(this.shmDir, `autoclint-torch-${process.pid}-${randomBytes(6).toString("hex")}.${kind}`);
    this.files.add(path);
    return path;
  }

  private async removeFiles(...paths: (string | undefined)[]): Promise<void> {
    for (const path of paths) {
      if (!path) continue;
      this.files.delete(path);
      await unlink(path).catch(() => undefined);
    }
  }

  /** Last resort when node exits without close(): no orphan worker, no files left in /dev/shm. */
  private cleanupSync(): void {
    this.child?.kill("SIGKILL");
    for (const path of this.files) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  }
}

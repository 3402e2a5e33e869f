/**
 * The `tfjs` engine: TensorFlow.js on @tensorflow/tfjs-node over a real libtensorflow (hack/tfjs.sh),
 * in a worker thread of the trainer's own process. The model and its math live in tfjs-compute.ts;
 * this class hands each call to the worker (tfjs-worker.ts) and its answer back. A thread, not the
 * main one, because tfjs-node's ops are synchronous calls: loading the library (2-3 s) and a
 * training chunk (seconds to minutes) would otherwise stall the trainer's event loop (the quick
 * model, events, NATS, the budget's cut-off timer). Tensors cross as copies of typed arrays.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
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
  type SpeedProbe,
  type SplitName,
  type TrainReport,
  type TrainRequest,
} from "./engine";
import type { NamedTensor } from "./safetensors";

export interface TfjsEngineOptions {
  /** Receives the engine's log lines. Default: dropped. */
  log?: (line: string) => void;
  /** Where tfjs-node is found (AUTOCLINT_TFJS_NODE, AUTOCLINT_CACHE). Default: process.env. */
  env?: NodeJS.ProcessEnv;
}

interface Pending {
  op: string;
  resolve: (result: unknown) => void;
  reject: (error: EngineError) => void;
}

type WorkerMessage =
  | { log: string }
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { message: string; operation: string; type: string } };

/**
 * The worker: the bundle's entry (trainer/dist/) next to the CLI bundle, else the TypeScript source,
 * run through tsx's loader registered inside the thread (a worker does not inherit it).
 */
function startWorker(workerData: unknown): Worker {
  const bundled = fileURLToPath(new URL("./tfjs-worker.mjs", import.meta.url));
  if (existsSync(bundled)) return new Worker(bundled, { workerData });
  const source = new URL("./tfjs-worker.ts", import.meta.url).href;
  if (!existsSync(fileURLToPath(source))) {
    throw new EngineError(`the tfjs engine's worker is missing: neither ${bundled} nor its source next to ${fileURLToPath(import.meta.url)}`, "ready", "Unavailable");
  }
  const tsx = import.meta.resolve("tsx/esm/api");
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class TfjsEngine implements Engine {
  private readonly log: (line: string) => void;
  private readonly worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private readonly readyPromise: Promise<EngineInfo>;
  private readonly spawnedAt = performance.now();
  private nextId = 1;
  private dead: EngineError | undefined;
  private closing = false;

  constructor(options: TfjsEngineOptions = {}) {
    this.log = options.log ?? (() => undefined);
    // TensorFlow's C++ logging (CPU feature notes) reads the process environment, which a worker
    // thread's process.env does not write: set here. Warnings and up only.
    process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
    try {
      this.worker = startWorker({ env: { ...(options.env ?? process.env) } });
      this.worker.on("message", (message: WorkerMessage) => this.onMessage(message));
      this.worker.on("error", (error) => this.die(new EngineError(`tfjs worker thread failed: ${error.message}`, "worker", "WorkerExited", { cause: error })));
      this.worker.on("exit", (code) => {
        if (!this.closing) this.die(new EngineError(`tfjs worker thread exited with code ${code}`, "worker", "WorkerExited"));
      });
    } catch (error) {
      this.die(error instanceof EngineError ? error : new EngineError(String(error), "ready", "Unavailable", { cause: error }));
    }
    this.readyPromise = this.send<EngineInfo>("ready", []).then((info) => ({ ...info, startupSeconds: (performance.now() - this.spawnedAt) / 1000 }));
    this.readyPromise.catch(() => undefined); // observed by ready() and every call
  }

  ready(): Promise<EngineInfo> {
    return this.readyPromise;
  }

  /** Prediction speed at a sample shape, on a throwaway model (the live one is untouched). */
  probe(shape: readonly [frames: number, height: number, width: number, channels: number], classes: number): Promise<SpeedProbe> {
    return this.call("probe", [shape, classes]);
  }

  loadSplit(name: SplitName, images: ImageTensor, labels?: Float32Array): Promise<void> {
    return this.call("loadSplit", [name, images, labels]);
  }

  buildModel(config: ModelConfig): Promise<ModelReport> {
    return this.call("buildModel", [config]);
  }

  train(request: TrainRequest): Promise<TrainReport> {
    return this.call("train", [request]);
  }

  predict(request: PredictRequest): Promise<Predictions> {
    return this.call("predict", [request]);
  }

  snapshot(name: string): Promise<void> {
    return this.call("snapshot", [name]);
  }

  restore(name: string): Promise<void> {
    return this.call("restore", [name]);
  }

  resetOptimizer(): Promise<void> {
    return this.call("resetOptimizer", []);
  }

  /** The model as a torchvision-format state dict in .safetensors (backbone, adapter, temporal block, head). */
  saveWeights(path: string): Promise<void> {
    return this.call("saveWeights", [path]);
  }

  /** Every tensor of the live model in torch's layout, by torchvision name: what parity tests compare. */
  exportWeights(): Promise<Map<string, NamedTensor>> {
    return this.call("exportWeights", []);
  }

  /** Loads a torchvision-format ResNet18 .safetensors into the live model, with the head when asked (parity tests). */
  loadWeights(path: string, options: { head: boolean }): Promise<number> {
    return this.call("loadWeights", [path, options]);
  }

  /** Applies one sub-policy (with its probabilities) to images: a preview, and what tests pin each op with. */
  augment(images: ImageTensor, subPolicy: SubPolicy, seed = 0): Promise<ImageTensor> {
    return this.call("augment", [images, subPolicy, seed]);
  }

  /** The training loss of logits (rows x classes) against 0/1 labels: what tests pin the loss with. */
  loss(logits: Float32Array, labels: Float32Array, classes: number, multiLabel: boolean): Promise<number> {
    return this.call("loss", [logits, labels, classes, multiLabel]);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    if (!this.dead) await this.send("close", []).catch(() => undefined);
    this.closing = true;
    await this.worker?.terminate();
    this.failAll(new EngineError("tfjs engine closed", "close", "Closed"));
  }

  // ---------------------------------------------------------------------------------------------

  private async call<T>(op: string, args: unknown[]): Promise<T> {
    await this.readyPromise;
    if (this.closing) throw new EngineError(`${op}: tfjs engine closed`, op, "Closed");
    return this.send<T>(op, args);
  }

  private send<T>(op: string, args: unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(new EngineError(`${op}: ${this.dead.message}`, op, this.dead.engineErrorType, { cause: this.dead }));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { op, resolve: resolve as (result: unknown) => void, reject });
      this.worker?.postMessage({ id, op, args });
    });
  }

  private onMessage(message: WorkerMessage): void {
    if ("log" in message) {
      this.log(message.log);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(new EngineError(message.error.message, message.error.operation, message.error.type));
  }

  private die(error: EngineError): void {
    this.dead ??= error;
    this.failAll(error);
  }

  private failAll(error: EngineError): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(new EngineError(`${pending.op}: ${error.message}`, pending.op, error.engineErrorType, { cause: error }));
    }
  }
}

/**
 * The tfjs engine's worker thread: holds tfjs-node and the model (tfjs-compute.ts) and serves the
 * engine's calls from tfjs.ts one at a time, in order. TensorFlow's eager ops are synchronous
 * calls, so they run here, off the trainer's event loop (its clock, events and NATS keep running).
 *
 * Messages in: {id, op, args}. Out: {id, ok: true, result} | {id, ok: false, error} | {log}.
 */
import { parentPort, workerData } from "node:worker_threads";
import { EngineError } from "./engine";
import { TfjsCompute } from "./tfjs-compute";

interface Request {
  id: number;
  op: string;
  args: unknown[];
}

const port = parentPort!;
const compute = new TfjsCompute({
  log: (line) => port.postMessage({ log: line }),
  env: (workerData as { env?: NodeJS.ProcessEnv } | undefined)?.env,
});

async function serve({ id, op, args }: Request): Promise<void> {
  try {
    const method = (compute as unknown as Record<string, unknown>)[op];
    if (typeof method !== "function") throw new EngineError(`unknown op ${JSON.stringify(op)}`, op, "BadRequest");
    const result: unknown = await (method as (...a: unknown[]) => Promise<unknown>).apply(compute, args);
    port.postMessage({ id, ok: true, result });
  } catch (e) {
    const error = e instanceof EngineError ? e : undefined;
    port.postMessage({
      id,
      ok: false,
      error: { message: (e as Error).message ?? String(e), operation: error?.operation ?? op, type: error?.engineErrorType ?? (e as Error).name },
    });
  }
}

let queue = Promise.resolve();
port.on("message", (request: Request) => {
  queue = queue.then(() => serve(request));
});

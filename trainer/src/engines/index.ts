/**
 * The compute engines behind one interface (see engine.ts). `createEngine` is the one way the
 * trainer gets an engine; it starts it at once so its start-up overlaps the trainer's own.
 */
import { EngineError, type Engine } from "./engine";
import { TfjsEngine, type TfjsEngineOptions } from "./tfjs";
import { TorchEngine, type TorchEngineOptions } from "./torch";

export * from "./engine";
export { TorchEngine, type TorchEngineOptions, type TorchWorkerInfo } from "./torch";
export { TfjsEngine, type TfjsEngineOptions } from "./tfjs";

export type EngineName = "torch" | "tfjs";
export const ENGINE_NAMES: readonly EngineName[] = ["torch", "tfjs"];

export type EngineOptions = TorchEngineOptions & TfjsEngineOptions;

export function createEngine(name: EngineName, options: EngineOptions = {}): Engine {
  switch (name) {
    case "torch":
      return new TorchEngine(options);
    case "tfjs":
      return new TfjsEngine(options);
    default:
      throw new EngineError(`unknown engine ${JSON.stringify(name)}; known: ${ENGINE_NAMES.join(", ")}`, "create", "Unknown");
  }
}

/**
 * sharp, loaded on first use. Loading it (libvips and its bindings) costs about 70 ms of CPU, paid
 * at start-up by every run when imported at the top of a module; a run whose images the trainer's
 * own PNG decoder and resizer handle (the whole dataset suite) never needs it before its first
 * prediction, or at all.
 */
import type SharpConstructor from "sharp";

let loading: Promise<typeof SharpConstructor> | undefined;

export function loadSharp(): Promise<typeof SharpConstructor> {
  loading ??= import("sharp").then((module) => module.default);
  return loading;
}

/**
 * Loads @tensorflow/tfjs-node from the prefix hack/tfjs.sh installs it into (under the cache, not a
 * workspace dependency: its own install script would download from a host we cannot reach and break
 * `npm ci`). The types come from @tensorflow/tfjs-core, the same version tfjs-node re-exports.
 */
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import type * as TfCore from "@tensorflow/tfjs-core";
// the chained methods (x.add(y), ...) are declared by module augmentation in this file of tfjs-core
import type {} from "@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops";
import { EngineError } from "./engine";

export type Tf = typeof TfCore;

export interface TfjsNode {
  tf: Tf;
  /** The package directory it was loaded from. */
  path: string;
  /** "tfjs-node 4.22.0 over TensorFlow 2.18.1". */
  version: string;
}

const PACKAGE = join("node_modules", "@tensorflow", "tfjs-node");
const INSTALL_HINT =
  "run hack/tfjs.sh (make setup does), or set AUTOCLINT_TFJS_NODE to a tfjs-node install; in a cluster, run the trainer image's tfjs target (images/trainer/Dockerfile), which the operator picks for engine tfjs";

/**
 * The tfjs-node package directory: `AUTOCLINT_TFJS_NODE` (a prefix or the package itself), else the
 * one CPU prefix hack/tfjs.sh marked installed under `$AUTOCLINT_CACHE/tfjs` (a `--gpu` prefix is
 * loaded only by name: it needs CUDA's libraries on the library path).
 */
export function tfjsNodePath(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.AUTOCLINT_TFJS_NODE;
  if (given) {
    const path = existsSync(join(given, PACKAGE)) ? join(given, PACKAGE) : given;
    if (!existsSync(join(path, "package.json"))) {
      throw new EngineError(`AUTOCLINT_TFJS_NODE=${given} holds no tfjs-node package`, "ready", "Unavailable");
    }
    return path;
  }
  const root = join(env.AUTOCLINT_CACHE ?? join(homedir(), ".cache", "autoclint"), "tfjs");
  const installed = existsSync(root)
    ? readdirSync(root).filter((name) => /^tfjs-node-\d/.test(name) && existsSync(join(root, name, ".installed")))
    : [];
  const prefix = installed.sort().at(-1);
  if (!prefix) throw new EngineError(`the tfjs engine is not installed in ${root}: ${INSTALL_HINT}`, "ready", "Unavailable");
  return join(root, prefix, PACKAGE);
}

let loaded: TfjsNode | undefined;

/** Loads tfjs-node once per process (it registers its backend globally) and checks the backend. */
export function loadTfjsNode(env: NodeJS.ProcessEnv = process.env): TfjsNode {
  if (loaded) return loaded;
  const path = tfjsNodePath(env);
  // TensorFlow's C++ logging (CPU feature notes, oneDNN banners) goes to stderr: warnings and up only.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= "2";
  let tf: Tf & { version: Record<string, string> };
  try {
    tf = createRequire(join(path, "package.json"))(path) as typeof tf;
  } catch (error) {
    throw new EngineError(`cannot load tfjs-node from ${path}: ${(error as Error).message}; ${INSTALL_HINT}`, "ready", "Unavailable", {
      cause: error,
    });
  }
  if (tf.getBackend() !== "tensorflow") {
    throw new EngineError(`tfjs-node from ${path} runs on backend ${tf.getBackend()}, not tensorflow`, "ready", "Unavailable");
  }
  const backend = tf.engine().findBackend("tensorflow") as unknown as { binding: { TF_Version: string } };
  loaded = { tf, path, version: `tfjs-node ${tf.version["tfjs-node"] ?? "?"} over TensorFlow ${backend.binding.TF_Version}` };
  return loaded;
}

#!/usr/bin/env node
// Bundles each entry point into one ESM file: fast start-up (the trainer's clock starts at launch)
// and no TypeScript at runtime. Native and large runtime packages stay external.
import { build } from "esbuild";

const external = ["sharp", "vega", "vega-lite", "@kubernetes/client-node", "protobufjs", "mnist"];
const entries = [
  { in: "trainer/src/cli/main.ts", out: "trainer/dist/autoclint.mjs" },
  // the tfjs engine's worker thread, found next to the CLI bundle (trainer/src/engines/tfjs.ts)
  { in: "trainer/src/engines/tfjs-worker.ts", out: "trainer/dist/tfjs-worker.mjs" },
  { in: "operator/src/main.ts", out: "operator/dist/operator.mjs", optional: true },
];
import { existsSync } from "node:fs";
for (const entry of entries) {
  if (entry.optional && !existsSync(entry.in)) continue;
  await build({
    entryPoints: [entry.in],
    outfile: entry.out,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: true,
    external,
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: "warning",
  });
}

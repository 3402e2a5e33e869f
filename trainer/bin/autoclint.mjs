#!/usr/bin/env node
// The `autoclint` command: the bundled CLI when it is built and current, the TypeScript sources
// otherwise. A bundle older than any source it was built from would run stale code silently, so
// then the sources run (through tsx, a slower start) and a line on stderr says so.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const bundle = fileURLToPath(new URL("../dist/autoclint.mjs", import.meta.url));
const repo = fileURLToPath(new URL("../..", import.meta.url));
// What the bundle is built from: the trainer's sources and the API package it imports.
const sourceRoots = ["trainer/src", "api/src"].map((dir) => join(repo, dir));

/** The newest non-test TypeScript file under the roots that exist, or undefined when none do. */
function newestSource(dirs) {
  let newest;
  const visit = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) {
        const mtimeMs = statSync(path).mtimeMs;
        if (!newest || mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
      }
    }
  };
  for (const dir of dirs) if (existsSync(dir)) visit(dir);
  return newest;
}

const newest = newestSource(sourceRoots);
const bundleMtime = existsSync(bundle) ? statSync(bundle).mtimeMs : undefined;
if (bundleMtime !== undefined && (!newest || newest.mtimeMs <= bundleMtime)) {
  await import(bundle);
} else {
  if (bundleMtime !== undefined) {
    process.stderr.write(
      `autoclint: ${relative(process.cwd(), bundle)} is older than ${relative(process.cwd(), newest.path)}; ` +
        "running the TypeScript sources instead (slower start). `make build` refreshes the bundle.\n",
    );
  }
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}

/**
 * Writes crds/*.yaml, and the chart's copy in charts/autoclint/files/crds/, from the TypeBox
 * schemas. Run by `make crds`:
 *   node --import tsx api/src/generate-crds.ts [outDir...]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { renderCrds } from "./crd";

export const CRD_DIR = resolve(fileURLToPath(new URL("../../crds", import.meta.url)));
export const CHART_CRD_DIR = resolve(fileURLToPath(new URL("../../charts/autoclint/files/crds", import.meta.url)));

function main(outDirs: string[]): void {
  for (const outDir of outDirs) {
    mkdirSync(outDir, { recursive: true });
    for (const [file, text] of Object.entries(renderCrds())) {
      writeFileSync(join(outDir, file), text);
      console.log(`wrote ${join(outDir, file)}`);
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.length > 2 ? process.argv.slice(2) : [CRD_DIR, CHART_CRD_DIR]);
}

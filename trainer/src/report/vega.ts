/**
 * Vega-Lite spec -> SVG (vega, headless) -> PNG (sharp/librsvg, system fonts). Text is measured
 * without a canvas, so labels use DejaVu Sans, which librsvg finds through fontconfig.
 */
import { rename } from "node:fs/promises";
import { loadSharp } from "../util/sharp";
import type { TopLevelSpec } from "vega-lite";

export const FONT = "DejaVu Sans";

/** Renders a Vega-Lite spec to SVG text. */
export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  // Loaded on first use: vega and vega-lite take the better part of a second to import, and a
  // run's clock is ticking from process start while the picture is only drawn at the end.
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const withFont: TopLevelSpec = { ...spec, config: { font: FONT, ...spec.config } };
  const compiled = vegaLite.compile(withFont);
  const view = new vega.View(vega.parse(compiled.spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders a Vega-Lite spec to a PNG file (written whole: temp file, then rename); returns its size. */
export async function renderVegaLite(
  spec: TopLevelSpec,
  pngPath: string,
  options: { scale?: number } = {},
): Promise<{ width: number; height: number }> {
  const svg = await vegaLiteToSvg(spec);
  const scale = options.scale ?? 1;
  const temp = `${pngPath}.tmp-${process.pid}.png`;
  const sharp = await loadSharp();
  const info = await sharp(Buffer.from(svg), { density: 72 * scale }).png().toFile(temp);
  await rename(temp, pngPath);
  return { width: info.width, height: info.height };
}

/**
 * A notMNIST-like task: the letters A-J rendered (SVG text through sharp/librsvg) in the fonts
 * Debian's font packages ship (DejaVu, Liberation, FreeFont; regular/bold/italic), at varied
 * sizes and aspect ratios, in a random colour on a random contrasting background.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadSharp } from "../../util/sharp";
import { pick, randomInt, seededRandom, splitSizes, uniform, writeTask, type Builder, type PlannedExample, type Random } from "./common";

const FONT_DIR = "/usr/share/fonts/truetype";
const FONTS = [
  { family: "DejaVu Sans", file: "dejavu/DejaVuSans.ttf" },
  { family: "DejaVu Serif", file: "dejavu/DejaVuSerif.ttf" },
  { family: "DejaVu Sans Mono", file: "dejavu/DejaVuSansMono.ttf" },
  { family: "Liberation Sans", file: "liberation/LiberationSans-Regular.ttf" },
  { family: "Liberation Serif", file: "liberation/LiberationSerif-Regular.ttf" },
  { family: "Liberation Mono", file: "liberation/LiberationMono-Regular.ttf" },
  { family: "FreeSans", file: "freefont/FreeSans.ttf" },
  { family: "FreeSerif", file: "freefont/FreeSerif.ttf" },
  { family: "FreeMono", file: "freefont/FreeMono.ttf" },
];
export const LETTERS = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"];

/** Font families whose files are installed (librsvg would silently substitute a missing one). */
export function installedFonts(): string[] {
  return FONTS.filter((f) => existsSync(join(FONT_DIR, f.file))).map((f) => f.family);
}

type Rgb = [number, number, number];
const luma = ([r, g, b]: Rgb) => 0.299 * r + 0.587 * g + 0.114 * b;
const hex = (c: Rgb) => `#${c.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
const randomColour = (random: Random): Rgb => [randomInt(random, 0, 255), randomInt(random, 0, 255), randomInt(random, 0, 255)];

/** Two colours far enough apart in brightness for the glyph to be readable. */
export function contrastingPair(random: Random): [Rgb, Rgb] {
  const background = randomColour(random);
  for (;;) {
    const foreground = randomColour(random);
    if (Math.abs(luma(foreground) - luma(background)) > 80) return [background, foreground];
  }
}

export interface GlyphSpec {
  letter: string;
  family: string;
  bold: boolean;
  italic: boolean;
  width: number;
  height: number;
  fontSize: number;
  dx: number;
  dy: number;
  background: Rgb;
  foreground: Rgb;
}

export function randomGlyph(random: Random, letter: string, families: string[]): GlyphSpec {
  const height = randomInt(random, 20, 64);
  const aspect = Math.exp(uniform(random, Math.log(0.6), Math.log(1.8)));
  const width = Math.max(16, Math.min(128, Math.round(height * aspect)));
  const fontSize = Math.min(height, width * 1.2) * uniform(random, 0.55, 0.95);
  const [background, foreground] = contrastingPair(random);
  return {
    letter,
    family: pick(random, families),
    bold: random() < 0.3,
    italic: random() < 0.25,
    width,
    height,
    fontSize,
    dx: uniform(random, -0.1, 0.1) * width,
    dy: uniform(random, -0.1, 0.1) * height,
    background,
    foreground,
  };
}

export function glyphSvg(g: GlyphSpec): string {
  const x = g.width / 2 + g.dx;
  const y = g.height / 2 + 0.36 * g.fontSize + g.dy; // baseline: cap height is about 0.72 em
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${g.width}" height="${g.height}">` +
    `<rect width="100%" height="100%" fill="${hex(g.background)}"/>` +
    `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="${g.family}" font-size="${g.fontSize.toFixed(1)}" ` +
    `font-weight="${g.bold ? "bold" : "normal"}" font-style="${g.italic ? "italic" : "normal"}" text-anchor="middle" fill="${hex(g.foreground)}">${g.letter}</text></svg>`
  );
}

export async function renderGlyph(g: GlyphSpec): Promise<Uint8Array> {
  // One render at a time (writeTask's concurrency 1): librsvg's text path goes through
  // fontconfig, and parallel renders crashed the process with SIGSEGV (seen in 1 of 2 full builds).
  const sharp = await loadSharp();
  return sharp(Buffer.from(glyphSvg(g))).removeAlpha().png().toBuffer();
}

export const fonts: Builder = {
  name: "fonts",
  description: "notMNIST-like: letters A-J in 9 font families, variable size and aspect ratio, RGB, 10 classes",
  source: "Debian packages fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf (/usr/share/fonts/truetype), rendered with sharp",
  licence: "generated images; fonts: DejaVu (Bitstream Vera licence), Liberation (SIL OFL 1.1), FreeFont (GPL-3+ with font exception)",
  defaultSize: { train: 6000, test: 1000 },
  async build(options) {
    const families = installedFonts();
    if (families.length === 0) throw new Error(`no fonts found under ${FONT_DIR}: install fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf`);
    const sizes = splitSizes(this.defaultSize, options.limit);
    const random = seededRandom(options.seed);
    const examples: PlannedExample[] = Array.from({ length: sizes.train + sizes.test }, (_, i) => {
      const label = i % LETTERS.length;
      const glyph = randomGlyph(random, LETTERS[label]!, families);
      return { split: i < sizes.train ? "train" : "test", make: async () => ({ frames: [{ kind: "encoded", bytes: await renderGlyph(glyph) }], labels: [label] }) };
    });
    shuffleWithin(examples, sizes.train, random);
    return writeTask({ name: this.name, classNames: LETTERS, channels: 3, source: this.source, licence: this.licence }, examples, options, 1);
  },
};

/** Shuffles train and test parts separately so classes are interleaved but splits stay apart. */
export function shuffleWithin<T>(items: T[], cut: number, random: Random): void {
  const shuffleRange = (from: number, to: number) => {
    for (let i = to - 1; i > from; i--) {
      const j = from + Math.floor(random() * (i - from + 1));
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
  };
  shuffleRange(0, cut);
  shuffleRange(cut, items.length);
}

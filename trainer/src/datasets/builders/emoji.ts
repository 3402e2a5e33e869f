/**
 * Colour emoji labelled by their Unicode group (Smileys & Emotion, Animals & Nature, ...): the
 * single-code-point, fully-qualified emoji of Debian's emoji-test.txt, drawn from Noto Color
 * Emoji's bitmaps at a random size and place on a random background of random size. Groups
 * with fewer than 20 such emoji (Component, Flags) are left out. Each sample picks a group
 * uniformly, then an emoji of it; an emoji can appear in both splits (in different renderings).
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { loadSharp } from "../../util/sharp";
import { EmojiFont } from "./emoji-font";
import { pick, randomInt, seededRandom, splitSizes, uniform, writeTask, type Builder, type PlannedExample, type Random } from "./common";

export const EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf";
export const EMOJI_TEST_FILE = "/usr/share/unicode/emoji/emoji-test.txt";
const MIN_GROUP_SIZE = 20;

export interface EmojiGroup {
  name: string;
  codePoints: number[];
}

/** Groups of single-code-point fully-qualified emoji (a trailing U+FE0F is allowed). */
export function parseEmojiTest(text: string): EmojiGroup[] {
  const groups: EmojiGroup[] = [];
  for (const line of text.split("\n")) {
    const group = /^# group: (.+)$/.exec(line);
    if (group) groups.push({ name: group[1]!.trim(), codePoints: [] });
    const entry = /^([0-9A-F ]+?)\s*; fully-qualified/.exec(line);
    if (!entry || groups.length === 0) continue;
    const points = entry[1]!.split(" ").filter((p) => p !== "FE0F");
    if (points.length === 1) groups.at(-1)!.codePoints.push(parseInt(points[0]!, 16));
  }
  return groups;
}

async function loadGroups(font: EmojiFont): Promise<EmojiGroup[]> {
  const groups = parseEmojiTest(await readFile(EMOJI_TEST_FILE, "utf8"));
  return groups
    .map((g) => ({ name: g.name, codePoints: g.codePoints.filter((c) => font.png(c) !== undefined) }))
    .filter((g) => g.codePoints.length >= MIN_GROUP_SIZE);
}

interface EmojiScene {
  png: Uint8Array;
  width: number;
  height: number;
  size: number;
  left: number;
  top: number;
  background: { r: number; g: number; b: number };
}

function randomScene(random: Random, png: Uint8Array): EmojiScene {
  const width = randomInt(random, 32, 96);
  const height = randomInt(random, 32, 96);
  const size = Math.max(12, Math.round(Math.min(width, height) * uniform(random, 0.55, 0.95)));
  return {
    png,
    width,
    height,
    size,
    left: randomInt(random, 0, width - size),
    top: randomInt(random, 0, height - size),
    background: { r: randomInt(random, 0, 255), g: randomInt(random, 0, 255), b: randomInt(random, 0, 255) },
  };
}

async function renderScene(scene: EmojiScene): Promise<Uint8Array> {
  const sharp = await loadSharp();
  const emoji = await sharp(scene.png).resize(scene.size, scene.size, { fit: "contain", background: { r: 0, g: 0, b: 0, alpha: 0 } }).png().toBuffer();
  return sharp({ create: { width: scene.width, height: scene.height, channels: 3, background: scene.background } })
    .composite([{ input: emoji, left: scene.left, top: scene.top }])
    .removeAlpha()
    .png()
    .toBuffer();
}

export const emoji: Builder = {
  name: "emoji",
  description: "colour emoji (Noto Color Emoji) by Unicode group, 32-96 px sides, RGB, 8 classes",
  source: "Debian packages fonts-noto-color-emoji (NotoColorEmoji.ttf bitmaps) and unicode-data (emoji-test.txt groups)",
  licence: "generated images; Noto Emoji: Apache-2.0 (images) / SIL OFL 1.1 (font); Unicode data: Unicode licence",
  defaultSize: { train: 4000, test: 1000 },
  async build(options) {
    for (const path of [EMOJI_FONT, EMOJI_TEST_FILE]) if (!existsSync(path)) throw new Error(`${path} missing: install fonts-noto-color-emoji and unicode-data`);
    const font = new EmojiFont(EMOJI_FONT);
    const groups = await loadGroups(font);
    const sizes = splitSizes(this.defaultSize, options.limit);
    const random = seededRandom(options.seed);
    const examples: PlannedExample[] = Array.from({ length: sizes.train + sizes.test }, (_, i) => {
      const label = randomInt(random, 0, groups.length - 1);
      const scene = randomScene(random, font.png(pick(random, groups[label]!.codePoints))!);
      return { split: i < sizes.train ? "train" : "test", make: async () => ({ frames: [{ kind: "encoded", bytes: await renderScene(scene) }], labels: [label] }) };
    });
    return writeTask({ name: this.name, classNames: groups.map((g) => g.name), channels: 3, source: this.source, licence: this.licence }, examples, options, 4);
  },
};

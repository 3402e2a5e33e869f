/**
 * Reads an AutoClintRun manifest for a local run: the same YAML a user would `kubectl apply`.
 * Validation uses the CRD's own schema, so a spec the API server would refuse is refused here
 * too, with every problem listed by path.
 */
import { AutoClintRunManifest } from "@autoclint/api";
import type { Static, TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse } from "yaml";

export class ManifestError extends Error {
  override name = "ManifestError";
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid AutoClintRun:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/**
 * A YAML manifest checked against its CRD schema, with the schema's defaults filled in. Every
 * problem (unparsable YAML, or each schema error by path) goes to `invalid`, which throws.
 */
export function parseSchemaManifest<T extends TSchema>(schema: T, text: string, invalid: (problems: string[]) => Error): Static<T> {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw invalid([`not valid YAML: ${(error as Error).message}`]);
  }
  const withDefaults = Value.Default(schema, Value.Clone(document));
  const problems = [...Value.Errors(schema, withDefaults)].map((e) => `${e.path || "/"}: ${e.message}`);
  if (problems.length > 0) throw invalid(problems);
  return withDefaults as Static<T>;
}

export function parseRunManifest(text: string, file: string): AutoClintRunManifest {
  const manifest = parseSchemaManifest(AutoClintRunManifest, text, (problems) => new ManifestError(file, problems));
  const source = manifest.spec.dataset.source;
  if (!source.path && !source.url) throw new ManifestError(file, ["/spec/dataset/source: needs a path (a local folder) or a url (a .tar or .tar.gz)"]);
  // A relative dataset path is relative to the manifest, like kustomize paths.
  if (source.path && !isAbsolute(source.path)) source.path = resolve(dirname(file), source.path);
  return manifest;
}

export async function readRunManifest(file: string): Promise<AutoClintRunManifest> {
  return parseRunManifest(await readFile(file, "utf8"), file);
}

/**
 * What the operator checks before a run gets a Job: the CRD's own schema (the API server has
 * checked it too, but an object stored under an older CRD, or a format the two parse differently,
 * must not reach the Job renderer), then rules about combinations of values the API server cannot
 * express. Never throws: every problem is a line naming the field, and a run with one fails with
 * a SpecValid=False condition that says what to change.
 */
import { AutoClintRunSpec } from "@autoclint/api";
import { Value } from "@sinclair/typebox/value";

const ARCHIVE = /\.(tar|tar\.gz|tgz)$/i;
const AFFINITY_KEYS = new Set(["nodeAffinity", "podAffinity", "podAntiAffinity"]);
const RESERVED_RESOURCES = new Set(["cpu", "memory", "ephemeral-storage", "pods"]);

/** `/dataset/source/url` -> `dataset.source.url`. */
function fieldOf(path: string): string {
  return path.replace(/^\//, "").replaceAll("/", ".") || "spec";
}

/** Schema violations, one per field (a union reports several errors for one value). */
export function schemaProblems(spec: unknown): string[] {
  const byField = new Map<string, string>();
  for (const error of Value.Errors(AutoClintRunSpec, spec)) {
    const field = fieldOf(error.path);
    if (!byField.has(field)) byField.set(field, `${field}: ${error.message}`);
  }
  return [...byField.values()];
}

function urlPath(url: string): string | undefined {
  try {
    return new URL(url).pathname;
  } catch {
    return undefined;
  }
}

export function validateRunSpec(spec: AutoClintRunSpec): string[] {
  const schema = schemaProblems(spec);
  if (schema.length > 0) return schema; // the rules below assume the schema's shapes
  const problems: string[] = [];
  const { source } = spec.dataset;
  const format = spec.dataset.format ?? "autodl";
  if (source.url) {
    const path = urlPath(source.url);
    if (path === undefined) problems.push(`dataset.source.url: not a valid URL: ${JSON.stringify(source.url)}`);
    else if (!ARCHIVE.test(path)) problems.push(`dataset.source.url must name a .tar, .tar.gz or .tgz archive of the ${format} dataset folder`);
  }
  if (source.pvc && source.path && source.path.split("/").includes("..")) {
    problems.push("dataset.source.path must stay inside the claim (no ..)");
  }
  const weights = spec.model?.weights;
  if (weights && !/\.(safetensors|pth|pt)$/.test(weights)) problems.push("model.weights must be a .safetensors, .pth or .pt file");
  if (weights && spec.engine === "tfjs" && !weights.endsWith(".safetensors")) problems.push("the tfjs engine reads safetensors weights only");
  const gpuName = spec.resources?.gpuResourceName;
  if (gpuName && RESERVED_RESOURCES.has(gpuName)) problems.push(`resources.gpuResourceName cannot be ${gpuName}`);
  for (const key of Object.keys(spec.scheduling?.affinity ?? {})) {
    if (!AFFINITY_KEYS.has(key)) problems.push(`scheduling.affinity.${key} is not a field of a pod's affinity`);
  }
  return problems;
}

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

/** Each rule reads one part of a schema-valid spec and names what is wrong with it. */
const SPEC_RULES: ((spec: AutoClintRunSpec) => string[])[] = [
  ({ dataset: { source, format = "autodl" } }) => {
    if (!source.url) return [];
    const path = urlPath(source.url);
    if (path === undefined) return [`dataset.source.url: not a valid URL: ${JSON.stringify(source.url)}`];
    return ARCHIVE.test(path) ? [] : [`dataset.source.url must name a .tar, .tar.gz or .tgz archive of the ${format} dataset folder`];
  },
  ({ dataset: { source } }) => (source.pvc && source.path?.split("/").includes("..") ? ["dataset.source.path must stay inside the claim (no ..)"] : []),
  ({ model, engine }) => {
    const weights = model?.weights;
    if (!weights) return [];
    const problems = /\.(safetensors|pth|pt)$/.test(weights) ? [] : ["model.weights must be a .safetensors, .pth or .pt file"];
    if (engine === "tfjs" && !weights.endsWith(".safetensors")) problems.push("the tfjs engine reads safetensors weights only");
    return problems;
  },
  ({ resources }) => (resources?.gpuResourceName && RESERVED_RESOURCES.has(resources.gpuResourceName) ? [`resources.gpuResourceName cannot be ${resources.gpuResourceName}`] : []),
  ({ scheduling }) => Object.keys(scheduling?.affinity ?? {}).filter((key) => !AFFINITY_KEYS.has(key)).map((key) => `scheduling.affinity.${key} is not a field of a pod's affinity`),
];

export function validateRunSpec(spec: AutoClintRunSpec): string[] {
  const schema = schemaProblems(spec);
  if (schema.length > 0) return schema; // the rules below assume the schema's shapes
  return SPEC_RULES.flatMap((rule) => rule(spec));
}

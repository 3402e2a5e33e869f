/**
 * TypeBox -> Kubernetes structural OpenAPI v3, and the CRD manifests built from it.
 *
 * TypeBox writes JSON Schema 2019-09; a CRD wants the structural subset of OpenAPI v3.0: every node
 * typed, no `additionalProperties: false`, boolean `exclusiveMinimum`, enums instead of `const`
 * unions, `nullable` instead of `| null`, and `anyOf` only in the int-or-string form. Tuples have
 * no structural form: a tuple of one type becomes an array of that type, a mixed one a fixed-length
 * array of free-form items (the API server cannot type CEL rules over those). Keys starting `x-kubernetes-` written on a TypeBox schema pass straight through, which
 * is how the CEL rules that span fields live beside the fields they check.
 */
import type { TSchema } from "@sinclair/typebox";
import { stringify } from "yaml";
import { AutoClintBenchmarkSpec, AutoClintBenchmarkStatus } from "./benchmark";
import { AutoClintPoolSpec, AutoClintPoolStatus } from "./pool";
import { OBJECT_NAME } from "./kube";
import { AutoClintRunSpec, AutoClintRunStatus, GROUP, MUTABLE_SPEC_FIELDS, VERSION } from "./run";

export type JsonSchemaProps = { [key: string]: unknown };

export class SchemaConversionError extends Error {
  override name = "SchemaConversionError";
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path || "/"}: ${detail}`);
  }
}

/** Keys copied as they are; everything else is either converted below or dropped (TypeBox-only). */
const KEPT_KEYS = [
  "description", "default", "format", "pattern", "minLength", "maxLength", "minimum", "maximum",
  "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties", "multipleOf",
] as const;

type Schema = { [key: string]: unknown };

function copyKept(schema: Schema, out: JsonSchemaProps): void {
  for (const key of KEPT_KEYS) if (schema[key] !== undefined) out[key] = schema[key];
  for (const [key, value] of Object.entries(schema)) if (key.startsWith("x-kubernetes-")) out[key] = value;
  // 2019-09 numeric exclusive bounds -> OpenAPI v3.0 boolean flags.
  if (typeof schema.exclusiveMinimum === "number") Object.assign(out, { minimum: schema.exclusiveMinimum, exclusiveMinimum: true });
  if (typeof schema.exclusiveMaximum === "number") Object.assign(out, { maximum: schema.exclusiveMaximum, exclusiveMaximum: true });
}

function literalType(value: unknown): string {
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function convertUnion(schema: Schema, path: string): JsonSchemaProps {
  const variants = schema.anyOf as Schema[];
  const out: JsonSchemaProps = {};
  if (variants.every((v) => "const" in v)) {
    const types = new Set(variants.map((v) => literalType(v.const)));
    if (types.size !== 1) throw new SchemaConversionError(path, "a union of literals must share one type");
    out.type = [...types][0];
    out.enum = variants.map((v) => v.const);
  } else if (schema["x-kubernetes-int-or-string"] === true) {
    const types = variants.map((v) => v.type).sort();
    if (types.join() !== "integer,string") throw new SchemaConversionError(path, "int-or-string must be Integer | String");
    out.anyOf = [{ type: "integer" }, { type: "string" }];
    for (const v of variants) copyKept({ ...v, description: undefined }, out);
  } else {
    const nonNull = variants.filter((v) => v.type !== "null");
    if (nonNull.length !== 1 || nonNull.length === variants.length) throw new SchemaConversionError(path, "unions must be literals, T | null or int-or-string");
    Object.assign(out, toStructural(nonNull[0] as TSchema, path), { nullable: true });
  }
  copyKept(schema, out);
  return out;
}

function convertTuple(schema: Schema, path: string): JsonSchemaProps {
  const items = (schema.items as Schema[]).map((item, i) => toStructural(item as TSchema, `${path}/${i}`));
  const out: JsonSchemaProps = { type: "array", minItems: items.length, maxItems: items.length };
  const first = JSON.stringify(items[0]);
  if (items.every((item) => JSON.stringify(item) === first)) {
    out.items = items[0];
  } else {
    // Mixed positions have no structural form, and the API server cannot type CEL rules over
    // free-form items ("unable to convert structural schema to CEL declarations"): the items stay
    // free-form, the length is checked, and the description says what each position holds.
    out.items = { "x-kubernetes-preserve-unknown-fields": true };
    out.description = `[${items.map(describeItem).join(", ")}]`;
  }
  copyKept({ ...schema, minItems: undefined, maxItems: undefined }, out);
  return out;
}

function describeItem(item: JsonSchemaProps): string {
  const name = typeof item.description === "string" ? `${item.description}: ` : "";
  const bounds = typeof item.minimum === "number" ? ` in [${String(item.minimum)}, ${String(item.maximum)}]` : "";
  return Array.isArray(item.enum) ? `${name}one of ${item.enum.join("|")}` : `${name}${String(item.type)}${bounds}`;
}

function convertObject(schema: Schema, path: string): JsonSchemaProps {
  const out: JsonSchemaProps = { type: "object" };
  const properties = schema.properties as Record<string, Schema> | undefined;
  if (properties) {
    out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, toStructural(v as TSchema, `${path}/${k}`)]));
  }
  const required = schema.required as string[] | undefined;
  if (required && required.length > 0) out.required = required;
  const patternProperties = schema.patternProperties as Record<string, Schema> | undefined;
  const valueSchema = patternProperties ? Object.values(patternProperties)[0] : undefined;
  // A map whose values are free-form is itself free-form (an object that keeps unknown fields).
  if (valueSchema && schema["x-kubernetes-preserve-unknown-fields"] !== true) out.additionalProperties = toStructural(valueSchema as TSchema, `${path}/*`);
  copyKept(schema, out);
  return out;
}

/** Converts one TypeBox schema to a structural OpenAPI v3 schema. */
export function toStructural(typeboxSchema: TSchema, path = ""): JsonSchemaProps {
  const schema = typeboxSchema as unknown as Schema;
  if (Array.isArray(schema.anyOf)) return convertUnion(schema, path);
  if ("const" in schema) {
    const out: JsonSchemaProps = { type: literalType(schema.const), enum: [schema.const] };
    copyKept(schema, out);
    return out;
  }
  switch (schema.type) {
    case "object":
      return convertObject(schema, path);
    case "array": {
      if (Array.isArray(schema.items)) return convertTuple(schema, path);
      const out: JsonSchemaProps = { type: "array", items: toStructural(schema.items as TSchema, `${path}/items`) };
      copyKept(schema, out);
      return out;
    }
    case "string":
    case "number":
    case "integer":
    case "boolean": {
      const out: JsonSchemaProps = { type: schema.type };
      copyKept(schema, out);
      return out;
    }
    case undefined: {
      // Unknown / Any: free-form.
      const out: JsonSchemaProps = { "x-kubernetes-preserve-unknown-fields": true };
      copyKept(schema, out);
      return out;
    }
    default:
      throw new SchemaConversionError(path, `type ${String(schema.type)} has no structural form`);
  }
}

interface CrdDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: TSchema;
  status: TSchema;
  printerColumns: JsonSchemaProps[];
  /** CEL rules on the whole spec (e.g. transition rules that compare with oldSelf). */
  specRules?: JsonSchemaProps[];
}

/**
 * CEL transition rules that make every spec field immutable except `mutable`: a changed, added or
 * removed field is refused, naming the field. One rule per field, so the message names it and the
 * API server's cost estimate stays per field.
 */
export function immutableSpecRules(spec: TSchema, mutable: readonly string[]): JsonSchemaProps[] {
  const properties = (spec as unknown as { properties: Record<string, unknown>; required?: string[] }).properties;
  const required = new Set((spec as unknown as { required?: string[] }).required ?? []);
  return Object.keys(properties)
    .filter((field) => !mutable.includes(field))
    .map((field) => ({
      rule: required.has(field)
        ? `self.${field} == oldSelf.${field}`
        : `has(self.${field}) == has(oldSelf.${field}) && (!has(self.${field}) || self.${field} == oldSelf.${field})`,
      message: `spec.${field} is immutable: create a new run to change it (only ${mutable.map((m) => `spec.${m}`).join(", ")} may change)`,
      fieldPath: `.${field}`,
      reason: "FieldValueForbidden",
    }));
}

const ageColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

/** Every kind is named by a DNS label (OBJECT_NAME): others are refused by the API server with a message naming metadata.name. */
const OBJECT_NAME_RULE = {
  rule: `self.metadata.name.matches('${OBJECT_NAME.pattern}')`,
  message: "metadata.name must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit (no dots: the name becomes part of the names of the objects the operator creates, and of NATS subjects)",
  fieldPath: ".metadata.name",
};

export const RUN_CRD: CrdDefinition = {
  kind: "AutoClintRun",
  plural: "autoclintruns",
  singular: "autoclintrun",
  shortNames: ["acr"],
  description: "One AutoCLINT training run: a dataset, a time budget and a GPU; its status carries the learning curve and ALC.",
  spec: AutoClintRunSpec,
  status: AutoClintRunStatus,
  specRules: [
    ...immutableSpecRules(AutoClintRunSpec, MUTABLE_SPEC_FIELDS),
    { rule: "!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)", message: "spec.cancel cannot be set back to false", fieldPath: ".cancel" },
  ],
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "ALC", type: "number", format: "float", jsonPath: ".status.alc" },
    { name: "NAUC", type: "number", format: "float", jsonPath: ".status.nauc" },
    { name: "Attempts", type: "integer", jsonPath: ".status.attempts", priority: 1 },
    { name: "GPU-Wait", type: "number", jsonPath: ".status.gpuWaitSeconds", priority: 1 },
    { name: "Message", type: "string", jsonPath: ".status.message", priority: 1 },
    ageColumn,
  ],
};

export const BENCHMARK_CRD: CrdDefinition = {
  kind: "AutoClintBenchmark",
  plural: "autoclintbenchmarks",
  singular: "autoclintbenchmark",
  shortNames: ["acb"],
  description: "A matrix of datasets x variants x seeds run as AutoClintRuns, ranked in status the way the AutoDL challenge ranked (average rank by ALC over datasets).",
  spec: AutoClintBenchmarkSpec,
  status: AutoClintBenchmarkStatus,
  printerColumns: [
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Finished", type: "integer", jsonPath: ".status.finished" },
    { name: "Failed", type: "integer", jsonPath: ".status.failed" },
    { name: "Total", type: "integer", jsonPath: ".status.total" },
    { name: "Leader", description: "Variant with the best average rank", type: "string", jsonPath: ".status.leader" },
    { name: "ALC", description: "Best mean ALC of a variant on a dataset", type: "number", format: "float", jsonPath: ".status.bestAlc" },
    ageColumn,
  ],
};

export const POOL_CRD: CrdDefinition = {
  kind: "AutoClintPool",
  plural: "autoclintpools",
  singular: "autoclintpool",
  shortNames: ["acp"],
  description: "Warm trainer pods of one class (GPU, image, engine) in standby; each serves one AutoClintRun and exits. Scales to zero when idle.",
  spec: AutoClintPoolSpec,
  status: AutoClintPoolStatus,
  printerColumns: [
    { name: "Ready", type: "integer", jsonPath: ".status.ready" },
    { name: "Starting", type: "integer", jsonPath: ".status.starting" },
    { name: "Claimed", type: "integer", jsonPath: ".status.claimed" },
    { name: "Min", type: "integer", jsonPath: ".spec.minWarm" },
    { name: "Max", type: "integer", jsonPath: ".spec.maxWarm" },
    { name: "Last-Claim", type: "date", jsonPath: ".status.lastClaimTime", priority: 1 },
    ageColumn,
  ],
};

function withRules(schema: JsonSchemaProps, rules: JsonSchemaProps[] | undefined): JsonSchemaProps {
  if (!rules || rules.length === 0) return schema;
  const existing = (schema["x-kubernetes-validations"] as JsonSchemaProps[] | undefined) ?? [];
  return { ...schema, "x-kubernetes-validations": [...existing, ...rules] };
}

export function buildCrd(def: CrdDefinition): JsonSchemaProps {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${def.plural}.${GROUP}`, labels: { "app.kubernetes.io/part-of": "autoclint" } },
    spec: {
      group: GROUP,
      names: { kind: def.kind, listKind: `${def.kind}List`, plural: def.plural, singular: def.singular, shortNames: def.shortNames, categories: ["autoclint"] },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns,
          schema: {
            openAPIV3Schema: {
              description: def.description,
              type: "object",
              required: ["spec"],
              "x-kubernetes-validations": [OBJECT_NAME_RULE],
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object", properties: { name: { type: "string", maxLength: OBJECT_NAME.maxLength } } },
                spec: withRules(toStructural(def.spec, "/spec"), def.specRules),
                status: toStructural(def.status, "/status"),
              },
            },
          },
        },
      ],
    },
  };
}

const HEADER = "# Generated by `make crds` (api/src/generate-crds.ts) from the TypeBox schemas in api/src. Do not edit.\n";

/** File name -> manifest text, for every CRD. */
export function renderCrds(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const def of [RUN_CRD, BENCHMARK_CRD, POOL_CRD]) {
    out[`${GROUP}_${def.plural}.yaml`] = HEADER + stringify(buildCrd(def), { lineWidth: 0 });
  }
  return out;
}


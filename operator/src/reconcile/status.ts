/**
 * Status writes through the status subresource as merge patches: each writer (the run reconciler,
 * the event consumer, the benchmark reconciler) sends only the fields it owns, so writers of
 * disjoint fields never conflict and no write needs a read first.
 */
import { KubeApiError } from "../errors";

interface WithStatus<S> {
  metadata: { name: string; namespace?: string };
  status?: S;
}

/** A store whose status is merge-patched: each writer sends only the fields it owns. */
export interface StatusPatcher<T> {
  get(namespace: string, name: string): Promise<T | undefined>;
  /** Merge-patches status on the object with this uid; throws KubeApiError (404 gone, 409 another object now has the name). */
  patchStatus(namespace: string, name: string, uid: string, status: Record<string, unknown>): Promise<T>;
}

/**
 * Writes `fields` (a writer's own status fields; undefined ones are removed) unless the stored
 * status already has them. No read-modify-write and so no conflicts between writers of disjoint
 * fields. Returns the stored object, or undefined when the object with that uid no longer exists.
 */
export async function patchOwnedStatus<T extends WithStatus<object> & { metadata: { uid?: string } }>(
  store: StatusPatcher<T>,
  current: T,
  fields: Record<string, unknown>,
): Promise<T | undefined> {
  const { namespace = "", name, uid = "" } = current.metadata;
  const stored = (current.status ?? {}) as Record<string, unknown>;
  const changed = Object.entries(fields).filter(([key, value]) => !sameJson(stored[key], value));
  if (changed.length === 0) return current;
  try {
    return await store.patchStatus(namespace, name, uid, Object.fromEntries(changed.map(([key, value]) => [key, value ?? null])));
  } catch (error) {
    if (error instanceof KubeApiError && (error.notFound || error.conflict)) return undefined;
    throw error;
  }
}

/** Deep equality of JSON values, ignoring undefined object fields. */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

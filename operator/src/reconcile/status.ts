/**
 * Status writes through the status subresource with optimistic concurrency: read, apply the
 * change, replace with the read's resourceVersion; on 409 read again and re-apply. Both writers
 * (the reconciler and the event consumer) go through here and each touches only its own fields.
 */
import { KubeApiError, StatusConflictError } from "../errors";

export interface StatusStore<T> {
  get(namespace: string, name: string): Promise<T | undefined>;
  replaceStatus(object: T): Promise<T>;
}

interface WithStatus<S> {
  metadata: { name: string; namespace?: string };
  status?: S;
}

export const STATUS_WRITE_TRIES = 5;

/**
 * `mutate` returns the new status, or undefined when there is nothing to write. Returns the stored
 * object, or undefined when it no longer exists.
 */
export async function updateStatus<S, T extends WithStatus<S>>(
  store: StatusStore<T>,
  namespace: string,
  name: string,
  mutate: (current: T) => S | undefined,
  first?: T,
): Promise<T | undefined> {
  let current = first;
  for (let attempt = 1; attempt <= STATUS_WRITE_TRIES; attempt++) {
    current ??= await store.get(namespace, name);
    if (!current) return undefined;
    const next = mutate(current);
    if (next === undefined) return current;
    try {
      return await store.replaceStatus({ ...current, status: next });
    } catch (error) {
      if (error instanceof KubeApiError && error.notFound) return undefined;
      if (!(error instanceof KubeApiError && error.conflict)) throw error;
      current = undefined; // someone else wrote: read again and re-apply
    }
  }
  throw new StatusConflictError(`${namespace}/${name}`, STATUS_WRITE_TRIES);
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

/**
 * Read-your-own-writes over an informer cache. After a status write the cache still holds the
 * version the write was based on until the watch delivers the new one; a reconcile in between
 * (the Job it just created enqueues the run) would see the old status and write the same change
 * again. So the object a write returned is kept, and served instead of the cached one for as long
 * as the cache still shows a version older than it: the one cached when the write was made, or
 * one our earlier writes made (a reconcile that patches finalizers and then status leaves the
 * cache to pass through the finalizer patch's version before it reaches the status write's).
 * Once the cache shows anything else (our write or anything later) it is the truth again and
 * the kept object goes.
 */
import type { KubeObject } from "./informer";

export class OwnWrites<T extends KubeObject> {
  /** By key: the object our last write returned, and the versions known to be older than it. */
  private readonly written = new Map<string, { older: Set<string | undefined>; object: T }>();

  constructor(private readonly cached: (namespace: string, name: string) => T | undefined) {}

  get(namespace: string, name: string): T | undefined {
    const key = `${namespace}/${name}`;
    const current = this.cached(namespace, name);
    const kept = this.written.get(key);
    if (!kept) return current;
    if (current && kept.older.has(current.metadata?.resourceVersion) && current.metadata?.uid === kept.object.metadata?.uid) return kept.object;
    this.written.delete(key);
    return current;
  }

  /** Makes a write and keeps what it returned. */
  async write(namespace: string, name: string, call: () => Promise<T>): Promise<T> {
    const key = `${namespace}/${name}`;
    const older = new Set([this.cached(namespace, name)?.metadata?.resourceVersion]);
    const kept = this.written.get(key);
    if (kept && this.get(namespace, name) === kept.object) {
      // Still ahead of the cache: what it was ahead of, and it, are older than this write's result.
      for (const version of kept.older) older.add(version);
      older.add(kept.object.metadata?.resourceVersion);
    }
    const object = await call();
    this.written.set(key, { older, object });
    return object;
  }
}

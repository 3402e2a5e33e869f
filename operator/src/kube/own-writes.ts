/**
 * Read-your-own-writes over an informer cache. After a status write the cache still holds the
 * version the write was based on until the watch delivers the new one; a reconcile in between
 * (the Job it just created enqueues the run) would see the old status and write the same change
 * again. So the object a write returned is kept, and served instead of the cached one for as long
 * as the cache still shows the version that was cached when the write was made. Once the cache
 * moves on (to our write or anything later) it is the truth again and the kept object goes.
 */
import type { KubeObject } from "./informer";

export class OwnWrites<T extends KubeObject> {
  private readonly written = new Map<string, { basedOn: string | undefined; object: T }>();

  constructor(private readonly cached: (namespace: string, name: string) => T | undefined) {}

  get(namespace: string, name: string): T | undefined {
    const key = `${namespace}/${name}`;
    const current = this.cached(namespace, name);
    const kept = this.written.get(key);
    if (!kept) return current;
    if (current && current.metadata?.resourceVersion === kept.basedOn && current.metadata?.uid === kept.object.metadata?.uid) return kept.object;
    this.written.delete(key);
    return current;
  }

  /** Makes a write and keeps what it returned. */
  async write(namespace: string, name: string, call: () => Promise<T>): Promise<T> {
    const basedOn = this.cached(namespace, name)?.metadata?.resourceVersion;
    const object = await call();
    this.written.set(`${namespace}/${name}`, { basedOn, object });
    return object;
  }
}

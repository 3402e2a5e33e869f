/**
 * The last state of objects the API server deleted, kept for a while. A trainer pod that is
 * evicted or whose node is lost is often gone (its finalizer removed, the object deleted) before a
 * reconcile looks at its Job; the watch's DELETED event carried the pod's final state, with the
 * DisruptionTarget condition that says why. Bounded by age and count; lost on restart, which is
 * why the reconciler also records a cause in status as soon as it sees one.
 */
import type { KubeObject } from "./informer";

export interface TombstoneOptions {
  ttlMs: number;
  max: number;
  /** Which group (e.g. a run uid) an object belongs to; objects without one are not kept. */
  groupOf(object: KubeObject): string | undefined;
  now?: () => number;
}

export class Tombstones<T extends KubeObject> {
  /** Insertion order is deletion order: the oldest entries are first. */
  private readonly entries = new Map<string, { object: T; group: string; at: number }>();
  private readonly now: () => number;

  constructor(private readonly options: TombstoneOptions) {
    this.now = options.now ?? Date.now;
  }

  remember(object: T): void {
    const group = this.options.groupOf(object);
    const uid = object.metadata?.uid;
    if (!group || !uid) return;
    this.entries.delete(uid);
    this.entries.set(uid, { object, group, at: this.now() });
    this.expire();
  }

  /** The remembered objects of one group, oldest first. */
  of(group: string): T[] {
    this.expire();
    return [...this.entries.values()].filter((e) => e.group === group).map((e) => e.object);
  }

  get size(): number {
    return this.entries.size;
  }

  private expire(): void {
    const oldest = this.now() - this.options.ttlMs;
    for (const [uid, entry] of this.entries) {
      if (entry.at >= oldest && this.entries.size <= this.options.max) break;
      this.entries.delete(uid);
    }
  }
}

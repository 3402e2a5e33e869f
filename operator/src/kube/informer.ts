/**
 * List + watch with a local cache, in the manner of client-go's reflector: list, then watch from
 * the list's resourceVersion; on a dropped watch reconnect from the last version seen (with
 * backoff); on 410 Gone (the version was compacted away) list again. A resync timer re-delivers
 * every cached object so that a missed event cannot leave an object unreconciled for long.
 * Handlers must not block: they only enqueue keys.
 */
import type { Logger } from "../log";
import { backoffDelayMs, type BackoffPolicy } from "../controller/queue";

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string; labels?: Record<string, string> };
}

export interface ObjectList<T> {
  items: T[];
  resourceVersion: string;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchHandle {
  abort(): void;
}

/** Where objects come from: the Kubernetes API in production, plain functions in tests. */
export interface ListWatchSource<T extends KubeObject> {
  list(): Promise<ObjectList<T>>;
  /** Starts a watch; `onDone` is called once when it ends (null: closed by the server). */
  watch(resourceVersion: string, onEvent: (type: WatchEventType, object: unknown) => void, onDone: (error: unknown) => void): Promise<WatchHandle>;
}

export interface InformerHandlers<T> {
  /** Added, updated, or re-delivered on resync; `previous` is the cached version it replaces (the same object on resync). */
  onUpsert(object: T, previous?: T): void;
  onDelete(object: T): void;
}

export interface InformerOptions<T = KubeObject> {
  name: string;
  resyncMs: number;
  reconnect: BackoffPolicy;
  log: Logger;
  /** An index of the cache (e.g. by owner): `byIndex(value)` lists the objects whose value it is. */
  indexBy?: (object: T) => string | undefined;
}

/** 410 Gone, as an ERROR watch event's Status or as an HTTP status. */
export function isGone(value: unknown): boolean {
  const v = value as { code?: number; statusCode?: number } | null | undefined;
  return v?.code === 410 || v?.statusCode === 410;
}

export function cacheKey(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ""}/${object.metadata?.name ?? ""}`;
}

type WatchEnd = "gone" | "closed" | "failed";

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly index = new Map<string, Set<string>>();
  private resourceVersion = "";
  private stopped = false;
  private synced = false;
  private failures = 0;
  private handle: WatchHandle | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly source: ListWatchSource<T>,
    private readonly handlers: InformerHandlers<T>,
    private readonly options: InformerOptions<T>,
  ) {}

  get hasSynced(): boolean {
    return this.synced;
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  /** Cached objects whose `indexBy` value is `value`. */
  byIndex(value: string): T[] {
    return [...(this.index.get(value) ?? [])].map((key) => this.cache.get(key)).filter((o): o is T => o !== undefined);
  }

  private put(key: string, object: T): T | undefined {
    const previous = this.cache.get(key);
    if (previous) this.unindex(key, previous);
    this.cache.set(key, object);
    const value = this.options.indexBy?.(object);
    if (value !== undefined) {
      let keys = this.index.get(value);
      if (!keys) this.index.set(value, (keys = new Set()));
      keys.add(key);
    }
    return previous;
  }

  private remove(key: string): void {
    const previous = this.cache.get(key);
    if (previous) this.unindex(key, previous);
    this.cache.delete(key);
  }

  private unindex(key: string, object: T): void {
    const value = this.options.indexBy?.(object);
    if (value === undefined) return;
    const keys = this.index.get(value);
    keys?.delete(key);
    if (keys?.size === 0) this.index.delete(value);
  }

  start(): void {
    this.loop = this.run();
    this.resyncTimer = setInterval(() => {
      for (const object of this.cache.values()) this.handlers.onUpsert(object, object);
    }, this.options.resyncMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    this.handle?.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.relist();
        let end: WatchEnd;
        do end = await this.watchOnce();
        while (!this.stopped && end !== "gone");
        if (end === "gone") this.options.log.info("watch expired (410 Gone): listing again", { informer: this.options.name });
      } catch (error) {
        this.failures++;
        this.options.log.warn("list failed", { informer: this.options.name, error, failures: this.failures });
        await this.sleep(backoffDelayMs(this.failures, this.options.reconnect));
      }
    }
  }

  /** Replaces the cache with a fresh list, delivering adds, updates and the deletes the watch missed. */
  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.source.list();
    const seen = new Set<string>();
    for (const item of items) {
      const key = cacheKey(item);
      seen.add(key);
      const previous = this.put(key, item);
      this.handlers.onUpsert(item, previous);
    }
    for (const [key, object] of this.cache) {
      if (seen.has(key)) continue;
      this.remove(key);
      this.handlers.onDelete(object);
    }
    this.resourceVersion = resourceVersion;
    this.synced = true;
    this.failures = 0;
  }

  private handleEvent(type: WatchEventType, object: unknown, markGone: () => void): void {
    if (type === "ERROR") {
      if (isGone(object)) markGone();
      return;
    }
    const item = object as T;
    const version = item.metadata?.resourceVersion;
    if (version) this.resourceVersion = version;
    if (type === "BOOKMARK") return;
    const key = cacheKey(item);
    if (type === "DELETED") {
      this.remove(key);
      this.handlers.onDelete(item);
    } else {
      const previous = this.put(key, item);
      this.handlers.onUpsert(item, previous);
    }
  }

  /** One watch connection, from the last version seen until it ends. */
  private async watchOnce(): Promise<WatchEnd> {
    let gone = false;
    const ended = new Promise<unknown>((resolve) => {
      this.wake = () => resolve(null);
      this.source
        .watch(this.resourceVersion, (type, object) => this.handleEvent(type, object, () => {
          gone = true;
          this.handle?.abort();
        }), resolve)
        .then((handle) => {
          this.handle = handle;
          if (this.stopped || gone) handle.abort();
        })
        .catch(resolve);
    });
    const error = await ended;
    this.handle = undefined;
    if (gone || isGone(error)) return "gone";
    if (this.stopped) return "closed"; // our own abort
    if (error) {
      this.failures++;
      this.options.log.warn("watch failed: reconnecting", { informer: this.options.name, error, failures: this.failures });
      await this.sleep(backoffDelayMs(this.failures, this.options.reconnect));
      return "failed";
    }
    this.failures = 0;
    return "closed";
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

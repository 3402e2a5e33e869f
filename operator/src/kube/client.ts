/**
 * The Kubernetes calls the operator makes, in one place: typed wrappers over
 * @kubernetes/client-node (v1, promise-based object-parameter API) that turn its ApiException into
 * a KubeApiError with the HTTP code and the Status reason, and list/watch sources for informers.
 */
import {
  BatchV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, Watch, setHeaderOptions,
  type CoreV1Event, type V1ConfigMap, type V1Job, type V1Pod, type V1Secret,
} from "@kubernetes/client-node";
import { GROUP, VERSION, type AutoClintBenchmark, type AutoClintPool, type AutoClintRun } from "@autoclint/api";
import { KubeApiError } from "../errors";
import type { KubeObject, ListWatchSource, ObjectList, WatchEventType } from "./informer";

export interface CustomResource {
  kind: string;
  plural: string;
}
export const RUN_RESOURCE: CustomResource = { kind: "AutoClintRun", plural: "autoclintruns" };
export const BENCHMARK_RESOURCE: CustomResource = { kind: "AutoClintBenchmark", plural: "autoclintbenchmarks" };
export const POOL_RESOURCE: CustomResource = { kind: "AutoClintPool", plural: "autoclintpools" };

export interface Kube {
  config: KubeConfig;
  custom: CustomObjectsApi;
  batch: BatchV1Api;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  watch: Watch;
}

export function connectKube(config: KubeConfig): Kube {
  return {
    config,
    custom: config.makeApiClient(CustomObjectsApi),
    batch: config.makeApiClient(BatchV1Api),
    core: config.makeApiClient(CoreV1Api),
    coordination: config.makeApiClient(CoordinationV1Api),
    watch: new Watch(config),
  };
}

/** Reads `code` and the Status reason/message out of whatever the client threw. */
export function toKubeApiError(operation: string, error: unknown): KubeApiError {
  if (error instanceof KubeApiError) return error;
  const e = error as { code?: number; statusCode?: number; body?: unknown; message?: string };
  let body = e.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      // a plain-text body: keep it as the message
    }
  }
  const status = (typeof body === "object" && body !== null ? body : {}) as { reason?: string; message?: string };
  const message = status.message ?? (typeof body === "string" ? body : (e.message ?? String(error)));
  return new KubeApiError(operation, e.code ?? e.statusCode ?? 0, status.reason ?? "", message, { cause: error });
}

export async function kubeCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toKubeApiError(operation, error);
  }
}

/** `undefined` instead of a 404. */
export async function orUndefinedIfNotFound<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof KubeApiError && error.notFound) return undefined;
    throw error;
  }
}

type CustomObject = AutoClintRun | AutoClintBenchmark | AutoClintPool;

export class KubeResources {
  constructor(
    readonly kube: Kube,
    /** Called before every write; throws (NotLeaderError) when this replica may not write now. */
    private readonly fence: () => void = () => undefined,
    /** Field manager recorded on every write. */
    private readonly fieldManager = "autoclint-operator",
  ) {}

  /** A write: fenced by leadership, then made. */
  private write<T>(operation: string, call: () => Promise<T>): Promise<T> {
    return kubeCall(operation, () => {
      this.fence();
      return call();
    });
  }

  getCustom<T extends CustomObject>(resource: CustomResource, namespace: string, name: string): Promise<T | undefined> {
    return orUndefinedIfNotFound(
      kubeCall(`get ${resource.kind} ${namespace}/${name}`, () =>
        this.kube.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: resource.plural, name }) as Promise<T>,
      ),
    );
  }

  /**
   * Merge-patches status through the status subresource. `uid` in the body is a precondition: a
   * new object under the same name fails with 409 instead of receiving the old one's status.
   * `null` removes a field.
   */
  patchCustomStatus<T extends CustomObject>(resource: CustomResource, namespace: string, name: string, uid: string, status: Record<string, unknown>): Promise<T> {
    return this.write(`patch ${resource.kind} ${namespace}/${name} status`, () =>
      this.kube.custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace, plural: resource.plural, name, body: { metadata: { uid }, status }, fieldManager: this.fieldManager },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ) as Promise<T>,
    );
  }

  /**
   * Replaces an object's finalizers by merge patch. uid and resourceVersion are preconditions: a
   * list changed meanwhile (another controller's finalizer) fails with 409 and is read again.
   */
  setCustomFinalizers(resource: CustomResource, object: CustomObject, finalizers: string[]): Promise<unknown> {
    const { namespace = "", name, uid, resourceVersion } = object.metadata;
    return this.write(`patch ${resource.kind} ${namespace}/${name} finalizers`, () =>
      this.kube.custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace, plural: resource.plural, name, body: { metadata: { uid, resourceVersion, finalizers } }, fieldManager: this.fieldManager },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      ),
    );
  }

  createCustom<T extends CustomObject>(resource: CustomResource, object: T): Promise<T> {
    const { namespace = "", name } = object.metadata;
    return this.write(`create ${resource.kind} ${namespace}/${name}`, () =>
      this.kube.custom.createNamespacedCustomObject({
        group: GROUP, version: VERSION, namespace, plural: resource.plural, body: object, fieldManager: this.fieldManager,
      }) as Promise<T>,
    );
  }

  createJob(job: V1Job): Promise<V1Job> {
    const namespace = job.metadata?.namespace ?? "";
    return this.write(`create job ${namespace}/${job.metadata?.name ?? ""}`, () =>
      this.kube.batch.createNamespacedJob({ namespace, body: job, fieldManager: this.fieldManager }),
    );
  }

  getJob(namespace: string, name: string): Promise<V1Job | undefined> {
    return orUndefinedIfNotFound(kubeCall(`get job ${namespace}/${name}`, () => this.kube.batch.readNamespacedJob({ namespace, name })));
  }

  /** Deletes a Job; its pods follow in the background (garbage collection). A Job already gone is no error. */
  async deleteJob(namespace: string, name: string): Promise<void> {
    await orUndefinedIfNotFound(
      this.write(`delete job ${namespace}/${name}`, () => this.kube.batch.deleteNamespacedJob({ namespace, name, propagationPolicy: "Background" })),
    );
  }

  /** Creates a Secret (an attempt's manifest and credential); AlreadyExists is the caller's to judge. */
  createSecret(secret: V1Secret): Promise<V1Secret> {
    const namespace = secret.metadata?.namespace ?? "";
    return this.write(`create secret ${namespace}/${secret.metadata?.name ?? ""}`, () => this.kube.core.createNamespacedSecret({ namespace, body: secret, fieldManager: this.fieldManager }));
  }

  getSecret(namespace: string, name: string): Promise<V1Secret> {
    return kubeCall(`get secret ${namespace}/${name}`, () => this.kube.core.readNamespacedSecret({ namespace, name }));
  }

  /** JSON merge patch; a metadata.resourceVersion in it makes a stale patch fail with 409. */
  patchSecret(namespace: string, name: string, patch: Record<string, unknown>): Promise<V1Secret> {
    return this.write(`patch secret ${namespace}/${name}`, () =>
      this.kube.core.patchNamespacedSecret({ namespace, name, body: patch, fieldManager: this.fieldManager }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch)),
    );
  }

  getConfigMap(namespace: string, name: string): Promise<V1ConfigMap> {
    return kubeCall(`get configmap ${namespace}/${name}`, () => this.kube.core.readNamespacedConfigMap({ namespace, name }));
  }

  /** JSON merge patch; a metadata.resourceVersion in it makes a stale patch fail with 409. */
  patchConfigMap(namespace: string, name: string, patch: Record<string, unknown>): Promise<V1ConfigMap> {
    return this.write(`patch configmap ${namespace}/${name}`, () =>
      this.kube.core.patchNamespacedConfigMap({ namespace, name, body: patch, fieldManager: this.fieldManager }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch)),
    );
  }

  createPod(pod: V1Pod): Promise<V1Pod> {
    const namespace = pod.metadata?.namespace ?? "";
    return this.write(`create pod in ${namespace}`, () => this.kube.core.createNamespacedPod({ namespace, body: pod, fieldManager: this.fieldManager }));
  }

  /** JSON merge patch; a metadata.resourceVersion in it makes a stale patch fail with 409. */
  patchPod(namespace: string, name: string, patch: Record<string, unknown>): Promise<V1Pod> {
    return this.write(`patch pod ${namespace}/${name}`, () =>
      this.kube.core.patchNamespacedPod({ namespace, name, body: patch, fieldManager: this.fieldManager }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch)),
    );
  }

  /**
   * Deletes a pod; with a resourceVersion, only if it still has it (409 otherwise, e.g. a run
   * claimed it meanwhile). Gone already, or changed, is no error: the caller looks again.
   */
  async deletePod(namespace: string, name: string, resourceVersion?: string): Promise<void> {
    try {
      await this.write(`delete pod ${namespace}/${name}`, () =>
        this.kube.core.deleteNamespacedPod({ namespace, name, body: resourceVersion ? { preconditions: { resourceVersion } } : {} }),
      );
    } catch (error) {
      if (error instanceof KubeApiError && (error.notFound || error.conflict)) return;
      throw error;
    }
  }

  createEvent(event: CoreV1Event): Promise<CoreV1Event> {
    const namespace = event.metadata.namespace ?? "";
    return this.write(`create event in ${namespace}`, () => this.kube.core.createNamespacedEvent({ namespace, body: event }));
  }
}

interface ListResponse<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

/**
 * A list/watch source: `list` through the typed API (its resourceVersion starts the watch), the
 * watch over raw JSON. Handlers only read metadata, which has the same shape either way.
 */
export function listWatchSource<T extends KubeObject>(
  kube: Kube,
  options: { what: string; watchPath: string; list: () => Promise<ListResponse<T>>; labelSelector?: string; watchTimeoutSeconds?: number },
): ListWatchSource<T> {
  return {
    async list(): Promise<ObjectList<T>> {
      const response = await kubeCall(`list ${options.what}`, options.list);
      return { items: response.items, resourceVersion: response.metadata?.resourceVersion ?? "" };
    },
    watch(resourceVersion, onEvent, onDone) {
      return kube.watch.watch(
        options.watchPath,
        {
          resourceVersion,
          allowWatchBookmarks: true,
          labelSelector: options.labelSelector,
          // The server ends the watch after this long; the informer reconnects from the last version.
          timeoutSeconds: options.watchTimeoutSeconds ?? 300,
        },
        (type: string, object: unknown) => onEvent(type as WatchEventType, object),
        onDone,
      );
    },
  };
}

function scopedPath(apiPrefix: string, plural: string, namespace: string | undefined): string {
  return namespace ? `${apiPrefix}/namespaces/${namespace}/${plural}` : `${apiPrefix}/${plural}`;
}

/** Runs or benchmarks in one namespace, or in all when `namespace` is undefined. */
export function customSource<T extends CustomObject>(kube: Kube, resource: CustomResource, namespace?: string): ListWatchSource<T> {
  const base = { group: GROUP, version: VERSION, plural: resource.plural };
  return listWatchSource<T>(kube, {
    what: resource.plural,
    watchPath: scopedPath(`/apis/${GROUP}/${VERSION}`, resource.plural, namespace),
    list: () =>
      (namespace ? kube.custom.listNamespacedCustomObject({ ...base, namespace }) : kube.custom.listClusterCustomObject(base)) as Promise<ListResponse<T>>,
  });
}

export function jobSource(kube: Kube, labelSelector: string, namespace?: string): ListWatchSource<V1Job> {
  return listWatchSource<V1Job>(kube, {
    what: "jobs",
    labelSelector,
    watchPath: scopedPath("/apis/batch/v1", "jobs", namespace),
    list: () => (namespace ? kube.batch.listNamespacedJob({ namespace, labelSelector }) : kube.batch.listJobForAllNamespaces({ labelSelector })),
  });
}

export function podSource(kube: Kube, labelSelector: string, namespace?: string): ListWatchSource<V1Pod> {
  return listWatchSource<V1Pod>(kube, {
    what: "pods",
    labelSelector,
    watchPath: scopedPath("/api/v1", "pods", namespace),
    list: () => (namespace ? kube.core.listNamespacedPod({ namespace, labelSelector }) : kube.core.listPodForAllNamespaces({ labelSelector })),
  });
}

/**
 * Where the operator's NATS authority lives in a cluster: the chart renders an empty Secret (the
 * seeds, for the operator only) and an empty ConfigMap (the server's trust configuration, public
 * JWTs, mounted by the NATS pod); the first operator to lead fills both, and every later one reads
 * the seeds back. So `helm install` needs no manual step and no seed ever passes through Helm, the
 * release history or a values file. The NATS pod waits for the ConfigMap's key before it starts.
 *
 * Two operators starting at once cannot both create one: each write carries the resourceVersion it
 * read, and the loser reads the winner's seeds.
 */
import type { KubeResources } from "../kube/client";
import type { Logger } from "../log";
import { KubeApiError } from "../errors";
import { accountPublicKey, createNatsAuthority, natsServerAuthConfig, type NatsAuthority } from "./credentials";

/** The ConfigMap key the chart's NATS configuration includes. */
export const NATS_AUTH_CONFIG_KEY = "auth.conf";

const SEED_KEYS = ["operatorSeed", "systemAccountSeed", "accountSeed", "signingKeySeed"] as const;

/** The two objects, as plain string maps; writes carry the resourceVersion read (409 when stale). */
export interface AuthorityStore {
  readSeeds(): Promise<{ data: Record<string, string>; resourceVersion: string }>;
  writeSeeds(data: Record<string, string>, resourceVersion: string): Promise<void>;
  readServerConfig(): Promise<{ data: Record<string, string>; resourceVersion: string }>;
  writeServerConfig(data: Record<string, string>, resourceVersion: string): Promise<void>;
}

function complete(data: Record<string, string>): NatsAuthority | undefined {
  if (!SEED_KEYS.every((key) => data[key])) return undefined;
  return Object.fromEntries(SEED_KEYS.map((key) => [key, data[key]!])) as unknown as NatsAuthority;
}

const conflict = (error: unknown) => error instanceof KubeApiError && error.conflict;

/** The authority the Secret holds, created (and written there) when it holds none yet. */
async function seeds(store: AuthorityStore, log: Logger): Promise<NatsAuthority> {
  const read = await store.readSeeds();
  const existing = complete(read.data);
  if (existing) return existing;
  const fresh = createNatsAuthority();
  try {
    await store.writeSeeds({ ...fresh }, read.resourceVersion);
    log.info("created the NATS authority (account and signing keys)");
    return fresh;
  } catch (error) {
    if (!conflict(error)) throw error;
  }
  const winner = complete((await store.readSeeds()).data);
  if (!winner) throw new Error("the NATS authority Secret changed while it was being filled, and holds no complete authority: retrying");
  return winner;
}

/**
 * The operator's NATS authority, and a server configuration that trusts it. A configuration that
 * names another account (the Secret was emptied and the authority made anew) is rewritten; the
 * NATS pod reads it only when it starts, so it must then be restarted (the log says so).
 */
export async function ensureNatsAuthority(store: AuthorityStore, log: Logger): Promise<NatsAuthority> {
  const authority = await seeds(store, log);
  const config = await store.readServerConfig();
  if (!config.data[NATS_AUTH_CONFIG_KEY]?.includes(accountPublicKey(authority))) {
    const replacing = config.data[NATS_AUTH_CONFIG_KEY] !== undefined;
    await store.writeServerConfig({ [NATS_AUTH_CONFIG_KEY]: await natsServerAuthConfig(authority) }, config.resourceVersion);
    if (replacing) log.warn("rewrote the NATS server's trust configuration for a new authority: restart the NATS pod to load it");
    else log.info("wrote the NATS server's trust configuration");
  }
  return authority;
}

/** The store as the chart lays it out: both objects in the operator's namespace, named by its values. */
export function kubeAuthorityStore(resources: KubeResources, namespace: string, names: { secret: string; configMap: string }): AuthorityStore {
  const decode = (data: Record<string, string> = {}) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
  const encode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")]));
  return {
    async readSeeds() {
      const secret = await resources.getSecret(namespace, names.secret);
      return { data: decode(secret.data), resourceVersion: secret.metadata?.resourceVersion ?? "" };
    },
    async writeSeeds(data, resourceVersion) {
      await resources.patchSecret(namespace, names.secret, { metadata: { resourceVersion }, data: encode(data) });
    },
    async readServerConfig() {
      const configMap = await resources.getConfigMap(namespace, names.configMap);
      return { data: configMap.data ?? {}, resourceVersion: configMap.metadata?.resourceVersion ?? "" };
    },
    async writeServerConfig(data, resourceVersion) {
      await resources.patchConfigMap(namespace, names.configMap, { metadata: { resourceVersion }, data });
    },
  };
}

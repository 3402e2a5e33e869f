/**
 * Operator configuration: read once, in main, from the environment; everything below receives it
 * as a value.
 */
import { hostname } from "node:os";
import type { LogLevel } from "./log";
import { DEFAULT_TMP_SIZE_LIMIT, DEFAULT_TRAINER_REQUESTS, type TrainerImages } from "./reconcile/job";

export interface OperatorConfig {
  /** Namespace to watch; undefined watches all namespaces. */
  watchNamespace?: string;
  /** Where the leader Lease lives (the operator's own namespace). */
  leaseNamespace: string;
  leaseName: string;
  leaderElection: boolean;
  /** client-go's defaults: a candidate takes over after 15 s unchanged; a leader gives up 10 s after its last renewal. */
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  /** This replica's name in the Lease and on recorded Events. */
  identity: string;
  /** NATS as the operator reaches it. */
  natsUrl: string;
  /** NATS as trainer pods reach it (often the same). */
  trainerNatsUrl: string;
  durableConsumer: string;
  /**
   * NATS in JWT mode (the chart's default): where the authority's seeds (a Secret) and the server's
   * trust configuration (a ConfigMap) live, both in the operator's namespace (events/authority.ts).
   * Undefined: NATS without authentication, and trainers get no credential.
   */
  natsAuthority?: { namespace: string; secret: string; configMap: string };
  /** Store limits of the event stream: a backstop to purging deleted runs' events. */
  streamMaxAgeSeconds: number;
  streamMaxBytes: number;
  /** The default trainer image of each engine (AUTOCLINT_TRAINER_IMAGE for torch, AUTOCLINT_TRAINER_IMAGE_TFJS). */
  trainerImages: TrainerImages;
  trainerImagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  trainerRunAsUser: number;
  /** Seconds a trainer gets beyond its budget (start-up, data loading, the last prediction). */
  graceSeconds: number;
  /** CPU and memory requested for a trainer whose run names none. */
  trainerDefaultRequests: { cpu: string; memory: string };
  /** Size limit of a trainer's writable /tmp. */
  trainerTmpSizeLimit: string;
  httpPort: number;
  /**
   * Reconcile workers. At 1,000 runs applied at once, 2 left 999 runs waiting in the queue and
   * 16 kept the Jobs close behind the runs (bench/results/operator-scale-notes.md). The default
   * stays 2: with 16, the real-node warm-pool burst test once saw a pool make spares while a run
   * of its class waited, a race not yet found.
   */
  workers: number;
  resyncSeconds: number;
  activeRequeueSeconds: number;
  logLevel: LogLevel;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return value;
}

function natsAuthorityConfig(env: Env, namespace: string): OperatorConfig["natsAuthority"] {
  const secret = env.AUTOCLINT_NATS_AUTHORITY_SECRET || undefined;
  const configMap = env.AUTOCLINT_NATS_AUTH_CONFIGMAP || undefined;
  if ((secret === undefined) !== (configMap === undefined)) {
    throw new Error("AUTOCLINT_NATS_AUTHORITY_SECRET and AUTOCLINT_NATS_AUTH_CONFIGMAP go together (the chart sets both): set both for NATS in JWT mode, or neither");
  }
  return secret && configMap ? { namespace, secret, configMap } : undefined;
}

export function loadConfig(env: Env): OperatorConfig {
  const natsUrl = env.AUTOCLINT_NATS_URL ?? "nats://nats:4222";
  const pullPolicy = env.AUTOCLINT_TRAINER_IMAGE_PULL_POLICY;
  const config: OperatorConfig = {
    watchNamespace: env.AUTOCLINT_WATCH_NAMESPACE || undefined,
    leaseNamespace: env.AUTOCLINT_LEASE_NAMESPACE ?? env.POD_NAMESPACE ?? "autoclint-system",
    leaseName: env.AUTOCLINT_LEASE_NAME ?? "autoclint-operator",
    leaderElection: env.AUTOCLINT_LEADER_ELECTION !== "false",
    leaseDurationSeconds: integer(env, "AUTOCLINT_LEASE_DURATION_SECONDS", 15),
    renewDeadlineSeconds: integer(env, "AUTOCLINT_RENEW_DEADLINE_SECONDS", 10),
    retryPeriodSeconds: integer(env, "AUTOCLINT_RETRY_PERIOD_SECONDS", 2),
    identity: env.POD_NAME ?? `${hostname()}-${process.pid}`,
    natsUrl,
    trainerNatsUrl: env.AUTOCLINT_TRAINER_NATS_URL ?? natsUrl,
    durableConsumer: env.AUTOCLINT_DURABLE_CONSUMER ?? "autoclint-operator",
    streamMaxAgeSeconds: integer(env, "AUTOCLINT_STREAM_MAX_AGE_SECONDS", 7 * 86_400),
    streamMaxBytes: integer(env, "AUTOCLINT_STREAM_MAX_BYTES", 1024 ** 3),
    trainerImages: {
      torch: env.AUTOCLINT_TRAINER_IMAGE ?? "ghcr.io/autoclint/trainer-torch:0.1.0",
      tfjs: env.AUTOCLINT_TRAINER_IMAGE_TFJS ?? "ghcr.io/autoclint/trainer-tfjs:0.1.0",
    },
    trainerRunAsUser: integer(env, "AUTOCLINT_TRAINER_RUN_AS_USER", 10001),
    graceSeconds: integer(env, "AUTOCLINT_GRACE_SECONDS", 300),
    trainerDefaultRequests: {
      cpu: env.AUTOCLINT_TRAINER_DEFAULT_CPU_REQUEST || DEFAULT_TRAINER_REQUESTS.cpu,
      memory: env.AUTOCLINT_TRAINER_DEFAULT_MEMORY_REQUEST || DEFAULT_TRAINER_REQUESTS.memory,
    },
    trainerTmpSizeLimit: env.AUTOCLINT_TRAINER_TMP_SIZE_LIMIT || DEFAULT_TMP_SIZE_LIMIT,
    httpPort: integer(env, "AUTOCLINT_HTTP_PORT", 8080),
    workers: Math.max(1, integer(env, "AUTOCLINT_WORKERS", 2)),
    resyncSeconds: Math.max(1, integer(env, "AUTOCLINT_RESYNC_SECONDS", 300)),
    activeRequeueSeconds: Math.max(1, integer(env, "AUTOCLINT_ACTIVE_REQUEUE_SECONDS", 30)),
    logLevel: (env.AUTOCLINT_LOG_LEVEL as LogLevel | undefined) ?? "info",
  };
  const natsAuthority = natsAuthorityConfig(env, config.leaseNamespace);
  if (natsAuthority) config.natsAuthority = natsAuthority;
  if (pullPolicy === "Always" || pullPolicy === "IfNotPresent" || pullPolicy === "Never") config.trainerImagePullPolicy = pullPolicy;
  return config;
}

/**
 * NATS identities, decentralized JWT style (nats-server's operator mode): a NATS operator key signs
 * one account (AUTOCLINT) and a system account; the account lists a signing key, and whoever holds
 * that signing key (our Kubernetes operator) mints users. The server needs only public material
 * (the JWTs, see natsServerAuthConfig), never a seed.
 *
 * Two kinds of user:
 *  - a trainer credential, one per attempt of one run: it may publish only on that attempt's own
 *    event subjects (keyed by the run's uid), subscribe only to its own reply inbox (for JetStream's
 *    publish acks), never call `$JS.API` (so it cannot read, delete or purge the stream or the
 *    durable consumer) and expires at a fixed time;
 *  - the operator's own credential: the only one that may consume and manage the stream.
 *
 * Plain functions over seeds: the run reconciler and the warm-pool claim both call
 * issueTrainerCredential.
 */
import {
  createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds, fromSeed, Algorithms, type KeyPair,
} from "@nats-io/jwt";
import { attemptSubjects, trainerInboxPrefix } from "@autoclint/api";

/** The seeds that make up our NATS trust chain. Secret: whoever holds signingKey can mint users. */
export interface NatsAuthority {
  /** The NATS operator's seed (SO...): signs the account JWTs. */
  operatorSeed: string;
  /** The system account's seed (SA...): nats-server's own account for its internal traffic. */
  systemAccountSeed: string;
  /** The AUTOCLINT account's identity seed (SA...). */
  accountSeed: string;
  /** The account's signing key seed (SA...): signs every user JWT. */
  signingKeySeed: string;
}

/** One attempt's grant: the run it speaks for and until when. */
export interface TrainerGrant {
  namespace: string;
  /** Run name: only in the credential's name, for the server's logs. */
  name: string;
  uid: string;
  attempt: number;
  expiresAt: Date;
}

export interface TrainerCredential {
  /** A NATS `.creds` file (the user JWT and its seed): the trainer's secret. */
  creds: string;
  /** The inbox prefix the trainer must connect with: the only subjects it may subscribe to. */
  inboxPrefix: string;
  expiresAt: Date;
}

const ACCOUNT_NAME = "AUTOCLINT";

const decoder = new TextDecoder();
const seedText = (pair: KeyPair) => decoder.decode(pair.getSeed());

/** A fresh trust chain (new random keys). */
export function createNatsAuthority(): NatsAuthority {
  return {
    operatorSeed: seedText(createOperator()),
    systemAccountSeed: seedText(createAccount()),
    accountSeed: seedText(createAccount()),
    signingKeySeed: seedText(createAccount()),
  };
}

const pair = (seed: string) => fromSeed(new TextEncoder().encode(seed));

/** The AUTOCLINT account's public key: what a server configuration that trusts this authority names. */
export function accountPublicKey(authority: Pick<NatsAuthority, "accountSeed">): string {
  return pair(authority.accountSeed).getPublicKey();
}

/**
 * The nats-server configuration fragment that trusts this authority: the operator JWT, the system
 * account and both account JWTs preloaded into a memory resolver. Public material only.
 */
export async function natsServerAuthConfig(authority: NatsAuthority): Promise<string> {
  const operator = pair(authority.operatorSeed);
  const system = pair(authority.systemAccountSeed);
  const account = pair(authority.accountSeed);
  const signingKey = pair(authority.signingKeySeed);
  const opts = { algorithm: Algorithms.v2, signer: operator };
  const operatorJwt = await encodeOperator("autoclint", operator, { system_account: system.getPublicKey() }, { algorithm: Algorithms.v2 });
  const systemJwt = await encodeAccount("SYS", system, {}, opts);
  const accountJwt = await encodeAccount(ACCOUNT_NAME, account, {
    signing_keys: [signingKey.getPublicKey()],
    // JetStream on, without limits of its own: the stream's max_age / max_bytes bound the store.
    limits: { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1, subs: -1, data: -1, payload: -1, conn: -1, imports: -1, exports: -1, leaf: -1, wildcards: true },
  }, opts);
  return [
    `operator: ${operatorJwt}`,
    `system_account: ${system.getPublicKey()}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${system.getPublicKey()}: ${systemJwt}`,
    `  ${account.getPublicKey()}: ${accountJwt}`,
    "}",
    "",
  ].join("\n");
}

async function issueUser(authority: Pick<NatsAuthority, "accountSeed" | "signingKeySeed">, name: string, user: Parameters<typeof encodeUser>[3], expiresAt?: Date): Promise<string> {
  const account = pair(authority.accountSeed);
  const signingKey = pair(authority.signingKeySeed);
  const userKey = createUser();
  const jwt = await encodeUser(name, userKey, signingKey, { ...user, issuer_account: account.getPublicKey() }, {
    algorithm: Algorithms.v2,
    ...(expiresAt ? { exp: Math.floor(expiresAt.getTime() / 1000) } : {}),
  });
  return decoder.decode(fmtCreds(jwt, userKey));
}

/**
 * A credential for one attempt of one run: publish on that attempt's event subjects only,
 * subscribe to its own inbox only, nothing else, until `expiresAt`.
 */
export async function issueTrainerCredential(authority: Pick<NatsAuthority, "accountSeed" | "signingKeySeed">, grant: TrainerGrant): Promise<TrainerCredential> {
  if (!(grant.expiresAt.getTime() > Date.now())) throw new Error(`a trainer credential must expire in the future, got ${grant.expiresAt.toISOString()}`);
  const inboxPrefix = trainerInboxPrefix(grant);
  const creds = await issueUser(authority, `trainer ${grant.namespace}/${grant.name} attempt ${grant.attempt}`, {
    pub: { allow: [attemptSubjects(grant)] },
    sub: { allow: [`${inboxPrefix}.>`] },
  }, grant.expiresAt);
  return { creds, inboxPrefix, expiresAt: grant.expiresAt };
}

/** The operator's own credential: every subject, JetStream's API included. Does not expire. */
export function issueOperatorCredential(authority: Pick<NatsAuthority, "accountSeed" | "signingKeySeed">): Promise<string> {
  return issueUser(authority, "autoclint-operator", {});
}

/**
 * When an attempt's credential expires: budget + grace + the longest GPU wait, counted from when the
 * attempt is created (or a warm pod claimed), so that a trainer that waited for its GPU and ran its
 * whole budget can still send its last events, and not much longer.
 */
export function trainerCredentialExpiry(from: Date, limits: { budgetSeconds: number; graceSeconds: number; gpuWaitSeconds: number }): Date {
  return new Date(from.getTime() + (limits.budgetSeconds + limits.graceSeconds + limits.gpuWaitSeconds) * 1000);
}

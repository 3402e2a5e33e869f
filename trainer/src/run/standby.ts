/**
 * Standby: the trainer of a warm pool pod. It starts the engine (imports, device), warms its
 * kernels on a throwaway model and random pixels, then waits, holding no dataset and no
 * credentials, for one assignment: a POST of the run's manifest and run environment (what a cold
 * trainer pod gets from its Job: NATS URL, run identity, attempt). The run's clock starts when the
 * assignment arrives. It serves that one run and the process exits: nothing crosses tenants.
 *
 *   GET  /readyz  200 once the engine is warm and no run is assigned yet (the pod's readiness probe)
 *   POST /assign  {manifest, env}: 202 taken; 202 again for the same run uid and attempt (the
 *                 operator may repeat itself after a restart); 409 when another run has the pod;
 *                 400 for a manifest the schema refuses; 503 while still warming
 */
import { STANDBY_ASSIGN_PATH, STANDBY_READY_PATH, type AutoClintRunManifest } from "@autoclint/api";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Engine, EngineInfo } from "../engines/engine";
import { parseRunManifest, ManifestError } from "./manifest";

/** What the operator POSTs: the run's manifest and the environment a cold trainer pod would get. */
export interface Assignment {
  manifest: AutoClintRunManifest;
  env: Record<string, string>;
  /** The attempt's NATS `.creds` text (NATS in JWT mode): kept in memory, never in the environment or a log. */
  natsCreds?: string;
}

export interface StandbyOptions {
  engine: Engine;
  port: number;
  host?: string;
  log(line: string): void;
}

export interface Standby {
  port: number;
  /** Resolves with the warm engine's info once it can take a run. */
  warm: Promise<EngineInfo>;
  /** Resolves with the one assignment, and the epoch ms and performance.now() at which it came. */
  assigned: Promise<{ assignment: Assignment; atMs: number; atPerf: number }>;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1 << 20;

/**
 * Warms an engine: one tiny model trained two steps and asked for one prediction, so that the
 * first real call finds its kernels compiled (and, on a GPU, its allocator and cuDNN plans up).
 */
export async function warmEngine(engine: Engine): Promise<EngineInfo> {
  const info = await engine.ready();
  const rows = 32;
  const pixels = new Uint8Array(rows * 28 * 28);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  const labels = new Float32Array(rows * 2);
  for (let i = 0; i < rows; i++) labels[i * 2 + (i % 2)] = 1;
  const images = { pixels, shape: [rows, 1, 28, 28, 1] as const };
  await engine.buildModel({ arch: "resnet18", numClasses: 2, inputChannels: 1, multiLabel: false, tau: 8, seed: 0, momentum: 0.9, weightDecay: 2.5e-4 });
  await engine.loadSplit("train", images, labels);
  await engine.loadSplit("test", images);
  await engine.train({ steps: 2, batchSize: 16, lr: 0.01 });
  await engine.predict({ split: "test" });
  return info;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`assignment larger than ${MAX_BODY_BYTES} bytes`));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

/** The assignment in a request body, or the reasons it is not one. */
export function parseAssignment(body: string): Assignment | { problems: string[] } {
  let document: { manifest?: unknown; env?: unknown; natsCreds?: unknown };
  try {
    document = JSON.parse(body) as typeof document;
  } catch (error) {
    return { problems: [`not JSON: ${(error as Error).message}`] };
  }
  const env = document.env ?? {};
  if (typeof env !== "object" || env === null || Object.values(env).some((v) => typeof v !== "string")) return { problems: ["/env: an object of strings"] };
  const { natsCreds } = document;
  if (natsCreds !== undefined && typeof natsCreds !== "string") return { problems: ["/natsCreds: a string (a NATS .creds file's text)"] };
  try {
    const manifest = parseRunManifest(JSON.stringify(document.manifest ?? null), "assignment");
    return { manifest, env: env as Record<string, string>, ...(natsCreds ? { natsCreds } : {}) };
  } catch (error) {
    if (error instanceof ManifestError) return { problems: error.problems };
    throw error;
  }
}

const identity = (a: Assignment) => `${a.env.AUTOCLINT_RUN_UID ?? a.manifest.metadata.uid ?? ""}/${a.env.AUTOCLINT_ATTEMPT ?? "0"}`;

function reply(response: ServerResponse, code: number, body: Record<string, unknown>): void {
  response.writeHead(code, { "content-type": "application/json" }).end(`${JSON.stringify(body)}\n`);
}

/** Starts warming the engine and serving the assignment endpoint. */
export async function startStandby(options: StandbyOptions): Promise<Standby> {
  const { engine, log } = options;
  let isWarm = false;
  const warm = warmEngine(engine).then((info) => {
    isWarm = true;
    return info;
  });
  warm.catch(() => undefined); // the caller awaits it
  let taken: Assignment | undefined;
  let resolveAssigned!: (value: { assignment: Assignment; atMs: number; atPerf: number }) => void;
  const assigned = new Promise<{ assignment: Assignment; atMs: number; atPerf: number }>((resolve) => (resolveAssigned = resolve));

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? "").split("?")[0];
    if (request.method === "GET" && path === STANDBY_READY_PATH) {
      if (taken) return reply(response, 503, { ready: false, reason: `serving ${identity(taken)}` });
      return reply(response, isWarm ? 200 : 503, { ready: isWarm, ...(isWarm ? {} : { reason: "warming the engine" }) });
    }
    if (request.method !== "POST" || path !== STANDBY_ASSIGN_PATH) return reply(response, 404, { error: `${request.method ?? ""} ${path ?? ""}: not here; POST ${STANDBY_ASSIGN_PATH} or GET ${STANDBY_READY_PATH}` });
    const atPerf = performance.now();
    const parsed = parseAssignment(await readBody(request));
    if ("problems" in parsed) return reply(response, 400, { error: "invalid assignment", problems: parsed.problems });
    if (taken) {
      const same = identity(taken) === identity(parsed);
      return reply(response, same ? 202 : 409, same ? { accepted: identity(taken) } : { error: `this pod serves ${identity(taken)}; it takes one run` });
    }
    if (!isWarm) return reply(response, 503, { error: "still warming the engine: not ready for a run" });
    taken = parsed;
    log(`assigned ${parsed.manifest.metadata.namespace ?? ""}/${parsed.manifest.metadata.name} (${identity(parsed)})`);
    reply(response, 202, { accepted: identity(parsed) });
    resolveAssigned({ assignment: parsed, atMs: performance.timeOrigin + atPerf, atPerf });
  };
  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => reply(response, 500, { error: (error as Error).message }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  log(`standby on :${port}: warming the engine; POST ${STANDBY_ASSIGN_PATH} assigns the one run`);
  return {
    port,
    warm,
    assigned,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

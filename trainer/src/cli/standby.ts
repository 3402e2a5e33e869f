import type { Command } from "commander";
import { STANDBY_PORT } from "@autoclint/api";
import { createEngine, type EngineName } from "../engines/index";
import { startStandby } from "../run/standby";
import { executeRun, runEnvironment } from "./run";

interface StandbyFlags {
  port: string;
  engine: EngineName;
}

export function registerStandbyCommand(program: Command): void {
  program
    .command("standby")
    .description("a warm pool pod: start and warm the engine, wait for one run (POST /assign), serve it, exit")
    .option("--port <port>", "port of the assignment endpoint and readiness probe", String(STANDBY_PORT))
    .option("--engine <name>", "compute engine to warm: torch | tfjs", "torch")
    .action(async (flags: StandbyFlags) => {
      const log = (line: string) => process.stderr.write(`standby: ${line}\n`);
      const engine = createEngine(flags.engine, { log: (line) => log(`[engine] ${line}`) });
      const standby = await startStandby({ engine, port: Number(flags.port), log });
      try {
        const info = await standby.warm;
        log(`engine ${info.engine} ${info.version} on ${info.device} (${info.deviceName}) warm after ${(performance.now() / 1000).toFixed(1)} s; waiting for a run`);
        const { assignment, atMs, atPerf } = await standby.assigned;
        // The pod's own environment (HOME, AUTOCLINT_OUT_DIR, AUTOCLINT_CACHE) under the run's.
        const env = runEnvironment({ ...process.env, ...assignment.env });
        const inboxPrefix = assignment.env.AUTOCLINT_NATS_INBOX_PREFIX;
        if (assignment.natsCreds) {
          if (!inboxPrefix) throw new Error("the assignment carries a NATS credential but no AUTOCLINT_NATS_INBOX_PREFIX: the credential may only subscribe under its own inbox prefix");
          env.natsCredentials = { creds: assignment.natsCreds, inboxPrefix };
        }
        await executeRun(assignment.manifest, env, { engine: flags.engine }, {
          startedEngine: engine,
          startedAtMs: atMs,
          now: () => (performance.now() - atPerf) / 1000,
        });
      } finally {
        await standby.close();
        await engine.close().catch(() => undefined);
      }
    });
}

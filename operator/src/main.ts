/**
 * The operator process:
 *   node --import tsx operator/src/main.ts            (KUBECONFIG, or in-cluster credentials)
 * Configuration comes from AUTOCLINT_* environment variables (see config.ts), read here once.
 * SIGTERM/SIGINT stop it gracefully: informers stop, reconciles in flight finish, NATS drains, the
 * Lease is released.
 */
import { loadConfig } from "./config";
import { KeepAliveKubeConfig } from "./kube/keep-alive";
import { createLogger } from "./log";
import { startOperator } from "./operator";

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const log = createLogger(config.logLevel).child({ component: "operator", identity: config.identity });
  // One keep-alive connection pool for every API call (see keep-alive.ts).
  const kubeConfig = new KeepAliveKubeConfig();
  kubeConfig.loadFromDefault();
  const operator = await startOperator(config, kubeConfig, log, {
    onLostLeadership: () => {
      log.error("lost leadership: exiting");
      process.exit(1);
    },
  });
  log.info("operator started", { httpPort: operator.httpPort, watchNamespace: config.watchNamespace ?? "(all)" });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    operator.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(`autoclint-operator: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});

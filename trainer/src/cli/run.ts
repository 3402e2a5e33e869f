import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { readRunManifest } from "../run/manifest";
import { DATASET_CREDENTIAL_ENV, type AutoClintRunManifest } from "@autoclint/api";
import { runLocal, type LocalRunOptions } from "../run/local-run";
import { createReporter } from "./progress";
import type { NatsCredentials } from "../events/index";

interface RunFlags {
  out?: string;
  engine?: "torch" | "tfjs";
  nats?: string;
  budget?: string;
  dataset?: string;
}

/**
 * What a trainer pod is told through its environment (the operator sets these); flags win.
 * Read here, at the edge, and passed in.
 */
export function runEnvironment(env: NodeJS.ProcessEnv) {
  const attempt = Number(env.AUTOCLINT_ATTEMPT ?? 0);
  return {
    natsUrl: env.AUTOCLINT_NATS_URL || undefined,
    natsCredentials: natsCredentials(env),
    // A dataset secretRef's value: the pod gets it from the Secret by reference, never in the manifest.
    datasetCredential: env[DATASET_CREDENTIAL_ENV] || undefined,
    outDir: env.AUTOCLINT_OUT_DIR || undefined,
    cacheDir: env.AUTOCLINT_CACHE || join(homedir(), ".cache", "autoclint"),
    namespace: env.AUTOCLINT_RUN_NAMESPACE || undefined,
    name: env.AUTOCLINT_RUN_NAME || undefined,
    uid: env.AUTOCLINT_RUN_UID || undefined,
    attempt: Number.isInteger(attempt) && attempt >= 0 ? attempt : 0,
  };
}

/**
 * The attempt's NATS identity: AUTOCLINT_NATS_CREDS names a mounted `.creds` file (a Secret, never
 * the secret itself in the environment) and AUTOCLINT_NATS_INBOX_PREFIX the inbox it may use.
 */
function natsCredentials(env: NodeJS.ProcessEnv): NatsCredentials | undefined {
  const file = env.AUTOCLINT_NATS_CREDS;
  if (!file) return undefined;
  const inboxPrefix = env.AUTOCLINT_NATS_INBOX_PREFIX;
  if (!inboxPrefix) throw new Error("AUTOCLINT_NATS_CREDS is set but AUTOCLINT_NATS_INBOX_PREFIX is not: the credential may only subscribe under its own inbox prefix");
  return { creds: readFileSync(file, "utf8"), inboxPrefix };
}

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("run an AutoClintRun manifest locally: train, predict anytime, score, plot")
    .argument("<manifest>", "AutoClintRun YAML (the same you would kubectl apply)")
    .option("--out <dir>", "output folder (default: $AUTOCLINT_OUT_DIR, else runs/<name>)")
    .option("--engine <name>", "compute engine: torch | tfjs (overrides spec.engine)")
    .option("--nats <url>", "also publish events to NATS JetStream at this URL (default: $AUTOCLINT_NATS_URL)")
    .option("--budget <seconds>", "override spec.timeBudgetSeconds")
    .option("--dataset <dir>", "override spec.dataset.source.path")
    .action(async (file: string, flags: RunFlags) => {
      const manifest = await readRunManifest(file);
      if (flags.budget) manifest.spec.timeBudgetSeconds = Number(flags.budget);
      if (flags.dataset) manifest.spec.dataset.source = { path: resolve(flags.dataset) };
      await executeRun(manifest, runEnvironment(process.env), flags);
    });
}

/**
 * Runs a manifest with the run environment (a cold pod's from its Job, a warm pod's from its
 * assignment) and prints the summary. `extra` carries what a standby pod has already started.
 */
export async function executeRun(
  manifest: AutoClintRunManifest,
  env: ReturnType<typeof runEnvironment>,
  flags: Pick<RunFlags, "out" | "engine" | "nats">,
  extra: Pick<LocalRunOptions, "now" | "startedAtMs" | "startedEngine"> = {},
): Promise<void> {
  if (env.namespace) manifest.metadata.namespace = env.namespace;
  const outDir = resolve(flags.out ?? env.outDir ?? `runs/${manifest.metadata.name}`);
  const natsUrl = flags.nats ?? env.natsUrl;
  const reporter = createReporter(manifest.spec.timeBudgetSeconds);
  try {
    const result = await runLocal({
      manifest,
      outDir,
      reporter,
      cacheDir: env.cacheDir,
      attempt: env.attempt,
      ...extra,
      ...(env.uid ? { uid: env.uid } : {}),
      ...(flags.engine ? { engine: flags.engine } : {}),
      ...(natsUrl ? { natsUrl } : {}),
      ...(env.natsCredentials ? { natsCredentials: env.natsCredentials } : {}),
      ...(env.datasetCredential ? { datasetCredential: env.datasetCredential } : {}),
    });
    reporter.stop();
    const first = result.firstPredictionSeconds === null ? "none" : `${result.firstPredictionSeconds.toFixed(1)} s`;
    process.stdout.write(
      [
        `ALC ${result.alc === null ? "n/a (no test solution)" : result.alc.toFixed(4)}  final NAUC ${result.nauc?.toFixed(4) ?? "n/a"}`,
        `first prediction ${first}, ${result.predictions} predictions, ${result.imagesPerSecond} train images/s on ${result.device} (${result.deviceName})`,
        `model: ${result.model.init} init; augmentation: ${result.augmentation.summary}`,
        `result:         ${resolve(outDir, "result.json")}`,
        ...(result.alc === null ? [] : [`learning curve: ${result.learningCurvePng}`]),
      ].join("\n") + "\n",
    );
  } finally {
    reporter.stop();
  }
}

/**
 * The local control plane as the operator suites use it (hack/cluster-up.sh writes
 * .cluster/kubeconfig, cluster-admin): kubectl as admin, and a namespace in which an operator runs
 * with exactly the identity the chart grants it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { renderChartTemplates } from "./operator-chart";
import { eventually } from "./eventually";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const ADMIN_KUBECONFIG = process.env.KUBECONFIG_E2E ?? join(ROOT, ".cluster", "kubeconfig");

export function clusterAnswers(): boolean {
  if (!existsSync(ADMIN_KUBECONFIG)) return false;
  return spawnSync("kubectl", ["--kubeconfig", ADMIN_KUBECONFIG, "get", "--raw", "/readyz"], { stdio: "ignore", timeout: 60_000 }).status === 0;
}

/** kubectl as cluster-admin; throws with kubectl's stderr when it fails. */
export function kubectl(args: string[], input?: string): string {
  const result = spawnSync("kubectl", ["--kubeconfig", ADMIN_KUBECONFIG, ...args], { input, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${result.stderr}`);
  return result.stdout;
}

export interface OperatorNamespace {
  namespace: string;
  /** The chart release name its RBAC objects are named after. */
  release: string;
  serviceAccount: string;
}

/**
 * The CRDs applied and established, the namespace created, and the chart's own ServiceAccount and
 * RBAC templates rendered into it. Returns a kubeconfig with that ServiceAccount's identity, so an
 * operator started with it can do exactly what the chart grants.
 */
export async function prepareOperatorNamespace({ namespace, release, serviceAccount }: OperatorNamespace): Promise<string> {
  kubectl(["apply", "--server-side", "--force-conflicts", "-f", join(ROOT, "crds")]);
  // A CRD just created has no conditions yet, which kubectl wait reports as an error: poll.
  await eventually("the CRDs to be established", () => kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/autoclintruns.autoclint.io", "crd/autoclintbenchmarks.autoclint.io"]), 60_000);
  kubectl(["create", "namespace", namespace]);
  kubectl(["apply", "-f", "-"], renderChartTemplates(ROOT, ["serviceaccount.yaml", "rbac.yaml"], { name: release, namespace, serviceAccount }));
  const saKubeconfig = join(mkdtempSync(join(tmpdir(), "autoclint-e2e-")), "sa.kubeconfig");
  const made = spawnSync(join(ROOT, "hack", "cluster-sa-kubeconfig.sh"), [namespace, serviceAccount, saKubeconfig], { encoding: "utf8", env: { ...process.env, KUBECONFIG: ADMIN_KUBECONFIG } });
  assert.equal(made.status, 0, made.stderr);
  return saKubeconfig;
}

/** Best effort, never waits: the namespace and the release's cluster-wide RBAC objects. */
export function removeOperatorNamespace({ namespace, release }: Pick<OperatorNamespace, "namespace" | "release">): void {
  spawnSync("kubectl", ["--kubeconfig", ADMIN_KUBECONFIG, "delete", "namespace", namespace, "--wait=false"], { stdio: "ignore" });
  releaseRuns(namespace);
  spawnSync("kubectl", ["--kubeconfig", ADMIN_KUBECONFIG, "delete", "clusterrole,clusterrolebinding", `${release}-operator`], { stdio: "ignore" });
}

/**
 * Best effort: drops the operator's purge finalizer from every run in the namespace. For clean-up
 * after the operator is gone, when the finalizer would hold the runs, and so the namespace, forever.
 */
export function releaseRuns(namespace: string): void {
  const runs = spawnSync("kubectl", ["--kubeconfig", ADMIN_KUBECONFIG, "get", "autoclintruns", "-n", namespace, "-o", "name"], { encoding: "utf8" }).stdout?.split("\n").filter(Boolean) ?? [];
  for (const run of runs) {
    spawnSync("kubectl", ["--kubeconfig", ADMIN_KUBECONFIG, "patch", "-n", namespace, run, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'], { stdio: "ignore" });
  }
}

export interface OperatorProcessOptions {
  /** The identity it runs as (prepareOperatorNamespace's kubeconfig). */
  kubeconfig: string;
  natsUrl: string;
  /** Watched, and where its leader Lease lives. */
  namespace: string;
  httpPort: number;
  durableConsumer: string;
  podName: string;
  /** Further settings of this suite (AUTOCLINT_*), over the defaults. */
  env?: Record<string, string>;
  /** Every chunk of its stdout and stderr, for the suite's log. */
  onOutput: (text: string) => void;
}

/** The operator from its sources, as a child process configured as the chart configures it. */
export function spawnOperator(options: OperatorProcessOptions): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "operator", "src", "main.ts")], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: options.kubeconfig,
      AUTOCLINT_NATS_URL: options.natsUrl, AUTOCLINT_WATCH_NAMESPACE: options.namespace, AUTOCLINT_LEASE_NAMESPACE: options.namespace,
      AUTOCLINT_HTTP_PORT: String(options.httpPort), AUTOCLINT_TRAINER_IMAGE: "autoclint/trainer:e2e",
      AUTOCLINT_DURABLE_CONSUMER: options.durableConsumer, POD_NAME: options.podName, AUTOCLINT_LOG_LEVEL: "info",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (c: Buffer) => options.onOutput(c.toString()));
  child.stderr!.on("data", (c: Buffer) => options.onOutput(c.toString()));
  return child;
}

/** SIGTERM to a still-running operator, then up to 20 s for it to exit; false if it had already exited. */
export async function stopOperator(operator: ChildProcess | undefined): Promise<boolean> {
  if (!operator || operator.exitCode !== null) return false;
  const exited = new Promise((resolve) => operator.once("exit", resolve));
  operator.kill("SIGTERM");
  await Promise.race([exited, sleep(20_000)]);
  return true;
}

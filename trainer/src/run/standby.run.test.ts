/**
 * `autoclint standby` as a warm pool pod runs it, as a real process with the real torch worker:
 * warm before any run exists, one assignment taken, a second run refused, the run's clock started
 * at the assignment (not at process start), then the process exits.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findBuilder } from "../datasets/builders/index";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const BUDGET = 15;

const manifest = (data: string, name: string) => ({
  apiVersion: "autoclint.io/v1alpha1",
  kind: "AutoClintRun",
  metadata: { name, namespace: "team-a", uid: `uid-${name}` },
  spec: { dataset: { name: "mnist", source: { path: data } }, timeBudgetSeconds: BUDGET, seed: 0 },
});

test("a standby trainer warms up with no run, takes one assignment, refuses another, runs on the assignment's clock and exits", { timeout: 240_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), "autoclint-standby-"));
  try {
    const data = join(root, "mnist");
    await findBuilder("mnist")!.build({ out: data, seed: 1, limit: 300 });
    const outDir = join(root, "out");
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "trainer/src/cli/main.ts"), "standby", "--port", "0"], {
      cwd: ROOT,
      env: { ...process.env, AUTOCLINT_OUT_DIR: outDir, AUTOCLINT_CACHE: join(root, "cache") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setInterval(() => {
        const match = /standby on :(\d+)/.exec(output);
        if (match) {
          clearInterval(timer);
          resolvePort(Number(match[1]));
        }
      }, 50);
      void exited.then((code) => reject(new Error(`standby exited ${code} before listening:\n${output}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    const assign = (body: unknown) => fetch(`${base}/assign`, { method: "POST", body: JSON.stringify(body) });

    // Not ready until the engine is warm; refuses a run meanwhile rather than running it cold.
    let ready = await fetch(`${base}/readyz`);
    if (ready.status === 503) assert.equal((await assign({ manifest: manifest(data, "early"), env: {} })).status, 503);
    for (let i = 0; i < 600 && ready.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      ready = await fetch(`${base}/readyz`);
    }
    assert.equal(ready.status, 200, output);
    assert.match(output, /warm after/);

    const bad = await assign({ manifest: { kind: "AutoClintRun" }, env: {} });
    assert.equal(bad.status, 400);
    assert.ok(((await bad.json()) as { problems: string[] }).problems.length > 0);

    const env = { AUTOCLINT_RUN_UID: "uid-first", AUTOCLINT_ATTEMPT: "0", AUTOCLINT_RUN_NAMESPACE: "team-a", AUTOCLINT_RUN_NAME: "first" };
    const assignedAt = Date.now();
    assert.equal((await assign({ manifest: manifest(data, "first"), env })).status, 202);
    assert.equal((await assign({ manifest: manifest(data, "first"), env })).status, 202, "the same run and attempt again: accepted (idempotent)");
    const other = await assign({ manifest: manifest(data, "second"), env: { ...env, AUTOCLINT_RUN_UID: "uid-second" } });
    assert.equal(other.status, 409, "a pod serves one run");
    assert.equal((await fetch(`${base}/readyz`)).status, 503, "a claimed pod is no longer ready");

    assert.equal(await exited, 0, output);
    const result = JSON.parse(await readFile(join(outDir, "result.json"), "utf8")) as { run: string; alc: number; timings: Record<string, number>; curve: { t: number }[] };
    assert.equal(result.run, "first");
    assert.ok(result.alc > 0, `ALC ${result.alc}`);
    // The run's clock started at the assignment: the engine was ready before it (warm), and the
    // AutoDL start time is the assignment's, not the process's.
    assert.ok(result.timings.engineReady! < 1, `engine ready ${result.timings.engineReady} s after the assignment: it was warm`);
    const startTxt = await readFile(join(outDir, "start.txt"), "utf8");
    const startTime = Number(/start_time:\s*([\d.]+)/.exec(startTxt)?.[1]) * 1000;
    assert.ok(Math.abs(startTime - assignedAt) < 1000, `start_time ${startTime} vs assignment ${assignedAt}`);
    assert.ok(result.curve.every((p) => p.t <= BUDGET));
    const events = (await readFile(join(outDir, "events.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { run: { uid: string; namespace: string } });
    assert.ok(events.every((e) => e.run.uid === "uid-first" && e.run.namespace === "team-a"), "events carry the assigned run's identity");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

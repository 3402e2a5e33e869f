/**
 * A real `nats-server -js` for the tests of every workspace: its own free port and store folder,
 * stoppable and restartable on the same port and store (like a pod restart with a persistent
 * volume). Test support, not part of the API: imported as `@autoclint/api/testing`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NATS_SERVER = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface TestNatsServer {
  url: string;
  port: number;
  storeDir: string;
  /** The server process's id while it runs (for benchmarks that account its CPU). */
  readonly pid: number | undefined;
  /** Stops the process (SIGTERM); the store directory stays so that a restart keeps the streams. */
  stop(): Promise<void>;
  /** Stops it if it runs, then starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Stops and removes the store. */
  dispose(): Promise<void>;
}

export interface NatsServerOptions {
  /** A configuration file's text (e.g. operator-mode auth), given to the server with -c. */
  config?: string;
  /** Or the path of a configuration file written already (one that includes others beside it). */
  configFile?: string;
}

function launch(port: number, storeDir: string, configFile?: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const args = ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir, ...(configFile ? ["-c", configFile] : [])];
    const child = spawn(NATS_SERVER, args, { stdio: ["ignore", "ignore", "pipe"] });
    let output = "";
    const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${output}`)), 10_000);
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Server is ready")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited with ${code}:\n${output}`));
    });
  });
}

export async function startNatsServer(port?: number, options: NatsServerOptions = {}): Promise<TestNatsServer> {
  const chosen = port ?? (await freePort());
  const storeDir = mkdtempSync(join(tmpdir(), "autoclint-nats-"));
  let configFile = options.configFile;
  if (options.config !== undefined) {
    configFile = join(storeDir, "nats.conf");
    writeFileSync(configFile, options.config);
  }
  let child: ChildProcess | undefined = await launch(chosen, storeDir, configFile);
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
    child = undefined;
  };
  return {
    url: `nats://127.0.0.1:${chosen}`,
    port: chosen,
    storeDir,
    get pid() {
      return child?.pid;
    },
    stop,
    async restart() {
      await stop();
      child = await launch(chosen, storeDir, configFile);
    },
    async dispose() {
      await stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

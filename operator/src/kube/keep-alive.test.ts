import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { KeepAliveKubeConfig } from "./keep-alive";

/** A real TLS server (openssl's self-signed certificate) answering every request with an empty NamespaceList; counts handshakes. */
async function tlsServer(): Promise<{ url: string; ca: string; handshakes: () => number; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "keep-alive-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdio: "ignore" });
  const cert = readFileSync(join(dir, "cert.pem"), "utf8");
  const server = createServer({ key: readFileSync(join(dir, "key.pem")), cert }, (_request, response) => {
    response.setHeader("Content-Type", "application/json");
    response.end(JSON.stringify({ kind: "NamespaceList", apiVersion: "v1", metadata: {}, items: [] }));
  });
  let handshakes = 0;
  server.on("secureConnection", () => handshakes++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    ca: cert,
    handshakes: () => handshakes,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function configured<T extends KubeConfig>(config: T, server: { url: string; ca: string }): T {
  config.loadFromOptions({
    clusters: [{ name: "c", server: server.url, caData: Buffer.from(server.ca).toString("base64"), skipTLSVerify: false }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return config;
}

void test("API calls through KeepAliveKubeConfig share one TLS connection; the client's own KubeConfig opens one per call", async () => {
  const server = await tlsServer();
  try {
    const plain = configured(new KubeConfig(), server).makeApiClient(CoreV1Api);
    for (let i = 0; i < 3; i++) await plain.listNamespace();
    assert.equal(server.handshakes(), 3, "the premise: a new connection per request");

    const keepAlive = configured(new KeepAliveKubeConfig(), server);
    const api = keepAlive.makeApiClient(CoreV1Api);
    const before = server.handshakes();
    for (let i = 0; i < 5; i++) await api.listNamespace();
    await Promise.all([api.listNamespace(), api.listNamespace()]);
    assert.ok(server.handshakes() - before <= 2, `7 calls, ${server.handshakes() - before} handshakes (at most one per call in flight at once)`);
    keepAlive.destroy();
  } finally {
    await server.close();
  }
});

void test("KeepAliveKubeConfig shows every API call's method and URL to onRequest", async () => {
  const server = await tlsServer();
  try {
    const config = configured(new KeepAliveKubeConfig(), server);
    const seen: string[] = [];
    config.onRequest = (method, url) => seen.push(`${method} ${new URL(url).pathname}`);
    const api = config.makeApiClient(CoreV1Api);
    await api.listNamespace();
    await api.listNamespacedPod({ namespace: "ns" });
    assert.deepEqual(seen, ["GET /api/v1/namespaces", "GET /api/v1/namespaces/ns/pods"]);
    config.destroy();
  } finally {
    await server.close();
  }
});

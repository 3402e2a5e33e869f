import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { c as createTar } from "tar";
import { fetchDataset } from "./fetch";
import { DatasetError } from "./dataset";

test("a .tar.gz URL is downloaded once, unpacked whole, and reused; a bad archive is a DatasetError", async () => {
  const root = await mkdtemp(join(tmpdir(), "autoclint-fetch-"));
  const source = join(root, "src");
  await mkdir(join(source, "task", "task.data"), { recursive: true });
  await writeFile(join(source, "task", "task.solution"), "1 0\n");
  const archive = join(root, "task.tar.gz");
  await createTar({ gzip: true, file: archive, cwd: source }, ["task"]);
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    if (req.url === "/task.tar.gz") void readFile(archive).then((body) => res.end(body));
    else res.end("this is not a tar archive at all, just some text that goes on for a while ".repeat(20));
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const cache = join(root, "cache");
    const dir = await fetchDataset(`${base}/task.tar.gz`, cache);
    assert.equal(await readFile(join(dir, "task.solution"), "utf8"), "1 0\n");
    assert.equal(await fetchDataset(`${base}/task.tar.gz`, cache), dir);
    assert.equal(requests, 1, "the second call reuses the cache");
    await assert.rejects(fetchDataset(`${base}/broken.tar`, cache), DatasetError);
    await assert.rejects(fetchDataset("ftp://example.invalid/x.tar", cache), /only http/);
  } finally {
    server.close();
    await rm(root, { recursive: true, force: true });
  }
});

test("a secretRef's header goes with the download; neither it nor the URL's query string or user info is in a log line or an error", async () => {
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(403).end("SignatureDoesNotMatch");
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const port = (server.address() as AddressInfo).port;
  const root = await mkdtemp(join(tmpdir(), "autoclint-fetch-"));
  const lines: string[] = [];
  try {
    const presigned = `http://127.0.0.1:${port}/sets/d.tar?X-Amz-Signature=s3cr3t`;
    const error = (await fetchDataset(presigned, root, (line) => lines.push(line), { Authorization: "Bearer t0ken" }).catch((e: unknown) => e)) as Error;
    assert.ok(error instanceof DatasetError);
    assert.match(error.message, /^http:\/\/127\.0\.0\.1:\d+\/sets\/d\.tar \(query and credentials hidden\): download failed: HTTP 403/);
    assert.deepEqual(seen, ["Bearer t0ken"]);
    // fetch refuses a URL with user info, quoting it: the quote is redacted too.
    const withPassword = (await fetchDataset(`http://user:pa55@127.0.0.1:${port}/sets/d.tar`, root).catch((e: unknown) => e)) as Error;
    assert.match(withPassword.message, /^http:\/\/127\.0\.0\.1:\d+\/sets\/d\.tar \(query and credentials hidden\): download failed: /);
    // Nothing listening: the reason (a system error code) without the request that undici's cause holds.
    server.close();
    const refused = (await fetchDataset(presigned, root, (line) => lines.push(line)).catch((e: unknown) => e)) as Error;
    assert.match(refused.message, /download failed: fetch failed \(ECONNREFUSED\)/);
    assert.equal(refused.cause, undefined);
    const shown = [...lines, error.message, withPassword.message, refused.message, JSON.stringify(error), String(error.stack)].join("\n");
    for (const secret of ["s3cr3t", "X-Amz-Signature", "pa55", "t0ken"]) assert.ok(!shown.includes(secret), `${secret} was shown`);
  } finally {
    server.close();
    await rm(root, { recursive: true, force: true });
  }
});

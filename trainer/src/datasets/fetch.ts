/**
 * URL datasets: a .tar or .tar.gz of a dataset folder, downloaded once into a cache folder and
 * unpacked there. A partial download never counts: the folder is renamed into place only once
 * the archive has been unpacked whole.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { x as extract } from "tar";
import { DatasetError } from "./dataset";

/** The folder the archive unpacks to: the archive's single top folder, or the unpack root. */
async function datasetRoot(dir: string): Promise<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  const only = entries.length === 1 ? entries[0] : undefined;
  return only?.isDirectory() ? join(dir, only.name) : dir;
}

/**
 * The URL as it may be shown (logs, errors, events): without its query string and user info, where
 * a presigned URL keeps its signature and a URL its password.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const hidden = parsed.search !== "" || parsed.username !== "" || parsed.password !== "";
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}${hidden ? " (query and credentials hidden)" : ""}`;
  } catch {
    return "(an unparsable URL)";
  }
}

/**
 * Downloads and unpacks the archive at `url`; `headers` (a dataset secretRef's credential) go with
 * the request. Neither the query string nor a header ever reaches a log line or an error.
 */
export async function fetchDataset(url: string, cacheDir: string, log: (line: string) => void = () => undefined, headers?: Record<string, string>): Promise<string> {
  const shown = redactUrl(url);
  if (!/^https?:\/\//.test(url)) throw new DatasetError(shown, "only http(s) URLs of .tar or .tar.gz archives are supported");
  const key = createHash("sha256").update(url).digest("hex").slice(0, 16);
  const target = join(cacheDir, key);
  if (existsSync(target)) return datasetRoot(target);
  const partial = `${target}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  log(`downloading ${shown}`);
  let response: Response;
  try {
    response = await fetch(url, headers ? { headers } : {});
  } catch (error) {
    // No cause kept: undici's carries the request, URL and headers included.
    // fetch's message may quote the URL (one with user info is refused, quoted whole).
    throw new DatasetError(shown, `download failed: ${(error as Error).message.split(url).join(shown)}${causeCode(error)}`);
  }
  if (!response.ok || !response.body) throw new DatasetError(shown, `download failed: HTTP ${response.status} ${response.statusText}`);
  try {
    await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), extract({ cwd: partial }));
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw new DatasetError(shown, `not a readable .tar or .tar.gz archive: ${(error as Error).message}`, { cause: error });
  }
  await rename(partial, target);
  return datasetRoot(target);
}

/** fetch's own message is only "fetch failed": the system error code says why (ECONNREFUSED, ENOTFOUND). */
function causeCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === "string" ? ` (${cause.code})` : "";
}

/**
 * What kind of API request a URL and method are, in the API server's own terms (the labels of its
 * apiserver_request_total: verb, group, resource, subresource), so that the operator's count of
 * its requests can be set beside the API server's count of everyone's.
 */

export interface ApiRequestKind {
  /** GET, LIST, WATCH, POST, PUT, PATCH, DELETE, DELETECOLLECTION (as the API server counts them). */
  verb: string;
  /** "" for the core group. */
  group: string;
  resource: string;
  subresource: string;
}

/** Parses /api/v1/... and /apis/GROUP/VERSION/... paths; undefined for anything else (discovery, /version). */
export function apiRequestKind(method: string, url: string): ApiRequestKind | undefined {
  const { pathname, searchParams } = new URL(url, "https://api.invalid");
  const parts = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  let rest: string[];
  let group: string;
  if (parts[0] === "api" && parts.length >= 3) [group, rest] = ["", parts.slice(2)];
  else if (parts[0] === "apis" && parts.length >= 4) [group, rest] = [parts[1]!, parts.slice(3)];
  else return undefined;
  // namespaces/NS/RESOURCE/... is a namespaced resource; namespaces[/NAME[/SUB]] is the namespace itself.
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  const [resource = "", name, subresource = ""] = rest;
  const upper = method.toUpperCase();
  const named = name !== undefined;
  const verb =
    upper === "GET" ? (searchParams.get("watch") === "true" || searchParams.get("watch") === "1" ? "WATCH" : named ? "GET" : "LIST")
    : upper === "DELETE" && !named ? "DELETECOLLECTION"
    : upper;
  return { verb, group, resource, subresource };
}

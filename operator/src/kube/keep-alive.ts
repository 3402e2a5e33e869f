/**
 * A KubeConfig whose API calls reuse their connections. @kubernetes/client-node 1.x gives every
 * request a new https.Agent (kubernetes-client/javascript#2893), so each call opened a new TCP
 * connection and paid a TLS handshake on both ends: on a 2-core control plane that was much of
 * the operator's and the API server's CPU at 1,000 runs. Here the calls that one identity makes
 * share one keep-alive agent (what client-go's transport cache does). Watches keep their own
 * agents: the client destroys an aborted watch's agent's sockets. Every call it makes is shown to
 * `onRequest` (the operator counts them by kind, as client-go's rest_client_requests_total does).
 */
import { createHash } from "node:crypto";
import { Agent } from "node:https";
import { KubeConfig } from "@kubernetes/client-node";

type RequestContext = Parameters<KubeConfig["applySecurityAuthentication"]>[0];

/** What makes two agents interchangeable: the server's trust and our credentials. */
function agentKey(options: Agent["options"]): string {
  const hash = createHash("sha256");
  for (const part of [options.ca, options.cert, options.key, options.pfx, options.servername, options.rejectUnauthorized]) hash.update(`${String(part)}\0`);
  return hash.digest("hex");
}

export class KeepAliveKubeConfig extends KubeConfig {
  /** By agentKey: rotated credentials get a new agent (the old one's idle sockets time out). */
  private readonly agents = new Map<string, Agent>();
  /** Told of every API call (not watches) before it is sent. */
  onRequest?: (method: string, url: string) => void;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    this.onRequest?.(context.getHttpMethod(), context.getUrl());
    const fresh = context.getAgent();
    // A proxy's agent (or plain http) is left as the client made it.
    if (!(fresh instanceof Agent) || fresh.constructor !== Agent) return;
    const key = agentKey(fresh.options);
    let shared = this.agents.get(key);
    if (!shared) {
      shared = new Agent({ ...fresh.options, keepAlive: true });
      this.agents.set(key, shared);
    }
    context.setAgent(shared);
  }

  /** Closes the pooled connections. */
  destroy(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

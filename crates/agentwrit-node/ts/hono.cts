/**
 * Hono middleware (on Node): agent tokens checked by {@link AgentAuth},
 * refusals answered as `agentwrit-tower` answers them, per-route scope
 * requirements filled from the route's parameters.
 *
 * ```ts
 * import { Hono } from "hono";
 * import { agentAuth, requireScopes, type AgentVariables } from "agentwrit-rs/hono";
 *
 * const app = new Hono<{ Variables: AgentVariables }>();
 * app.use("/api/*", agentAuth({ brokerUrl: process.env.AGENTWRIT_BROKER_URL }));
 * app.get("/api/customers/:id", requireScopes("read:data:customer-{id}"), (c) =>
 *   c.json({ agent: c.get("agent").sub }),
 * );
 * ```
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";

import { AgentAuth, type AgentAuthOptions, type HttpResponseParts, fillScopes, resolveAuth } from "./service.cjs";
import type { AgentClaims } from "./types.cjs";

/** The context variables the middlewares set: `c.get("agent")`. */
export interface AgentVariables {
  /** The verified claims of the request's agent token. */
  agent: AgentClaims;
  /** The authenticator that verified them (for {@link requireScopes}). */
  agentAuth: AgentAuth;
}

function response(parts: HttpResponseParts): Response {
  return new Response(parts.body.length === 0 ? null : new Uint8Array(parts.body), {
    status: parts.status,
    headers: parts.headers,
  });
}

/**
 * The middleware that authenticates every request it covers: discovery
 * and public paths first, then the token; the verified claims go to
 * `c.get("agent")`.
 */
export function agentAuth(auth: AgentAuth | AgentAuthOptions): MiddlewareHandler<{ Variables: AgentVariables }> {
  const checker = resolveAuth(auth);
  return async (c, next) => {
    const path = c.req.path;
    const discovery = checker.discovery(c.req.method, path);
    if (discovery !== null) return response(discovery);
    if (checker.isPublic(path)) {
      await next();
      return;
    }
    const headers = c.req.raw.headers;
    // The Fetch API joins repeated headers with ", ": two tokens are
    // refused as one invalid token, as the Rust layer refuses them.
    const result = await checker.authenticate(headers.get("authorization"), path);
    if (!result.ok) return response(result.refusal.response());
    c.set("agent", result.claims);
    c.set("agentAuth", checker);
    await next();
    return;
  };
}

/**
 * A per-route requirement, behind {@link agentAuth}: the token must grant
 * every scope, after `{name}` placeholders are filled from the route's
 * parameters. Refused with the 403 `insufficient_scope` naming them; a
 * template naming a parameter the route lacks, or no `agentAuth` in
 * front, throws (a 500 from Hono's error handler).
 */
export function requireScopes(...templates: string[]): MiddlewareHandler<{ Variables: AgentVariables }> {
  for (const t of templates) if (typeof t !== "string") throw new TypeError("scope templates must be strings");
  return async (c, next) => {
    const claims = c.get("agent") as AgentClaims | undefined;
    const checker = c.get("agentAuth") as AgentAuth | undefined;
    if (claims === undefined || checker === undefined) throw new Error("requireScopes needs agentAuth in front of it");
    const filled = fillScopes(templates, c.req.param() as Record<string, string>);
    if ("missing" in filled) throw new Error(`requireScopes: the route has no parameter "${filled.missing}"`);
    const refusal = checker.checkScopes(claims, filled.scopes, c.req.path);
    if (refusal !== null) return response(refusal.response());
    await next();
    return;
  };
}

export { AgentAuth };
export type { AgentAuthOptions };

/**
 * Express (4 and 5) and Connect middleware: agent tokens checked by
 * {@link AgentAuth} (at the broker or locally, cached, failing closed),
 * refusals answered as `agentwrit-tower` answers them (RFC 6750
 * challenge, RFC 7807 problem), per-route scope requirements filled
 * from the route's parameters.
 *
 * ```ts
 * import express from "express";
 * import { agentAuth, requireScopes } from "agentwrit-rs/express";
 *
 * const app = express();
 * app.use(agentAuth({ brokerUrl: process.env.AGENTWRIT_BROKER_URL, publicPaths: ["/healthz"] }));
 * app.get("/customers/:id", requireScopes("read:data:customer-{id}"), (req, res) => {
 *   res.json({ agent: req.agent?.sub });
 * });
 * ```
 *
 * | case | status |
 * |---|---|
 * | no `Authorization`, another scheme | 401, `WWW-Authenticate: Bearer` |
 * | malformed, forged, expired, released, revoked | 401, `Bearer error="invalid_token"` |
 * | a valid token without the route's scope | 403, `Bearer error="insufficient_scope", scope="..."` |
 * | the broker unreachable or too slow | 503, `Retry-After: 1` |
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";

import { AgentAuth, type AgentAuthOptions, type HttpResponseParts, fillScopes, resolveAuth } from "./service.cjs";
import type { AgentClaims } from "./types.cjs";

declare global {
  // Express's request type, augmented as Express middlewares do.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The verified claims of the request's agent token (set by `agentAuth`). */
      agent?: AgentClaims;
    }
  }
}

/** `next` of Express and Connect. */
export type NextFunction = (err?: unknown) => void;

/** A middleware for Express or Connect. */
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

const AUTH = Symbol.for("agentwrit-rs.express.auth");

interface Augmented {
  agent?: AgentClaims;
  originalUrl?: string;
  params?: Record<string, string | undefined>;
  [AUTH]?: AgentAuth;
}

function pathOf(req: IncomingMessage): string {
  const url = (req as IncomingMessage & Augmented).originalUrl ?? req.url ?? "/";
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

function send(res: ServerResponse, parts: HttpResponseParts): void {
  res.statusCode = parts.status;
  for (const [name, value] of Object.entries(parts.headers)) res.setHeader(name, value);
  res.end(parts.body);
}

function authorizationOf(req: IncomingMessage): string | null {
  // Node keeps the first of repeated `Authorization` headers; more than
  // one is refused (as invalid), as the Rust layer refuses it.
  const all: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]?.toLowerCase() === "authorization") all.push(req.rawHeaders[i + 1] ?? "");
  }
  if (all.length === 0) return null;
  return all.join(", ");
}

/**
 * The middleware that authenticates every request: discovery (when the
 * service publishes itself as a protected resource) and public paths
 * first, then the token; the verified claims go to `req.agent`.
 */
export function agentAuth(auth: AgentAuth | AgentAuthOptions): Middleware & { readonly auth: AgentAuth } {
  const checker = resolveAuth(auth);
  const middleware: Middleware = (req, res, next) => {
    const path = pathOf(req);
    const discovery = checker.discovery(req.method ?? "GET", path);
    if (discovery !== null) {
      send(res, discovery);
      return;
    }
    if (checker.isPublic(path)) {
      next();
      return;
    }
    checker.authenticate(authorizationOf(req), path).then((result) => {
      if (!result.ok) {
        send(res, result.refusal.response());
        return;
      }
      const r = req as IncomingMessage & Augmented;
      r.agent = result.claims;
      r[AUTH] = checker;
      next();
    }, next);
  };
  return Object.assign(middleware, { auth: checker });
}

/**
 * A per-route requirement, behind {@link agentAuth}: the token must grant
 * every scope, after `{name}` placeholders are filled from the route's
 * parameters (`read:data:customer-{id}` on `/customers/:id`). A token
 * without them gets the 403 `insufficient_scope` naming them; a
 * template naming a parameter the route lacks, or a route without
 * `agentAuth` in front, is a server error (passed to `next`).
 */
export function requireScopes(...templates: string[]): Middleware {
  for (const t of templates) if (typeof t !== "string") throw new TypeError("scope templates must be strings");
  return (req, res, next) => {
    const r = req as IncomingMessage & Augmented;
    const checker = r[AUTH];
    if (r.agent === undefined || checker === undefined) {
      next(new Error("requireScopes needs agentAuth in front of it"));
      return;
    }
    const filled = fillScopes(templates, r.params ?? {});
    if ("missing" in filled) {
      next(new Error(`requireScopes: the route has no parameter "${filled.missing}"`));
      return;
    }
    const refusal = checker.checkScopes(r.agent, filled.scopes, pathOf(req));
    if (refusal === null) {
      next();
      return;
    }
    send(res, refusal.response());
  };
}

/** The verified claims of `req` (set by {@link agentAuth}); throws when there are none. */
export function agentClaims(req: IncomingMessage): AgentClaims {
  const claims = (req as IncomingMessage & Augmented).agent;
  if (claims === undefined) throw new Error("no agent on this request: is agentAuth in front of this route?");
  return claims;
}

export { AgentAuth };
export type { AgentAuthOptions };

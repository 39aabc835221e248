/**
 * AgentWrit tokens on MCP servers built with the official TypeScript SDK
 * (`@modelcontextprotocol/sdk`, 1.x; checked with 1.32):
 *
 * - {@link agentWritVerifier}: the `verifier` of the SDK's
 *   `requireBearerAuth`, returning an `AuthInfo` with the token's scopes
 *   (checked by the Rust core: at the broker or locally, cached, failing
 *   closed);
 * - {@link mcpToolScopes}: Express middleware behind `requireBearerAuth`
 *   and `express.json()` that decides what each JSON-RPC message needs —
 *   per tool, filled from the call's arguments
 *   (`read:data:customer-{customer_id}`), by the broker's exact rule — and
 *   refuses with HTTP 403 `insufficient_scope` naming the scope to step up
 *   to, as a JSON-RPC error the client can read;
 * - {@link protectedResourceMetadata}: the RFC 9728 metadata document
 *   (served without a token), whose URL `requireBearerAuth`'s
 *   `resourceMetadataUrl` names in its challenges;
 * - {@link allows}: the broker's rule on an `AuthInfo`, for a tool that
 *   re-checks.
 *
 * ```ts
 * import express from "express";
 * import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
 * import { AgentAuth } from "agentwrit-rs";
 * import { agentWritVerifier, mcpToolScopes, protectedResourceMetadata } from "agentwrit-rs/mcp";
 *
 * const auth = new AgentAuth({ brokerUrl, resource: "http://127.0.0.1:8000/mcp" });
 * const app = express();
 * app.use(protectedResourceMetadata(auth));
 * app.post(
 *   "/mcp",
 *   requireBearerAuth({ verifier: agentWritVerifier(auth), resourceMetadataUrl: auth.resourceMetadataUrl }),
 *   express.json(),
 *   mcpToolScopes(auth, { tools: { get_customer_profile: ["read:data:customer-{customer_id}"] } }),
 *   handleMcp,
 * );
 * ```
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";

import * as native from "./native.cjs";
import { lifted } from "./errors.cjs";
import { AgentAuth, type AgentAuthOptions, type HttpResponseParts, resolveAuth } from "./service.cjs";
import { scopeIsSubset } from "./validate.cjs";
import type { AgentClaims } from "./types.cjs";

/** The SDK's `AuthInfo` (structurally: `@modelcontextprotocol/sdk/server/auth/types.js`). */
export interface AuthInfo {
  /** The access token. */
  token: string;
  /** The agent's SPIFFE id. */
  clientId: string;
  /** The token's scopes, as the broker granted them. */
  scopes: string[];
  /** Expiry (Unix seconds). */
  expiresAt?: number;
  /** Set when the authenticator checks the token's audience and publishes a protected resource. */
  resource?: URL;
  /** `{ claims }`: every verified claim (`taskId`, `orchId`, `jti`, a delegation chain). */
  extra?: Record<string, unknown>;
}

/** The SDK's `OAuthTokenVerifier`. */
export interface OAuthTokenVerifier {
  verifyAccessToken(token: string): Promise<AuthInfo>;
}

/** The SDK's error classes `requireBearerAuth` tells apart. @internal */
export interface SdkErrors {
  InvalidTokenError: new (message: string) => Error;
  ServerError: new (message: string) => Error;
}

/** An Express/Connect middleware. */
export type Middleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

function send(res: ServerResponse, parts: HttpResponseParts): void {
  res.statusCode = parts.status;
  for (const [name, value] of Object.entries(parts.headers)) res.setHeader(name, value);
  res.end(parts.body);
}

function pathOf(req: IncomingMessage): string {
  const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? "/";
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The verifier factory, bound to the SDK's error classes of the module
 * flavour in use (the CommonJS and ESM builds of the SDK have distinct
 * classes, and `requireBearerAuth` checks with `instanceof`).
 * @internal
 */
export function _bind(errors: SdkErrors): (auth: AgentAuth | AgentAuthOptions) => OAuthTokenVerifier {
  return (auth) => {
    const checker = resolveAuth(auth);
    // The token is bound to this resource only when its audience is
    // checked: then `requireBearerAuth`'s `expectedResource` can match.
    const resource =
      checker.resource !== undefined && checker.audience !== undefined ? new URL(checker.resource) : undefined;
    return {
      async verifyAccessToken(token: string): Promise<AuthInfo> {
        const result = await checker.verifyToken(token);
        if (!result.ok) {
          // Fail closed: a broker that cannot answer is a server error
          // (500), never a pass.
          if (result.refusal.code === "broker_unavailable") throw new errors.ServerError(result.refusal.detail);
          throw new errors.InvalidTokenError(result.refusal.detail);
        }
        const claims = result.claims;
        const info: AuthInfo = {
          token,
          clientId: claims.sub,
          scopes: [...claims.scope],
          expiresAt: claims.exp,
          extra: { claims },
        };
        if (resource !== undefined) info.resource = resource;
        return info;
      },
    };
  };
}

/** The SDK's error classes, CommonJS flavour (an optional peer dependency). */
function sdkErrors(): SdkErrors {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@modelcontextprotocol/sdk/server/auth/errors.js") as SdkErrors;
}

let bound: ((auth: AgentAuth | AgentAuthOptions) => OAuthTokenVerifier) | undefined;

/**
 * The `verifier` for the SDK's `requireBearerAuth`: an `AuthInfo` with the
 * token's scopes and claims for a good token; the SDK's
 * `InvalidTokenError` (401) for a missing, bad, expired, released or
 * revoked one; its `ServerError` (500) when the broker cannot be asked.
 */
export function agentWritVerifier(auth: AgentAuth | AgentAuthOptions): OAuthTokenVerifier {
  bound ??= _bind(sdkErrors());
  return bound(auth);
}

/** What an MCP server's messages require. */
export interface McpScopeRules {
  /** Tool name → scope templates, `{name}` filled from the call's arguments. A tool not listed is refused (403 `forbidden`). */
  tools?: Record<string, readonly string[]>;
  /** JSON-RPC method → scope templates, filled from `params` (e.g. `resources/read`). */
  methods?: Record<string, readonly string[]>;
  /** Let calls of unlisted tools through (any valid token). */
  allowUnlistedTools?: boolean;
  /** The largest body decided on (default 1 MiB; larger: 413). */
  maxBodyBytes?: number;
}

function spec(rules: McpScopeRules): native.McpScopesSpec {
  const out: native.McpScopesSpec = {};
  if (rules.tools !== undefined) out.tools = Object.fromEntries(Object.entries(rules.tools).map(([k, v]) => [k, [...v]]));
  if (rules.methods !== undefined) {
    out.methods = Object.fromEntries(Object.entries(rules.methods).map(([k, v]) => [k, [...v]]));
  }
  if (rules.allowUnlistedTools !== undefined) out.allowUnlistedTools = rules.allowUnlistedTools;
  if (rules.maxBodyBytes !== undefined) out.maxBodyBytes = rules.maxBodyBytes;
  return out;
}

/**
 * Every scope family the rules name, `*` where a placeholder fills the
 * identifier, sorted: what the protected resource's `scopesSupported`
 * publishes (`read:data:customer-{customer_id}` → `read:data:*`).
 */
export function scopeFamilies(rules: McpScopeRules): string[] {
  return lifted(() => new native.McpScopes(spec(rules))).scopeFamilies;
}

function bodyBytes(req: IncomingMessage): Buffer | undefined {
  const body = (req as IncomingMessage & { body?: unknown }).body;
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");
  return Buffer.from(JSON.stringify(body), "utf8");
}

/**
 * Express middleware deciding each JSON-RPC body against the verified
 * token's scopes (`req.auth`, set by `requireBearerAuth`; the body parsed
 * by `express.json()` in front). A refused message gets the HTTP status
 * tower gives it — 403 `insufficient_scope` with `scope="..."` naming
 * every scope the message needs (a client steps up from it), 403
 * `forbidden` for an unlisted tool, 400 for a body or an argument that
 * cannot be decided on (a value that would widen a scope is refused, never
 * filled in), 413 over the limit — with a JSON-RPC error body.
 */
export function mcpToolScopes(auth: AgentAuth, rules: McpScopeRules): Middleware & { readonly scopeFamilies: string[] } {
  if (!(auth instanceof AgentAuth)) throw new TypeError("mcpToolScopes takes the AgentAuth of the server");
  const scopes = lifted(() => new native.McpScopes(spec(rules)));
  const middleware: Middleware = (req, res, next) => {
    const info = (req as IncomingMessage & { auth?: AuthInfo }).auth;
    if (info === undefined) {
      next(new Error("mcpToolScopes needs requireBearerAuth (or another verifier setting req.auth) in front of it"));
      return;
    }
    const body = bodyBytes(req);
    if (body === undefined) {
      next(new Error("mcpToolScopes needs the body parsed (express.json()) in front of it"));
      return;
    }
    // The shared layer's decision (as tower's MCP layer and Python's
    // McpAuth make it): the scopes, or the refusal with the request's id.
    const decision = scopes.decide(auth._native, body, claimsOf(info)?.jti ?? null, info.scopes, pathOf(req));
    if (decision.refusal !== undefined && decision.refusal !== null) {
      const refusal = decision.refusal;
      const parts = refusal.jsonrpcResponse(decision.id ?? null);
      const headers: Record<string, string> = {};
      for (const { name, value } of parts.headers) headers[name] = value;
      send(res, { status: parts.status, headers, body: parts.body });
      return;
    }
    next();
  };
  return Object.assign(middleware, { scopeFamilies: scopes.scopeFamilies });
}

/**
 * Express/Connect middleware serving the protected resource's RFC 9728
 * metadata at its well-known path (no token needed); everything else
 * passes on. Configure the resource on the {@link AgentAuth}.
 */
export function protectedResourceMetadata(auth: AgentAuth): Middleware {
  if (auth.resource === undefined) {
    throw new TypeError("protectedResourceMetadata needs an AgentAuth with a resource");
  }
  return (req, res, next) => {
    const answer = auth.discovery(req.method ?? "GET", pathOf(req));
    if (answer === null) {
      next();
      return;
    }
    send(res, answer);
  };
}

/** Whether `info`'s scopes cover every scope in `required` (the broker's rule): for a tool that re-checks. */
export function allows(info: AuthInfo | undefined, required: readonly string[]): boolean {
  return info !== undefined && scopeIsSubset(required, info.scopes);
}

/** The verified claims `agentWritVerifier` put in `info.extra`. */
export function claimsOf(info: AuthInfo | undefined): AgentClaims | undefined {
  return info?.extra?.["claims"] as AgentClaims | undefined;
}

export { AgentAuth };
export type { AgentAuthOptions };

/**
 * The service side: `AgentAuth` checks the agent tokens a service
 * receives (at the broker, or locally against its pinned keys), with a
 * bounded cache, failing closed, and answers refusals with RFC 6750
 * challenges and RFC 7807 problem bodies — `agentwrit-tower`'s
 * decisions, through the Rust core. The framework adapters are
 * `agentwrit-rs/express`, `agentwrit-rs/hono` and `agentwrit-rs/mcp`.
 *
 * @module
 */
import { inspect } from "node:util";

import * as native from "./native.cjs";
import { lifted } from "./errors.cjs";
import { type CallOptions, type TlsOptions, call, scopes, string, strings, tlsPem } from "./options.cjs";
import type { AgentClaims } from "./types.cjs";
import { installExitDrain } from "./exit.cjs";

installExitDrain();

/** This service as an OAuth protected resource (RFC 9728), the dialect MCP clients speak. */
export interface ProtectedResourceOptions {
  /** Its identifier: the absolute URL clients call (e.g. `https://tools.example.com/mcp`). */
  resource: string;
  /** Authorization servers to name (none by default: the AgentWrit broker is not an RFC 8414 authorization server). */
  authorizationServers?: readonly string[];
  /** `scopes_supported`. */
  scopesSupported?: readonly string[];
  /** `resource_documentation`. */
  documentation?: string;
  /** `resource_name`. */
  name?: string;
}

/** How a service checks tokens. Broker mode unless `keys` are given. */
export interface AgentAuthOptions {
  /** The broker: where tokens are validated (broker mode), or re-checked (local mode with `keys`). */
  brokerUrl?: string;
  /**
   * Local mode: the broker's token-signing public keys (base64url `x`, or
   * JWK text), several during a rotation. Without `brokerUrl`, release
   * and revocation are invisible: a token stays accepted until it expires.
   */
  keys?: readonly string[];
  /** How long a verdict is reused, in milliseconds (default 5000; 0 turns the cache off). Never past the token's expiry. */
  maxStalenessMs?: number;
  /** The most verdicts cached (default 10 000). */
  cacheCapacity?: number;
  /** The timeout of one broker call, in milliseconds (default 5000); past it the request gets a 503. */
  brokerTimeoutMs?: number;
  /** Required `iss` (the broker's `AA_ISSUER`). */
  issuer?: string;
  /** Required member of `aud` (tokens without one are refused). */
  audience?: string;
  /** Tolerated clock difference on `exp` and `nbf`, in milliseconds. */
  leewayMs?: number;
  /** The broker's CA and, for a broker in mTLS mode, this service's client identity. */
  tls?: TlsOptions;
  /** Paths let through without a token (exact match). */
  publicPaths?: readonly string[];
  /** Path prefixes let through without a token. */
  publicPrefixes?: readonly string[];
  /** Publish the service as an OAuth protected resource: a metadata document, and `resource_metadata` in every challenge. */
  resource?: string | ProtectedResourceOptions;
  /**
   * Record scope-usage evidence (`agentwrit-usage`): per token, what it was
   * granted against what this service's requests required, allowed and
   * denied, and requests refused after it was accepted — as JSON Lines
   * files (one per process) in `dir`, never holding a token. Off by
   * default. `agentwrit usage report` reads them.
   */
  usage?: { serviceName: string; dir: string };
}

/** A response to send as it is. */
export interface HttpResponseParts {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: Buffer;
}

function parts(answer: native.HttpAnswer): HttpResponseParts {
  const headers: Record<string, string> = {};
  for (const { name, value } of answer.headers) headers[name] = value;
  return { status: answer.status, headers, body: answer.body };
}

/** Why a request was refused. */
export type RefusalCode =
  | "missing_token"
  | "invalid_token"
  | "insufficient_scope"
  | "broker_unavailable"
  | "misconfigured"
  | "forbidden"
  | "bad_request"
  | "payload_too_large";

/**
 * A refused request: 401 (no or a bad token), 403 (a valid token without
 * the scope), 503 (the broker cannot be asked: fail closed), 400/413 (an
 * MCP body that cannot be decided on).
 */
export class Refusal {
  readonly #native: native.Refusal;

  private constructor(handle: native.Refusal) {
    this.#native = handle;
  }

  /** @internal */
  static _wrap(handle: native.Refusal): Refusal {
    return new Refusal(handle);
  }

  /** The HTTP status. */
  get status(): number {
    return this.#native.status;
  }
  /** Why. */
  get code(): RefusalCode {
    return this.#native.code as RefusalCode;
  }
  /** The detail (never the token): the problem's `detail` and the challenge's `error_description`. */
  get detail(): string {
    return this.#native.detail;
  }
  /** For `insufficient_scope`: the scopes needed, space-separated (what to step up to). */
  get requiredScope(): string | undefined {
    return this.#native.requiredScope ?? undefined;
  }
  /** The `resource_metadata` URL the challenge names. */
  get resourceMetadata(): string | undefined {
    return this.#native.resourceMetadata ?? undefined;
  }
  /** The response: `application/problem+json`, the `WWW-Authenticate` challenge, `Retry-After` on a 503. */
  response(): HttpResponseParts {
    return parts(this.#native.response());
  }
  /** The response as a JSON-RPC error (an MCP endpoint's answer), with the request's `id` when known. */
  jsonrpcResponse(id?: string | number | null): HttpResponseParts {
    return parts(this.#native.jsonrpcResponse(id ?? null));
  }

  toJSON(): Record<string, unknown> {
    return { status: this.status, code: this.code, detail: this.detail };
  }

  [inspect.custom](_depth: number, options: object, show: typeof inspect): string {
    return `Refusal ${show(this.toJSON(), options)}`;
  }
}

/** What a check concluded. */
export type AuthResult = { ok: true; claims: AgentClaims } | { ok: false; refusal: Refusal };

function result(checked: native.Checked): AuthResult {
  if (checked.claims !== undefined && checked.claims !== null) return { ok: true, claims: checked.claims };
  if (checked.refusal !== undefined && checked.refusal !== null) {
    return { ok: false, refusal: Refusal._wrap(checked.refusal) };
  }
  throw new Error("the verifier gave no verdict");
}

/**
 * Checks agent tokens for a service. Create one per service and share
 * it: its cache and its broker connections live with it.
 *
 * ```ts
 * const auth = new AgentAuth({ brokerUrl: process.env.AGENTWRIT_BROKER_URL });
 * const r = await auth.authenticate(req.headers.authorization, req.path);
 * if (!r.ok) { const { status, headers, body } = r.refusal.response(); ... }
 * ```
 */
export class AgentAuth {
  readonly #native: native.Verifier;
  readonly #audience: string | undefined;

  constructor(options: AgentAuthOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("AgentAuth takes an options object");
    const o: native.VerifierOptions = { ...tlsPem(options.tls) };
    if (options.brokerUrl !== undefined) o.brokerUrl = string("brokerUrl", options.brokerUrl);
    if (options.keys !== undefined) o.keys = strings("keys", options.keys);
    if (options.maxStalenessMs !== undefined) o.maxStalenessMs = options.maxStalenessMs;
    if (options.cacheCapacity !== undefined) o.cacheCapacity = options.cacheCapacity;
    if (options.brokerTimeoutMs !== undefined) o.brokerTimeoutMs = options.brokerTimeoutMs;
    if (options.issuer !== undefined) o.issuer = string("issuer", options.issuer);
    if (options.audience !== undefined) o.audience = string("audience", options.audience);
    if (options.leewayMs !== undefined) o.leewayMs = options.leewayMs;
    if (options.publicPaths !== undefined) o.publicPaths = strings("publicPaths", options.publicPaths);
    if (options.publicPrefixes !== undefined) o.publicPrefixes = strings("publicPrefixes", options.publicPrefixes);
    if (options.resource !== undefined) {
      const r = typeof options.resource === "string" ? { resource: options.resource } : options.resource;
      const spec: native.ResourceSpec = { resource: string("resource", r.resource) };
      if (r.authorizationServers !== undefined) {
        spec.authorizationServers = strings("authorizationServers", r.authorizationServers);
      }
      if (r.scopesSupported !== undefined) spec.scopesSupported = strings("scopesSupported", r.scopesSupported);
      if (r.documentation !== undefined) spec.documentation = string("documentation", r.documentation);
      if (r.name !== undefined) spec.name = string("name", r.name);
      o.resource = spec;
    }
    if (options.usage !== undefined) {
      o.usage = { serviceName: string("usage.serviceName", options.usage.serviceName), dir: string("usage.dir", options.usage.dir) };
    }
    this.#native = lifted(() => new native.Verifier(o));
    this.#audience = o.audience;
  }

  /** The audience tokens must carry, when one is required. */
  get audience(): string | undefined {
    return this.#audience;
  }

  /**
   * Authenticates a request from its `Authorization` header (`undefined`
   * or `null`: it has none). `path` goes into a refusal's problem
   * (`instance`). Never rejects for a bad token: that is a refusal.
   */
  async authenticate(authorization: string | null | undefined, path?: string, options?: CallOptions): Promise<AuthResult> {
    return result(await call(() => this.#native.authenticate(authorization ?? null, path ?? null), options));
  }

  /** Verifies one bearer token (without the `Bearer ` prefix). */
  async verifyToken(token: string, options?: CallOptions): Promise<AuthResult> {
    const t = string("token", token);
    return result(await call(() => this.#native.verifyToken(t), options));
  }

  /**
   * Decides a route's requirement for a verified token by the broker's
   * rule (recorded as usage evidence when `usage` is on): `null` when its
   * claims grant every scope in `required`, else the 403
   * `insufficient_scope` refusal naming them.
   */
  checkScopes(claims: AgentClaims, required: readonly string[], path?: string): Refusal | null {
    const refusal = this.#native.checkScopes(claims.jti, claims.scope, scopes("required", required), path ?? null);
    return refusal === null ? null : Refusal._wrap(refusal);
  }

  /** Writes the scope-usage records of tokens that ended, now (a no-op without `usage`). */
  flushUsage(): void {
    lifted(() => this.#native.flushUsage());
  }

  /**
   * Writes every scope-usage record (tokens still alive as they stand) and
   * stops recording. The package does it for every authenticator when the
   * process exits.
   */
  close(): void {
    lifted(() => this.#native.shutdownUsage());
  }

  /** The 403 `insufficient_scope` refusal for a token lacking `required`. */
  insufficientScope(required: readonly string[], path?: string): Refusal {
    return Refusal._wrap(this.#native.insufficientScope(scopes("required", required), path ?? null));
  }

  /** Whether `path` is let through without a token. */
  isPublic(path: string): boolean {
    return this.#native.isPublic(path);
  }

  /** The answer to a discovery request (the protected resource's metadata), or `null`. */
  discovery(method: string, path: string): HttpResponseParts | null {
    const answer = this.#native.discovery(method, path);
    return answer === null ? null : parts(answer);
  }

  /** The protected resource's identifier, when one is published. */
  get resource(): string | undefined {
    return this.#native.resource ?? undefined;
  }

  /** The protected resource's metadata URL, when one is published. */
  get resourceMetadataUrl(): string | undefined {
    return this.#native.resourceMetadataUrl ?? undefined;
  }

  /** How many verdicts the cache holds now. */
  get cachedEntries(): number {
    return this.#native.cachedEntries;
  }

  /** @internal */
  get _native(): native.Verifier {
    return this.#native;
  }

  toJSON(): Record<string, unknown> {
    return { resource: this.resource, cachedEntries: this.cachedEntries };
  }

  [inspect.custom](_depth: number, options: object, show: typeof inspect): string {
    return `AgentAuth ${show(this.toJSON(), options)}`;
  }
}

/**
 * Fills `{name}` placeholders (ASCII letters, digits, `_`) in scope
 * templates from `params`; `null` names the first missing parameter.
 * Filling can never widen a requirement: a required scope is checked
 * with the broker's subset rule against the token's, so an odd value
 * only makes the requirement harder to meet.
 * @internal
 */
export function fillScopes(
  templates: readonly string[],
  params: Readonly<Record<string, string | undefined>>,
): { scopes: string[] } | { missing: string } {
  const out: string[] = [];
  for (const template of templates) {
    let missing: string | undefined;
    const filled = template.replace(/\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
      const value = Object.hasOwn(params, name) ? params[name] : undefined;
      if (value === undefined) {
        missing ??= name;
        return "";
      }
      return value;
    });
    if (missing !== undefined) return { missing };
    out.push(filled);
  }
  return { scopes: out };
}

/** @internal */
export function resolveAuth(auth: AgentAuth | AgentAuthOptions): AgentAuth {
  return auth instanceof AgentAuth ? auth : new AgentAuth(auth);
}

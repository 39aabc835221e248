/**
 * `agentwrit-rs`: the TypeScript SDK of the AgentWrit credential broker,
 * on the project's Rust core. Apps mint short-lived, task-scoped
 * credentials for their agents; agents renew, delegate and release them;
 * services verify them.
 *
 * ```ts
 * import { AgentWritApp } from "agentwrit-rs";
 *
 * const app = AgentWritApp.fromEnv();
 * await using agent = await app.createAgent(
 *   { orchId: "order-worker", taskId: "process-ord-4823", scope: ["read:data:customer-7291"] },
 *   { signal: AbortSignal.timeout(10_000) },
 * );
 * // ... use agent.bearerHeader; released (delegations first) on every exit
 * ```
 *
 * Subpaths: `agentwrit-rs/express` and `agentwrit-rs/hono` (middleware),
 * `agentwrit-rs/mcp` (the MCP SDK's `requireBearerAuth` verifier),
 * `agentwrit-rs/testing` (a development broker for your tests).
 *
 * @module
 */
import * as native from "./native.cjs";
import { installExitDrain } from "./exit.cjs";

installExitDrain();

export { AgentWritApp, type AgentRequest } from "./app.cjs";
export { Agent, DelegatedToken, type Delegate, type DelegateOptions } from "./agent.cjs";
export {
  AgentWritOperator,
  type AppList,
  type AppRecord,
  type AuditEvent,
  type AuditFilter,
  type AuditPage,
  type CreatedApp,
  type LaunchToken,
  type LaunchTokenRequest,
  type RevocationLevel,
  type RevokeResult,
} from "./operator.cjs";
export { validate, scopeIsSubset } from "./validate.cjs";
export {
  AgentAuth,
  Refusal,
  type AgentAuthOptions,
  type AuthResult,
  type HttpResponseParts,
  type ProtectedResourceOptions,
  type RefusalCode,
} from "./service.cjs";
export {
  AgentWritError,
  AuthenticationError,
  AuthorizationError,
  CryptoError,
  DecodeError,
  InvalidInputError,
  ProblemResponseError,
  RateLimitError,
  ReleasedError,
  TransportError,
  type AgentWritErrorInit,
  type ErrorCode,
  type ProblemDetail,
} from "./errors.cjs";
export type { CallOptions, ClientOptions, Pem, TlsOptions } from "./options.cjs";
export type { AgentClaims, DelegationRecord, HealthStatus, ReleaseOutcome, ValidateResult } from "./types.cjs";

/**
 * Waits until every call that outlived its caller has ended — an aborted
 * creation's agent being released, a release whose promise nobody
 * awaited — at most `limitMs`; `true` when none is left. The package
 * does this by itself before the process exits; call it before
 * `process.exit()`, or to know that an abort's cleanup is done.
 */
export function drain(limitMs = 10_000): Promise<boolean> {
  if (typeof limitMs !== "number" || !(limitMs >= 0)) throw new TypeError("limitMs must be a non-negative number");
  return native.drain(limitMs);
}

/** The package version. */
export const VERSION: string = native.VERSION;

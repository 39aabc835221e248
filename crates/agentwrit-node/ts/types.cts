/**
 * The values calls return.
 *
 * @module
 */

/** One hop of a delegation chain. */
export interface DelegationRecord {
  /** The delegating agent's SPIFFE id. */
  agent: string;
  /** The scope it held when delegating. */
  scope: string[];
  /** When (RFC 3339). */
  delegatedAt: string;
}

/** A token's claims, as the broker signed them. */
export interface AgentClaims {
  /** Issuer. */
  iss: string;
  /** The agent's SPIFFE id. */
  sub: string;
  /** Audiences (empty when none). */
  aud: string[];
  /** Expiry (Unix seconds). */
  exp: number;
  /** Not before (Unix seconds). */
  nbf: number;
  /** Issued at (Unix seconds). */
  iat: number;
  /** The token's id. */
  jti: string;
  /** Session id. */
  sid?: string;
  /** Granted scope. */
  scope: string[];
  /** Task id. */
  taskId?: string;
  /** Orchestrator id. */
  orchId?: string;
  /** For a delegated token: the chain, oldest hop first. */
  delegationChain?: DelegationRecord[];
  /** For a delegated token: the chain's hash (hex SHA-256). */
  chainHash?: string;
}

/** The broker's verdict on a token: an invalid token is a result, not an error. */
export type ValidateResult =
  | { valid: true; claims: AgentClaims; error?: undefined }
  | { valid: false; error: string; claims?: undefined };

/** `GET /v1/health`. */
export interface HealthStatus {
  /** `"ok"` when healthy. */
  status: string;
  version: string;
  /** Seconds since the broker started. */
  uptime: number;
  dbConnected: boolean;
  auditEventsCount: number;
}

/** How a release ended: revoked now, or dead already (released, renewed, revoked or expired). */
export type ReleaseOutcome = "released" | "already_dead";

/** @internal */
export function validateResult(v: { valid: boolean; error?: string; claims?: AgentClaims }): ValidateResult {
  if (v.valid && v.claims !== undefined) return { valid: true, claims: v.claims };
  if (v.valid) return { valid: false, error: "Missing claims in valid response" };
  return { valid: false, error: v.error ?? "token is invalid or expired" };
}

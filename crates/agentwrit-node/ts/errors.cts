/**
 * The errors every call rejects with: one class per kind, each an
 * `AgentWritError` (so `instanceof` works from ESM and CommonJS alike:
 * both entry points share these classes), with the broker's RFC 7807
 * problem, the HTTP status and the broker's request id when there was an
 * answer. No message or field ever holds a secret.
 *
 * Argument types are checked before anything is sent: a wrong type is a
 * `TypeError` (a string where a list of scopes belongs, say), a wrong
 * value an {@link InvalidInputError}. An aborted call rejects with its
 * signal's `reason` (an `AbortError` `DOMException` by default).
 *
 * @module
 */

/** What kind of failure (stable, one per class). */
export type ErrorCode =
  | "authentication"
  | "authorization"
  | "rate_limited"
  | "problem"
  | "transport"
  | "crypto"
  | "invalid_input"
  | "released"
  | "decode"
  | "other";

/** The broker's RFC 7807 problem, as it sent it. */
export interface ProblemDetail {
  /** `urn:agentwrit:error:{code}`. */
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The request path. */
  instance: string;
  /** The broker's `error_code`. */
  errorCode?: string;
  /** The broker's request id, for its logs. */
  requestId?: string;
  hint?: string;
  /** Any other member. */
  extensions?: Record<string, unknown>;
}

/** The fields an error is built with. */
export interface AgentWritErrorInit {
  code?: ErrorCode;
  retryable?: boolean;
  status?: number;
  problem?: ProblemDetail;
  requestId?: string;
  cause?: unknown;
}

/** Base class of every error the SDK raises. */
export class AgentWritError extends Error {
  /** The kind, stable across versions. */
  readonly code: ErrorCode;
  /** Whether the same call might succeed later unchanged (rate limits, 502/503/504, connection failures, timeouts). */
  readonly retryable: boolean;
  /** The HTTP status of the broker's answer, if there was one. */
  readonly status: number | undefined;
  /** The broker's problem, for broker rejections. */
  readonly problem: ProblemDetail | undefined;
  /** The broker's request id, for log correlation. */
  readonly requestId: string | undefined;

  constructor(message: string, init: AgentWritErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code ?? "other";
    this.retryable = init.retryable ?? false;
    this.status = init.status;
    this.problem = init.problem;
    this.requestId = init.requestId ?? init.problem?.requestId;
  }
}

/** The broker answered with an RFC 7807 problem (any non-2xx status). */
export class ProblemResponseError extends AgentWritError {}

/** 401: wrong, expired, revoked or released credentials. */
export class AuthenticationError extends ProblemResponseError {}

/** 403: authenticated, but not allowed (a scope beyond a ceiling, a widening delegation). */
export class AuthorizationError extends ProblemResponseError {}

/** 429: too many requests, once the retry policy gave up. */
export class RateLimitError extends ProblemResponseError {
  /** The broker's `Retry-After`, in seconds. */
  readonly retryAfter: number | undefined;
  constructor(message: string, init: AgentWritErrorInit & { retryAfter?: number } = {}) {
    super(message, init);
    this.retryAfter = init.retryAfter;
  }
}

/** The broker could not be reached, the exchange failed, or no answer came within the call's deadline. */
export class TransportError extends AgentWritError {
  /** Whether the call ran out of time. */
  readonly timeout: boolean;
  constructor(message: string, init: AgentWritErrorInit & { timeout?: boolean } = {}) {
    super(message, init);
    this.timeout = init.timeout ?? false;
  }
}

/** An Ed25519 key, signature or nonce could not be used. */
export class CryptoError extends AgentWritError {}

/** An argument was refused before anything was sent. */
export class InvalidInputError extends AgentWritError {}

/** The agent has been released; its token can no longer be used. */
export class ReleasedError extends AgentWritError {}

/** The broker's answer was not what its contract says. */
export class DecodeError extends AgentWritError {}

for (const cls of [
  AgentWritError,
  ProblemResponseError,
  AuthenticationError,
  AuthorizationError,
  RateLimitError,
  TransportError,
  CryptoError,
  InvalidInputError,
  ReleasedError,
  DecodeError,
]) {
  Object.defineProperty(cls.prototype, "name", {
    value: cls.name,
    enumerable: false,
    configurable: true,
    writable: true,
  });
}

const CLASSES: Record<ErrorCode, new (message: string, init: AgentWritErrorInit) => AgentWritError> = {
  authentication: AuthenticationError,
  authorization: AuthorizationError,
  rate_limited: RateLimitError,
  problem: ProblemResponseError,
  transport: TransportError,
  crypto: CryptoError,
  invalid_input: InvalidInputError,
  released: ReleasedError,
  decode: DecodeError,
  other: AgentWritError,
};

interface NativeError {
  message: string;
  code: ErrorCode;
  retryable: boolean;
  timeout?: boolean;
  status?: number;
  problem?: ProblemDetail;
  requestId?: string;
  retryAfter?: number;
}

function isNative(e: unknown): e is NativeError {
  return (
    e instanceof Error &&
    !(e instanceof AgentWritError) &&
    typeof (e as Partial<NativeError>).retryable === "boolean" &&
    typeof (e as Partial<NativeError>).code === "string" &&
    Object.hasOwn(CLASSES, (e as Partial<NativeError>).code as string)
  );
}

/**
 * An error of the native module as its class; anything else as it is.
 * @internal
 */
export function lift(e: unknown): unknown {
  if (!isNative(e)) return e;
  const init = {
    code: e.code,
    retryable: e.retryable,
    ...(e.status === undefined ? {} : { status: e.status }),
    ...(e.problem === undefined ? {} : { problem: e.problem }),
    ...(e.requestId === undefined ? {} : { requestId: e.requestId }),
    ...(e.retryAfter === undefined ? {} : { retryAfter: e.retryAfter }),
    ...(e.timeout === undefined ? {} : { timeout: e.timeout }),
  };
  return new CLASSES[e.code](e.message, init);
}

/**
 * Runs `f`, throwing its native error as its class.
 * @internal
 */
export function lifted<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw lift(e);
  }
}

/**
 * Token validation for services that hold no credentials, and the
 * broker's scope rule.
 *
 * @module
 */
import * as native from "./native.cjs";
import { type CallOptions, type ClientOptions, call, nativeOptions, scopes, string } from "./options.cjs";
import { type ValidateResult, validateResult } from "./types.cjs";

/**
 * `POST /v1/token/validate` at `brokerUrl`: whether the token is
 * genuine, unexpired and not released or revoked, with its claims. An
 * invalid token is a result (`valid: false`), not an error. Connections
 * are pooled per (URL, options) for the process.
 */
export async function validate(
  brokerUrl: string,
  token: string,
  options?: ClientOptions & CallOptions,
): Promise<ValidateResult> {
  const url = string("brokerUrl", brokerUrl);
  const t = string("token", token);
  const o = nativeOptions(clientPart(options));
  return validateResult(await call(() => native.validate(url, t, o), options));
}

function clientPart(options: (ClientOptions & CallOptions) | undefined): ClientOptions | undefined {
  if (options === undefined) return undefined;
  const { signal: _signal, ...client } = options;
  return client;
}

/**
 * The broker's scope rule: every scope in `requested` is covered by one
 * in `allowed` (`action:resource:identifier`, a `*` identifier covering
 * any).
 *
 * ```ts
 * scopeIsSubset(["read:data:customer-7291"], ["read:data:*"]); // true
 * scopeIsSubset(["write:data:x"], ["read:data:*"]);            // false
 * ```
 */
export function scopeIsSubset(requested: readonly string[], allowed: readonly string[]): boolean {
  return native.scopeIsSubset(scopes("requested", requested), scopes("allowed", allowed));
}

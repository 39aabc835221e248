/**
 * Client options, argument checks and `AbortSignal` handling shared by
 * every class.
 *
 * @module
 */
import type * as native from "./native.cjs";
import { lift } from "./errors.cjs";

/** PEM text or its bytes (what `fs.readFileSync` returns). */
export type Pem = string | Uint8Array;

/** TLS material, named as Node's `tls` options name it. */
export interface TlsOptions {
  /** Extra trusted roots for the broker's certificate (a private CA): one PEM (which may hold several certificates) or a list. */
  ca?: Pem | readonly Pem[];
  /** A client certificate chain, for a broker in mutual-TLS mode. */
  cert?: Pem;
  /** Its private key. */
  key?: Pem;
}

/** How a client talks to the broker. */
export interface ClientOptions {
  /** The deadline of one call in milliseconds: the whole call, its retries and the waits between them included (default 10 000: 10 s, as Python's `timeout=`). */
  timeoutMs?: number;
  /** The `User-Agent` header. */
  userAgent?: string;
  /** TLS roots and client identity. */
  tls?: TlsOptions;
  /** Refuse `http://` broker URLs. */
  httpsOnly?: boolean;
}

/** Options every asynchronous call takes. */
export interface CallOptions {
  /**
   * Stops waiting when aborted: the call rejects with the signal's
   * `reason`. Work that reached the broker still runs to its end
   * (a release is never cut off), and an agent whose creation was
   * aborted is released: an abort never leaves a live token.
   */
  signal?: AbortSignal;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function pemText(field: string, value: Pem): string {
  if (typeof value === "string") return value;
  if (value instanceof Uint8Array) {
    try {
      return decoder.decode(value);
    } catch {
      throw new TypeError(`${field} must be PEM text (UTF-8)`);
    }
  }
  throw new TypeError(`${field} must be a string or a Buffer of PEM text`);
}

/** @internal */
export function tlsPem(tls: TlsOptions | undefined): {
  caPem?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
} {
  if (tls === undefined) return {};
  if (tls === null || typeof tls !== "object") throw new TypeError("tls must be an object");
  const out: { caPem?: string; clientCertPem?: string; clientKeyPem?: string } = {};
  if (tls.ca !== undefined) {
    const all = Array.isArray(tls.ca) ? (tls.ca as readonly Pem[]) : [tls.ca as Pem];
    out.caPem = all.map((p, i) => pemText(`tls.ca[${i}]`, p)).join("\n");
  }
  if (tls.cert !== undefined) out.clientCertPem = pemText("tls.cert", tls.cert);
  if (tls.key !== undefined) out.clientKeyPem = pemText("tls.key", tls.key);
  return out;
}

/** @internal */
export function nativeOptions(options: ClientOptions | undefined): native.ClientOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  const out: native.ClientOptions = { ...tlsPem(options.tls) };
  if (options.timeoutMs !== undefined) out.timeoutMs = number("timeoutMs", options.timeoutMs);
  if (options.userAgent !== undefined) out.userAgent = string("userAgent", options.userAgent);
  if (options.httpsOnly !== undefined) out.httpsOnly = Boolean(options.httpsOnly);
  return out;
}

/** @internal */
export function string(field: string, value: unknown): string {
  if (typeof value !== "string") throw new TypeError(`${field} must be a string, got ${typeof value}`);
  return value;
}

/** @internal */
export function number(field: string, value: unknown): number {
  if (typeof value !== "number") throw new TypeError(`${field} must be a number, got ${typeof value}`);
  return value;
}

/** A list of strings. @internal */
export function strings(field: string, value: unknown): string[] {
  if (!Array.isArray(value)) throw new TypeError(`${field} must be an array of strings`);
  return value.map((s: unknown, i) => string(`${field}[${i}]`, s));
}

/** A list of scopes; a lone string is refused (it is not a list of one scope). @internal */
export function scopes(field: string, value: unknown): string[] {
  if (typeof value === "string") {
    throw new TypeError(`${field} must be an array of scopes, not a string (write [${JSON.stringify(value)}])`);
  }
  if (!Array.isArray(value)) throw new TypeError(`${field} must be an array of scopes`);
  return value.map((s: unknown, i) => string(`${field}[${i}]`, s));
}

/** @internal */
export function signalOf(options: CallOptions | undefined): AbortSignal | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== "object") throw new TypeError("options must be an object");
  const signal = options.signal;
  if (signal === undefined || signal === null) return undefined;
  if (typeof signal !== "object" || typeof signal.addEventListener !== "function" || !("aborted" in signal)) {
    throw new TypeError("signal must be an AbortSignal");
  }
  return signal;
}

/**
 * Waits for `work` (already started), or rejects with `signal`'s reason
 * as soon as it aborts; the work itself runs on. Native errors become
 * their classes.
 * @internal
 */
export function race<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) {
    return work.catch((e: unknown) => {
      throw lift(e);
    });
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(lift(e));
      },
    );
  });
}

/**
 * Starts `start()` unless `signal` has already aborted, and waits for it
 * with {@link race}. A synchronous throw of `start` (an argument the
 * native side refused) becomes a rejection.
 * @internal
 */
export async function call<T>(start: () => Promise<T>, options: CallOptions | undefined): Promise<T> {
  const signal = signalOf(options);
  signal?.throwIfAborted();
  let work: Promise<T>;
  try {
    work = start();
  } catch (e) {
    throw lift(e);
  }
  return race(work, signal);
}

/**
 * `DevBroker`: AgentWrit's development broker, in this process, for your
 * own tests — no Docker, nothing beyond `127.0.0.1`:
 *
 * ```ts
 * import { DevBroker } from "agentwrit-rs/testing";
 *
 * await using broker = new DevBroker();
 * const app = broker.universalApp();
 * await using agent = await app.createAgent({ orchId: "orch", taskId: "task", scope: ["read:data:*"] });
 * assert((await app.validate(agent.accessToken)).valid);
 * ```
 *
 * `new DevBroker({ tls: "tls" })` and `{ tls: "mtls" }` serve HTTPS (and
 * require a client certificate) with a throwaway PKI; the clients it
 * hands out trust it (and present its client certificate). With
 * `manualClock: true` its time moves only by `advance(seconds)`, so a
 * test expires tokens without waiting.
 *
 * @module
 */
import { inspect } from "node:util";

import * as native from "./native.cjs";
import { AgentWritApp } from "./app.cjs";
import { lifted } from "./errors.cjs";
import { AgentWritOperator } from "./operator.cjs";
import { type ClientOptions, scopes, string } from "./options.cjs";
import { AgentAuth, type AgentAuthOptions } from "./service.cjs";

/** How the development broker runs. */
export interface DevBrokerOptions {
  /** `"none"` (plain HTTP, the default), `"tls"` or `"mtls"`. */
  tls?: "none" | "tls" | "mtls";
  /** Enforce the real broker's rate limits (off by default). */
  rateLimits?: boolean;
  /** Agent token lifetime when none is asked (seconds). */
  defaultTtl?: number;
  /** The longest agent token lifetime (seconds). */
  maxTtl?: number;
  /** The app token lifetime (seconds). */
  appTokenTtl?: number;
  /** The tokens' `iss` (empty by default, as the real broker's). */
  issuer?: string;
  /** Run on a clock that only {@link DevBroker.advance} moves. */
  manualClock?: boolean;
}

/** A registered app's id and credentials; `clientSecret` is non-enumerable (not in `console.log` or `JSON.stringify`). */
export interface AppCredentials {
  readonly appId: string;
  readonly clientId: string;
  readonly clientSecret: string;
}

/** The ceiling of {@link DevBroker.universalApp} (the sample apps' app). */
export const UNIVERSAL_APP_SCOPES: readonly string[] = Object.freeze(native.universalAppScopes());

function credentials(app: native.RegisteredApp): AppCredentials {
  const out = { appId: app.appId, clientId: app.clientId } as AppCredentials;
  Object.defineProperty(out, "clientSecret", { value: app.clientSecret, enumerable: false });
  return Object.freeze(out);
}

/** A development broker on `127.0.0.1:<free port>`, started at once, stopped by {@link DevBroker.close} (or `await using`). */
export class DevBroker implements AsyncDisposable {
  readonly #native: native.DevBroker;
  #universal: AppCredentials | undefined;

  constructor(options: DevBrokerOptions = {}) {
    const o: native.DevBrokerOptions = {};
    if (options.tls !== undefined) o.tls = string("tls", options.tls);
    if (options.rateLimits !== undefined) o.rateLimits = options.rateLimits;
    if (options.defaultTtl !== undefined) o.defaultTtl = options.defaultTtl;
    if (options.maxTtl !== undefined) o.maxTtl = options.maxTtl;
    if (options.appTokenTtl !== undefined) o.appTokenTtl = options.appTokenTtl;
    if (options.issuer !== undefined) o.issuer = string("issuer", options.issuer);
    if (options.manualClock !== undefined) o.manualClock = options.manualClock;
    this.#native = lifted(() => new native.DevBroker(o));
  }

  /** `http://127.0.0.1:PORT` (`https://` in TLS modes). */
  get url(): string {
    return this.#native.url;
  }
  /** The operator's admin secret. */
  get adminSecret(): string {
    return this.#native.adminSecret;
  }
  /** `"none"`, `"tls"` or `"mtls"`. */
  get tlsMode(): "none" | "tls" | "mtls" {
    return this.#native.tlsMode as "none" | "tls" | "mtls";
  }
  /** The throwaway CA (PEM), in TLS modes. */
  get caPem(): string | undefined {
    return this.#native.caPem ?? undefined;
  }
  /** A client certificate the broker accepts in `mtls` mode (PEM). */
  get clientCertPem(): string | undefined {
    return this.#native.clientCertPem ?? undefined;
  }
  /** That certificate's key (PEM). */
  get clientKeyPem(): string | undefined {
    return this.#native.clientKeyPem ?? undefined;
  }
  /** The broker's token-signing public key (base64url): what a service verifying locally pins (`AgentAuth({ keys })`). */
  get publicKey(): string {
    return this.#native.publicKey;
  }
  /** Whether it still runs. */
  get running(): boolean {
    return this.#native.running;
  }

  /** The client options this broker needs (its CA in TLS modes, the client identity in `mtls`), merged with `extra`. */
  clientOptions(extra: ClientOptions = {}): ClientOptions {
    if (this.tlsMode === "none") return { ...extra };
    const tls = { ...extra.tls, ca: this.caPem ?? "" };
    if (this.tlsMode === "mtls") Object.assign(tls, { cert: this.clientCertPem ?? "", key: this.clientKeyPem ?? "" });
    return { ...extra, tls };
  }

  /** Registers an app with the ceiling `scopes`. */
  registerApp(name: string, ceiling: readonly string[], options: { tokenTtl?: number } = {}): AppCredentials {
    const n = string("name", name);
    const s = scopes("scopes", ceiling);
    return credentials(lifted(() => this.#native.registerApp(n, s, options.tokenTtl)));
  }

  /** The universal app's credentials (registered on first use). */
  universalCredentials(): AppCredentials {
    this.#universal ??= this.registerApp(native.UNIVERSAL_APP_NAME, UNIVERSAL_APP_SCOPES);
    return this.#universal;
  }

  /** An {@link AgentWritApp} for an app with a broad ceiling ({@link UNIVERSAL_APP_SCOPES}). */
  universalApp(options: ClientOptions = {}): AgentWritApp {
    const c = this.universalCredentials();
    return new AgentWritApp(this.url, c.clientId, c.clientSecret, this.clientOptions(options));
  }

  /** Registers an app with the ceiling `ceiling` and returns a client for it. */
  app(name: string, ceiling: readonly string[], options: ClientOptions = {}): AgentWritApp {
    const c = this.registerApp(name, ceiling);
    return new AgentWritApp(this.url, c.clientId, c.clientSecret, this.clientOptions(options));
  }

  /** An {@link AgentWritOperator} with this broker's admin secret. */
  operator(options: ClientOptions = {}): AgentWritOperator {
    return new AgentWritOperator(this.url, this.adminSecret, this.clientOptions(options));
  }

  /** An {@link AgentAuth} validating at this broker (its TLS material included). */
  auth(options: Omit<AgentAuthOptions, "brokerUrl"> = {}): AgentAuth {
    const tls = this.clientOptions().tls;
    return new AgentAuth({ ...options, brokerUrl: this.url, ...(tls === undefined ? {} : { tls: { ...tls, ...options.tls } }) });
  }

  /** Moves the broker's manual clock forward (`manualClock: true` only). */
  advance(seconds: number): void {
    lifted(() => this.#native.advance(seconds));
  }

  /** Stops the broker (idempotent). */
  async close(): Promise<void> {
    await this.#native.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  toJSON(): Record<string, unknown> {
    return { url: this.url, tls: this.tlsMode, running: this.running };
  }

  [inspect.custom](_depth: number, options: object, show: typeof inspect): string {
    return `DevBroker ${show(this.toJSON(), options)}`;
  }
}

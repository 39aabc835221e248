/**
 * `AgentWritApp`: an app's credentials at a broker, and the agents it
 * creates.
 *
 * @module
 */
import { inspect } from "node:util";

import * as native from "./native.cjs";
import { Agent } from "./agent.cjs";
import { lift, lifted } from "./errors.cjs";
import {
  type CallOptions,
  type ClientOptions,
  call,
  nativeOptions,
  number,
  scopes,
  signalOf,
  string,
} from "./options.cjs";
import { type HealthStatus, type ValidateResult, validateResult } from "./types.cjs";
import { installExitDrain } from "./exit.cjs";

installExitDrain();

/** What an agent is created for. */
export interface AgentRequest {
  /** The orchestrator: who runs the work (a SPIFFE path segment). */
  orchId: string;
  /** The task: one unit of work (a SPIFFE path segment). */
  taskId: string;
  /** Exactly the scopes the task needs, within the app's ceiling (`action:resource:identifier`). */
  scope: readonly string[];
  /** The longest lifetime of the agent's tokens, in seconds (the broker's default, 300, when absent). */
  maxTtl?: number;
  /** The launch token's agent name. */
  label?: string;
  /** Renew in the background before each token expires (stops with release). */
  autoRenew?: boolean;
  /** The agent's Ed25519 private key (its 32-byte seed) instead of a fresh one. */
  privateKey?: Uint8Array;
}

function spec(request: AgentRequest): native.AgentSpec {
  if (request === null || typeof request !== "object") {
    throw new TypeError("createAgent takes { orchId, taskId, scope, ... }");
  }
  const out: native.AgentSpec = {
    orchId: string("orchId", request.orchId),
    taskId: string("taskId", request.taskId),
    scope: scopes("scope", request.scope),
  };
  if (request.maxTtl !== undefined) out.maxTtl = number("maxTtl", request.maxTtl);
  if (request.label !== undefined) out.label = string("label", request.label);
  if (request.autoRenew !== undefined) out.autoRenew = Boolean(request.autoRenew);
  if (request.privateKey !== undefined) {
    if (!(request.privateKey instanceof Uint8Array)) throw new TypeError("privateKey must be a Uint8Array (32 bytes)");
    out.privateKey = Buffer.from(request.privateKey);
  }
  return out;
}

let adopting: native.App | undefined;

/**
 * An app at a broker: its client id and secret (from the operator). It
 * logs in lazily, on the first call that needs it, and again before its
 * app token expires; one app serves any number of concurrent calls on
 * one connection pool.
 *
 * The client secret stays in the native client: it is no property, and
 * never in `console.log`, `util.inspect` or `JSON.stringify`.
 *
 * ```ts
 * const app = new AgentWritApp(brokerUrl, clientId, clientSecret);
 * await using agent = await app.createAgent({
 *   orchId: "order-worker",
 *   taskId: "process-ord-4823",
 *   scope: ["read:data:customer-7291"],
 * });
 * await fetch(url, { headers: { authorization: agent.bearerHeader } });
 * // released here, on every exit
 * ```
 */
export class AgentWritApp {
  readonly #native: native.App;

  /**
   * The app `clientId` at `brokerUrl` (`https://` in production; the
   * client refuses nothing else unless `httpsOnly` says so).
   */
  constructor(brokerUrl: string, clientId: string, clientSecret: string, options?: ClientOptions) {
    if (adopting !== undefined) {
      this.#native = adopting;
      adopting = undefined;
      return;
    }
    const o = nativeOptions(options);
    this.#native = lifted(
      () =>
        new native.App(
          string("brokerUrl", brokerUrl),
          string("clientId", clientId),
          string("clientSecret", clientSecret),
          o,
        ),
    );
  }

  /**
   * The app named by the environment: `AGENTWRIT_BROKER_URL`,
   * `AGENTWRIT_CLIENT_ID`, `AGENTWRIT_CLIENT_SECRET`, and for TLS
   * `AGENTWRIT_CA_FILE`, `AGENTWRIT_CLIENT_CERT`, `AGENTWRIT_CLIENT_KEY`
   * (PEM files). Throws `InvalidInputError` naming a missing variable.
   */
  static fromEnv(): AgentWritApp {
    adopting = lifted(() => native.App.fromEnv());
    return new AgentWritApp("", "", "");
  }

  /** The broker's base URL, normalised. */
  get brokerUrl(): string {
    return this.#native.brokerUrl;
  }

  /** The app's client id. */
  get clientId(): string {
    return this.#native.clientId;
  }

  /**
   * Creates an agent: launch token, challenge, Ed25519 proof,
   * registration. Its scope must be within the app's ceiling (else
   * `AuthorizationError`).
   *
   * When `signal` aborts, the promise rejects with its reason at once;
   * the creation, if it reached the broker, runs to its end and the agent
   * is released then. No abort, at any point, leaves a live token.
   */
  async createAgent(request: AgentRequest, options?: CallOptions): Promise<Agent> {
    const wanted = spec(request);
    const signal = signalOf(options);
    signal?.throwIfAborted();
    const pending = lifted(() => this.#native.startCreateAgent(wanted));
    const waiting = pending.wait();
    if (signal === undefined) {
      try {
        return Agent._wrap(await waiting);
      } catch (e) {
        throw lift(e);
      }
    }
    return new Promise<Agent>((resolve, reject) => {
      const onAbort = (): void => {
        // The layer releases the agent when (if) it arrives.
        pending.abandon();
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      waiting.then(
        (handle) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) {
            // Aborted between the agent's arrival and this step: it is
            // ours to release (the release runs to its end on its own).
            handle.releaseTask().catch(() => undefined);
            reject(signal.reason);
            return;
          }
          resolve(Agent._wrap(handle));
        },
        (e: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(signal.aborted ? signal.reason : lift(e));
        },
      );
    });
  }

  /**
   * Runs `work` with a new agent and releases it (its delegations, then
   * the agent) however `work` ends: its result, its error, an early
   * return. The release is never cut short; if it fails after `work`
   * succeeded, its error is thrown.
   */
  async withAgent<T>(request: AgentRequest, work: (agent: Agent) => T | Promise<T>, options?: CallOptions): Promise<T> {
    if (typeof work !== "function") throw new TypeError("withAgent needs a function to run");
    await using agent = await this.createAgent(request, options);
    return await work(agent);
  }

  /** `POST /v1/token/validate` on this app's connections. */
  async validate(token: string, options?: CallOptions): Promise<ValidateResult> {
    const t = string("token", token);
    return validateResult(await call(() => this.#native.validate(t), options));
  }

  /** `GET /v1/health`. */
  async health(options?: CallOptions): Promise<HealthStatus> {
    return call(() => this.#native.health(), options);
  }

  /** What `JSON.stringify` writes: no secret. */
  toJSON(): Record<string, unknown> {
    return { brokerUrl: this.brokerUrl, clientId: this.clientId };
  }

  /** What `console.log` and `util.inspect` show: no secret. */
  [inspect.custom](_depth: number, options: object, show: typeof inspect): string {
    return `AgentWritApp ${show(this.toJSON(), options)}`;
  }
}

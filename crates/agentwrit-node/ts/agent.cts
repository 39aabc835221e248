/**
 * `Agent` and `DelegatedToken`.
 *
 * @module
 */
import { inspect } from "node:util";

import * as native from "./native.cjs";
import { lifted } from "./errors.cjs";
import { type CallOptions, call, number, scopes, string } from "./options.cjs";
import type { AgentClaims, DelegationRecord, ReleaseOutcome } from "./types.cjs";

/** Options of `delegate`. */
export interface DelegateOptions extends CallOptions {
  /** The delegated token's lifetime in seconds (the broker's default when absent). */
  ttl?: number;
}

/** Who a token is delegated to: an agent, or its SPIFFE id. */
export type Delegate = string | Agent;

function target(delegateTo: Delegate): string {
  return delegateTo instanceof Agent ? delegateTo.agentId : string("delegateTo", delegateTo);
}

function ttlOf(options: DelegateOptions | undefined): number | undefined {
  return options?.ttl === undefined ? undefined : number("ttl", options.ttl);
}

/**
 * An agent: an identity for one task, with a short-lived token.
 *
 * Release it when the task ends — `await using agent = await
 * app.createAgent(...)` does that on every exit (its delegations first),
 * as does `app.withAgent(...)` — or call {@link Agent.release}. An agent
 * that is garbage-collected unreleased stops renewing and its token
 * expires at the end of its TTL.
 *
 * The token is a getter only: `console.log(agent)`, `util.inspect` and
 * `JSON.stringify(agent)` never show it.
 */
export class Agent implements AsyncDisposable {
  readonly #native: native.Agent;

  /** Agents come from `AgentWritApp.createAgent`. */
  private constructor(handle: native.Agent) {
    if (!(handle instanceof native.Agent)) {
      throw new TypeError("agents are made by AgentWritApp.createAgent");
    }
    this.#native = handle;
  }

  /** @internal */
  static _wrap(handle: native.Agent): Agent {
    return new Agent(handle);
  }

  /** The agent's SPIFFE id (`spiffe://<trust domain>/agent/<orch>/<task>/<instance>`). */
  get agentId(): string {
    return this.#native.agentId;
  }
  /** The current token (changes on renewal). Pass it to services; never log it. */
  get accessToken(): string {
    return this.#native.accessToken;
  }
  /** `Bearer <token>`, the `Authorization` header's value. */
  get bearerHeader(): string {
    return `Bearer ${this.#native.accessToken}`;
  }
  /** The scope the broker granted. */
  get scope(): string[] {
    return this.#native.scope;
  }
  /** The current token's lifetime as issued, in seconds. */
  get expiresIn(): number {
    return this.#native.expiresIn;
  }
  /** When the current token expires. */
  get expiresAt(): Date {
    return new Date(this.#native.expiresAtMs);
  }
  /** The current token's id. */
  get jti(): string {
    return this.#native.jti;
  }
  /** The task id. */
  get taskId(): string {
    return this.#native.taskId;
  }
  /** The orchestrator id. */
  get orchId(): string {
    return this.#native.orchId;
  }
  /** Whether it has been released. */
  get released(): boolean {
    return this.#native.released;
  }

  /** Whether its scope covers every scope in `required` (the broker's rule). */
  allows(required: readonly string[]): boolean {
    return this.#native.allows(scopes("required", required));
  }

  /** The current token's claims (decoded locally; the broker checked them at issue). */
  claims(): AgentClaims {
    return this.#native.claims();
  }

  /** Renews the token in place: a new token and jti, the same agent; the old token is revoked. */
  async renew(options?: CallOptions): Promise<void> {
    await call(() => this.#native.renew(), options);
  }

  /**
   * Releases the token (idempotent: a second release sends nothing).
   * Once started, the release runs to its end even if `signal` aborts.
   */
  async release(options?: CallOptions): Promise<ReleaseOutcome> {
    return call(() => this.#native.release(), options);
  }

  /** Releases every token this agent delegated, then the agent: what disposal does. */
  async releaseTask(options?: CallOptions): Promise<ReleaseOutcome> {
    return call(() => this.#native.releaseTask(), options);
  }

  /**
   * Delegates `scope` (within this agent's) to another registered agent.
   * The broker refuses a widening (`AuthorizationError`, 403).
   */
  async delegate(delegateTo: Delegate, scope: readonly string[], options?: DelegateOptions): Promise<DelegatedToken> {
    const to = target(delegateTo);
    const wanted = scopes("scope", scope);
    const ttl = ttlOf(options);
    const handle = await call(() => this.#native.delegate(to, wanted, ttl), options);
    return DelegatedToken._wrap(handle);
  }

  /** Starts renewing in the background before each token expires (stops with release, or when the agent is collected). */
  startAutoRenewal(): void {
    lifted(() => this.#native.startAutoRenewal());
  }

  /** Stops background renewal: how many renewals it made, `null` if it was not running. */
  async stopAutoRenewal(options?: CallOptions): Promise<number | null> {
    return call(() => this.#native.stopAutoRenewal(), options);
  }

  /** `await using`: releases the agent's delegations, then the agent, on every exit. Never cut short. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.releaseTask();
  }

  /** What `JSON.stringify` writes: no token. */
  toJSON(): Record<string, unknown> {
    return {
      agentId: this.agentId,
      taskId: this.taskId,
      orchId: this.orchId,
      scope: this.scope,
      expiresAt: this.expiresAt.toISOString(),
      released: this.released,
    };
  }

  /** What `console.log` and `util.inspect` show: no token. */
  [inspect.custom](_depth: number, options: object, show: typeof inspect): string {
    return `Agent ${show(this.toJSON(), options)}`;
  }
}

/**
 * A token an agent (or a delegated token) handed to another agent: its
 * scope within the delegator's, its chain recorded by the broker.
 * Released with the task of the agent that delegated it, or by
 * {@link DelegatedToken.release}.
 */
export class DelegatedToken {
  readonly #native: native.Delegated;

  /** Delegated tokens come from `delegate()`. */
  private constructor(handle: native.Delegated) {
    if (!(handle instanceof native.Delegated)) {
      throw new TypeError("delegated tokens are made by delegate()");
    }
    this.#native = handle;
  }

  /** @internal */
  static _wrap(handle: native.Delegated): DelegatedToken {
    return new DelegatedToken(handle);
  }

  /** The delegated token. Never log it. */
  get accessToken(): string {
    return this.#native.accessToken;
  }
  /** `Bearer <token>`. */
  get bearerHeader(): string {
    return `Bearer ${this.#native.accessToken}`;
  }
  /** Its lifetime, in seconds. */
  get expiresIn(): number {
    return this.#native.expiresIn;
  }
  /** When it expires. */
  get expiresAt(): Date {
    return new Date(this.#native.expiresAtMs);
  }
  /** The delegate's SPIFFE id. */
  get subject(): string {
    return this.#native.subject;
  }
  /** The delegated scope. */
  get scope(): string[] {
    return this.#native.scope;
  }
  /** The chain, oldest hop first. */
  get delegationChain(): DelegationRecord[] {
    return this.#native.chain();
  }
  /** Whether the delegated scope covers `required`. */
  allows(required: readonly string[]): boolean {
    return this.#native.allows(scopes("required", required));
  }
  /** The delegated token's claims. */
  claims(): AgentClaims {
    return this.#native.claims();
  }

  /** Delegates onwards (A → B → C), never wider than this token. */
  async delegate(delegateTo: Delegate, scope: readonly string[], options?: DelegateOptions): Promise<DelegatedToken> {
    const to = target(delegateTo);
    const wanted = scopes("scope", scope);
    const ttl = ttlOf(options);
    const handle = await call(() => this.#native.delegate(to, wanted, ttl), options);
    return DelegatedToken._wrap(handle);
  }

  /** Releases the delegated token. */
  async release(options?: CallOptions): Promise<ReleaseOutcome> {
    return call(() => this.#native.release(), options);
  }

  /** What `JSON.stringify` writes: no token. */
  toJSON(): Record<string, unknown> {
    return {
      subject: this.subject,
      scope: this.scope,
      expiresAt: this.expiresAt.toISOString(),
      delegationChain: this.delegationChain,
    };
  }

  /** What `console.log` and `util.inspect` show: no token. */
  [inspect.custom](_depth: number, options: object, show: typeof inspect): string {
    return `DelegatedToken ${show(this.toJSON(), options)}`;
  }
}

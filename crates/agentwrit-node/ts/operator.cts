/**
 * `AgentWritOperator`: the broker's admin API (apps, launch tokens,
 * revocation, the audit trail).
 *
 * @module
 */
import { inspect } from "node:util";

import * as native from "./native.cjs";
import { lifted } from "./errors.cjs";
import { type CallOptions, type ClientOptions, call, nativeOptions, scopes, string } from "./options.cjs";
import { installExitDrain } from "./exit.cjs";

installExitDrain();

/** An app as the broker describes it. */
export interface AppRecord {
  appId: string;
  name: string;
  clientId: string;
  /** Its scope ceiling. */
  scopes?: string[] | null;
  /** Its app token's lifetime (seconds). */
  tokenTtl: number;
  status: string;
  createdAt?: string;
  updatedAt?: string;
  deregisteredAt?: string;
}

/**
 * A newly registered app. Its `clientSecret` is shown once by the broker;
 * it is a non-enumerable property, so `console.log` and `JSON.stringify`
 * of the record leave it out.
 */
export interface CreatedApp extends AppRecord {
  readonly clientSecret: string;
}

/** `GET /v1/admin/apps`. */
export interface AppList {
  apps: AppRecord[];
  total: number;
}

/** A launch token (non-enumerable `launchToken`) and its policy. */
export interface LaunchToken {
  readonly launchToken: string;
  /** When it expires (RFC 3339). */
  expiresAt: string;
  policy: { allowedScope: string[]; maxTtl: number };
}

/** What a revocation did. */
export interface RevokeResult {
  revoked: boolean;
  level: string;
  target: string;
  /** How many tokens it revoked. */
  count: number;
}

/** One event of the broker's hash-chained audit trail. */
export interface AuditEvent {
  id: string;
  timestamp: string;
  eventType: string;
  agentId?: string;
  taskId?: string;
  orchId?: string;
  detail: string;
  resource?: string;
  outcome?: string;
  delegDepth?: number;
  delegChainHash?: string;
  bytesTransferred?: number;
  hash: string;
  prevHash: string;
}

/** One page of the audit trail. */
export interface AuditPage {
  events: AuditEvent[];
  total: number;
  offset: number;
  limit: number;
}

/** Filters of {@link AgentWritOperator.auditEvents}. */
export interface AuditFilter extends CallOptions {
  agentId?: string;
  taskId?: string;
  eventType?: string;
  outcome?: string;
  /** At or after this instant (RFC 3339, or a `Date`). */
  since?: string | Date;
  /** At or before this instant. */
  until?: string | Date;
  /** Page size. */
  limit?: number;
  /** Events to skip. */
  offset?: number;
}

/** What revocation targets: one token (its jti), an agent (SPIFFE id), a task (task id), or a delegation chain (its root agent). */
export type RevocationLevel = "token" | "agent" | "task" | "chain";

/** A launch token's terms. */
export interface LaunchTokenRequest extends CallOptions {
  /** The agent name. */
  agentName: string;
  /** The scope ceiling of the agent it registers. */
  allowedScope: readonly string[];
  /** The agent token's longest lifetime (seconds). */
  maxTtl?: number;
  /** Whether it registers one agent only. */
  singleUse?: boolean;
  /** The launch token's own lifetime (seconds). */
  ttl?: number;
}

function hide<T extends object>(value: T, key: string): T {
  const secret = (value as Record<string, unknown>)[key];
  if (secret !== undefined) {
    Object.defineProperty(value, key, { value: secret, enumerable: false, writable: false, configurable: false });
  }
  return value;
}

function instant(field: string, value: string | Date | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) return value.toISOString();
  return string(field, value);
}

let adopting: native.Operator | undefined;

/**
 * The operator: the broker's admin secret, for registering apps, issuing
 * launch tokens, revoking and reading the audit trail. The secret stays
 * in the native client (never in `console.log` or `JSON.stringify`).
 */
export class AgentWritOperator {
  readonly #native: native.Operator;

  /** The operator at `brokerUrl`, logging in with `adminSecret`. */
  constructor(brokerUrl: string, adminSecret: string, options?: ClientOptions) {
    if (adopting !== undefined) {
      this.#native = adopting;
      adopting = undefined;
      return;
    }
    const o = nativeOptions(options);
    this.#native = lifted(
      () => new native.Operator(string("brokerUrl", brokerUrl), string("adminSecret", adminSecret), o),
    );
  }

  /** From `AGENTWRIT_BROKER_URL` and `AGENTWRIT_ADMIN_SECRET` (and the TLS variables). */
  static fromEnv(): AgentWritOperator {
    adopting = lifted(() => native.Operator.fromEnv());
    return new AgentWritOperator("", "");
  }

  /** The broker's base URL. */
  get brokerUrl(): string {
    return this.#native.brokerUrl;
  }

  /** Registers an app with the scope ceiling `scopes`. */
  async createApp(
    app: { name: string; scopes: readonly string[]; tokenTtl?: number },
    options?: CallOptions,
  ): Promise<CreatedApp> {
    const name = string("name", app.name);
    const ceiling = scopes("scopes", app.scopes);
    const created = await call(() => this.#native.createApp(name, ceiling, app.tokenTtl), options);
    return hide(created as CreatedApp, "clientSecret");
  }

  /** Every app. */
  async listApps(options?: CallOptions): Promise<AppList> {
    return (await call(() => this.#native.listApps(), options)) as AppList;
  }

  /** One app. */
  async getApp(appId: string, options?: CallOptions): Promise<AppRecord> {
    const id = string("appId", appId);
    return (await call(() => this.#native.getApp(id), options)) as AppRecord;
  }

  /** Changes an app's ceiling or app token lifetime. */
  async updateApp(
    appId: string,
    changes: { scopes?: readonly string[]; tokenTtl?: number },
    options?: CallOptions,
  ): Promise<AppRecord> {
    const id = string("appId", appId);
    const ceiling = changes.scopes === undefined ? undefined : scopes("scopes", changes.scopes);
    return (await call(() => this.#native.updateApp(id, ceiling, changes.tokenTtl), options)) as AppRecord;
  }

  /** Deregisters an app. */
  async deleteApp(appId: string, options?: CallOptions): Promise<AppRecord> {
    const id = string("appId", appId);
    return (await call(() => this.#native.deleteApp(id), options)) as AppRecord;
  }

  /** A launch token, for registering an agent directly (without an app). */
  async createLaunchToken(request: LaunchTokenRequest): Promise<LaunchToken> {
    const spec: native.LaunchTokenSpec = {
      agentName: string("agentName", request.agentName),
      allowedScope: scopes("allowedScope", request.allowedScope),
    };
    if (request.maxTtl !== undefined) spec.maxTtl = request.maxTtl;
    if (request.singleUse !== undefined) spec.singleUse = request.singleUse;
    if (request.ttl !== undefined) spec.ttl = request.ttl;
    const token = await call(() => this.#native.launchToken(spec), request);
    return hide(token as LaunchToken, "launchToken");
  }

  /** Revokes at `level`: `target` is a jti, a SPIFFE id, a task id, or a chain's root agent. */
  async revoke(level: RevocationLevel, target: string, options?: CallOptions): Promise<RevokeResult> {
    const l = string("level", level);
    const t = string("target", target);
    return (await call(() => this.#native.revoke(l, t), options)) as RevokeResult;
  }

  /** One page of the audit trail, oldest first. */
  async auditEvents(filter: AuditFilter = {}): Promise<AuditPage> {
    const query: native.AuditQuery = {};
    if (filter.agentId !== undefined) query.agentId = string("agentId", filter.agentId);
    if (filter.taskId !== undefined) query.taskId = string("taskId", filter.taskId);
    if (filter.eventType !== undefined) query.eventType = string("eventType", filter.eventType);
    if (filter.outcome !== undefined) query.outcome = string("outcome", filter.outcome);
    const since = instant("since", filter.since);
    if (since !== undefined) query.since = since;
    const until = instant("until", filter.until);
    if (until !== undefined) query.until = until;
    if (filter.limit !== undefined) query.limit = filter.limit;
    if (filter.offset !== undefined) query.offset = filter.offset;
    return (await call(() => this.#native.auditEvents(query), filter)) as AuditPage;
  }

  /** Every event matching `filter` (all pages), oldest first. */
  async allAuditEvents(filter: Omit<AuditFilter, "limit" | "offset"> = {}): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    const limit = 500;
    for (let offset = 0; ; offset += limit) {
      const page = await this.auditEvents({ ...filter, limit, offset });
      out.push(...page.events);
      if (page.events.length < limit) return out;
    }
  }

  /** What `JSON.stringify` writes: no secret. */
  toJSON(): Record<string, unknown> {
    return { brokerUrl: this.brokerUrl };
  }

  /** What `console.log` and `util.inspect` show: no secret. */
  [inspect.custom](_depth: number, options: object, show: typeof inspect): string {
    return `AgentWritOperator ${show(this.toJSON(), options)}`;
  }
}

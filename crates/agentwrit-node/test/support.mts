// What the tests share: the broker's audit trail read as "which tokens
// are still alive", a loopback proxy that holds the broker's answers back,
// a loopback port that accepts and never answers, and a bounded poll.
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

import type { AuditEvent } from "agentwrit-rs";
import { DevBroker } from "agentwrit-rs/testing";

const JTI = /(?:new_)?jti=([0-9a-f]+)/;

/** Every audit event, oldest first. */
export async function events(broker: DevBroker): Promise<AuditEvent[]> {
  return broker.operator().allAuditEvents();
}

/**
 * The agents' current tokens (the registration's, or the last renewal's)
 * that the broker never saw released or revoked, and that have not
 * expired by `nowMs` on the broker's clock (a registration's token
 * expires `ttl` seconds after it was issued; a renewal keeps the
 * lifetime, so its token expires `ttl` seconds after the renewal).
 */
export async function liveTokens(broker: DevBroker, nowMs = Date.now()): Promise<Set<string>> {
  const current = new Map<string, string>();
  const ttls = new Map<string, number>();
  const expired = new Set<string>();
  const tasks = new Map<string, string>();
  const dead = new Set<string>();
  const revoked = new Set<string>();
  for (const e of await events(broker)) {
    const agent = e.agentId ?? "";
    if (e.eventType === "token_revoked") {
      const m = /level=(\w+) target=(\S+)/.exec(e.detail);
      if (m) revoked.add(`${m[1]} ${m[2]}`);
      continue;
    }
    const m = JTI.exec(e.detail);
    if (m === null || m[1] === undefined) continue;
    if (e.eventType === "token_issued" || e.eventType === "token_renewed") {
      current.set(agent, m[1]);
      tasks.set(agent, e.taskId ?? "");
      const issuedTtl = /ttl=(\d+)/.exec(e.detail)?.[1];
      if (issuedTtl !== undefined) ttls.set(agent, Number(issuedTtl));
      const ttl = ttls.get(agent);
      if (ttl !== undefined && Date.parse(e.timestamp) + ttl * 1000 <= nowMs) expired.add(m[1]);
    } else if (e.eventType === "token_released") {
      dead.add(m[1]);
    }
  }
  const live = new Set<string>();
  for (const [agent, jti] of current) {
    if (
      !dead.has(jti) &&
      !expired.has(jti) &&
      !revoked.has(`token ${jti}`) &&
      !revoked.has(`agent ${agent}`) &&
      !revoked.has(`task ${tasks.get(agent) ?? ""}`)
    ) {
      live.add(jti);
    }
  }
  return live;
}

/** How many agents the broker registered. */
export async function registrations(broker: DevBroker): Promise<number> {
  return (await events(broker)).filter((e) => e.eventType === "agent_registered").length;
}

/** Polls `check` until it holds or `limitMs` passes (a bounded wait for work that ends on its own, never a fixed sleep). */
export async function eventually(check: () => boolean | Promise<boolean>, limitMs = 30_000): Promise<boolean> {
  const end = Date.now() + limitMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(20);
  }
}

async function listen(server: net.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return `http://127.0.0.1:${port}`;
}

/** A loopback proxy to `upstream` that holds each of the broker's answers back for `delayMs`. */
export class DelayProxy {
  readonly #server = net.createServer();
  readonly #sockets = new Set<net.Socket>();
  #url = "";

  private constructor(upstream: URL, delayMs: number) {
    this.#server.on("connection", (client) => {
      const broker = net.connect(Number(upstream.port), upstream.hostname);
      for (const s of [client, broker]) {
        this.#sockets.add(s);
        s.on("close", () => this.#sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          broker.destroy();
        });
      }
      client.pipe(broker);
      broker.on("data", (chunk: Buffer) => {
        setTimeout(() => {
          if (!client.destroyed) client.write(chunk);
        }, delayMs);
      });
      broker.on("end", () => setTimeout(() => client.end(), delayMs));
    });
  }

  static async start(upstream: string, delayMs: number): Promise<DelayProxy> {
    const proxy = new DelayProxy(new URL(upstream), delayMs);
    proxy.#url = await listen(proxy.#server);
    return proxy;
  }

  get url(): string {
    return this.#url;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A loopback port that accepts connections and never answers. */
export class Silent {
  readonly #server = net.createServer();
  readonly #held: net.Socket[] = [];
  #url = "";

  private constructor() {
    this.#server.on("connection", (s) => {
      this.#held.push(s);
      s.on("error", () => undefined);
    });
  }

  static async start(): Promise<Silent> {
    const silent = new Silent();
    silent.#url = await listen(silent.#server);
    return silent;
  }

  get url(): string {
    return this.#url;
  }

  /** How many connections it accepted. */
  get accepted(): number {
    return this.#held.length;
  }

  async close(): Promise<void> {
    for (const s of this.#held) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A loopback URL where nothing listens. */
export async function closedPort(): Promise<string> {
  const server = net.createServer();
  const url = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return url;
}

// Nothing left alive, on every path a Node program takes: an AbortSignal
// firing at any point of a creation (behind a loopback proxy that holds
// the broker's answers back, so the aborts land while requests are in
// flight), `await using` left by a throw or an early return, a deadline
// that passes mid-creation, a process whose event loop empties while an
// aborted creation is still being cleaned up, 32 creations at once on one
// app. Checked at the broker's audit trail, not through return values.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { type Agent, type AgentWritApp, AgentWritApp as App, TransportError, drain } from "agentwrit-rs";
import { DevBroker } from "agentwrit-rs/testing";

import { DelayProxy, events, eventually, liveTokens, registrations } from "./support.mjs";

const SCOPE = ["read:data:customer-7291"];
const DELAY = 50;

interface Proxied {
  broker: DevBroker;
  proxy: DelayProxy;
  app: AgentWritApp;
  [Symbol.asyncDispose](): Promise<void>;
}

async function proxied(delayMs = DELAY, timeoutMs?: number): Promise<Proxied> {
  const broker = new DevBroker();
  const proxy = await DelayProxy.start(broker.url, delayMs);
  const c = broker.universalCredentials();
  const app = new App(proxy.url, c.clientId, c.clientSecret, timeoutMs === undefined ? {} : { timeoutMs });
  return {
    broker,
    proxy,
    app,
    async [Symbol.asyncDispose]() {
      await proxy.close();
      await broker.close();
    },
  };
}

/** Every call the aborts left running has ended, and the broker saw every issued token released. */
async function settled(broker: DevBroker): Promise<void> {
  assert.equal(await drain(60_000), true, "calls still running after 60 s");
  assert.deepEqual(await liveTokens(broker), new Set(), "a token is still alive at the broker");
}

function isAbort(e: unknown): boolean {
  return e instanceof DOMException && (e.name === "AbortError" || e.name === "TimeoutError");
}

test("AbortSignal.timeout at many points of a creation leaves no live token", async () => {
  await using p = await proxied();
  // Warm the app token, so the points below fall on the creation itself.
  await (await p.app.createAgent({ orchId: "orch", taskId: "warm", scope: SCOPE })).release();
  let aborted = 0;
  for (let i = 0; i < 24; i++) {
    // 0 .. ~6 round trips: every request of the creation.
    const signal = AbortSignal.timeout(Math.round((i * DELAY) / 4));
    try {
      const agent = await p.app.createAgent({ orchId: "orch", taskId: `w${i}`, scope: SCOPE }, { signal });
      await agent.release();
    } catch (e) {
      assert.ok(isAbort(e), `not an abort: ${String(e)}`);
      aborted++;
    }
  }
  assert.ok(aborted >= 8, `only ${aborted} creations were aborted`);
  await settled(p.broker);
  // Registrations did complete behind aborted waits: the layer released them.
  assert.ok((await registrations(p.broker)) > 25 - aborted);
});

test("AbortController.abort() at many points of a creation leaves no live token", async () => {
  await using p = await proxied();
  await (await p.app.createAgent({ orchId: "orch", taskId: "warm", scope: SCOPE })).release();
  for (let i = 0; i < 20; i++) {
    const controller = new AbortController();
    const creating = p.app.createAgent({ orchId: "orch", taskId: `c${i}`, scope: SCOPE }, { signal: controller.signal });
    // Let the creation run for i steps of a few milliseconds, then abort
    // it wherever it is.
    for (let step = 0; step < i; step++) await sleep(DELAY / 5);
    controller.abort(new Error(`stop ${i}`));
    try {
      const agent = await creating;
      await agent.release();
    } catch (e) {
      assert.equal((e as Error).message, `stop ${i}`, "the signal's reason is what the promise rejects with");
    }
  }
  await settled(p.broker);
});

test("an already aborted signal sends nothing", async () => {
  await using p = await proxied(0);
  const seen = async (): Promise<string[]> =>
    (await events(p.broker)).map((e) => e.eventType).filter((t) => !t.startsWith("admin"));
  const before = await seen();
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    p.app.createAgent({ orchId: "orch", taskId: "never", scope: SCOPE }, { signal: controller.signal }),
    (e: unknown) => e instanceof DOMException && e.name === "AbortError",
  );
  assert.equal(await registrations(p.broker), 0);
  assert.deepEqual(await seen(), before, "the broker saw nothing but the test's own audit reads");
});

test("an abort never cuts a release short", async () => {
  await using p = await proxied();
  const agent = await p.app.createAgent({ orchId: "orch", taskId: "release", scope: SCOPE });
  const controller = new AbortController();
  const releasing = agent.release({ signal: controller.signal });
  controller.abort();
  await assert.rejects(releasing, (e: unknown) => isAbort(e));
  await settled(p.broker);
});

test("await using releases the agent and its delegations when the block throws", async () => {
  await using broker = new DevBroker();
  const app = broker.universalApp();
  const tokens: string[] = [];
  await assert.rejects(
    (async () => {
      await using a = await app.createAgent({ orchId: "orch", taskId: "thrower", scope: ["read:data:*"] });
      await using b = await app.createAgent({ orchId: "orch", taskId: "helper", scope: ["read:data:*"] });
      const d = await a.delegate(b, ["read:data:customer-7291"]);
      tokens.push(a.accessToken, b.accessToken, d.accessToken);
      throw new Error("the work failed");
    })(),
    /the work failed/,
  );
  for (const token of tokens) assert.equal((await app.validate(token)).valid, false);
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("await using releases the agent on an early return", async () => {
  await using broker = new DevBroker();
  const app = broker.universalApp();
  const work = async (early: boolean): Promise<{ token: string; agent: Agent }> => {
    await using agent = await app.createAgent({ orchId: "orch", taskId: "early", scope: SCOPE });
    if (early) return { token: agent.accessToken, agent };
    throw new Error("not reached");
  };
  const { token, agent } = await work(true);
  assert.equal(agent.released, true);
  assert.equal((await app.validate(token)).valid, false);
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("withAgent returns the work's value and releases on every path", async () => {
  await using broker = new DevBroker();
  const app = broker.universalApp();
  let seen = "";
  const value = await app.withAgent({ orchId: "orch", taskId: "with", scope: SCOPE }, async (agent) => {
    seen = agent.accessToken;
    return 42;
  });
  assert.equal(value, 42);
  assert.equal((await app.validate(seen)).valid, false);
  await assert.rejects(
    app.withAgent({ orchId: "orch", taskId: "with-throw", scope: SCOPE }, (agent) => {
      seen = agent.accessToken;
      throw new TypeError("bad");
    }),
    TypeError,
  );
  assert.equal((await app.validate(seen)).valid, false);
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("32 concurrent createAgent calls on one app: one login, 32 agents, all released", async () => {
  await using broker = new DevBroker({ rateLimits: true });
  const app = broker.universalApp();
  const agents = await Promise.all(
    Array.from({ length: 32 }, (_, i) => app.createAgent({ orchId: "orch", taskId: `par-${i}`, scope: SCOPE })),
  );
  assert.equal(new Set(agents.map((a) => a.agentId)).size, 32);
  assert.equal(new Set(agents.map((a) => a.accessToken)).size, 32);
  await Promise.all(agents.map((a) => a.release()));
  const all = await events(broker);
  assert.equal(all.filter((e) => e.eventType === "app_authenticated").length, 1, "the app logged in once");
  assert.equal(all.filter((e) => e.eventType === "app_auth_failed").length, 0);
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("a creation that outlives its deadline is a timeout, and its agent is released", async () => {
  await using p = await proxied(200, 500);
  const err = await p.app.createAgent({ orchId: "orch", taskId: "slow", scope: SCOPE }).then(
    () => assert.fail("a creation of ~6 slow round trips finished within 0.5 s"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TransportError);
  assert.equal(err.timeout, true);
  assert.equal(err.retryable, true);
  assert.ok(err.message.includes(p.proxy.url), err.message);
  await settled(p.broker);
  assert.equal(await registrations(p.broker), 1);
});

test("automatic renewal renews before expiry and ends with the release", async () => {
  await using broker = new DevBroker();
  const app = broker.universalApp();
  const agent = await app.createAgent({ orchId: "orch", taskId: "renewing", scope: SCOPE, maxTtl: 2, autoRenew: true });
  const first = agent.jti;
  assert.ok(await eventually(() => agent.jti !== first, 15_000), "no renewal within 15 s of a 2 s token");
  await agent.release();
  const renewals = await agent.stopAutoRenewal();
  assert.ok(renewals !== null && renewals >= 1, `renewals: ${renewals}`);
  assert.equal(await agent.stopAutoRenewal(), null, "stopped once");
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("a process whose loop empties while an aborted creation is cleaned up waits for it", async () => {
  await using p = await proxied(100);
  const c = p.broker.universalCredentials();
  const child = spawn(process.execPath, [fileURLToPath(new URL("./exit_child.mjs", import.meta.url))], {
    env: { ...process.env, BROKER: p.proxy.url, CLIENT_ID: c.clientId, CLIENT_SECRET: c.clientSecret },
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 60_000,
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  assert.equal(code, 0, out);
  assert.match(out, /aborted/);
  // The child has exited: nothing of it runs any more. Its creation
  // reached the broker and was released before it went.
  assert.ok((await registrations(p.broker)) >= 1, "the creation never reached the broker");
  assert.deepEqual(await liveTokens(p.broker), new Set());
});

// Typed errors (a class per kind, `instanceof` through the hierarchy,
// status / problem / requestId / retryable), bad input refused before
// anything is sent, a dead broker that is an error and not a hang, and
// secrets that never reach console.log, util.inspect or JSON.stringify.
import assert from "node:assert/strict";
import { Console } from "node:console";
import { Writable } from "node:stream";
import { test } from "node:test";
import { inspect } from "node:util";

import {
  AgentWritApp,
  AgentWritError,
  AgentWritOperator,
  AuthenticationError,
  InvalidInputError,
  ProblemResponseError,
  RateLimitError,
  TransportError,
  validate,
} from "agentwrit-rs";
import { DevBroker } from "agentwrit-rs/testing";

import { Silent, closedPort, liveTokens } from "./support.mjs";

/** Everything `console.log` would print for `values`. */
function logged(...values: unknown[]): string {
  let out = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  new Console({ stdout: sink, stderr: sink }).log(...values);
  return out;
}

test("a broker rejection is its class, through the whole hierarchy", async () => {
  await using broker = new DevBroker();
  const c = broker.universalCredentials();
  const bad = new AgentWritApp(broker.url, c.clientId, "not-the-secret");
  const err = await bad.health().then(async () => bad.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] })).then(
    () => assert.fail("accepted"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AuthenticationError);
  assert.ok(err instanceof ProblemResponseError);
  assert.ok(err instanceof AgentWritError);
  assert.ok(err instanceof Error);
  assert.equal(err.name, "AuthenticationError");
  assert.equal(err.code, "authentication");
  assert.equal(err.status, 401);
  assert.equal(err.retryable, false);
  assert.equal(err.problem?.instance, "/v1/app/auth");
  assert.equal(err.requestId, err.problem?.requestId);
  assert.match(String(err.stack), /AuthenticationError/);
  assert.ok(!logged(err).includes("not-the-secret"));
});

test("a string where a list of scopes belongs is a TypeError, before anything is sent", async () => {
  await using broker = new DevBroker();
  const app = broker.universalApp();
  await assert.rejects(
    app.createAgent({ orchId: "o", taskId: "t", scope: "read:data:x" as unknown as string[] }),
    (e: unknown) => e instanceof TypeError && /array of scopes, not a string/.test(e.message),
  );
  await assert.rejects(app.createAgent({ orchId: "o", taskId: "t", scope: [7 as unknown as string] }), TypeError);
  await assert.rejects(app.validate(42 as unknown as string), TypeError);
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("a value the core refuses is an InvalidInputError naming the field", async () => {
  await using broker = new DevBroker();
  const app = broker.universalApp();
  for (const [request, field] of [
    [{ orchId: "o/x", taskId: "t", scope: ["read:data:x"] }, "orch_id"],
    [{ orchId: "o", taskId: "t", scope: ["not a scope"] }, "scope[0]"],
    [{ orchId: "o", taskId: "t", scope: ["read:data:x"], maxTtl: -1 }, "max_ttl"],
    [{ orchId: "o", taskId: "t", scope: ["read:data:x"], privateKey: new Uint8Array(5) }, "private_key"],
  ] as const) {
    const err = await app.createAgent(request).then(
      () => assert.fail(`${field} accepted`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AgentWritError, String(err));
    assert.ok(err.message.includes(field), `${err.message} names ${field}`);
  }
  assert.throws(() => new AgentWritApp("not a url", "id", "secret"), InvalidInputError);
  assert.throws(() => new AgentWritApp(broker.url, "id", "secret", { timeoutMs: 0 }), InvalidInputError);
  assert.throws(() => new AgentWritApp(broker.url, "id", "secret", { tls: { cert: "x" } }), InvalidInputError);
  assert.throws(() => new AgentWritApp(broker.url, "id", "secret", { httpsOnly: true }), InvalidInputError);
  assert.equal(await broker.operator().allAuditEvents({ eventType: "agent_registered" }).then((e) => e.length), 0);
});

test("a dead broker is a retryable TransportError naming it, not a hang", async () => {
  const url = await closedPort();
  const app = new AgentWritApp(url, "id", "secret", { timeoutMs: 5_000 });
  const err = await app.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:x"] }).then(
    () => assert.fail("a closed port answered"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TransportError);
  assert.equal(err.code, "transport");
  assert.equal(err.retryable, true);
  assert.ok(err.message.includes(url), err.message);
  await assert.rejects(validate(url, "eyJ.x.y"), TransportError);
});

test("a broker that never answers is a timeout within the call's deadline", async () => {
  const silent = await Silent.start();
  try {
    const err = await validate(silent.url, "eyJhbGciOiJFZERTQSJ9.e30.c2ln", { timeoutMs: 300 }).then(
      () => assert.fail("a silent broker answered"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransportError);
    assert.equal(err.timeout, true);
    assert.ok(err.message.includes(silent.url), err.message);
    assert.ok(silent.accepted >= 1);
  } finally {
    await silent.close();
  }
});

test("a rate limit the retry policy gives up on is a RateLimitError with its Retry-After", async () => {
  await using broker = new DevBroker({ rateLimits: true });
  const c = broker.universalCredentials();
  const agents = [];
  let limited: RateLimitError | undefined;
  // Every app object logs in for itself: the broker allows 3 quick logins.
  for (let i = 0; i < 5 && limited === undefined; i++) {
    const app = new AgentWritApp(broker.url, c.clientId, c.clientSecret);
    try {
      agents.push(await app.createAgent({ orchId: "o", taskId: `t${i}`, scope: ["read:data:x"] }));
    } catch (e) {
      assert.ok(e instanceof RateLimitError, String(e));
      limited = e;
    }
  }
  assert.ok(limited !== undefined, "never rate-limited");
  assert.equal(limited.status, 429);
  assert.equal(limited.code, "rate_limited");
  assert.equal(limited.retryable, true);
  assert.ok(typeof limited.retryAfter === "number" && limited.retryAfter > 0);
  await Promise.all(agents.map((a) => a.release()));
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("secrets never reach console.log, util.inspect or JSON.stringify", async () => {
  await using broker = new DevBroker();
  const c = broker.universalCredentials();
  const app = new AgentWritApp(broker.url, c.clientId, c.clientSecret);
  const operator = new AgentWritOperator(broker.url, broker.adminSecret);
  await using agent = await app.createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
  await using other = await app.createAgent({ orchId: "o", taskId: "u", scope: ["read:data:*"] });
  const delegated = await agent.delegate(other, ["read:data:x"]);
  const created = await operator.createApp({ name: "secret-holder", scopes: ["read:data:*"] });
  const launch = await operator.createLaunchToken({ agentName: "direct", allowedScope: ["read:data:x"] });
  const secrets = [
    c.clientSecret,
    broker.adminSecret,
    agent.accessToken,
    other.accessToken,
    delegated.accessToken,
    created.clientSecret,
    launch.launchToken,
  ];
  for (const s of secrets) assert.ok(s.length >= 16, "a secret worth looking for");
  const values: unknown[] = [app, operator, agent, delegated, created, launch, c, broker, broker.auth()];
  for (const value of values) {
    const shown = [logged(value), inspect(value, { depth: 10, showHidden: false }), JSON.stringify(value) ?? ""];
    for (const text of shown) {
      for (const s of secrets) assert.ok(!text.includes(s), `a secret in ${text.slice(0, 80)}`);
    }
  }
  // They are still there for who asks by name.
  assert.equal(typeof created.clientSecret, "string");
  assert.equal(typeof launch.launchToken, "string");
  assert.match(logged(agent), /agentId/);
});

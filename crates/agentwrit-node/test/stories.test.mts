// The fifteen acceptance stories of the official Python SDK, as Node
// tests of the installed package (the facts carry over, the code does
// not), each on a development broker of its own; every test ends with no
// live token at the broker's audit trail.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  AgentWritApp,
  AuthenticationError,
  AuthorizationError,
  ProblemResponseError,
  ReleasedError,
  scopeIsSubset,
  validate,
} from "agentwrit-rs";
import { DevBroker } from "agentwrit-rs/testing";

import { liveTokens } from "./support.mjs";

async function world(options: ConstructorParameters<typeof DevBroker>[0] = {}): Promise<{
  broker: DevBroker;
  app: AgentWritApp;
  advance(seconds: number): void;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const broker = new DevBroker(options);
  const app = broker.universalApp();
  let advanced = 0;
  return {
    broker,
    app,
    advance(seconds: number) {
      broker.advance(seconds);
      advanced += seconds * 1000;
    },
    async [Symbol.asyncDispose]() {
      assert.deepEqual(await liveTokens(broker, Date.now() + advanced), new Set(), "a token is still alive at the broker");
      await broker.close();
    },
  };
}

test("story 1: create an agent: SPIFFE id, scope, expiry and jti from the token", async () => {
  await using w = await world();
  const agent = await w.app.createAgent({ orchId: "data-service", taskId: "lookup-artis", scope: ["read:data:customer-artis"] });
  assert.match(agent.agentId, /^spiffe:\/\/agentwrit\.local\/agent\/data-service\/lookup-artis\/[0-9a-f]{16}$/);
  assert.deepEqual(agent.scope, ["read:data:customer-artis"]);
  assert.equal(agent.expiresIn, 300);
  assert.equal(agent.taskId, "lookup-artis");
  assert.equal(agent.orchId, "data-service");
  assert.equal(agent.jti.length, 32);
  assert.ok(agent.expiresAt.getTime() > Date.now());
  assert.match(agent.bearerHeader, /^Bearer eyJ/);
  assert.equal(await agent.release(), "released");
});

test("story 2: renew: a new token, the same identity, the old token dead", async () => {
  await using w = await world();
  const agent = await w.app.createAgent({ orchId: "export-service", taskId: "export-job-001", scope: ["read:data:export-batch-001"] });
  const [oldToken, oldJti, id] = [agent.accessToken, agent.jti, agent.agentId];
  await agent.renew();
  assert.notEqual(agent.accessToken, oldToken);
  assert.notEqual(agent.jti, oldJti);
  assert.equal(agent.agentId, id);
  assert.equal((await validate(w.broker.url, oldToken)).valid, false, "the old token is revoked");
  assert.equal((await validate(w.broker.url, agent.accessToken)).valid, true);
  await agent.release();
});

test("story 3: release: dead at the broker; a second release is safe and sends nothing", async () => {
  await using w = await world();
  const agent = await w.app.createAgent({ orchId: "cleanup-service", taskId: "cleanup-job-001", scope: ["write:data:cleanup-result-001"] });
  const token = agent.accessToken;
  assert.equal(await agent.release(), "released");
  assert.equal(agent.released, true);
  const v = await validate(w.broker.url, token);
  assert.equal(v.valid, false);
  assert.equal(v.error, "token is invalid or expired");
  assert.equal(await agent.release(), "already_dead");
});

test("story 4: validate a live token: every claim", async () => {
  await using w = await world();
  const requested = ["read:data:report-q3", "write:data:summary-q3"];
  const agent = await w.app.createAgent({ orchId: "reporting-service", taskId: "quarterly-report", scope: requested });
  const v = await validate(w.broker.url, agent.accessToken);
  assert.equal(v.valid, true);
  assert.ok(v.valid);
  assert.deepEqual(v.claims.scope, requested);
  assert.equal(v.claims.sub, agent.agentId);
  assert.equal(v.claims.orchId, "reporting-service");
  assert.equal(v.claims.taskId, "quarterly-report");
  assert.equal(v.claims.jti, agent.jti);
  assert.equal(v.claims.exp - v.claims.iat, 300);
  // The app's validate and the module's agree.
  assert.deepEqual(await w.app.validate(agent.accessToken), v);
  assert.deepEqual(agent.claims(), v.claims);
  await agent.release();
});

test("story 5: delegate a narrower scope", async () => {
  await using w = await world();
  await using a = await w.app.createAgent({ orchId: "pipeline", taskId: "orchestrator-001", scope: ["read:data:partition-7", "read:data:partition-8"] });
  await using b = await w.app.createAgent({ orchId: "pipeline", taskId: "worker-partition-7", scope: ["read:data:partition-7"] });
  const d = await a.delegate(b, ["read:data:partition-7"], { ttl: 120 });
  assert.equal(d.subject, b.agentId);
  assert.deepEqual(d.scope, ["read:data:partition-7"]);
  assert.equal(d.expiresIn, 120);
  assert.equal(d.delegationChain.length, 1);
  assert.equal(d.delegationChain[0]?.agent, a.agentId);
  const v = await validate(w.broker.url, d.accessToken);
  assert.ok(v.valid);
  assert.ok(scopeIsSubset(["read:data:partition-7"], v.claims.scope));
  assert.ok(!scopeIsSubset(["read:data:partition-8"], v.claims.scope), "the narrow token does not reach partition 8");
});

test("story 6: delegating beyond one's scope is a 403 with the broker's whole problem", async () => {
  await using w = await world();
  await using a = await w.app.createAgent({ orchId: "orch", taskId: "a", scope: ["read:data:reports"] });
  await using b = await w.app.createAgent({ orchId: "orch", taskId: "b", scope: ["read:data:*"] });
  const err = await a.delegate(b.agentId, ["write:data:reports"]).then(
    () => assert.fail("a widening delegation was accepted"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AuthorizationError);
  assert.ok(err instanceof ProblemResponseError);
  assert.equal(err.status, 403);
  assert.equal(err.code, "authorization");
  assert.equal(err.problem?.status, 403);
  assert.equal(err.problem?.errorCode, "scope_violation");
  assert.ok(err.problem?.detail);
  assert.match(err.requestId ?? "", /^[0-9a-f]{16}$/);
});

test("story 7: A → B → C: the scope narrows at each hop, the broker records the chain", async () => {
  await using w = await world();
  await using a = await w.app.createAgent({ orchId: "orch", taskId: "a", scope: ["read:data:*", "write:data:*"] });
  await using b = await w.app.createAgent({ orchId: "orch", taskId: "b", scope: ["read:data:*"] });
  await using c = await w.app.createAgent({ orchId: "orch", taskId: "c", scope: ["read:data:*"] });
  const ab = await a.delegate(b, ["read:data:*"]);
  const bc = await ab.delegate(c, ["read:data:customer-7291"]);
  assert.equal(bc.subject, c.agentId);
  assert.deepEqual(bc.scope, ["read:data:customer-7291"]);
  assert.deepEqual(
    bc.delegationChain.map((r) => r.agent),
    [a.agentId, b.agentId],
  );
  assert.match(bc.claims().chainHash ?? "", /^[0-9a-f]{64}$/);
  // C cannot widen what B gave it.
  await assert.rejects(bc.delegate(a, ["read:data:*"]), (e: unknown) => e instanceof AuthorizationError && e.status === 403);
});

test("story 8: delegating exactly one's own scope is allowed", async () => {
  await using w = await world();
  await using a = await w.app.createAgent({ orchId: "orch", taskId: "a", scope: ["read:data:x"] });
  await using b = await w.app.createAgent({ orchId: "orch", taskId: "b", scope: ["read:data:*"] });
  const d = await a.delegate(b, ["read:data:x"]);
  assert.deepEqual(d.scope, ["read:data:x"]);
});

test("story 9: scope gating with the validated claims", async () => {
  await using w = await world();
  await using agent = await w.app.createAgent({
    orchId: "orch",
    taskId: "gate",
    scope: ["read:data:customer-7291", "write:data:order-4823"],
  });
  const v = await w.app.validate(agent.accessToken);
  assert.ok(v.valid);
  const held = v.claims.scope;
  assert.ok(scopeIsSubset(["read:data:customer-7291"], held));
  assert.ok(scopeIsSubset(["write:data:order-4823"], held));
  assert.ok(!scopeIsSubset(["read:data:customer-9999"], held));
  assert.ok(!scopeIsSubset(["delete:data:customer-7291"], held));
  assert.ok(agent.allows(["read:data:customer-7291"]));
  assert.ok(!agent.allows(["read:analytics:customer-7291"]));
});

test("story 10: natural expiry with a short TTL (the broker's clock moved, nobody waits)", async () => {
  await using w = await world({ manualClock: true });
  const agent = await w.app.createAgent({ orchId: "orch", taskId: "short", scope: ["read:data:*"], maxTtl: 2 });
  assert.equal(agent.expiresIn, 2);
  const token = agent.accessToken;
  assert.equal((await w.app.validate(token)).valid, true);
  w.advance(3);
  assert.equal((await w.app.validate(token)).valid, false);
  // Releasing a token that expired counts as released.
  assert.equal(await agent.release(), "already_dead");
});

test("story 11: a broker rejection carries RFC 7807's fields", async () => {
  await using w = await world();
  const c = w.broker.universalCredentials();
  const bad = new AgentWritApp(w.broker.url, c.clientId, "wrong-secret");
  const err = await bad.createAgent({ orchId: "orch", taskId: "task", scope: ["read:data:*"] }).then(
    () => assert.fail("a wrong secret was accepted"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AuthenticationError);
  assert.equal(err.status, 401);
  assert.deepEqual(
    [err.problem?.type, err.problem?.title, err.problem?.status, err.problem?.detail, err.problem?.instance, err.problem?.errorCode],
    ["urn:agentwrit:error:unauthorized", "Unauthorized", 401, "Authentication failed", "/v1/app/auth", "unauthorized"],
  );
  assert.equal(err.requestId?.length, 16);
  // Beyond the app's ceiling: 403 at the launch-token step.
  const ceiling = await w.app.createAgent({ orchId: "orch", taskId: "task", scope: ["admin:everything:*"] }).then(
    () => assert.fail("a scope beyond the ceiling was granted"),
    (e: unknown) => e,
  );
  assert.ok(ceiling instanceof AuthorizationError);
  assert.ok(ceiling.problem?.instance.endsWith("/launch-tokens"));
});

test("story 12: three agents are isolated: distinct ids, tokens and scopes", async () => {
  await using w = await world();
  const agents = await Promise.all(
    [0, 1, 2].map((i) => w.app.createAgent({ orchId: "orch", taskId: `t${i}`, scope: [`read:data:c${i}`] })),
  );
  assert.equal(new Set(agents.map((a) => a.agentId)).size, 3);
  const [a0, a1, a2] = agents as [(typeof agents)[0], (typeof agents)[0], (typeof agents)[0]];
  await a1.release();
  assert.equal((await w.app.validate(a0.accessToken)).valid, true);
  assert.equal((await w.app.validate(a1.accessToken)).valid, false);
  assert.equal((await w.app.validate(a2.accessToken)).valid, true);
  const v = await w.app.validate(a2.accessToken);
  assert.ok(v.valid && !scopeIsSubset(["read:data:c0"], v.claims.scope));
  await a0.release();
  await a2.release();
});

test("story 13: renewing or delegating after release fails locally, sending nothing", async () => {
  await using w = await world();
  const agent = await w.app.createAgent({ orchId: "orch", taskId: "t", scope: ["read:data:*"] });
  await agent.release();
  await assert.rejects(agent.renew(), (e: unknown) => e instanceof ReleasedError && e.code === "released");
  await using b = await w.app.createAgent({ orchId: "orch", taskId: "b", scope: ["read:data:*"] });
  await assert.rejects(agent.delegate(b, ["read:data:*"]), ReleasedError);
});

test("story 14: garbage tokens are a result (valid: false), not an error", async () => {
  await using w = await world();
  for (const garbage of ["not-a-jwt", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Bearer x", "\u{1F600}"]) {
    const v = await w.app.validate(garbage);
    assert.equal(v.valid, false, garbage);
    assert.equal((await validate(w.broker.url, garbage)).valid, false, garbage);
  }
});

test("story 15: health", async () => {
  await using w = await world();
  const h = await w.app.health();
  assert.equal(h.status, "ok");
  assert.ok(h.version.length > 0);
  assert.equal(typeof h.uptime, "number");
});

// The operator API: apps (create, list, get, update, delete), launch
// tokens an agent registers with, revocation at its four levels, and the
// audit trail; answers in camelCase.
import assert from "node:assert/strict";
import { test } from "node:test";

import { AgentWritApp, AgentWritOperator, AuthenticationError, AuthorizationError } from "agentwrit-rs";
import { DevBroker } from "agentwrit-rs/testing";

import { liveTokens } from "./support.mjs";

test("apps: create, list, get, update, delete", async () => {
  await using broker = new DevBroker();
  const op = broker.operator();
  const created = await op.createApp({ name: "billing", scopes: ["read:data:*"], tokenTtl: 900 });
  // The broker's answer to a creation leaves the name empty (as the real
  // broker's does); the app's record has it.
  assert.match(created.clientId, /\S/);
  assert.deepEqual(created.scopes, ["read:data:*"]);
  assert.equal(created.tokenTtl, 900);
  assert.ok(!Object.keys(created).includes("clientSecret"), "the secret is not enumerable");
  const list = await op.listApps();
  assert.ok(list.apps.some((a) => a.appId === created.appId));
  assert.equal(list.total, list.apps.length);
  const record = await op.getApp(created.appId);
  assert.equal(record.clientId, created.clientId);
  assert.equal(record.name, "billing");
  const updated = await op.updateApp(created.appId, { scopes: ["read:data:*", "write:data:*"] });
  assert.deepEqual(updated.scopes, ["read:data:*", "write:data:*"]);
  // The new app works, within its (new) ceiling.
  const app = new AgentWritApp(broker.url, created.clientId, created.clientSecret);
  await using agent = await app.createAgent({ orchId: "o", taskId: "t", scope: ["write:data:x"] });
  assert.deepEqual(agent.scope, ["write:data:x"]);
  await agent.release();
  await op.deleteApp(created.appId);
  // A new login with the deleted app's credentials is refused.
  const again = new AgentWritApp(broker.url, created.clientId, created.clientSecret);
  const gone = await again.createAgent({ orchId: "o", taskId: "t2", scope: ["read:data:x"] }).then(
    () => assert.fail("a deleted app created an agent"),
    (e: unknown) => e,
  );
  assert.ok(gone instanceof AuthenticationError || gone instanceof AuthorizationError, String(gone));
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("revocation at each level kills what it names", async () => {
  await using broker = new DevBroker();
  const op = broker.operator();
  const app = broker.universalApp();
  const make = (task: string) => app.createAgent({ orchId: "orch-r", taskId: task, scope: ["read:data:*"] });

  const byToken = await make("by-token");
  assert.equal((await op.revoke("token", byToken.jti)).revoked, true);
  assert.equal((await app.validate(byToken.accessToken)).valid, false);

  const byAgent = await make("by-agent");
  await op.revoke("agent", byAgent.agentId);
  assert.equal((await app.validate(byAgent.accessToken)).valid, false);

  const [t1, t2] = [await make("by-task"), await make("by-task")];
  const result = await op.revoke("task", "by-task");
  assert.equal(result.level, "task");
  assert.equal(result.revoked, true);
  for (const a of [t1, t2]) assert.equal((await app.validate(a.accessToken)).valid, false);

  const root = await make("chain-root");
  const leaf = await make("chain-leaf");
  const d = await root.delegate(leaf, ["read:data:x"]);
  await op.revoke("chain", root.agentId);
  assert.equal((await app.validate(d.accessToken)).valid, false);

  await assert.rejects(op.revoke("everything" as "token", "x"), /level/);
  for (const a of [byToken, byAgent, t1, t2, root, leaf]) await a.releaseTask();
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("a launch token registers an agent without an app, within its policy", async () => {
  await using broker = new DevBroker();
  const op = broker.operator();
  const lt = await op.createLaunchToken({ agentName: "direct-agent", allowedScope: ["read:data:x"], maxTtl: 120, singleUse: true });
  assert.match(lt.expiresAt, /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(lt.policy.allowedScope, ["read:data:x"]);
  assert.equal(lt.policy.maxTtl, 120);
  assert.ok(lt.launchToken.length > 16);
});

test("the audit trail, filtered and paged", async () => {
  await using broker = new DevBroker();
  const op = broker.operator();
  const app = broker.universalApp();
  const agent = await app.createAgent({ orchId: "orch-a", taskId: "audited", scope: ["read:data:*"] });
  await agent.release();
  const page = await op.auditEvents({ taskId: "audited" });
  const types = page.events.map((e) => e.eventType);
  assert.ok(types.includes("agent_registered") && types.includes("token_issued") && types.includes("token_released"), String(types));
  assert.ok(page.events.every((e) => e.taskId === "audited"));
  const first = await op.auditEvents({ limit: 1, offset: 0 });
  assert.equal(first.events.length, 1);
  assert.equal(first.limit, 1);
  assert.ok(first.total > 1);
  const [e] = first.events;
  assert.ok(e !== undefined && typeof e.prevHash === "string" && typeof e.hash === "string");
  const since = await op.auditEvents({ since: new Date(Date.now() - 60_000), eventType: "token_released" });
  assert.ok(since.events.length >= 1);
  await assert.rejects(op.auditEvents({ since: "yesterday" }), /since/);
});

test("a wrong admin secret is an AuthenticationError; fromEnv names what is missing", async () => {
  await using broker = new DevBroker();
  const op = new AgentWritOperator(broker.url, "wrong");
  await assert.rejects(op.listApps(), AuthenticationError);
  const saved = { ...process.env };
  try {
    delete process.env["AGENTWRIT_ADMIN_SECRET"];
    process.env["AGENTWRIT_BROKER_URL"] = broker.url;
    assert.throws(() => AgentWritOperator.fromEnv(), /AGENTWRIT_ADMIN_SECRET/);
    process.env["AGENTWRIT_ADMIN_SECRET"] = broker.adminSecret;
    assert.ok(Array.isArray((await AgentWritOperator.fromEnv().listApps()).apps));
    const c = broker.universalCredentials();
    process.env["AGENTWRIT_CLIENT_ID"] = c.clientId;
    delete process.env["AGENTWRIT_CLIENT_SECRET"];
    assert.throws(() => AgentWritApp.fromEnv(), /AGENTWRIT_CLIENT_SECRET/);
    process.env["AGENTWRIT_CLIENT_SECRET"] = c.clientSecret;
    const app = AgentWritApp.fromEnv();
    assert.equal(app.clientId, c.clientId);
    await (await app.createAgent({ orchId: "o", taskId: "env", scope: ["read:data:x"] })).release();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  assert.deepEqual(await liveTokens(broker), new Set());
});

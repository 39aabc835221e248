// The service side, in the frameworks users run: Express (over real HTTP)
// and Hono (its fetch handler), behind `agentAuth`, with per-route
// scopes. 200 for a good token with the scope, 401 without a token or
// with a bad, released or revoked one, 403 without the route's scope
// (naming it), 503 when the broker cannot be asked (fail closed).
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import express from "express";
import { Hono } from "hono";

import { AgentAuth } from "agentwrit-rs";
import * as forExpress from "agentwrit-rs/express";
import * as forHono from "agentwrit-rs/hono";
import { DevBroker } from "agentwrit-rs/testing";

import { closedPort, liveTokens } from "./support.mjs";

interface Answer {
  status: number;
  challenge: string | null;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

type Fetcher = (method: string, path: string, token?: string | string[]) => Promise<Answer>;

async function answer(r: Response): Promise<Answer> {
  const text = await r.text();
  return {
    status: r.status,
    challenge: r.headers.get("www-authenticate"),
    retryAfter: r.headers.get("retry-after"),
    body: (r.headers.get("content-type") ?? "").includes("json") ? (JSON.parse(text) as Record<string, unknown>) : { text },
  };
}

function headers(token?: string | string[]): Headers {
  const h = new Headers();
  for (const t of token === undefined ? [] : Array.isArray(token) ? token : [token]) h.append("authorization", t);
  return h;
}

/** An Express server with the adapter, over real HTTP on 127.0.0.1:0. */
async function expressService(auth: AgentAuth): Promise<{ fetch: Fetcher; close(): Promise<void> }> {
  const app = express();
  app.use(forExpress.agentAuth(auth));
  app.get("/healthz", (_req, res) => {
    res.send("ok");
  });
  app.get("/customers/:id", forExpress.requireScopes("read:data:customer-{id}"), (req, res) => {
    res.json({ ok: true, agent: req.agent?.sub, task: forExpress.agentClaims(req).taskId });
  });
  app.post("/orders/:id", forExpress.requireScopes("write:data:order-{id}"), (req, res) => {
    res.json({ ok: true, agent: req.agent?.sub });
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    fetch: async (method, path, token) => answer(await fetch(`${base}${path}`, { method, headers: headers(token) })),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A Hono app with the adapter, driven through its fetch handler. */
function honoService(auth: AgentAuth): { fetch: Fetcher; close(): Promise<void> } {
  const app = new Hono<{ Variables: forHono.AgentVariables }>();
  app.use("*", forHono.agentAuth(auth));
  app.get("/healthz", (c) => c.text("ok"));
  app.get("/customers/:id", forHono.requireScopes("read:data:customer-{id}"), (c) =>
    c.json({ ok: true, agent: c.get("agent").sub, task: c.get("agent").taskId }),
  );
  app.post("/orders/:id", forHono.requireScopes("write:data:order-{id}"), (c) => c.json({ ok: true, agent: c.get("agent").sub }));
  return {
    fetch: async (method, path, token) => answer(await app.request(path, { method, headers: headers(token) })),
    close: async () => undefined,
  };
}

const frameworks = [
  ["express", expressService],
  ["hono", async (auth: AgentAuth) => honoService(auth)],
] as const;

for (const [name, serve] of frameworks) {
  test(`${name}: 200, 401, 403 as the Rust layer answers them`, async () => {
    await using broker = new DevBroker();
    // No reuse of verdicts: a released token is refused at once.
    const auth = broker.auth({ publicPaths: ["/healthz"], maxStalenessMs: 0 });
    const service = await serve(auth);
    try {
      const app = broker.universalApp();
      const agent = await app.createAgent({
        orchId: "order-worker",
        taskId: "process-ord-4823",
        scope: ["read:data:customer-7291", "write:data:order-4823"],
      });

      assert.equal((await service.fetch("GET", "/healthz")).status, 200, "a public path needs no token");

      const none = await service.fetch("GET", "/customers/7291");
      assert.equal(none.status, 401);
      assert.equal(none.challenge, "Bearer");
      assert.equal(none.body["type"], "urn:agentwrit:error:unauthorized");
      assert.equal(none.body["instance"], "/customers/7291");

      const bad = await service.fetch("GET", "/customers/7291", "Bearer not-a-jws");
      assert.equal(bad.status, 401);
      assert.match(bad.challenge ?? "", /^Bearer error="invalid_token", error_description="/);

      const basic = await service.fetch("GET", "/customers/7291", "Basic dTpw");
      assert.equal(basic.status, 401);

      const ok = await service.fetch("GET", "/customers/7291", agent.bearerHeader);
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, { ok: true, agent: agent.agentId, task: "process-ord-4823" });
      assert.equal((await service.fetch("POST", "/orders/4823", agent.bearerHeader)).status, 200);

      const other = await service.fetch("GET", "/customers/9999", agent.bearerHeader);
      assert.equal(other.status, 403);
      assert.equal(
        other.challenge,
        'Bearer error="insufficient_scope", error_description="token lacks required scope: read:data:customer-9999", scope="read:data:customer-9999"',
      );
      assert.equal(other.body["error_code"], "insufficient_scope");
      assert.equal((await service.fetch("POST", "/orders/0000", agent.bearerHeader)).status, 403);

      const twice = await service.fetch("GET", "/customers/7291", [agent.bearerHeader, agent.bearerHeader]);
      assert.equal(twice.status, 401, "two Authorization headers are refused");

      await agent.release();
      const released = await service.fetch("GET", "/customers/7291", agent.bearerHeader);
      assert.equal(released.status, 401);
      assert.match(released.challenge ?? "", /invalid_token/);
      assert.deepEqual(await liveTokens(broker), new Set());
    } finally {
      await service.close();
    }
  });

  test(`${name}: a broker that cannot be asked is a 503, never a pass`, async () => {
    await using broker = new DevBroker();
    const agent = await broker.universalApp().createAgent({ orchId: "o", taskId: "t", scope: ["read:data:customer-7291"] });
    const service = await serve(new AgentAuth({ brokerUrl: await closedPort(), brokerTimeoutMs: 2_000 }));
    try {
      const down = await service.fetch("GET", "/customers/7291", agent.bearerHeader);
      assert.equal(down.status, 503);
      assert.equal(down.retryAfter, "1");
      assert.equal(down.challenge, null);
    } finally {
      await service.close();
      await agent.release();
    }
  });
}

test("a revoked token is refused; a cached verdict lives at most maxStalenessMs", async () => {
  await using broker = new DevBroker();
  const auth = broker.auth({ maxStalenessMs: 60_000 });
  const app = broker.universalApp();
  const agent = await app.createAgent({ orchId: "o", taskId: "revoked", scope: ["read:data:*"] });
  assert.equal((await auth.authenticate(agent.bearerHeader)).ok, true);
  assert.equal(auth.cachedEntries, 1);
  await broker.operator().revoke("agent", agent.agentId);
  // Cached for a minute in this authenticator; a fresh one asks the broker.
  assert.equal((await auth.authenticate(agent.bearerHeader)).ok, true);
  const fresh = await broker.auth().authenticate(agent.bearerHeader, "/x");
  assert.equal(fresh.ok, false);
  assert.ok(!fresh.ok && fresh.refusal.status === 401 && fresh.refusal.code === "invalid_token");
  await agent.releaseTask();
});

test("local mode verifies against the broker's key without asking it; a re-check sees revocation", async () => {
  await using broker = new DevBroker();
  const app = broker.universalApp();
  const agent = await app.createAgent({ orchId: "o", taskId: "local", scope: ["read:data:*"] });
  const local = new AgentAuth({ keys: [broker.publicKey] });
  const verdict = await local.verifyToken(agent.accessToken);
  assert.ok(verdict.ok && verdict.claims.sub === agent.agentId);
  const forged = await new AgentAuth({ keys: ["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"] }).verifyToken(agent.accessToken);
  assert.equal(forged.ok, false);
  await agent.release();
  assert.equal((await local.verifyToken(agent.accessToken)).ok, true, "local mode cannot see a release (documented)");
  const rechecked = new AgentAuth({ keys: [broker.publicKey], brokerUrl: broker.url });
  assert.equal((await rechecked.verifyToken(agent.accessToken)).ok, false);
});

test("a protected resource publishes its metadata and names it in every challenge", async () => {
  await using broker = new DevBroker();
  const auth = broker.auth({ resource: { resource: "http://127.0.0.1:8000/api", scopesSupported: ["read:data:*"] } });
  const service = await expressService(auth);
  try {
    assert.equal(auth.resourceMetadataUrl, "http://127.0.0.1:8000/.well-known/oauth-protected-resource/api");
    const meta = await service.fetch("GET", "/.well-known/oauth-protected-resource/api");
    assert.equal(meta.status, 200);
    assert.deepEqual(meta.body, {
      resource: "http://127.0.0.1:8000/api",
      scopes_supported: ["read:data:*"],
      bearer_methods_supported: ["header"],
    });
    const none = await service.fetch("GET", "/customers/1");
    assert.equal(none.challenge, `Bearer resource_metadata="${auth.resourceMetadataUrl}"`);
  } finally {
    await service.close();
  }
});

test("misconfiguration fails closed: a scope template naming no route parameter", async () => {
  await using broker = new DevBroker();
  const app = express();
  app.use(forExpress.agentAuth(broker.auth()));
  app.get("/x/:id", forExpress.requireScopes("read:data:{customer}"), (_req, res) => {
    res.send("reached");
  });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await using agent = await broker.universalApp().createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
    const r = await fetch(`${base}/x/1`, { headers: { authorization: agent.bearerHeader } });
    assert.equal(r.status, 500);
    assert.ok(!(await r.text()).includes("reached"));
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("scope decisions become usage evidence: JSON Lines records of what each token used", async () => {
  await using broker = new DevBroker();
  const dir = await mkdtemp(join(tmpdir(), "agentwrit-node-usage-"));
  try {
    const auth = broker.auth({ usage: { serviceName: "orders-api", dir } });
    const service = await expressService(auth);
    const agent = await broker.universalApp().createAgent({
      orchId: "order-worker",
      taskId: "usage-4823",
      scope: ["read:data:customer-7291", "write:data:order-4823"],
    });
    try {
      assert.equal((await service.fetch("GET", "/customers/7291", agent.bearerHeader)).status, 200);
      assert.equal((await service.fetch("GET", "/customers/7291", agent.bearerHeader)).status, 200);
      assert.equal((await service.fetch("GET", "/customers/9999", agent.bearerHeader)).status, 403);
    } finally {
      await service.close();
      await agent.release();
    }
    auth.close();
    const text = (await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f), "utf8")))).join("");
    const records = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(records.length, 1, text);
    const record = records[0] as { service: string; task_id: string; granted: string[]; requests: number; scopes: { scope: string; decision: string; count: number }[] };
    assert.equal(record.service, "orders-api");
    assert.equal(record.task_id, "usage-4823");
    assert.deepEqual(record.granted, ["read:data:customer-7291", "write:data:order-4823"]);
    assert.equal(record.requests, 3);
    const uses = record.scopes.map((s) => `${s.scope} ${s.decision} ${s.count}`).sort();
    assert.deepEqual(uses, ["read:data:customer-7291 allowed 2", "read:data:customer-9999 denied 1"]);
    assert.ok(!text.includes(agent.accessToken), "a token in the records");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// The example MCP server on the official TypeScript SDK, behind this
// package's verifier, driven by the official SDK's own client over
// streamable HTTP — the cases the Rust and Python servers pass: no token →
// 401 whose resource_metadata resolves to RFC 9728 metadata; a token
// without the tool's scope → 403 insufficient_scope naming it; allowed →
// the tool's result; a cross-customer or widening argument → refused; a
// released or revoked token → 401. No live token at the end.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import express from "express";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from "@modelcontextprotocol/sdk/client/auth.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";

import type { Agent } from "agentwrit-rs";
import { agentWritVerifier, mcpToolScopes } from "agentwrit-rs/mcp";
import { DevBroker } from "agentwrit-rs/testing";

import { startServer } from "../examples/mcp_server.mjs";
import { closedPort, liveTokens } from "./support.mjs";

interface Seen {
  status: number;
  challenge: string | null;
  resourceMetadata: string | null;
  scope: string | null;
  error: string | null;
}

interface Report {
  responses: Seen[];
  text?: string;
  isError?: boolean;
  thrown?: string;
}

/** One client action: connect (and call `tool` with `args`), recording every HTTP response. */
async function act(url: string, agent: Agent | undefined, tool?: string, args?: Record<string, unknown>): Promise<Report> {
  const report: Report = { responses: [] };
  const recording = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    const params = extractWWWAuthenticateParams(response);
    report.responses.push({
      status: response.status,
      challenge: response.headers.get("www-authenticate"),
      resourceMetadata: params.resourceMetadataUrl?.href ?? null,
      scope: params.scope ?? null,
      error: params.error ?? null,
    });
    return response;
  };
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: agent === undefined ? {} : { Authorization: agent.bearerHeader } },
    fetch: recording,
  });
  const client = new Client({ name: "agentwrit-rs-node-tests", version: "0.1.0" });
  try {
    await client.connect(transport);
    if (tool !== undefined) {
      const result = await client.callTool({ name: tool, arguments: args ?? {} });
      report.isError = Boolean(result.isError);
      report.text = (result.content as { type: string; text?: string }[])
        .filter((c) => c.type === "text")
        .map((c) => c.text ?? "")
        .join(" ");
    }
  } catch (e) {
    report.thrown = `${(e as Error).constructor.name}: ${(e as Error).message}`;
  } finally {
    await client.close().catch(() => undefined);
  }
  return report;
}

const withStatus = (r: Report, status: number): Seen[] => r.responses.filter((s) => s.status === status);

test("the official MCP client against the TypeScript server behind agentWritVerifier: every case", async () => {
  await using broker = new DevBroker();
  const server = await startServer({ brokerUrl: broker.url, auth: { maxStalenessMs: 0 } });
  try {
    const app = broker.universalApp();

    // No token: 401 naming the metadata, which the SDK's discovery reads.
    const anonymous = await act(server.url, undefined, "get_customer_profile", { customer_id: "cust-7291" });
    const [unauthorized] = withStatus(anonymous, 401);
    assert.ok(unauthorized !== undefined, JSON.stringify(anonymous));
    assert.equal(unauthorized.resourceMetadata, server.metadataUrl);
    assert.equal(anonymous.text, undefined);
    const doc = await discoverOAuthProtectedResourceMetadata(new URL(server.url), {
      resourceMetadataUrl: new URL(server.metadataUrl),
    });
    assert.equal(doc.resource, server.url);
    assert.deepEqual(doc.bearer_methods_supported, ["header"]);
    assert.deepEqual(doc.scopes_supported, ["read:analytics:*", "read:data:*", "write:data:*"]);
    assert.equal(doc.authorization_servers, undefined);

    // A token per task, with only what the task needs.
    await using agent = await app.createAgent({
      orchId: "mcp-agent",
      taskId: "process-ord-4823",
      scope: ["read:data:customer-cust-7291", "write:data:order-ord-4823"],
    });

    const ok = await act(server.url, agent, "get_customer_profile", { customer_id: "cust-7291" });
    assert.equal(ok.thrown, undefined, JSON.stringify(ok));
    assert.equal(ok.isError, false);
    assert.equal(ok.text, "Customer profile for cust-7291: John Doe, Premium tier");
    const written = await act(server.url, agent, "write_order", { order_id: "ord-4823", customer_id: "cust-7291" });
    assert.equal(written.text, "Order ord-4823 confirmed for customer cust-7291");
    assert.equal(server.orders.get("ord-4823"), "process-ord-4823");

    // Another customer: 403 insufficient_scope naming the scope to step up to.
    const cross = await act(server.url, agent, "get_customer_profile", { customer_id: "cust-9999" });
    const forbidden = withStatus(cross, 403);
    assert.equal(forbidden.length, 1, JSON.stringify(cross));
    assert.equal(forbidden[0]?.error, "insufficient_scope");
    assert.equal(forbidden[0]?.scope, "read:data:customer-cust-9999");
    assert.equal(forbidden[0]?.resourceMetadata, server.metadataUrl);
    assert.equal(cross.text, undefined);
    assert.match(cross.thrown ?? "", /403|insufficient|lacks/i);

    // A tool of another family, and an argument that would widen a scope.
    assert.equal(withStatus(await act(server.url, agent, "tenant_report", { tenant: "bank" }), 403).length, 1);
    const wild = await act(server.url, agent, "get_customer_profile", { customer_id: "*" });
    assert.equal(withStatus(wild, 400).length, 1, JSON.stringify(wild));
    assert.equal(wild.text, undefined);

    // Released and revoked tokens: 401.
    const revoked = await app.createAgent({ orchId: "mcp-agent", taskId: "revoked", scope: ["read:analytics:*"] });
    const before = await act(server.url, revoked, "tenant_report", { tenant: "hospital" });
    assert.match(before.text ?? "", /^Metro Health System: /);
    await broker.operator().revoke("agent", revoked.agentId);
    const afterRevoke = await act(server.url, revoked, "tenant_report", { tenant: "hospital" });
    assert.ok(withStatus(afterRevoke, 401).length >= 1, JSON.stringify(afterRevoke));
    assert.equal(afterRevoke.text, undefined);

    const released = await app.createAgent({ orchId: "mcp-agent", taskId: "released", scope: ["read:analytics:*"] });
    await released.release();
    const afterRelease = await act(server.url, released, "tenant_report", { tenant: "bank" });
    const refused = withStatus(afterRelease, 401);
    assert.ok(refused.length >= 1, JSON.stringify(afterRelease));
    assert.match(refused[0]?.challenge ?? "", /invalid_token/);
    assert.equal(refused[0]?.resourceMetadata, server.metadataUrl);
    await revoked.releaseTask();
  } finally {
    await server.close();
  }
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("a broker that cannot be asked fails closed (the SDK's 500), never a tool call", async () => {
  await using broker = new DevBroker();
  const agent = await broker.universalApp().createAgent({ orchId: "o", taskId: "t", scope: ["read:data:*"] });
  const server = await startServer({ brokerUrl: await closedPort(), auth: { brokerTimeoutMs: 2_000 } });
  try {
    const r = await act(server.url, agent, "get_customer_profile", { customer_id: "cust-7291" });
    assert.ok(withStatus(r, 500).length >= 1, JSON.stringify(r));
    assert.equal(r.text, undefined);
  } finally {
    await server.close();
    await agent.release();
  }
});

test("mcpToolScopes: the shared decision answers with the request's id and path, and records it", async () => {
  await using broker = new DevBroker();
  const dir = await mkdtemp(join(tmpdir(), "agentwrit-node-mcp-usage-"));
  try {
    const auth = broker.auth({ usage: { serviceName: "mcp-node", dir } });
    const app = express();
    app.post(
      "/mcp",
      requireBearerAuth({ verifier: agentWritVerifier(auth) }),
      express.json(),
      mcpToolScopes(auth, { tools: { get_customer_profile: ["read:data:customer-{customer_id}"] } }),
      (req, res) => {
        res.json({ jsonrpc: "2.0", id: (req.body as { id: unknown }).id, result: { reached: true } });
      },
    );
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
    const agent = await broker.universalApp().createAgent({
      orchId: "mcp-orch",
      taskId: "lookup-7291",
      scope: ["read:data:customer-cust-7291"],
    });
    const call = async (id: unknown, customer: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const r = await fetch(url, {
        method: "POST",
        headers: { authorization: agent.bearerHeader, "content-type": "application/json" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: { name: "get_customer_profile", arguments: { customer_id: customer } },
        }),
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    try {
      const allowed = await call(1, "cust-7291");
      assert.equal(allowed.status, 200);
      assert.deepEqual(allowed.body["result"], { reached: true });
      // Refused: the JSON-RPC error carries the request's id, whatever its
      // type, and the problem names the path (as tower's MCP layer answers).
      for (const id of ["call-7", 8]) {
        const denied = await call(id, "cust-9999");
        assert.equal(denied.status, 403);
        assert.equal(denied.body["id"], id);
        const error = denied.body["error"] as { code: number; message: string; data: Record<string, unknown> };
        assert.equal(error.code, -32003);
        assert.equal(error.data["instance"], "/mcp");
        assert.match(error.message, /read:data:customer-cust-9999/);
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await agent.release();
    }
    auth.close();
    const text = (await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f), "utf8")))).join("");
    const records = text
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { task_id: string; requests: number; scopes: { scope: string; decision: string; count: number }[] });
    assert.equal(records.length, 1, text);
    assert.equal(records[0]?.task_id, "lookup-7291");
    assert.equal(records[0]?.requests, 3);
    const uses = (records[0]?.scopes ?? []).map((u) => `${u.scope} ${u.decision} ${u.count}`).sort();
    assert.deepEqual(uses, ["read:data:customer-cust-7291 allowed 1", "read:data:customer-cust-9999 denied 2"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.deepEqual(await liveTokens(broker), new Set());
});

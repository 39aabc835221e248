// An MCP tool server on the official TypeScript SDK
// (@modelcontextprotocol/sdk), its tools over the sample apps' data, each
// call authorized by the agent token it carries:
//
// - `requireBearerAuth` with `agentWritVerifier`: no token, or a bad,
//   expired, released or revoked one → 401 with a challenge naming the
//   protected-resource metadata (RFC 9728), served without a token;
// - `mcpToolScopes`: each tool's scope filled from the call's arguments
//   (`read:data:customer-{customer_id}`), decided by the broker's rule; a
//   token without it → 403 `insufficient_scope` naming the scope to step
//   up to, as a JSON-RPC error the client reads;
// - each tool re-checks its scope from the verified claims.
//
//   AGENTWRIT_BROKER_URL=http://127.0.0.1:8080 node mcp_server.mjs [--port 8000]
//
// The same tools and scopes as the Rust server (examples/mcp).
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";

import express from "express";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

import { AgentAuth, type AgentAuthOptions } from "agentwrit-rs";
import {
  type AuthInfo,
  agentWritVerifier,
  allows,
  claimsOf,
  mcpToolScopes,
  protectedResourceMetadata,
  scopeFamilies,
} from "agentwrit-rs/mcp";

/** Each tool and the scope a call needs, filled from its arguments. */
export const TOOL_SCOPES = {
  get_customer_profile: ["read:data:customer-{customer_id}"],
  write_order: ["write:data:order-{order_id}"],
  tenant_report: ["read:analytics:{tenant}"],
} as const;

const CUSTOMERS: Record<string, [string, string]> = {
  "cust-7291": ["John Doe", "Premium"],
  "cust-9999": ["Jane Roe", "Standard"],
};

const TENANTS: Record<string, [string, Record<string, string>]> = {
  hospital: ["Metro Health System", { patient_visits: "12,847", avg_stay: "3.2 days", readmit_rate: "4.1%" }],
  bank: ["First National Bank", { transactions: "2.4M", avg_balance: "$8,420", fraud_rate: "0.02%" }],
  retail: ["ShopWave Corp", { orders: "847K", avg_order: "$67.30", return_rate: "8.4%" }],
};

function text(t: string, isError = false): CallToolResult {
  return { content: [{ type: "text", text: t }], ...(isError ? { isError: true } : {}) };
}

/** Defence in depth: the middleware refused a token without the scope already; a tool re-checks. */
function recheck(info: AuthInfo | undefined, scope: string): CallToolResult | undefined {
  if (info === undefined) return text("no verified agent token: the server is not behind the AgentWrit verifier", true);
  return allows(info, [scope]) ? undefined : text(`the token lacks ${scope}`, true);
}

/** A server for one request (stateless streamable HTTP). */
function tools(orders: Map<string, string>): McpServer {
  const server = new McpServer({ name: "agentwrit-sample-tools", version: "0.1.0" });
  server.registerTool(
    "get_customer_profile",
    {
      description: "Read one customer's profile. Needs read:data:customer-<customer_id>.",
      inputSchema: { customer_id: z.string() },
    },
    async ({ customer_id }, extra) => {
      const refused = recheck(extra.authInfo, `read:data:customer-${customer_id}`);
      if (refused) return refused;
      const found = CUSTOMERS[customer_id];
      if (found === undefined) return text(`no customer ${customer_id}`, true);
      return text(`Customer profile for ${customer_id}: ${found[0]}, ${found[1]} tier`);
    },
  );
  server.registerTool(
    "write_order",
    {
      description: "Write an order's confirmation. Needs write:data:order-<order_id>.",
      inputSchema: { order_id: z.string(), customer_id: z.string() },
    },
    async ({ order_id, customer_id }, extra) => {
      const refused = recheck(extra.authInfo, `write:data:order-${order_id}`);
      if (refused) return refused;
      orders.set(order_id, claimsOf(extra.authInfo)?.taskId ?? "?");
      return text(`Order ${order_id} confirmed for customer ${customer_id}`);
    },
  );
  server.registerTool(
    "tenant_report",
    {
      description: "A tenant's analytics report (hospital, bank, retail). Needs read:analytics:<tenant>.",
      inputSchema: { tenant: z.string() },
    },
    async ({ tenant }, extra) => {
      const refused = recheck(extra.authInfo, `read:analytics:${tenant}`);
      if (refused) return refused;
      const found = TENANTS[tenant];
      if (found === undefined) return text(`no tenant ${tenant}`, true);
      return text(`${found[0]}: ${JSON.stringify(found[1])}`);
    },
  );
  return server;
}

/** A running server. */
export interface RunningServer {
  /** The MCP endpoint (`http://127.0.0.1:PORT/mcp`): the protected resource. */
  url: string;
  /** Where its RFC 9728 metadata is. */
  metadataUrl: string;
  /** The orders written (order id → the writing agent's task). */
  orders: Map<string, string>;
  close(): Promise<void>;
}

/** Starts the server on `host:port` (0: a free port), validating tokens at `brokerUrl`. */
export async function startServer(options: {
  brokerUrl: string;
  host?: string;
  port?: number;
  auth?: Omit<AgentAuthOptions, "brokerUrl" | "resource">;
}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const app = express();
  const server = app.listen(options.port ?? 0, host);
  await once(server, "listening");
  const url = `http://${host}:${(server.address() as AddressInfo).port}/mcp`;
  const auth = new AgentAuth({
    ...options.auth,
    brokerUrl: options.brokerUrl,
    resource: { resource: url, scopesSupported: scopeFamilies({ tools: TOOL_SCOPES }), name: "AgentWrit sample tools (orders, customers, tenant reports)" },
  });
  const orders = new Map<string, string>();
  // Discovery first, without a token.
  app.use(protectedResourceMetadata(auth));
  app.post(
    "/mcp",
    requireBearerAuth({ verifier: agentWritVerifier(auth), resourceMetadataUrl: auth.resourceMetadataUrl ?? "" }),
    express.json({ limit: "1mb" }),
    mcpToolScopes(auth, { tools: TOOL_SCOPES }),
    async (req, res) => {
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      const mcp = tools(orders);
      res.on("close", () => {
        void transport.close();
        void mcp.close();
      });
      await mcp.connect(transport);
      await transport.handleRequest(req, res, req.body);
    },
  );
  // Stateless: no session to resume or end.
  app.get("/mcp", (_req, res) => {
    res.status(405).set("allow", "POST").end();
  });
  return {
    url,
    metadataUrl: auth.resourceMetadataUrl ?? "",
    orders,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Run as a program: serve until interrupted.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const brokerUrl = process.env["AGENTWRIT_BROKER_URL"];
  if (brokerUrl === undefined || brokerUrl === "") {
    console.error("usage: AGENTWRIT_BROKER_URL=http://127.0.0.1:8080 node mcp_server.mjs [--port 8000]");
    process.exit(2);
  }
  const portFlag = process.argv.indexOf("--port");
  const port = portFlag === -1 ? 8000 : Number(process.argv[portFlag + 1]);
  const running = await startServer({ brokerUrl, port });
  console.log(`MCP server on ${running.url} (metadata: ${running.metadataUrl})`);
  process.on("SIGINT", () => void running.close().then(() => process.exit(0)));
}

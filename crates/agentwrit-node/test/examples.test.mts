// The sample apps in TypeScript, run as programs against a development
// broker of the test's, print what the Rust examples print: the same
// templates as `examples/tests/output_shape.rs` (ids, tokens and jtis
// differ, placeholders mark them), and leave no live token at that
// broker's audit trail. Without the broker variables a sample starts a
// broker of its own, in its own process.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { DevBroker } from "agentwrit-rs/testing";

import { liveTokens, registrations } from "./support.mjs";

/** The broker variables a sample reads (`AgentWritApp.fromEnv()`) for `broker`'s universal app. */
function brokerEnv(broker: DevBroker): Record<string, string> {
  const c = broker.universalCredentials();
  return { AGENTWRIT_BROKER_URL: broker.url, AGENTWRIT_CLIENT_ID: c.clientId, AGENTWRIT_CLIENT_SECRET: c.clientSecret };
}

/** A broker whose tokens carry the issuer the sample apps' output shows. */
function sampleBroker(): DevBroker {
  return new DevBroker({ issuer: "agentwrit" });
}

/**
 * Runs `examples/<name>.mjs` with `vars` as its broker variables (none:
 * it embeds a broker).
 */
async function run(
  name: string,
  args: string[],
  vars: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  for (const v of ["AGENTWRIT_BROKER_URL", "AGENTWRIT_CLIENT_ID", "AGENTWRIT_CLIENT_SECRET"]) delete env[v];
  Object.assign(env, vars);
  const child = spawn(process.execPath, [fileURLToPath(new URL(`../examples/${name}.mjs`, import.meta.url)), ...args], {
    env,
    timeout: 60_000,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

const PLACEHOLDERS: Record<string, (s: string) => number | undefined> = {
  "{hex16}": (s) => (/^[0-9a-fA-F]{16}/.test(s) ? 16 : undefined),
  "{hex32}": (s) => (/^[0-9a-fA-F]{32}/.test(s) ? 32 : undefined),
  "{jwt30}": (s) => (s.length >= 30 && s.startsWith("eyJ") ? 30 : undefined),
  "{digits}": (s) => {
    const n = /^\d+/.exec(s)?.[0].length;
    return n === undefined || n === 0 ? undefined : n;
  },
};

/** Whether `line` matches `template`, whose placeholders stand for what varies. */
function matches(template: string, line: string): boolean {
  const i = template.search(/\{(hex16|hex32|digits|jwt30)\}/);
  if (i === -1) return template === line;
  if (!line.startsWith(template.slice(0, i))) return false;
  const rest = template.slice(i);
  const end = rest.indexOf("}") + 1;
  const placeholder = rest.slice(0, end);
  const tail = line.slice(i);
  const n = PLACEHOLDERS[placeholder]?.(tail);
  return n !== undefined && matches(rest.slice(end), tail.slice(n));
}

function check(
  name: string,
  out: { code: number | null; stdout: string; stderr: string },
  expected: string,
  embedded = false,
): void {
  assert.equal(out.code, 0, `${name} failed: ${out.stderr}\n${out.stdout}`);
  if (embedded) {
    const stderr = out.stderr.trimEnd().split("\n");
    assert.equal(stderr.length, 1, `${name}: one line about the embedded broker, got ${out.stderr}`);
    assert.match(stderr[0] ?? "", /embedded development broker/);
  } else {
    assert.equal(out.stderr, "", `${name}: nothing on stderr with a broker configured`);
  }
  const got = out.stdout.split("\n");
  const want = expected.split("\n");
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    assert.ok(matches(want[i] ?? "", got[i] ?? ""), `${name} line ${i + 1}:\n  want ${want[i]}\n  got  ${got[i]}\n\n${out.stdout}`);
  }
  assert.equal(got.length, want.length, `${name}: line count\n${out.stdout}`);
}

const ORDER_WORKER = `Processing order ord-4823 for customer cust-7291
=======================================================

Agent created: spiffe://agentwrit.local/agent/order-worker/process-ord-4823/{hex16}
  Scope:   ['read:data:customer-cust-7291', 'write:data:order-ord-4823']
  Expires: 300s
  Token:   {jwt30}...

Token is valid. Claims:
  Issuer:  agentwrit
  Subject: spiffe://agentwrit.local/agent/order-worker/process-ord-4823/{hex16}
  Scope:   ['read:data:customer-cust-7291', 'write:data:order-ord-4823']
  Task:    process-ord-4823
  Orch:    order-worker
  JTI:     {hex32}

[READ] Customer profile for cust-7291: John Doe, Premium tier
[WRITE] Order ord-4823 confirmed for customer cust-7291
[BLOCKED] Cannot access customer cust-9999 — scope isolation working
[BLOCKED] Cannot write order ord-0000 — scope isolation working

Agent released. Token is now dead at the broker.
Confirmed: token rejected — "token is invalid or expired"
`;

function tenant(name: string, id: string, kind: string, data: string): string {
  return `── ${name} (${id}) ──
  Data type: ${kind}
  Agent: spiffe://agentwrit.local/agent/nightly-pipeline/etl-${id}-{digits}/{hex16}
  Scope: ['read:analytics:${id}', 'write:reports:${id}']
  Expires: 300s
  [EXTRACT] Pulled ${kind}: ${data}
  [TRANSFORM] Processed data for report
  [LOAD] Report written to reports/${id}/latest.json
  [RELEASE] Agent released for ${id}

`;
}

const DATA_PIPELINE =
  "Nightly Analytics Pipeline\n=======================================================\n\n" +
  tenant(
    "Metro Health System",
    "hospital",
    "patient analytics",
    "{'patient_visits': '12,847', 'avg_stay': '3.2 days', 'readmit_rate': '4.1%'}",
  ) +
  tenant(
    "First National Bank",
    "bank",
    "financial analytics",
    "{'transactions': '2.4M', 'avg_balance': '$8,420', 'fraud_rate': '0.02%'}",
  ) +
  tenant("ShopWave Corp", "retail", "sales analytics", "{'orders': '847K', 'avg_order': '$67.30', 'return_rate': '8.4%'}") +
  `── Cross-Tenant Isolation Test ──

Hospital agent scope: ['read:analytics:hospital', 'write:reports:hospital']

  [BLOCKED] Hospital agent cannot read bank data
    Required: ['read:analytics:bank']
    Held:     ['read:analytics:hospital', 'write:reports:hospital']
  [BLOCKED] Hospital agent cannot write retail reports
    Required: ['write:reports:retail']
    Held:     ['read:analytics:hospital', 'write:reports:hospital']
  [ALLOWED] Hospital agent can read its own data ✓

Cross-tenant isolation verified.

Pipeline complete. All tenants processed with isolated scopes.
`;

test("order worker: the sample app's output, line for line, and no live token", async () => {
  await using broker = sampleBroker();
  const out = await run("order_worker", ["--customer", "cust-7291", "--order", "ord-4823"], brokerEnv(broker));
  check("order_worker", out, ORDER_WORKER);
  assert.equal(await registrations(broker), 1);
  assert.deepEqual(await liveTokens(broker), new Set(), "a token the sample obtained is still alive");
});

test("order worker without its arguments: usage, exit 2", async () => {
  const out = await run("order_worker", ["--customer", "cust-7291"]);
  assert.equal(out.code, 2);
  assert.match(out.stderr, /usage: order_worker/);
});

test("data pipeline: the sample app's output, line for line, and no live token", async () => {
  await using broker = sampleBroker();
  check("data_pipeline", await run("data_pipeline", [], brokerEnv(broker)), DATA_PIPELINE);
  assert.equal(await registrations(broker), 4, "three tenants and the isolation test");
  assert.deepEqual(await liveTokens(broker), new Set(), "a token the sample obtained is still alive");
});

test("without the broker variables a sample embeds a broker, and says so", async () => {
  // The broker lives and dies in the sample's process: nothing it issued
  // outlives the run. The sample checks its own released token dead.
  check("order_worker", await run("order_worker", ["--customer", "cust-7291", "--order", "ord-4823"]), ORDER_WORKER, true);
});

test("the matcher is strict", () => {
  assert.ok(matches("id {hex16} end", "id 0123456789abcdef end"));
  assert.ok(!matches("id {hex16} end", "id 0123456789abcdeg end"));
  assert.ok(!matches("Expires: 300s", "Expires: 301s"));
  assert.ok(matches("etl-{digits}/x", "etl-1795317592/x"));
  assert.ok(!matches("etl-{digits}/x", "etl-/x"));
});

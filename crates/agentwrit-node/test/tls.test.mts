// TLS and mutual TLS against the development broker's HTTPS modes (a
// throwaway PKI): the CA as PEM text or bytes, the client identity for
// mTLS, refusals without them, and httpsOnly.
import assert from "node:assert/strict";
import { test } from "node:test";

import { AgentWritApp, InvalidInputError, TransportError, validate } from "agentwrit-rs";
import { DevBroker } from "agentwrit-rs/testing";

import { liveTokens } from "./support.mjs";

test("tls: the broker's CA is trusted when given, refused otherwise", async () => {
  await using broker = new DevBroker({ tls: "tls" });
  assert.match(broker.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const c = broker.universalCredentials();
  const ca = broker.caPem ?? assert.fail("no CA");
  const app = new AgentWritApp(broker.url, c.clientId, c.clientSecret, { tls: { ca: Buffer.from(ca) }, httpsOnly: true });
  await using agent = await app.createAgent({ orchId: "o", taskId: "tls", scope: ["read:data:x"] });
  assert.equal((await validate(broker.url, agent.accessToken, { tls: { ca } })).valid, true);
  const untrusting = new AgentWritApp(broker.url, c.clientId, c.clientSecret);
  await assert.rejects(untrusting.createAgent({ orchId: "o", taskId: "no-ca", scope: ["read:data:x"] }), TransportError);
  await agent.release();
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("mtls: the client identity is presented; without it the handshake fails", async () => {
  await using broker = new DevBroker({ tls: "mtls" });
  const c = broker.universalCredentials();
  const ca = broker.caPem ?? "";
  const app = new AgentWritApp(broker.url, c.clientId, c.clientSecret, {
    tls: { ca, cert: broker.clientCertPem ?? "", key: broker.clientKeyPem ?? "" },
  });
  await app.withAgent({ orchId: "o", taskId: "mtls", scope: ["read:data:x"] }, async (agent) => {
    assert.equal((await app.validate(agent.accessToken)).valid, true);
  });
  const anonymous = new AgentWritApp(broker.url, c.clientId, c.clientSecret, { tls: { ca } });
  await assert.rejects(anonymous.health(), TransportError);
  // The DevBroker's own clients carry what its mode needs.
  await broker.universalApp().withAgent({ orchId: "o", taskId: "helper", scope: ["read:data:x"] }, () => undefined);
  assert.deepEqual(await liveTokens(broker), new Set());
});

test("httpsOnly refuses a clear-text broker URL", () => {
  assert.throws(() => new AgentWritApp("http://127.0.0.1:9", "id", "secret", { httpsOnly: true }), InvalidInputError);
  assert.throws(() => new AgentWritApp("https://127.0.0.1:9", "id", "secret", { tls: { ca: 5 as unknown as string } }), TypeError);
});

// The Node package's createAgent cost, against the broker named by
// AGENTWRIT_BROKER_URL / AGENTWRIT_CLIENT_ID / AGENTWRIT_CLIENT_SECRET (a
// separate process, so its CPU is not counted), for `cargo xtask
// bench-node`:
//
//   node create.mjs sdk N          N sequential creates: client CPU and wall time per create
//   node create.mjs concurrent N C N creates, C at a time on one app: wall time (throughput)
//   node create.mjs floor N        the hand-written pure-JS floor: N sequential creates
//                                  with node:crypto Ed25519 and fetch, nothing else
//   node create.mjs proxy URL MS   a loopback proxy to URL holding each answer back MS
//                                  milliseconds (a network's round trip); prints its URL
//
// Prints one JSON object. Every agent is released after the measured span.
import { generateKeyPairSync, sign } from "node:crypto";
import net from "node:net";

import { type Agent, AgentWritApp } from "agentwrit-rs";

const [mode = "sdk", nText = "1000", cText = "32"] = process.argv.slice(2);

if (mode === "proxy") {
  // Runs until killed; the benchmark's creates go through it.
  const upstream = new URL(nText);
  const delay = Number(cText);
  const server = net.createServer((client) => {
    const broker = net.connect(Number(upstream.port), upstream.hostname);
    broker.setNoDelay(true);
    client.setNoDelay(true);
    const fail = (): void => {
      client.destroy();
      broker.destroy();
    };
    client.on("error", fail);
    broker.on("error", fail);
    client.pipe(broker);
    broker.on("data", (chunk: Buffer) => setTimeout(() => client.write(chunk), delay));
    broker.on("end", () => setTimeout(() => client.end(), delay));
  });
  server.listen(0, "127.0.0.1", () => {
    console.log(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  });
  await new Promise(() => undefined);
}
const n = Number(nText);
const concurrency = Number(cText);
const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`${name} is not set`);
  return v;
};
const url = mode === "proxy" ? "" : env("AGENTWRIT_BROKER_URL").replace(/\/$/, "");
const clientId = mode === "proxy" ? "" : env("AGENTWRIT_CLIENT_ID");
const clientSecret = mode === "proxy" ? "" : env("AGENTWRIT_CLIENT_SECRET");

/** Process CPU (user + system, every thread) in microseconds. */
function cpu(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function request(i: number): { orchId: string; taskId: string; scope: string[] } {
  return { orchId: "bench-orch", taskId: `loop-${i}`, scope: [`read:data:customer-${i}`] };
}

async function sdk(): Promise<Record<string, number>> {
  const app = new AgentWritApp(url, clientId, clientSecret);
  // Warm: the app's login and the connections.
  await (await app.createAgent(request(-1))).release();
  const agents: Agent[] = [];
  const [c0, t0] = [cpu(), performance.now()];
  for (let i = 0; i < n; i++) agents.push(await app.createAgent(request(i)));
  const [c1, t1] = [cpu(), performance.now()];
  await Promise.all(agents.map((a) => a.release()));
  return { creates: n, cpuUsPerCreate: (c1 - c0) / n, wallMsPerCreate: (t1 - t0) / n, perSecond: (n * 1000) / (t1 - t0) };
}

async function concurrent(): Promise<Record<string, number>> {
  const app = new AgentWritApp(url, clientId, clientSecret);
  await (await app.createAgent(request(-1))).release();
  const agents: Agent[] = [];
  let next = 0;
  const [c0, t0] = [cpu(), performance.now()];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) agents.push(await app.createAgent(request(next++)));
    }),
  );
  const [c1, t1] = [cpu(), performance.now()];
  await Promise.all(agents.map((a) => a.release()));
  return { creates: n, concurrency, cpuUsPerCreate: (c1 - c0) / n, perSecond: (n * 1000) / (t1 - t0) };
}

/** The floor: the protocol by hand, on Node's own crypto and fetch. */
async function floor(): Promise<Record<string, number>> {
  const json = async (path: string, init: RequestInit): Promise<Record<string, unknown>> => {
    const r = await fetch(`${url}${path}`, init);
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? {} : ((await r.json()) as Record<string, unknown>);
  };
  const post = (path: string, body: unknown, bearer?: string): Promise<Record<string, unknown>> =>
    json(path, {
      method: "POST",
      headers: { "content-type": "application/json", ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });
  const login = await post("/v1/app/auth", { client_id: clientId, client_secret: clientSecret });
  const appToken = String(login["access_token"]);
  const create = async (i: number): Promise<string> => {
    const { orchId, taskId, scope } = request(i);
    const lt = await post("/v1/app/launch-tokens", { agent_name: orchId, allowed_scope: scope, max_ttl: 300 }, appToken);
    const challenge = await json("/v1/challenge", { method: "GET" });
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
    const nonce = String(challenge["nonce"]);
    const signature = sign(null, Buffer.from(nonce, "hex"), privateKey);
    const registered = await post("/v1/register", {
      launch_token: lt["launch_token"],
      nonce,
      public_key: raw.toString("base64"),
      signature: signature.toString("base64"),
      orch_id: orchId,
      task_id: taskId,
      requested_scope: scope,
    });
    const token = String(registered["access_token"]);
    // What an SDK hands its user: the token's claims.
    const claims = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as { jti?: string };
    if (typeof claims.jti !== "string") throw new Error("no jti in the token");
    return token;
  };
  await fetch(`${url}/v1/token/release`, { method: "POST", headers: { authorization: `Bearer ${await create(-1)}` } });
  const tokens: string[] = [];
  const [c0, t0] = [cpu(), performance.now()];
  for (let i = 0; i < n; i++) tokens.push(await create(i));
  const [c1, t1] = [cpu(), performance.now()];
  for (const t of tokens) await fetch(`${url}/v1/token/release`, { method: "POST", headers: { authorization: `Bearer ${t}` } });
  return { creates: n, cpuUsPerCreate: (c1 - c0) / n, wallMsPerCreate: (t1 - t0) / n, perSecond: (n * 1000) / (t1 - t0) };
}

const run = { sdk, concurrent, floor }[mode];
if (run === undefined) throw new Error(`unknown mode ${mode}`);
console.log(JSON.stringify({ mode, ...(await run()) }));

// A program that drops an auto-renewing agent and has the garbage
// collector take it (run with `node --expose-gc`), then keeps a witness
// agent alive for as long as the test needs. Driven by the test
// (gc.test.mts) over stdin/stdout, one line each way per step:
//
//   -> dropped <agentId> <token>   the first agent renewed, was dropped and collected
//   <- go                          the test marked the audit trail
//   -> witness <agentId>           an auto-renewing witness exists
//   <- release                     the test saw what it needed
//   -> released                    the witness is released; the program ends
import { createInterface } from "node:readline";
import { setImmediate as tick } from "node:timers/promises";

import { AgentWritApp } from "agentwrit-rs";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with node --expose-gc");

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function expect(word: string): Promise<void> {
  const next = await lines.next();
  if (next.done === true || next.value !== word) throw new Error(`expected ${word}, got ${String(next.value)}`);
}

const app = new AgentWritApp(env("BROKER"), env("CLIENT_ID"), env("CLIENT_SECRET"));
const request = (taskId: string) => ({ orchId: "orch", taskId, scope: ["read:data:customer-7291"], maxTtl: 2, autoRenew: true });

/** An auto-renewing agent, created and held until its first renewal; then only its id and token remain. */
async function renewedOnce(): Promise<[string, string]> {
  const agent = await app.createAgent(request("dropped"));
  const first = agent.jti;
  const until = Date.now() + 30_000;
  while (agent.jti === first) {
    if (Date.now() > until) throw new Error("no renewal while the agent was held");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return [agent.agentId, agent.accessToken];
}

const [droppedId, token] = await renewedOnce();
// Nothing refers to the agent any more: collect it, and let the
// finalizers the collection queued run.
for (let i = 0; i < 5; i++) {
  gc();
  await tick();
}
console.log(`dropped ${droppedId} ${token}`);
await expect("go");
const witness = await app.createAgent(request("witness"));
console.log(`witness ${witness.agentId}`);
await expect("release");
await witness.release();
console.log("released");
process.stdin.destroy();

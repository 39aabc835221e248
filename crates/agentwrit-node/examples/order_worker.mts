// Sample app 1, the e-commerce order worker, in TypeScript: the same
// output as the Rust examples (`order_worker`, `order_worker_async`).
//
// One agent per order, scoped to exactly that customer and that order;
// every action gated with `agent.allows`; `await using` releases the token
// however the work ends (an error, an early return), and the released token
// is checked dead at the broker afterwards.
//
//   node order_worker.mjs --customer cust-7291 --order ord-4823
import { type Agent, type AgentWritApp, validate } from "agentwrit-rs";

import { flag, pyList, sampleApp } from "./sample.mjs";

const args = process.argv.slice(2);
const customer = flag(args, "customer");
const order = flag(args, "order");
if (!customer || !order) {
  console.error("usage: order_worker --customer <id> --order <id>   (e.g. --customer cust-7291 --order ord-4823)");
  process.exit(2);
}

await using sample = sampleApp();
console.log(`Processing order ${order} for customer ${customer}`);
console.log("=".repeat(55));
console.log();
process.exitCode = await processOrder(sample.app, customer, order);

async function processOrder(app: AgentWritApp, customer: string, order: string): Promise<number> {
  let token: string;
  {
    // Step 1: the agent's scope comes from the order being processed.
    await using agent = await app.createAgent({
      orchId: "order-worker",
      taskId: `process-${order}`,
      scope: [`read:data:customer-${customer}`, `write:data:order-${order}`],
    });
    console.log(`Agent created: ${agent.agentId}`);
    console.log(`  Scope:   ${pyList(agent.scope)}`);
    console.log(`  Expires: ${agent.expiresIn}s`);
    console.log(`  Token:   ${agent.accessToken.slice(0, 30)}...`);
    console.log();
    // Steps 2 and 3; the agent is released when this block ends, however.
    await doWork(app, agent, customer, order);
    token = agent.accessToken;
  }
  // Step 4: released by `await using` (a second release would send nothing).
  console.log("Agent released. Token is now dead at the broker.");

  // Step 5: the released token is dead at the broker.
  const dead = await validate(app.brokerUrl, token);
  if (dead.valid) {
    console.log("WARNING: token is still valid after release!");
    return 1;
  }
  console.log(`Confirmed: token rejected — "${dead.error}"`);
  return 0;
}

async function doWork(app: AgentWritApp, agent: Agent, customer: string, order: string): Promise<void> {
  // Step 2: any service receiving the token can validate it.
  const validation = await validate(app.brokerUrl, agent.accessToken);
  if (!validation.valid) {
    console.log(`Token invalid: ${validation.error}`);
    return;
  }
  const claims = validation.claims;
  console.log("Token is valid. Claims:");
  console.log(`  Issuer:  ${claims.iss}`);
  console.log(`  Subject: ${claims.sub}`);
  console.log(`  Scope:   ${pyList(claims.scope)}`);
  console.log(`  Task:    ${claims.taskId ?? ""}`);
  console.log(`  Orch:    ${claims.orchId ?? ""}`);
  console.log(`  JTI:     ${claims.jti}`);
  console.log();

  // Step 3: gate every action on the agent's scope.
  if (agent.allows([`read:data:customer-${customer}`])) {
    console.log(`[READ] Customer profile for ${customer}: John Doe, Premium tier`);
  } else {
    console.log(`[DENIED] Cannot read customer ${customer}`);
  }
  if (agent.allows([`write:data:order-${order}`])) {
    console.log(`[WRITE] Order ${order} confirmed for customer ${customer}`);
  } else {
    console.log(`[DENIED] Cannot write order ${order}`);
  }
  if (agent.allows(["read:data:customer-cust-9999"])) {
    console.log("[READ] Customer cust-9999: this should NOT happen");
  } else {
    console.log("[BLOCKED] Cannot access customer cust-9999 — scope isolation working");
  }
  if (agent.allows(["write:data:order-ord-0000"])) {
    console.log("[WRITE] Order ord-0000: this should NOT happen");
  } else {
    console.log("[BLOCKED] Cannot write order ord-0000 — scope isolation working");
  }
  console.log();
}

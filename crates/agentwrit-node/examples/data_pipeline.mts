// Sample app 2, the multi-tenant data pipeline, in TypeScript: the same
// output as the Rust examples (`data_pipeline`, `data_pipeline_async`).
//
// One agent per tenant, each scoped to that tenant's data only; the
// tenants run concurrently (their reports printed in tenant order), each
// agent released when its run ends; then a cross-tenant check shows that
// the hospital's agent cannot touch the bank's or the retailer's data.
//
//   node data_pipeline.mjs
import type { AgentWritApp } from "agentwrit-rs";

import { pyDict, pyList, sampleApp } from "./sample.mjs";

interface Tenant {
  id: string;
  name: string;
  dataType: string;
  readScope: string;
  writeScope: string;
  data: Record<string, string>;
}

// In a real system these come from a database.
const TENANTS: readonly [Tenant, Tenant, Tenant] = [
  {
    id: "hospital",
    name: "Metro Health System",
    dataType: "patient analytics",
    readScope: "read:analytics:hospital",
    writeScope: "write:reports:hospital",
    data: { patient_visits: "12,847", avg_stay: "3.2 days", readmit_rate: "4.1%" },
  },
  {
    id: "bank",
    name: "First National Bank",
    dataType: "financial analytics",
    readScope: "read:analytics:bank",
    writeScope: "write:reports:bank",
    data: { transactions: "2.4M", avg_balance: "$8,420", fraud_rate: "0.02%" },
  },
  {
    id: "retail",
    name: "ShopWave Corp",
    dataType: "sales analytics",
    readScope: "read:analytics:retail",
    writeScope: "write:reports:retail",
    data: { orders: "847K", avg_order: "$67.30", return_rate: "8.4%" },
  },
];

await using sample = sampleApp();
const app = sample.app;
console.log("Nightly Analytics Pipeline");
console.log("=".repeat(55));
console.log();
// The tenants run concurrently; their reports are printed in tenant order.
for (const report of await Promise.all(TENANTS.map((t) => runPipelineForTenant(app, t)))) {
  process.stdout.write(report);
}
if (!(await runCrossTenantCheck(app))) {
  process.exitCode = 1;
} else {
  console.log();
  console.log("Pipeline complete. All tenants processed with isolated scopes.");
}

async function runPipelineForTenant(app: AgentWritApp, tenant: Tenant): Promise<string> {
  const out: string[] = [`── ${tenant.name} (${tenant.id}) ──`, `  Data type: ${tenant.dataType}`];
  const task = `etl-${tenant.id}-${Math.floor(Date.now() / 1000)}`;
  // The agent is released when `withAgent` returns, whatever happened.
  await app.withAgent(
    { orchId: "nightly-pipeline", taskId: task, scope: [tenant.readScope, tenant.writeScope] },
    (agent) => {
      out.push(`  Agent: ${agent.agentId}`, `  Scope: ${pyList(agent.scope)}`, `  Expires: ${agent.expiresIn}s`);
      if (!agent.allows([tenant.readScope])) {
        out.push(`  [DENIED] Cannot read ${tenant.id} data`);
        return;
      }
      out.push(`  [EXTRACT] Pulled ${tenant.dataType}: ${pyDict(tenant.data)}`);
      out.push("  [TRANSFORM] Processed data for report");
      if (!agent.allows([tenant.writeScope])) {
        out.push(`  [DENIED] Cannot write report for ${tenant.id}`);
        return;
      }
      out.push(`  [LOAD] Report written to reports/${tenant.id}/latest.json`);
    },
  );
  out.push(`  [RELEASE] Agent released for ${tenant.id}`, "", "");
  return out.join("\n");
}

async function runCrossTenantCheck(app: AgentWritApp): Promise<boolean> {
  const [hospital, bank, retail] = TENANTS;
  console.log("── Cross-Tenant Isolation Test ──");
  console.log();
  await using agent = await app.createAgent({
    orchId: "nightly-pipeline",
    taskId: "cross-tenant-test",
    scope: [hospital.readScope, hospital.writeScope],
  });
  const held = agent.scope;
  console.log(`Hospital agent scope: ${pyList(held)}`);
  console.log();

  if (agent.allows([bank.readScope])) {
    console.log("  FAIL: Hospital agent can read bank data!");
    return false;
  }
  console.log("  [BLOCKED] Hospital agent cannot read bank data");
  console.log(`    Required: ${pyList([bank.readScope])}`);
  console.log(`    Held:     ${pyList(held)}`);

  if (agent.allows([retail.writeScope])) {
    console.log("  FAIL: Hospital agent can write retail reports!");
    return false;
  }
  console.log("  [BLOCKED] Hospital agent cannot write retail reports");
  console.log(`    Required: ${pyList([retail.writeScope])}`);
  console.log(`    Held:     ${pyList(held)}`);

  if (!agent.allows([hospital.readScope])) {
    console.log("  FAIL: Hospital agent cannot read its own data!");
    return false;
  }
  console.log("  [ALLOWED] Hospital agent can read its own data ✓");
  await agent.release();
  console.log();
  console.log("Cross-tenant isolation verified.");
  return true;
}

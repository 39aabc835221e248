"""Sample app 2, the multi-tenant nightly pipeline: one agent per tenant,
each scoped to that tenant's analytics and reports only.

    python data_pipeline.py
"""

from __future__ import annotations

import os
import sys
import uuid

import agentwrit_rs as agentwrit

# tenant id -> (display name, kind of data, what the extract step returns)
TENANTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "hospital": (
        "Metro Health System",
        "patient analytics",
        {"patient_visits": "12,847", "mean_stay": "3.2 days"},
    ),
    "bank": (
        "First National Bank",
        "financial analytics",
        {"transactions": "2.4M", "flagged": "37"},
    ),
    "retail": (
        "ShopWave Corp",
        "sales analytics",
        {"orders": "184,220", "returns": "4.1%"},
    ),
}


def scopes(tenant: str) -> list[str]:
    return [f"read:analytics:{tenant}", f"write:reports:{tenant}"]


def etl(app: agentwrit.AgentWritApp, tenant: str) -> None:
    name, kind, data = TENANTS[tenant]
    read, write = scopes(tenant)
    print(f"── {name} ({tenant}) ──")
    print(f"   Data type: {kind}")
    agent = app.create_agent(
        orch_id="nightly-pipeline",
        task_id=f"etl-{tenant}-{uuid.uuid4().hex[:8]}",
        requested_scope=scopes(tenant),
    )
    print(f"   Agent:    {agent.agent_id}")
    print(f"   Scope:    {agent.scope}")
    print(f"   Expires:  {agent.expires_in}s")
    try:
        can_read = agentwrit.scope_is_subset([read], agent.scope)
        print(f"   [EXTRACT] Pulled {kind}: {data}" if can_read else f"   [DENIED]   Cannot read {tenant} data")
        print("   [TRANSFORM] Processed data for report" if can_read else "   [DENIED]   Cannot transform — no read access")
        if agentwrit.scope_is_subset([write], agent.scope):
            print(f"   [LOAD]     Report written to reports/{tenant}/latest.json")
        else:
            print(f"   [DENIED]   Cannot write report for {tenant}")
    finally:
        agent.release()
        print(f"   [RELEASE]  Agent released for {tenant}")
    print()


def isolation(app: agentwrit.AgentWritApp) -> bool:
    print("── Cross-Tenant Isolation Test ──")
    print()
    agent = app.create_agent("nightly-pipeline", "cross-tenant-test", scopes("hospital"))
    ok = True
    try:
        print(f"Hospital agent scope: {agent.scope}")
        print()
        for needed, what in [
            (["read:analytics:bank"], "read bank data"),
            (["write:reports:retail"], "write retail reports"),
        ]:
            if agentwrit.scope_is_subset(needed, agent.scope):
                print(f"  FAIL: Hospital agent can {what}!")
                ok = False
            else:
                print(f"  [BLOCKED] Hospital agent cannot {what}")
                print(f"            Required: {needed}")
                print(f"            Held:     {agent.scope}")
        if agentwrit.scope_is_subset(["read:analytics:hospital"], agent.scope):
            print("  [ALLOWED] Hospital agent can read its own data ✓")
        else:
            print("  FAIL: Hospital agent cannot read its own data!")
            ok = False
    finally:
        agent.release()
    print()
    print("Cross-tenant isolation verified." if ok else "Cross-tenant isolation FAILED.")
    return ok


def main() -> int:
    app = agentwrit.AgentWritApp(
        os.environ["AGENTWRIT_BROKER_URL"],
        os.environ["AGENTWRIT_CLIENT_ID"],
        os.environ["AGENTWRIT_CLIENT_SECRET"],
    )
    print("Nightly Analytics Pipeline")
    print("=" * 55)
    print()
    for tenant in TENANTS:
        etl(app, tenant)
    ok = isolation(app)
    print()
    print("Pipeline complete. All tenants processed with isolated scopes.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Sample app 1, the e-commerce order worker: a program written for the
official SDK, run on agentwrit_rs by changing its import only.

    python order_worker.py --customer cust-7291 --order ord-4823
"""

from __future__ import annotations

import argparse
import os
import sys

import agentwrit_rs as agentwrit


def check(agent: agentwrit.Agent, needed: str) -> bool:
    return agentwrit.scope_is_subset([needed], agent.scope)


def handle(app: agentwrit.AgentWritApp, customer: str, order: str) -> int:
    agent = app.create_agent(
        orch_id="order-worker",
        task_id=f"process-{order}",
        requested_scope=[f"read:data:customer-{customer}", f"write:data:order-{order}"],
    )
    print(f"Agent created: {agent.agent_id}")
    print(f"  Scope:   {agent.scope}")
    print(f"  Expires: {agent.expires_in}s")
    print(f"  Token:   {agent.access_token[:30]}...")
    print()

    seen = agentwrit.validate(app.broker_url, agent.access_token)
    if not seen.valid or seen.claims is None:
        print(f"Token invalid: {seen.error}")
        agent.release()
        return 1
    claims = seen.claims
    print("Token is valid. Claims:")
    for label, value in [
        ("Issuer", claims.iss),
        ("Subject", claims.sub),
        ("Scope", claims.scope),
        ("Task", claims.task_id),
        ("Orch", claims.orch_id),
        ("JTI", claims.jti),
    ]:
        print(f"  {label + ':':<8} {value}")
    print()

    try:
        actions = [
            (
                f"read:data:customer-{customer}",
                f"[READ] Customer profile for {customer}: John Doe, Premium tier",
                f"[DENIED] Cannot read customer {customer}",
            ),
            (
                f"write:data:order-{order}",
                f"[WRITE] Order {order} confirmed for customer {customer}",
                f"[DENIED] Cannot write order {order}",
            ),
            (
                "read:data:customer-cust-9999",
                "[READ] Customer cust-9999: this should NOT happen",
                "[BLOCKED] Cannot access customer cust-9999 — scope isolation working",
            ),
            (
                "write:data:order-ord-0000",
                "[WRITE] Order ord-0000: this should NOT happen",
                "[BLOCKED] Cannot write order ord-0000 — scope isolation working",
            ),
        ]
        for needed, allowed, refused in actions:
            print(allowed if check(agent, needed) else refused)
        print()
    finally:
        agent.release()
        print("Agent released. Token is now dead at the broker.")

    after = agentwrit.validate(app.broker_url, agent.access_token)
    if after.valid:
        print("WARNING: token is still valid after release!")
        return 1
    print(f'Confirmed: token rejected — "{after.error}"')
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="order worker")
    parser.add_argument("--customer", required=True)
    parser.add_argument("--order", required=True)
    args = parser.parse_args()
    app = agentwrit.AgentWritApp(
        broker_url=os.environ["AGENTWRIT_BROKER_URL"],
        client_id=os.environ["AGENTWRIT_CLIENT_ID"],
        client_secret=os.environ["AGENTWRIT_CLIENT_SECRET"],
    )
    print(f"Processing order {args.order} for customer {args.customer}")
    print("=" * 55)
    print()
    return handle(app, args.customer, args.order)


if __name__ == "__main__":
    sys.exit(main())

"""One agent lifecycle through the official Python SDK against our development broker.

Run by `cargo xtask interop-python`, which starts `agentwrit-devbroker --sample-app`
and passes its three AGENTWRIT_* values in the environment. Every step's result is
checked; any mismatch is printed and the script exits with status 1.
"""

from __future__ import annotations

import os
import sys
import traceback

import agentwrit
from agentwrit import AgentWritApp, validate
from agentwrit.errors import AuthorizationError

failures: list[str] = []


def check(step: str, what: str, got: object, want: object) -> None:
    if got == want:
        print(f"  ok    {step}: {what} = {got!r}")
    else:
        failures.append(f"{step}: {what}: got {got!r}, want {want!r}")
        print(f"  FAIL  {step}: {what}: got {got!r}, want {want!r}")


def run() -> None:
    url = os.environ["AGENTWRIT_BROKER_URL"]
    print(f"agentwrit (Python SDK) {agentwrit.__version__} against {url}")
    app = AgentWritApp(
        broker_url=url,
        client_id=os.environ["AGENTWRIT_CLIENT_ID"],
        client_secret=os.environ["AGENTWRIT_CLIENT_SECRET"],
    )
    scope = ["read:data:customer-7291"]

    # create_agent: app login, launch token, challenge, signed registration.
    agent = app.create_agent(orch_id="interop", task_id="task-1", requested_scope=scope)
    prefix = "spiffe://agentwrit.local/agent/interop/task-1/"
    check("create_agent", "agent_id prefix", agent.agent_id.startswith(prefix), True)
    check("create_agent", "scope", agent.scope, scope)
    check("create_agent", "expires_in > 0", agent.expires_in > 0, True)
    # Compared, never printed: the token is a credential.
    check("create_agent", "bearer_header is 'Bearer <access_token>'",
          agent.bearer_header == {"Authorization": f"Bearer {agent.access_token}"}, True)

    # validate: the broker's verdict and the signed claims.
    r = validate(url, agent.access_token)
    check("validate", "valid", r.valid, True)
    claims = r.claims
    check("validate", "claims present", claims is not None, True)
    if claims is not None:
        check("validate", "claims.sub", claims.sub, agent.agent_id)
        check("validate", "claims.scope", claims.scope, scope)
        check("validate", "claims.task_id", claims.task_id, "task-1")
        check("validate", "claims.orch_id", claims.orch_id, "interop")
        check("validate", "exp > iat", claims.exp > claims.iat, True)
    check("app.validate", "valid", app.validate(agent.access_token).valid, True)

    # renew: a new token for the same agent; the old one is revoked.
    old = agent.access_token
    old_id = agent.agent_id
    agent.renew()
    check("renew", "token changed", agent.access_token != old, True)
    check("renew", "agent_id unchanged", agent.agent_id, old_id)
    r = validate(url, agent.access_token)
    check("renew", "new token valid", r.valid, True)
    if r.claims is not None:
        check("renew", "new token sub", r.claims.sub, old_id)
    check("renew", "old token valid", validate(url, old).valid, False)

    # delegate: to a second agent, equal scope; widening is refused.
    helper = app.create_agent(orch_id="interop", task_id="task-2", requested_scope=scope)
    d = agent.delegate(helper.agent_id, scope, ttl=60)
    check("delegate", "expires_in", d.expires_in, 60)
    check("delegate", "chain length", len(d.delegation_chain), 1)
    if d.delegation_chain:
        check("delegate", "chain[0].agent", d.delegation_chain[0].agent, agent.agent_id)
        check("delegate", "chain[0].scope", d.delegation_chain[0].scope, scope)
    r = validate(url, d.access_token)
    check("delegate", "delegated token valid", r.valid, True)
    if r.claims is not None:
        check("delegate", "delegated sub", r.claims.sub, helper.agent_id)
        check("delegate", "delegated scope", r.claims.scope, scope)
        chain = r.claims.delegation_chain or []
        check("delegate", "claims chain length", len(chain), 1)
    try:
        agent.delegate(helper.agent_id, ["write:data:customer-7291"])
        check("delegate (wider)", "raised AuthorizationError", False, True)
    except AuthorizationError as e:
        check("delegate (wider)", "status_code", e.status_code, 403)
        check("delegate (wider)", "error_code", e.problem.error_code, "scope_violation")
        check("delegate (wider)", "request_id present", bool(e.problem.request_id), True)

    # release: the token dies at the broker.
    token = agent.access_token
    agent.release()
    r = validate(url, token)
    check("release", "released token valid", r.valid, False)
    check("release", "error present", bool(r.error), True)
    agent.release()  # idempotent in the SDK: no second request
    helper.release()
    check("release", "helper token valid", validate(url, helper.access_token).valid, False)

    # health.
    h = app.health()
    check("health", "status", h.status, "ok")
    check("health", "version non-empty", bool(h.version), True)
    check("health", "uptime >= 0", h.uptime >= 0, True)
    check("health", "audit_events_count > 0", h.audit_events_count > 0, True)
    app.close()


def main() -> int:
    try:
        run()
    except Exception:  # any SDK exception is a mismatch with the broker
        traceback.print_exc()
        failures.append("an exception escaped the lifecycle (traceback above)")
    if failures:
        print(f"\n{len(failures)} mismatch(es):", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

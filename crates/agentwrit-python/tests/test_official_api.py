"""The official SDK's stories, in our words, against the development broker:
the same names, behaviour and errors as ``agentwrit`` 0.3.0."""

from __future__ import annotations

import dataclasses

import pytest

import agentwrit_rs
import agentwrit_rs as agentwrit
from agentwrit_rs import AgentWritApp, errors, models
from agentwrit_rs.testing import DevBroker

SCOPE = ["read:data:customer-7291"]


def test_every_public_name_of_the_official_sdk_is_importable() -> None:
    for name in [
        "Agent",
        "AgentWritApp",
        "AgentWritError",
        "AgentClaims",
        "AuthenticationError",
        "AuthorizationError",
        "CryptoError",
        "DelegatedToken",
        "DelegationRecord",
        "HealthStatus",
        "ProblemDetail",
        "ProblemResponseError",
        "RateLimitError",
        "RegisterResult",
        "TransportError",
        "ValidateResult",
        "__version__",
        "scope_is_subset",
        "validate",
    ]:
        assert hasattr(agentwrit_rs, name), name
        assert name in agentwrit_rs.__all__
    for name in [
        "AgentWritError",
        "ProblemResponseError",
        "AuthenticationError",
        "AuthorizationError",
        "RateLimitError",
        "TransportError",
        "CryptoError",
    ]:
        assert getattr(errors, name) is getattr(agentwrit_rs, name)


def test_the_exception_hierarchy_is_the_official_one() -> None:
    assert issubclass(errors.ProblemResponseError, errors.AgentWritError)
    for cls in (errors.AuthenticationError, errors.AuthorizationError, errors.RateLimitError):
        assert issubclass(cls, errors.ProblemResponseError)
    for plain in (errors.TransportError, errors.CryptoError):
        assert issubclass(plain, errors.AgentWritError)
        assert not issubclass(plain, errors.ProblemResponseError)
    problem = models.ProblemDetail(type="t", title="Forbidden", detail="no", instance="/x")
    err = errors.AuthorizationError(problem, 403)
    assert (str(err), err.status_code, err.problem) == ("Forbidden: no", 403, problem)


def test_the_models_are_frozen_dataclasses_with_the_official_fields() -> None:
    expected = {
        models.DelegationRecord: ["agent", "scope", "delegated_at"],
        models.ValidateResult: ["valid", "claims", "error"],
        models.RegisterResult: ["agent_id", "access_token", "expires_in"],
        models.HealthStatus: ["status", "version", "uptime", "db_connected", "audit_events_count"],
        models.ProblemDetail: [
            "type", "title", "detail", "instance", "status", "error_code", "request_id", "hint",
        ],
        models.AgentClaims: [
            "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "task_id", "orch_id",
            "sid", "delegation_chain", "chain_hash",
        ],
    }
    for cls, names in expected.items():
        assert [f.name for f in dataclasses.fields(cls)] == names, cls
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    delegated = [f.name for f in dataclasses.fields(models.DelegatedToken)]
    assert delegated[:3] == ["access_token", "expires_in", "delegation_chain"]


def test_the_app_authenticates_lazily(broker: DevBroker) -> None:
    # Wrong credentials: construction sends nothing, so it succeeds; the
    # first call that needs the app token fails with a 401.
    app = AgentWritApp(broker.url, "nobody", "wrong-secret")
    assert app.health().status == "ok"  # no auth needed
    with pytest.raises(agentwrit.AuthenticationError) as info:
        app.create_agent("orch", "task", SCOPE)
    assert info.value.status_code == 401
    assert info.value.problem.status == 401


def test_the_app_logs_in_once_on_first_use_and_reuses_its_session(broker: DevBroker) -> None:
    app = broker.universal_app()
    operator = broker.operator()

    def logins() -> int:
        total = operator.audit_events(event_type="app_authenticated")["total"]
        assert isinstance(total, int)
        return total

    app.health()
    assert logins() == 0  # constructing the app and a health check send no login
    for task in ("a", "b", "c"):
        agent = app.create_agent("orch", task, ["read:data:x"])
        assert app.validate(agent.access_token).valid
        agent.release()
    assert logins() == 1  # one login, its app token reused until near expiry


def test_create_agent_with_scope(app: AgentWritApp) -> None:
    agent = app.create_agent(orch_id="order-worker", task_id="ord-4823", requested_scope=SCOPE)
    assert agent.agent_id.startswith("spiffe://agentwrit.local/agent/order-worker/ord-4823/")
    assert agent.scope == SCOPE
    assert agent.expires_in == 300
    assert (agent.orch_id, agent.task_id) == ("order-worker", "ord-4823")
    assert agent.bearer_header == {"Authorization": f"Bearer {agent.access_token}"}
    assert agent.access_token.count(".") == 2
    short = app.create_agent("order-worker", "short", SCOPE, max_ttl=120, label="short-lived")
    assert short.expires_in == 120
    agent.release()
    short.release()


def test_a_scope_beyond_the_ceiling_is_a_403_with_the_problem(app: AgentWritApp) -> None:
    with pytest.raises(agentwrit.AuthorizationError) as info:
        app.create_agent("orch", "task", ["delete:data:*"])
    err = info.value
    assert err.status_code == 403
    assert err.problem.error_code == "forbidden"
    assert "exceed" in err.problem.detail
    assert err.problem.request_id
    assert isinstance(err, agentwrit.ProblemResponseError)
    assert isinstance(err, agentwrit.AgentWritError)


def test_validate_before_and_after_release(app: AgentWritApp) -> None:
    agent = app.create_agent("orch", "task", SCOPE)
    result = agentwrit.validate(app.broker_url, agent.access_token)
    assert result.valid and result.error is None
    assert result.claims is not None
    assert result.claims.sub == agent.agent_id
    assert result.claims.scope == SCOPE
    assert (result.claims.task_id, result.claims.orch_id) == ("task", "orch")
    assert result.claims.exp - result.claims.iat == 300
    assert app.validate(agent.access_token) == result
    agent.release()
    dead = agentwrit.validate(app.broker_url, agent.access_token)
    assert not dead.valid and dead.claims is None
    assert dead.error == "token is invalid or expired"
    assert not app.validate(agent.access_token).valid


def test_garbage_tokens_are_invalid_results_not_exceptions(app: AgentWritApp) -> None:
    for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."]:
        result = app.validate(token)
        assert not result.valid
        assert result.error


def test_renew_keeps_the_identity_and_kills_the_old_token(app: AgentWritApp) -> None:
    agent = app.create_agent("orch", "task", SCOPE)
    old_token, old_jti, agent_id = agent.access_token, agent.jti, agent.agent_id
    agent.renew()
    assert agent.agent_id == agent_id
    assert agent.access_token != old_token and agent.jti != old_jti
    assert agent.scope == SCOPE and agent.expires_in == 300
    assert not app.validate(old_token).valid
    assert app.validate(agent.access_token).valid
    agent.release()


def test_delegate_narrower_and_a_403_on_widening(app: AgentWritApp) -> None:
    a = app.create_agent("orch", "a", ["read:data:customer-7291", "write:data:order-1"])
    b = app.create_agent("orch", "b", ["read:data:none"])
    token = a.delegate(b.agent_id, ["read:data:customer-7291"], ttl=60)
    assert token.expires_in == 60
    assert [r.agent for r in token.delegation_chain] == [a.agent_id]
    # Each hop records the delegator and the scope it held.
    assert token.delegation_chain[0].scope == a.scope
    result = app.validate(token.access_token)
    assert result.valid and result.claims is not None
    assert result.claims.sub == b.agent_id
    assert result.claims.scope == ["read:data:customer-7291"]
    assert result.claims.delegation_chain is not None
    with pytest.raises(agentwrit.AuthorizationError) as info:
        a.delegate(b.agent_id, ["read:data:*"])
    assert info.value.problem.error_code == "scope_violation"
    a.release_task()
    b.release()


def test_release_is_idempotent_and_a_released_agent_cannot_act(app: AgentWritApp) -> None:
    agent = app.create_agent("orch", "task", SCOPE)
    other = app.create_agent("orch", "other", SCOPE)
    agent.release()
    agent.release()  # no-op
    assert agent.is_released
    with pytest.raises(agentwrit.AgentWritError):
        agent.renew()
    with pytest.raises(agentwrit.AgentWritError):
        agent.delegate(other.agent_id, SCOPE)
    other.release()


def test_health(app: AgentWritApp) -> None:
    health = app.health()
    assert health.status == "ok"
    assert health.version
    assert health.db_connected is True
    assert health.uptime >= 0 and health.audit_events_count >= 0


def test_scope_is_subset_is_the_brokers_rule() -> None:
    assert agentwrit.scope_is_subset(["read:data:customer-1"], ["read:data:*"])
    assert agentwrit.scope_is_subset(["read:data:a"], ["read:data:a"])
    assert agentwrit.scope_is_subset([], ["read:data:a"])
    assert not agentwrit.scope_is_subset(["read:data:a"], [])
    assert not agentwrit.scope_is_subset(["write:data:a"], ["read:data:*"])
    assert not agentwrit.scope_is_subset(["read:other:a"], ["read:data:*"])
    assert not agentwrit.scope_is_subset(["read:data:*"], ["read:data:a"])


def test_an_unreachable_broker_is_a_transport_error() -> None:
    with DevBroker() as broker:
        url = broker.url
    # The broker is stopped: nothing listens on its port any more.
    app = AgentWritApp(url, "id", "secret", timeout=2.0)
    with pytest.raises(agentwrit.TransportError):
        app.health()
    with pytest.raises(agentwrit.TransportError):
        agentwrit.validate(url, "token", timeout=2.0)


def test_bad_input_is_a_typed_error_not_a_crash(app: AgentWritApp) -> None:
    with pytest.raises(agentwrit.InvalidInputError):
        app.create_agent("orch", "task", ["not-a-scope"])
    with pytest.raises(ValueError):
        app.create_agent("orch", "task", SCOPE, max_ttl=0)
    with pytest.raises(agentwrit.CryptoError):
        app.create_agent("orch", "task", SCOPE, private_key=b"short")
    with pytest.raises(agentwrit.AgentWritError):
        AgentWritApp("not a url", "id", "secret")


def test_a_caller_supplied_key_is_used(app: AgentWritApp) -> None:
    seed = bytes(range(32))

    class Ed25519Like:
        def private_bytes_raw(self) -> bytes:
            return seed

    a = app.create_agent("orch", "k1", SCOPE, private_key=seed)
    b = app.create_agent("orch", "k2", SCOPE, private_key=Ed25519Like())
    assert a.agent_id != b.agent_id
    assert app.validate(a.access_token).valid and app.validate(b.access_token).valid
    a.release()
    b.release()

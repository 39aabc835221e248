"""The service side's verifier (agentwrit_rs.service), as a service uses it:
verdicts on real tokens from a development broker, the refusals
agentwrit-tower answers with, local mode, failing closed, no token in any
text."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentwrit_rs import AgentWritApp, AgentWritOperator
from agentwrit_rs.errors import InvalidInputError
from agentwrit_rs.service import ProtectedResource, Refusal, VerifiedToken, Verifier
from agentwrit_rs.testing import DevBroker
from support import Silent, live_tokens

SCOPE = "read:data:customer-7291"


def header(name: str, refusal: Refusal) -> str | None:
    return next((v for k, v in refusal.headers() if k == name), None)


def test_a_valid_token_is_verified_and_its_claims_read(broker: DevBroker, app: AgentWritApp) -> None:
    verifier = Verifier(broker.url)
    with app.agent("orch-svc", "task-svc", [SCOPE, "read:analytics:*"]) as agent:
        token = verifier.verify(agent.access_token)
        assert isinstance(token, VerifiedToken)
        assert token.sub == agent.agent_id
        assert token.jti == agent.jti
        assert token.task_id == "task-svc" and token.orch_id == "orch-svc"
        assert token.scope == [SCOPE, "read:analytics:*"]
        assert token.allows(["read:analytics:bank"]) and not token.allows(["write:data:x"])
        assert token.delegation_depth == 0
        assert token.claims().jti == agent.jti
        # The same through the header, and awaited.
        via_header = verifier.authenticate(f"Bearer {agent.access_token}")
        assert isinstance(via_header, VerifiedToken)
        awaited = asyncio.run(verifier.authenticate_async(f"bearer  {agent.access_token} "))
        assert isinstance(awaited, VerifiedToken)
        assert verifier.cached_entries == 1
        # Never the token in any text.
        assert agent.access_token not in repr(token)
        assert agent.access_token not in repr(verifier)


def test_refusals_are_agentwrit_towers(broker: DevBroker, app: AgentWritApp) -> None:
    verifier = Verifier(
        broker.url,
        max_staleness=0,
        resource=ProtectedResource("http://127.0.0.1:9/api", scopes_supported=["read:data:*"]),
    )
    metadata = "http://127.0.0.1:9/.well-known/oauth-protected-resource/api"
    assert verifier.resource == "http://127.0.0.1:9/api"
    assert verifier.resource_metadata_url == metadata

    none = verifier.authenticate(None, path="/api/x")
    assert isinstance(none, Refusal)
    assert (none.status, none.code) == (401, "missing_token")
    assert header("www-authenticate", none) == f'Bearer resource_metadata="{metadata}"'
    assert header("content-type", none) == "application/problem+json"
    problem = json.loads(none.body())
    assert problem["status"] == 401 and problem["instance"] == "/api/x"

    basic = verifier.authenticate("Basic dTpw")
    assert isinstance(basic, Refusal) and basic.code == "missing_token"

    garbage = verifier.verify("not-a-token")
    assert isinstance(garbage, Refusal)
    assert (garbage.status, garbage.detail) == (401, "the bearer token is not a compact JWS")
    assert (header("www-authenticate", garbage) or "").startswith('Bearer error="invalid_token"')

    with app.agent("o", "two-headers", [SCOPE]) as agent:
        value = f"Bearer {agent.access_token}".encode()
        two = asyncio.run(verifier.authenticate_headers_async([value, value]))
        assert isinstance(two, Refusal)
        assert (two.status, two.detail) == (401, "more than one authorization header")
        one = asyncio.run(verifier.authenticate_headers_async([value]))
        assert isinstance(one, VerifiedToken)

        denied = verifier.require(one, ["write:data:order-1"], path="/api/orders")
        assert isinstance(denied, Refusal)
        assert (denied.status, denied.code) == (403, "insufficient_scope")
        assert denied.required_scope == "write:data:order-1"
        assert header("www-authenticate", denied) == (
            'Bearer error="insufficient_scope", error_description="token lacks required scope: '
            f'write:data:order-1", scope="write:data:order-1", resource_metadata="{metadata}"'
        )
        assert verifier.require(one, [SCOPE]) is None
        with pytest.raises(Exception, match="list of scopes"):
            verifier.require(one, SCOPE)

        # Released: refused on the next request (max_staleness 0).
        token = agent.access_token
    released = verifier.verify(token)
    assert isinstance(released, Refusal) and released.code == "invalid_token"

    # The JSON-RPC form an MCP endpoint answers with.
    body = json.loads(denied.jsonrpc_body(7))
    assert body["id"] == 7 and body["error"]["code"] == -32003
    assert json.loads(denied.jsonrpc_body())["id"] is None
    assert dict(denied.jsonrpc_headers())["content-type"] == "application/json"

    # Discovery: the RFC 9728 document, without a token.
    answer = verifier.discovery("GET", "/.well-known/oauth-protected-resource/api")
    assert answer is not None
    status, headers, doc = answer
    assert status == 200 and dict(headers)["content-type"] == "application/json"
    assert json.loads(doc) == {
        "resource": "http://127.0.0.1:9/api",
        "scopes_supported": ["read:data:*"],
        "bearer_methods_supported": ["header"],
    }
    assert verifier.discovery("GET", "/api") is None
    assert live_tokens(broker) == set()


def test_a_revoked_token_is_refused(broker: DevBroker, app: AgentWritApp) -> None:
    verifier = Verifier(broker.url, max_staleness=0)
    agent = app.create_agent("o", "revoked", [SCOPE])
    assert isinstance(verifier.verify(agent.access_token), VerifiedToken)
    AgentWritOperator(broker.url, broker.admin_secret).revoke("token", agent.jti)
    refused = verifier.verify(agent.access_token)
    assert isinstance(refused, Refusal) and refused.status == 401
    agent.release()


def test_local_mode_pins_the_broker_key(broker: DevBroker, app: AgentWritApp) -> None:
    local = Verifier(keys=[broker.public_key])
    recheck = Verifier(broker.url, keys=[broker.public_key], max_staleness=0)
    with app.agent("o", "local", [SCOPE]) as agent:
        assert isinstance(local.verify(agent.access_token), VerifiedToken)
        assert isinstance(recheck.verify(agent.access_token), VerifiedToken)
        token = agent.access_token
    # Local mode cannot see the release; the re-check can.
    assert isinstance(local.verify(token), VerifiedToken)
    assert isinstance(recheck.verify(token), Refusal)
    other = DevBroker()
    try:
        forged = other.universal_app()
        with forged.agent("o", "forged", [SCOPE]) as agent:
            refusal = local.verify(agent.access_token)
            assert isinstance(refusal, Refusal) and refusal.status == 401
    finally:
        other.close()


def test_a_broker_that_cannot_be_asked_fails_closed() -> None:
    silent = Silent()
    try:
        verifier = Verifier(silent.url, broker_timeout=0.3)
        token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"
        refusal = verifier.verify(token)
        assert isinstance(refusal, Refusal)
        assert (refusal.status, refusal.code) == (503, "broker_unavailable")
        assert header("retry-after", refusal) == "1"
        assert header("www-authenticate", refusal) is None
    finally:
        silent.close()


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="broker_url"):
        Verifier()
    with pytest.raises(InvalidInputError, match="keys"):
        Verifier(keys=["not base64!"])
    with pytest.raises(InvalidInputError, match="resource"):
        Verifier("http://127.0.0.1:9", resource="not a url")
    with pytest.raises(InvalidInputError, match="client_cert"):
        Verifier("http://127.0.0.1:9", client_cert_pem="x")
    with pytest.raises(InvalidInputError, match="max_staleness"):
        Verifier("http://127.0.0.1:9", max_staleness=-1)


def test_public_paths() -> None:
    verifier = Verifier("http://127.0.0.1:9", public_paths=["/healthz"], public_prefixes=["/docs/"])
    assert verifier.is_public("/healthz") and verifier.is_public("/docs/a")
    assert not verifier.is_public("/healthz/x") and not verifier.is_public("/orders")


def test_a_broker_in_mtls_mode_and_no_secret_in_any_text() -> None:
    with DevBroker(tls="mtls") as broker:
        assert broker.ca_pem and broker.client_cert_pem and broker.client_key_pem
        verifier = Verifier(
            broker.url,
            ca_pem=broker.ca_pem,
            client_cert_pem=broker.client_cert_pem,
            client_key_pem=broker.client_key_pem,
        )
        no_identity = Verifier(broker.url, ca_pem=broker.ca_pem, broker_timeout=5)
        app = broker.universal_app()
        with app.agent("o", "mtls", [SCOPE]) as agent:
            token = verifier.verify(agent.access_token)
            assert isinstance(token, VerifiedToken)
            # Without the client certificate the broker cannot be asked: 503.
            refused = no_identity.verify(agent.access_token)
            assert isinstance(refused, Refusal) and refused.status == 503
            for text in (repr(verifier), repr(token), repr(refused), refused.detail):
                assert agent.access_token not in text
                assert "PRIVATE KEY" not in text

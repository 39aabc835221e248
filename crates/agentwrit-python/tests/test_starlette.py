"""``require_scope`` and the middleware in FastAPI and Starlette services,
over their ASGI interface (the frameworks' test clients): the statuses,
challenges and problem bodies agentwrit-tower answers with.

No ``from __future__ import annotations``: FastAPI reads the
dependencies' annotations at run time."""

import json
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from agentwrit_rs import AgentWritApp
from agentwrit_rs.service import ProtectedResource, VerifiedToken, Verifier
from agentwrit_rs.starlette import (
    AgentWritMiddleware,
    Refused,
    install,
    require_scope,
    verified_token,
)
from agentwrit_rs.testing import DevBroker
from support import Silent, live_tokens


def fastapi_app(verifier: Verifier, *, handler: bool = True) -> FastAPI:
    api = FastAPI()
    if handler:
        install(api)
    Reader = Annotated[VerifiedToken, Depends(require_scope(verifier, "read:data:customer-{customer_id}"))]
    Writer = Annotated[
        VerifiedToken,
        Depends(require_scope(verifier, "write:data:order-{order_id}", "read:data:customer-{customer_id}")),
    ]
    Anyone = Annotated[VerifiedToken, Depends(require_scope(verifier))]

    @api.get("/customers/{customer_id}")
    async def customer(customer_id: str, token: Reader) -> dict[str, str | None]:
        return {"customer": customer_id, "task": token.task_id}

    @api.post("/customers/{customer_id}/orders/{order_id}")
    def order(customer_id: str, order_id: str, token: Writer) -> dict[str, str]:
        return {"order": order_id, "by": token.sub}

    @api.get("/whoami")
    async def whoami(token: Anyone) -> dict[str, str]:
        return {"sub": token.sub}

    @api.get("/broken")
    async def broken(
        token: Annotated[VerifiedToken, Depends(require_scope(verifier, "read:data:{missing}"))],
    ) -> str:
        return "unreachable"

    return api


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_fastapi_require_scope(broker: DevBroker, app: AgentWritApp) -> None:
    verifier = Verifier(broker.url, max_staleness=0)
    client = TestClient(fastapi_app(verifier))
    with app.agent("orch", "lookup", ["read:data:customer-7291", "write:data:*"]) as agent:
        auth = bearer(agent.access_token)
        ok = client.get("/customers/7291", headers=auth)
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"customer": "7291", "task": "lookup"}
        assert client.get("/whoami", headers=auth).json() == {"sub": agent.agent_id}
        assert client.post("/customers/7291/orders/ord-1", headers=auth).status_code == 200

        other = client.get("/customers/9999", headers=auth)
        assert other.status_code == 403
        assert other.headers["content-type"] == "application/problem+json"
        assert other.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", error_description="token lacks required scope: '
            'read:data:customer-9999", scope="read:data:customer-9999"'
        )
        problem = other.json()
        assert problem["detail"] == "token lacks required scope: read:data:customer-9999"
        assert problem["instance"] == "/customers/9999"
        # Two scopes: the step-up names the one(s) the request needs.
        both = client.post("/customers/9999/orders/ord-1", headers=auth)
        assert both.status_code == 403
        assert "scope=\"write:data:order-ord-1 read:data:customer-9999\"" in both.headers["www-authenticate"]

        # A path value that would widen the scope: 400, never filled in.
        for value in ("%2A", "a:b", "a%20b"):
            wide = client.get(f"/customers/{value}", headers=auth)
            assert wide.status_code == 400, (value, wide.text)
            assert "cannot fill a scope" in wide.json()["detail"]
        # A template naming a parameter the route lacks: 500, fail closed.
        assert client.get("/broken", headers=auth).status_code == 500
        token = agent.access_token

    none = client.get("/customers/7291")
    assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
    released = client.get("/customers/7291", headers=bearer(token))
    assert released.status_code == 401
    assert released.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert token not in released.text
    assert live_tokens(broker) == set()


def test_without_the_handler_fastapi_still_answers_the_status_and_challenge(
    broker: DevBroker, app: AgentWritApp
) -> None:
    client = TestClient(fastapi_app(Verifier(broker.url), handler=False))
    with app.agent("orch", "t", ["read:data:customer-1"]) as agent:
        r = client.get("/customers/2", headers=bearer(agent.access_token))
    assert r.status_code == 403
    assert r.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert r.json() == {"detail": "token lacks required scope: read:data:customer-2"}


def test_a_broker_outage_is_a_503() -> None:
    silent = Silent()
    try:
        client = TestClient(fastapi_app(Verifier(silent.url, broker_timeout=0.3)))
        r = client.get("/whoami", headers=bearer("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"))
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
    finally:
        silent.close()


def test_starlette_middleware_discovery_public_paths_and_the_dependency(
    broker: DevBroker, app: AgentWritApp
) -> None:
    verifier = Verifier(
        broker.url,
        public_paths=["/healthz"],
        resource=ProtectedResource("http://testserver/", scopes_supported=["read:data:*"]),
    )
    check = require_scope(verifier, "read:data:customer-{customer_id}")
    seen: list[VerifiedToken | None] = []

    async def customer(request: Request) -> JSONResponse:
        try:
            token = await check(request)
        except Refused as refused:
            return JSONResponse({"refused": refused.refusal.code}, status_code=refused.status_code)
        seen.append(verified_token(request))
        return JSONResponse({"sub": token.sub})

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    star = Starlette(routes=[Route("/customers/{customer_id}", customer), Route("/healthz", health)])
    star.add_middleware(AgentWritMiddleware, verifier=verifier)
    client = TestClient(star)

    assert client.get("/healthz").text == "ok"
    doc = client.get("/.well-known/oauth-protected-resource")
    assert doc.status_code == 200 and doc.json()["resource"] == "http://testserver/"
    refused = client.get("/customers/7")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == (
        'Bearer resource_metadata="http://testserver/.well-known/oauth-protected-resource"'
    )
    assert refused.headers["content-type"] == "application/problem+json"
    with app.agent("orch", "t", ["read:data:customer-7"]) as agent:
        ok = client.get("/customers/7", headers=bearer(agent.access_token))
        assert ok.json() == {"sub": agent.agent_id}
        # The dependency reused the middleware's verdict.
        assert seen and seen[0] is not None and seen[0].sub == agent.agent_id
        no = client.get("/customers/8", headers=bearer(agent.access_token))
        assert no.status_code == 403 and no.json() == {"refused": "insufficient_scope"}
    with pytest.raises(TypeError):
        require_scope(verifier, ["read:data:x"])  # type: ignore[arg-type]


def test_the_problem_bodies_never_carry_the_token(broker: DevBroker, app: AgentWritApp) -> None:
    client = TestClient(fastapi_app(Verifier(broker.url)))
    with app.agent("orch", "t", ["read:data:customer-1"]) as agent:
        for path in ("/customers/2", "/customers/a:b", "/broken"):
            r = client.get(path, headers=bearer(agent.access_token))
            assert agent.access_token not in r.text
            assert agent.access_token not in json.dumps(dict(r.headers))

"""agentwrit_rs.mcp with the official ``mcp`` package, server and client:
an ``MCPServer`` behind ``McpAuth`` (the whole dialect), and one using the
package's own authentication with ``TokenVerifier``; both served by uvicorn
on 127.0.0.1:0 and called with the package's streamable HTTP client.
``cargo xtask python`` runs this file against mcp 2.3.0 and again against
mcp 2.0.0."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared._httpx_utils import create_mcp_http_client
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Receive, Scope, Send

from agentwrit_rs import AgentWritApp, AgentWritOperator
from agentwrit_rs.mcp import AgentWritAccessToken, McpAuth, TokenVerifier, ToolScopes, current_token
from agentwrit_rs.service import ProtectedResource, Verifier
from agentwrit_rs.testing import DevBroker
from support import eventually, live_tokens

TOOLS = {
    "get_customer_profile": "read:data:customer-{customer_id}",
    "whoami": [],
}


@contextlib.contextmanager
def serve(build: Any) -> Iterator[str]:
    """Serves the ASGI app ``build(base_url)`` with uvicorn on a free
    loopback port, in a thread; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(build(base), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        assert eventually(lambda: server.started, 30), "uvicorn did not start"
        yield base
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def tool_server(**kwargs: Any) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("agentwrit-test", log_level="WARNING", **kwargs)

    @server.tool(structured_output=False)
    def get_customer_profile(customer_id: str) -> str:
        token = current_token()
        return f"{customer_id} for {token.task_id if token else None}"

    @server.tool(structured_output=False)
    def whoami() -> str:
        access = get_access_token()
        token = current_token()
        return json.dumps(
            {
                "sub": token.sub if token else None,
                "access_client": access.client_id if access else None,
                "access_token_empty": access.token == "" if access else None,
                "agentwrit_access": isinstance(access, AgentWritAccessToken),
            }
        )

    return server


async def call(url: str, token: str | None, tool: str, args: dict[str, Any]) -> tuple[bool, str]:
    """One tool call with the official client: (is_error, text)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with create_mcp_http_client(headers=headers) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                result = await session.call_tool(tool, args)
                text = " ".join(c.text for c in result.content if c.type == "text")
                return bool(result.is_error), text


def call_error(url: str, token: str | None, tool: str, args: dict[str, Any]) -> str:
    """The messages of what the official client raised."""
    with pytest.raises(BaseException) as raised:
        asyncio.run(call(url, token, tool, args))
    return repr(raised.value)


class Probe:
    """Records the headers the MCP app received."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.authorization_seen = False
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.requests += 1
            if any(k.lower() == b"authorization" for k, _ in scope["headers"]):
                self.authorization_seen = True
        await self.app(scope, receive, send)


def test_mcp_auth_speaks_the_dialect(broker: DevBroker, app: AgentWritApp) -> None:
    scopes = ToolScopes(TOOLS, max_body_bytes=4096)
    probes: list[Probe] = []

    def build(base: str) -> ASGIApp:
        verifier = Verifier(
            broker.url,
            max_staleness=0,
            resource=ProtectedResource(f"{base}/mcp", scopes_supported=scopes.scope_families),
        )
        probe = Probe(tool_server().streamable_http_app())
        probes.append(probe)
        return McpAuth(probe, verifier=verifier, scopes=scopes)

    with serve(build) as base:
        url = f"{base}/mcp"
        metadata = f"{base}/.well-known/oauth-protected-resource/mcp"
        doc = httpx.get(metadata)
        assert doc.status_code == 200
        assert doc.json() == {
            "resource": url,
            "scopes_supported": ["read:data:*"],
            "bearer_methods_supported": ["header"],
        }
        none = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert none.status_code == 401
        assert none.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata}"'
        assert none.json()["error"]["code"] == -32001
        assert "missing authorization header" in call_error(url, None, "whoami", {})

        with app.agent("orch", "lookup", ["read:data:customer-7291"]) as agent, app.agent(
            "orch", "other", ["read:data:customer-1"]
        ) as other:
            ok = asyncio.run(call(url, agent.access_token, "get_customer_profile", {"customer_id": "7291"}))
            assert ok == (False, "7291 for lookup")
            who = json.loads(asyncio.run(call(url, agent.access_token, "whoami", {}))[1])
            assert who == {
                "sub": agent.agent_id,
                "access_client": agent.agent_id,
                "access_token_empty": True,
                "agentwrit_access": True,
            }
            denied = call_error(url, agent.access_token, "get_customer_profile", {"customer_id": "9999"})
            assert "token lacks required scope: read:data:customer-9999" in denied
            wild = call_error(url, agent.access_token, "get_customer_profile", {"customer_id": "*"})
            assert "cannot fill a scope" in wild
            unlisted = call_error(url, agent.access_token, "delete_everything", {})
            assert "not callable with an agent token" in unlisted

            # Raw: the 403 step-up answer with the request's id.
            headers = {
                "Authorization": f"Bearer {agent.access_token}",
                "Accept": "application/json, text/event-stream",
            }
            body = {
                "jsonrpc": "2.0",
                "id": 42,
                "method": "tools/call",
                "params": {"name": "get_customer_profile", "arguments": {"customer_id": "9999"}},
            }
            r = httpx.post(url, json=body, headers=headers)
            assert r.status_code == 403
            assert r.json()["id"] == 42 and r.json()["error"]["code"] == -32003
            assert r.headers["www-authenticate"].endswith(f'resource_metadata="{metadata}"')
            # Over the body limit: 413, never parsed.
            big = httpx.post(url, content=b"x" * 5000, headers=headers)
            assert big.status_code == 413
            # Two Authorization headers: refused.
            two = httpx.post(
                url,
                json=body,
                headers=[("Authorization", f"Bearer {agent.access_token}")] * 2,
            )
            assert two.status_code == 401 and "more than one" in two.text

            # A session belongs to the agent that opened it.
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "0"},
                },
            }
            opened = httpx.post(url, json=init, headers=headers)
            assert opened.status_code == 200, opened.text
            session = opened.headers["mcp-session-id"]
            theirs = dict(headers, Authorization=f"Bearer {other.access_token}")
            theirs["mcp-session-id"] = session
            hijack = httpx.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "ping"}, headers=theirs)
            assert hijack.status_code == 404
            mine = dict(headers)
            mine["mcp-session-id"] = session
            httpx.delete(url, headers=mine)
            token = agent.access_token
        # Released (max_staleness 0): refused.
        assert "token is invalid or expired" in call_error(url, token, "whoami", {})
    assert probes and probes[0].requests > 0 and not probes[0].authorization_seen
    assert live_tokens(broker) == set()


def test_token_verifier_in_the_mcp_packages_own_authentication(
    broker: DevBroker, app: AgentWritApp
) -> None:
    verifier = Verifier(broker.url, max_staleness=0)
    scopes = ToolScopes({"get_customer_profile": "read:data:customer-{customer_id}"})

    def build(base: str) -> ASGIApp:
        server: MCPServer[Any] = MCPServer(
            "agentwrit-test",
            log_level="WARNING",
            token_verifier=TokenVerifier(verifier),
            auth=AuthSettings(
                issuer_url=AnyHttpUrl("http://127.0.0.1:9"),
                resource_server_url=AnyHttpUrl(f"{base}/mcp"),
                validate_token_resource=False,
            ),
        )

        @server.tool(structured_output=False)
        def get_customer_profile(customer_id: str) -> str:
            required = scopes.require(verifier, "get_customer_profile", {"customer_id": customer_id})
            token = current_token()
            assert token is not None
            return f"{customer_id} ({' '.join(required)}) for {token.task_id}"

        return server.streamable_http_app()

    with serve(build) as base:
        url = f"{base}/mcp"
        none = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert none.status_code == 401
        assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in none.headers[
            "www-authenticate"
        ]
        with app.agent("orch", "native", ["read:data:customer-7291"]) as agent:
            ok = asyncio.run(call(url, agent.access_token, "get_customer_profile", {"customer_id": "7291"}))
            assert ok == (False, "7291 (read:data:customer-7291) for native")
            denied = asyncio.run(call(url, agent.access_token, "get_customer_profile", {"customer_id": "9999"}))
            assert denied == (
                True,
                "Error executing tool get_customer_profile: token lacks required scope: read:data:customer-9999",
            )
            token = agent.access_token
        refused = httpx.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert refused.status_code == 401
    assert live_tokens(broker) == set()


def test_token_verifier_answers(broker: DevBroker, app: AgentWritApp) -> None:
    verifier = Verifier(broker.url, max_staleness=0)
    tv = TokenVerifier(verifier)
    with app.agent("orch", "tv", ["read:data:x"]) as agent:
        access = asyncio.run(tv.verify_token(agent.access_token))
        assert isinstance(access, AgentWritAccessToken)
        assert access.client_id == access.subject == agent.agent_id
        assert access.scopes == ["read:data:x"]
        assert access.expires_at == agent.claims().exp
        assert access.claims is not None and access.claims["task_id"] == "tv"
        assert access.verified.jti == agent.jti
        assert access.resource is None
        token = agent.access_token
    assert asyncio.run(tv.verify_token(token)) is None
    assert asyncio.run(tv.verify_token("garbage")) is None
    revoked = app.create_agent("orch", "tv-revoked", ["read:data:x"])
    assert asyncio.run(tv.verify_token(revoked.access_token)) is not None
    AgentWritOperator(broker.url, broker.admin_secret).revoke("token", revoked.jti)
    assert asyncio.run(tv.verify_token(revoked.access_token)) is None
    revoked.release()


def test_tool_scopes_configuration() -> None:
    scopes = ToolScopes(
        {"a": "read:data:customer-{id}", "b": ["write:data:order-{n}", "read:data:catalog"]},
        methods={"resources/read": "read:docs:{uri}"},
        max_body_bytes=10,
    )
    assert scopes.scope_families == ["read:data:*", "read:data:catalog", "read:docs:*", "write:data:*"]
    assert scopes.max_body_bytes == 10
    with pytest.raises(Exception, match="read-data"):
        ToolScopes({"a": "read-data-{x}"})
    with pytest.raises(TypeError):
        ToolScopes({"a": [1]})  # type: ignore[list-item]

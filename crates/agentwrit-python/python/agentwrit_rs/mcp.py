"""AgentWrit tokens for MCP servers built with the official ``mcp`` package
(2.x: ``mcp.server.mcpserver.MCPServer``; see ``docs/mcp.md`` for the
versions tested).

Two ways in, both validating with the package's :class:`~agentwrit_rs.service.Verifier`
(``agentwrit-tower``'s core: broker or local mode, the cache, fail closed):

* :class:`McpAuth` — the whole MCP authorization dialect in front of the
  server's streamable HTTP app, exactly as ``agentwrit-tower``'s MCP layer
  answers it: the RFC 9728 metadata without a token, ``401`` with
  ``resource_metadata``, per-tool scopes decided from the JSON-RPC body
  before the server parses it (``403 insufficient_scope`` naming the scope
  to step up to), the token removed before any tool runs, ``503`` when the
  broker cannot be asked::

      server = MCPServer("tools")                  # no auth= of its own
      ...
      scopes = ToolScopes({"get_customer_profile": "read:data:customer-{customer_id}"})
      verifier = Verifier(broker_url, resource=ProtectedResource(
          "https://tools.example.com/mcp", scopes_supported=scopes.scope_families))
      app = McpAuth(server.streamable_http_app(), verifier=verifier, scopes=scopes)

* :class:`TokenVerifier` — the ``mcp`` package's own plug-in point
  (``MCPServer(token_verifier=..., auth=AuthSettings(...))``): the
  package then answers challenges and metadata itself, by its own rules
  (see the class).

Tools read the verified token with :func:`current_token` (never the bearer
token itself); :meth:`ToolScopes.require` decides a tool's scopes inside
the tool when the server is behind the plain :class:`TokenVerifier`.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from mcp.server.auth.middleware.auth_context import auth_context_var, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import PrivateAttr
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentwrit_rs import _native
from agentwrit_rs.service import Refusal, VerifiedToken, Verifier

__all__ = [
    "AgentWritAccessToken",
    "McpAuth",
    "ScopeDenied",
    "TokenVerifier",
    "ToolScopes",
    "current_token",
]

_log = logging.getLogger("agentwrit_rs.mcp")

_current: contextvars.ContextVar[VerifiedToken | None] = contextvars.ContextVar(
    "agentwrit_rs.mcp.current_token", default=None
)


class AgentWritAccessToken(AccessToken):
    """The ``mcp`` package's ``AccessToken`` for an AgentWrit token:
    ``client_id`` and ``subject`` are the agent's SPIFFE id, ``scopes`` the
    granted scopes, ``expires_at`` the ``exp``, ``claims`` the AgentWrit
    claims (``iss``, ``jti``, ``task_id``, ``orch_id``, ``aud``). The
    :class:`VerifiedToken` is :attr:`verified`. Behind :class:`McpAuth`,
    ``token`` is empty: no tool ever holds the bearer token."""

    _verified: Any = PrivateAttr(default=None)

    @property
    def verified(self) -> VerifiedToken:
        """The verified AgentWrit claims."""
        token = self._verified
        assert isinstance(token, _native.Verified)
        return token


def _access_token(verified: VerifiedToken, token: str, resource: str | None) -> AgentWritAccessToken:
    claims: dict[str, Any] = {"iss": verified.iss, "jti": verified.jti, "aud": verified.aud}
    if verified.task_id is not None:
        claims["task_id"] = verified.task_id
    if verified.orch_id is not None:
        claims["orch_id"] = verified.orch_id
    access = AgentWritAccessToken(
        token=token,
        client_id=verified.sub,
        scopes=verified.scope,
        expires_at=verified.exp,
        # RFC 8707: the resource the token names (its `aud`), when it is
        # this server's.
        resource=resource if resource is not None and resource in verified.aud else None,
        subject=verified.sub,
        claims=claims,
    )
    access._verified = verified
    return access


def current_token() -> VerifiedToken | None:
    """The verified token of the MCP request being served (inside a tool):
    from :class:`McpAuth`, or from the ``mcp`` package's own
    authentication with :class:`TokenVerifier`; ``None`` otherwise."""
    token = _current.get()
    if token is not None:
        return token
    access = get_access_token()
    if isinstance(access, AgentWritAccessToken):
        return access.verified
    return None


class ScopeDenied(ToolError):
    """A tool call refused by :meth:`ToolScopes.require`: the ``mcp``
    package answers it as a tool error (``is_error``) whose text carries
    the refusal's detail (``Error executing tool <name>: token lacks
    required scope: ...``)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


def _templates(value: str | Iterable[str], what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    out = list(value)
    if not all(isinstance(v, str) for v in out):
        raise TypeError(f"the scopes of {what} must be strings")
    return out


class ToolScopes:
    """Which scopes each tool (and, optionally, each other JSON-RPC
    method) needs, filled from the call's arguments and decided by the
    broker's exact rule — ``agentwrit-tower``'s ``McpScopes``::

        ToolScopes({
            "get_customer_profile": "read:data:customer-{customer_id}",
            "write_order": ["write:data:order-{order_id}"],
        })

    A placeholder is filled with a string argument or an integer; a value
    holding ``:``, ``*``, whitespace, a quote or backslash, a control or
    non-ASCII character, empty or over 256 bytes is refused (400), never
    filled in. A tool that is not listed is refused (403 ``forbidden``)
    unless ``allow_unlisted_tools``; other methods (``initialize``,
    ``tools/list``, ...) need only a valid token unless listed in
    ``methods``; bodies over ``max_body_bytes`` (1 MiB) are refused
    (413)."""

    def __init__(
        self,
        tools: Mapping[str, str | Iterable[str]],
        *,
        methods: Mapping[str, str | Iterable[str]] | None = None,
        allow_unlisted_tools: bool = False,
        max_body_bytes: int | None = None,
    ) -> None:
        self._native = _native.McpScopes(
            [(name, _templates(t, f"tool {name}")) for name, t in tools.items()],
            [(name, _templates(t, f"method {name}")) for name, t in (methods or {}).items()],
            allow_unlisted_tools=allow_unlisted_tools,
            max_body_bytes=max_body_bytes,
        )

    @property
    def scope_families(self) -> list[str]:
        """Every scope family the tools name, with ``*`` where an argument
        fills the identifier (``read:data:*``): the metadata's
        ``scopes_supported``."""
        return self._native.scope_families

    @property
    def max_body_bytes(self) -> int:
        """The largest request body decided on."""
        return self._native.max_body_bytes

    def decide(
        self, verifier: Verifier, body: bytes, token: VerifiedToken, *, path: str | None = None
    ) -> tuple[list[str] | None, Refusal | None, Any]:
        """The decision on one JSON-RPC body for ``token``:
        ``(required, None, None)`` or ``(None, refusal, request_id)``.
        Recorded when the verifier records usage."""
        required, refusal, request_id = self._native.decide(verifier._native, body, token, path)
        return required, refusal, request_id

    def require(
        self,
        verifier: Verifier,
        tool: str,
        arguments: Mapping[str, Any],
        token: VerifiedToken | None = None,
    ) -> list[str]:
        """Inside a tool (behind the plain :class:`TokenVerifier`): the
        scopes the call of ``tool`` with ``arguments`` needs, all granted
        to ``token`` (default: :func:`current_token`); otherwise raises
        :class:`ScopeDenied`, which the ``mcp`` package returns as a tool
        error. Recorded when the verifier records usage."""
        token = token if token is not None else current_token()
        if token is None:
            raise ToolError("no verified AgentWrit token: the server is not behind AgentWrit authentication")
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "tools/call",
                "params": {"name": tool, "arguments": dict(arguments)},
            }
        ).encode()
        required, refusal, _ = self.decide(verifier, body, token)
        if refusal is not None:
            raise ScopeDenied(refusal)
        assert required is not None
        return required


class TokenVerifier:
    """The ``mcp`` package's ``TokenVerifier`` protocol, validated by
    AgentWrit's core::

        server = MCPServer(
            "tools",
            token_verifier=TokenVerifier(verifier),
            auth=AuthSettings(
                issuer_url=...,                        # required by mcp; see docs/mcp.md
                resource_server_url="https://tools.example.com/mcp",
                validate_token_resource=False,         # the verifier checks `aud` (audience=)
            ),
        )

    With it the ``mcp`` package answers by its own rules, not
    ``agentwrit-tower``'s: every refusal is its ``401 invalid_token``
    (including a broker it cannot reach, where :class:`McpAuth` answers
    ``503``), its ``required_scopes`` are compared as plain strings (no
    wildcards, no per-tool scopes: use :meth:`ToolScopes.require` inside
    the tools), and its metadata names ``issuer_url`` as the
    authorization server. :class:`McpAuth` speaks the whole dialect."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        """An :class:`AgentWritAccessToken`, or ``None`` (refused)."""
        verdict = await self.verifier.verify_async(token)
        if isinstance(verdict, _native.Verified):
            return _access_token(verdict, token, self.verifier.resource)
        if verdict.code == "broker_unavailable":
            _log.warning("the token broker cannot be reached; the request is refused (fail closed)")
        return None


class McpAuth:
    """ASGI middleware for an MCP server's streamable HTTP app: the MCP
    authorization dialect as ``agentwrit-tower``'s MCP layer speaks it.

    For every HTTP request it

    1. answers ``GET`` of the protected resource's metadata path itself,
       without a token (when ``verifier`` publishes a
       :class:`~agentwrit_rs.service.ProtectedResource`);
    2. authenticates ``Authorization: Bearer`` (two headers are refused)
       and **removes the header** before the server runs: tools read
       :func:`current_token` (or the ``mcp`` package's
       ``get_access_token()``, whose ``token`` is empty), never the bearer
       token;
    3. for a ``POST``, reads the body (at most ``scopes.max_body_bytes``)
       and decides the scopes its JSON-RPC messages need with
       ``scopes``; refuses with ``403 insufficient_scope`` before the
       server parses it, otherwise hands the server the body it read.

    Every refusal is a JSON-RPC error response with the RFC 6750
    challenge (and ``resource_metadata``). The ``mcp`` package binds each
    session to the agent that opened it (``client_id``/``subject``: its
    SPIFFE id). The verifier's public paths pass untouched; lifespan
    events pass through; WebSocket connections are closed (1008).
    """

    def __init__(self, app: ASGIApp, *, verifier: Verifier, scopes: ToolScopes) -> None:
        self.app = app
        self.verifier = verifier
        self.scopes = scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "not an MCP endpoint"})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        answer = self.verifier.discovery(method, path)
        if answer is not None:
            status, headers, body = answer
            await _respond(send, status, headers, body)
            return
        if self.verifier.is_public(path):
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
        verdict = await self.verifier.authenticate_headers_async(values, path=path)
        if not isinstance(verdict, _native.Verified):
            await _refuse(send, verdict, None)
            return
        inner_receive = receive
        if method == "POST":
            body = await _read_bounded(receive, self.scopes.max_body_bytes)
            _, refusal, request_id = self.scopes.decide(self.verifier, body, verdict, path=path)
            if refusal is not None:
                await _refuse(send, refusal, request_id)
                return
            inner_receive = _replay(body, receive)
        access = _access_token(verdict, "", self.verifier.resource)
        inner = dict(scope)
        inner["headers"] = [(k, v) for k, v in scope.get("headers", ()) if k.lower() != b"authorization"]
        inner["user"] = AuthenticatedUser(access)
        inner["auth"] = AuthCredentials(list(access.scopes))
        inner["agentwrit.token"] = verdict
        reset_ours = _current.set(verdict)
        reset_mcp = auth_context_var.set(inner["user"])
        try:
            await self.app(inner, inner_receive, send)
        finally:
            auth_context_var.reset(reset_mcp)
            _current.reset(reset_ours)


async def _read_bounded(receive: Receive, limit: int) -> bytes:
    """The body, read until it ends, or until it exceeds ``limit``: then
    ``limit + 1`` bytes, enough for the decision's 413, and the rest is
    never read."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # Disconnected: what arrived is all there is.
            return b"".join(chunks)
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[: limit + 1]
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then
    whatever the server sends next (``http.disconnect``)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send, refusal: Refusal, request_id: Any) -> None:
    await _respond(send, refusal.status, refusal.jsonrpc_headers(), refusal.jsonrpc_body(request_id))


async def _respond(send: Send, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

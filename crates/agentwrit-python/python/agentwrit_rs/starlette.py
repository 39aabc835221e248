"""AgentWrit tokens in Starlette and FastAPI services, answered as
``agentwrit-tower`` answers them (the same statuses, RFC 6750 challenges
and ``application/problem+json`` bodies)::

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from agentwrit_rs.service import Verifier, VerifiedToken
    from agentwrit_rs.starlette import install, require_scope

    verifier = Verifier("https://broker.internal:8080")
    app = FastAPI()
    install(app)                                   # refusals as problem+json

    @app.get("/customers/{customer_id}")
    async def customer(
        customer_id: str,
        token: Annotated[VerifiedToken, Depends(require_scope(verifier, "read:data:customer-{customer_id}"))],
    ) -> dict[str, str]:
        return {"customer": customer_id, "for": token.sub}

| case | status | ``WWW-Authenticate`` |
|---|---|---|
| no ``Authorization``, or another scheme | 401 | ``Bearer`` |
| malformed, forged, expired, released, revoked, two headers | 401 | ``Bearer error="invalid_token"`` |
| a valid token without the scope | 403 | ``Bearer error="insufficient_scope", scope="..."`` |
| a path parameter that cannot fill its scope (``*``, ``:``, ...) | 400 | — |
| broker unreachable (fail closed) | 503 (``Retry-After: 1``) | — |

Needs ``starlette`` (FastAPI brings it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from agentwrit_rs import _native
from agentwrit_rs.service import Refusal, VerifiedToken, Verifier

__all__ = [
    "AgentWritMiddleware",
    "Refused",
    "TOKEN_KEY",
    "install",
    "refusal_handler",
    "refusal_response",
    "require_scope",
    "verified_token",
]

#: Where :class:`AgentWritMiddleware` puts the :class:`VerifiedToken` in
#: the ASGI scope (``request.scope[TOKEN_KEY]``).
TOKEN_KEY = "agentwrit.token"


class Refused(HTTPException):
    """A refused request, raised by :func:`require_scope`'s dependency.

    A Starlette ``HTTPException`` carrying the :class:`Refusal`: its status
    and its headers (the ``WWW-Authenticate`` challenge, ``Retry-After``)
    reach the client through any ``HTTPException`` handler; with
    :func:`install` (or :func:`refusal_handler`) the body is also
    ``agentwrit-tower``'s ``application/problem+json``."""

    def __init__(self, refusal: Refusal) -> None:
        headers = {k: v for k, v in refusal.headers() if k != "content-type"}
        super().__init__(status_code=refusal.status, detail=refusal.detail, headers=headers)
        self.refusal = refusal


def refusal_response(refusal: Refusal) -> Response:
    """The problem response for ``refusal``."""
    response = Response(content=refusal.body(), status_code=refusal.status)
    for name, value in refusal.headers():
        response.headers[name] = value
    return response


async def refusal_handler(request: Request, exc: Exception) -> Response:
    """An exception handler for :class:`Refused`:
    ``app.add_exception_handler(Refused, refusal_handler)``."""
    if not isinstance(exc, Refused):
        raise exc
    return refusal_response(exc.refusal)


def install(app: Any) -> None:
    """Answers :class:`Refused` with the problem response on a Starlette
    or FastAPI ``app`` (``app.add_exception_handler``)."""
    app.add_exception_handler(Refused, refusal_handler)


def verified_token(connection: HTTPConnection) -> VerifiedToken | None:
    """The token :class:`AgentWritMiddleware` (or a :func:`require_scope`
    dependency) verified for this request, if any."""
    token = connection.scope.get(TOKEN_KEY)
    return token if isinstance(token, _native.Verified) else None


def _authorization(scope: Scope) -> list[bytes]:
    return [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]


async def _authenticate(verifier: Verifier, scope: MutableMapping[str, Any]) -> VerifiedToken | Refusal:
    token = scope.get(TOKEN_KEY)
    if isinstance(token, _native.Verified):
        return token
    verdict = await verifier.authenticate_headers_async(_authorization(scope), path=scope.get("path"))
    if isinstance(verdict, _native.Verified):
        scope[TOKEN_KEY] = verdict
    return verdict


def require_scope(
    verifier: Verifier, *scopes: str
) -> Callable[[Request], Awaitable[VerifiedToken]]:
    """A dependency that authenticates the request and requires every
    scope in ``scopes`` (none: a valid token is enough).

    ``{name}`` placeholders are filled from the route's path parameters
    (``read:data:customer-{customer_id}`` on ``/customers/{customer_id}``)
    by the rule of the MCP tool scopes: a value holding ``:``, ``*``,
    whitespace, a quote, a control or non-ASCII character, empty or over
    256 bytes is refused (400), never filled in, so a path can never widen
    the scope it needs. The broker's subset rule then decides (wildcards
    in the token's scopes included).

    FastAPI: ``Depends(require_scope(verifier, ...))`` gives the
    :class:`VerifiedToken`. Starlette: ``token = await dependency(request)``.
    A refusal raises :class:`Refused`. The decision is recorded when the
    verifier records usage. Reuses the token :class:`AgentWritMiddleware`
    verified, if it ran.
    """
    for s in scopes:
        if not isinstance(s, str):
            raise TypeError(f"require_scope takes scopes as strings, got {type(s).__name__}")
    requirement = _native.ScopeRequirement(list(scopes))
    names = requirement.names

    async def dependency(request: Request) -> VerifiedToken:
        verdict = await _authenticate(verifier, request.scope)
        if not isinstance(verdict, _native.Verified):
            raise Refused(verdict)
        params = request.path_params
        values = [(n, str(params[n])) for n in names if n in params]
        checked = requirement.check(verifier._native, verdict, values, request.url.path)
        if isinstance(checked, _native.Refusal):
            raise Refused(checked)
        return verdict

    return dependency


class AgentWritMiddleware:
    """ASGI middleware that authenticates every HTTP request, as
    ``agentwrit-tower``'s layer does: it answers the protected resource's
    metadata (when the verifier publishes one) without a token, lets the
    verifier's public paths through, and refuses any other request without
    a valid token with the problem response. The verified token is in
    ``request.scope[TOKEN_KEY]`` (:func:`verified_token`), where
    :func:`require_scope` finds it.

    ``app.add_middleware(AgentWritMiddleware, verifier=verifier)``.
    WebSocket connections are closed (1008) unless the verifier makes
    their path public."""

    def __init__(self, app: ASGIApp, *, verifier: Verifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if scope["type"] == "http":
            answer = self.verifier.discovery(scope.get("method", "GET"), path)
            if answer is not None:
                status, headers, body = answer
                await _send(send, status, headers, body)
                return
        if self.verifier.is_public(path):
            await self.app(scope, receive, send)
            return
        verdict = await _authenticate(self.verifier, scope)
        if isinstance(verdict, _native.Verified):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": verdict.detail})
        else:
            await _send(send, verdict.status, verdict.headers(), verdict.body())


async def _send(send: Send, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

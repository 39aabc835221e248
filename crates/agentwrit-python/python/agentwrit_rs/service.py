"""The service side: checking the agent tokens a service *receives*.

:class:`Verifier` is ``agentwrit-tower``'s authenticator, the one the Rust
middleware uses, through the package's native module: broker mode (every
token checked at the broker's validate endpoint, verdicts reused for at
most ``max_staleness`` seconds) or local mode (EdDSA against pinned broker
keys, optionally re-checked at the broker), a bounded cache keyed by the
token's SHA-256, fail closed (a broker that cannot be asked is a 503,
never a pass). Its answers are :class:`VerifiedToken` (the verified
claims) or :class:`Refusal` (the status, the RFC 6750 challenge and the
problem body ``agentwrit-tower`` answers with), which the framework
adapters turn into responses: :mod:`agentwrit_rs.starlette` (Starlette and
FastAPI: ``require_scope``, a middleware) and :mod:`agentwrit_rs.mcp`
(servers of the official ``mcp`` package).

Scope-usage evidence (``record_usage=``, off by default) records, per
token, the scopes the requests required and what was decided, as JSON
Lines files that ``agentwrit usage report`` reads (see
``docs/usage-evidence.md``).
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from agentwrit_rs import _native
from agentwrit_rs._options import Pem, _pem, _read, scopes

__all__ = [
    "ProtectedResource",
    "Refusal",
    "UsageRecording",
    "VerifiedToken",
    "Verifier",
]

#: The verified claims of an accepted token (``sub``, ``jti``, ``scope``,
#: ``task_id``, ``orch_id``, ``iss``, ``aud``, ``exp``, ``iat``,
#: ``delegation_depth``; ``allows(scopes)``; ``claims()`` for the
#: :class:`~agentwrit_rs.AgentClaims`). Never the token itself. Made only
#: by a :class:`Verifier`.
VerifiedToken = _native.Verified

#: A refused request and the response ``agentwrit-tower`` answers it with:
#: ``status`` (401, 403, 400, 413, 503, 500), ``code``
#: (``missing_token``, ``invalid_token``, ``insufficient_scope``,
#: ``broker_unavailable``, ``forbidden``, ``bad_request``,
#: ``payload_too_large``, ``misconfigured``), ``detail``,
#: ``required_scope`` (for ``insufficient_scope``: the scopes to step up
#: to), ``resource_metadata``; ``headers()`` and ``body()`` (the
#: ``application/problem+json`` response), ``jsonrpc_headers()`` and
#: ``jsonrpc_body(id)`` (an MCP endpoint's JSON-RPC error response).
Refusal = _native.Refusal


@dataclass(frozen=True)
class ProtectedResource:
    """This service as an OAuth protected resource (RFC 9728), the dialect
    MCP clients speak: its metadata is answered without a token at
    ``/.well-known/oauth-protected-resource<path of resource>``, and every
    401 and 403 challenge names it (``resource_metadata="..."``).

    ``resource`` is the absolute URL clients call (an MCP endpoint:
    ``https://tools.example.com/mcp``). ``authorization_servers`` is empty
    by default: the AgentWrit broker is not an OAuth authorization server
    (see ``docs/mcp.md``)."""

    resource: str
    scopes_supported: Sequence[str] = ()
    authorization_servers: Sequence[str] = ()
    documentation: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class UsageRecording:
    """Where a :class:`Verifier` records scope usage: one JSON Lines file
    per process in ``directory`` (several processes may share it), each
    record naming ``service_name`` (default: the program's name) and the
    process (``pid-<pid>``)."""

    directory: str | os.PathLike[str]
    service_name: str | None = None


# Usage records still in memory are written when the interpreter exits
# (in a forked worker, that worker's own).
atexit.register(_native.finish_usage)


def _program_name() -> str:
    name = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
    return name or "python"


class Verifier:
    """Checks the agent tokens a service receives.

    ``broker_url`` alone: *broker mode*, every token checked at the broker
    (release and revocation seen within ``max_staleness`` seconds, 5 by
    default; 0 asks the broker on every request). ``keys`` (the broker's
    Ed25519 public keys, base64url or JWK text): *local mode*, no network,
    and **no sight of release or revocation** until ``exp`` — unless
    ``broker_url`` is also given, which re-checks at the broker at most
    once per token every ``max_staleness``.

    ``issuer``, ``audience``: required ``iss`` and member of ``aud``.
    ``leeway``: tolerated clock difference on ``exp``/``nbf`` (seconds).
    ``broker_timeout``: one broker call's limit (then 503).
    ``ca_file``/``ca_pem``, ``client_cert``/``client_key`` (or ``_pem``):
    a broker behind a private CA, in mTLS mode. ``public_paths`` (exact)
    and ``public_prefixes`` pass without a token through the middlewares.
    ``resource``: publish the service as a :class:`ProtectedResource` (or
    its URL). ``record_usage``: a directory (or :class:`UsageRecording`)
    turns scope-usage recording on.

    Thread-safe and fork-safe (a forked worker builds its own cache and
    usage file on first use); cheap to share. Blocking methods release the
    GIL; the ``_async`` ones are awaitables of the running asyncio loop.
    """

    def __init__(
        self,
        broker_url: str | None = None,
        *,
        keys: Iterable[str] = (),
        max_staleness: float | None = None,
        cache_capacity: int | None = None,
        broker_timeout: float | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        ca_pem: Pem | None = None,
        client_cert: str | os.PathLike[str] | None = None,
        client_key: str | os.PathLike[str] | None = None,
        client_cert_pem: Pem | None = None,
        client_key_pem: Pem | None = None,
        public_paths: Iterable[str] = (),
        public_prefixes: Iterable[str] = (),
        resource: ProtectedResource | str | None = None,
        record_usage: UsageRecording | str | os.PathLike[str] | None = None,
    ) -> None:
        ca = _pem(ca_pem)
        if ca_file is not None:
            ca = (ca or b"") + (_read(ca_file) or b"")
        cert = _pem(client_cert_pem) if client_cert_pem is not None else _read(client_cert)
        key = _pem(client_key_pem) if client_key_pem is not None else _read(client_key)
        if isinstance(resource, str):
            resource = ProtectedResource(resource)
        usage: UsageRecording | None
        if record_usage is None or isinstance(record_usage, UsageRecording):
            usage = record_usage
        else:
            usage = UsageRecording(record_usage)
        self._native = _native.Verifier(
            broker_url,
            keys=list(keys) if not isinstance(keys, str) else [keys],
            max_staleness=max_staleness,
            cache_capacity=cache_capacity,
            broker_timeout=broker_timeout,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            ca_pem=ca,
            client_cert_pem=cert,
            client_key_pem=key,
            public_paths=list(public_paths),
            public_prefixes=list(public_prefixes),
            resource=resource.resource if resource else None,
            authorization_servers=list(resource.authorization_servers) if resource else [],
            scopes_supported=list(resource.scopes_supported) if resource else [],
            resource_documentation=resource.documentation if resource else None,
            resource_name=resource.name if resource else None,
            usage_dir=os.fspath(usage.directory) if usage else None,
            usage_service_name=(usage.service_name or _program_name()) if usage else None,
        )

    # -- verification ------------------------------------------------------

    def verify(self, token: str) -> VerifiedToken | Refusal:
        """The verdict on one bearer token (blocks; the GIL is released)."""
        return self._native.verify_token(token)

    async def verify_async(self, token: str) -> VerifiedToken | Refusal:
        """:meth:`verify`, awaited."""
        return await self._native.verify_token_async(token)

    def authenticate(
        self, authorization: str | None, *, path: str | None = None
    ) -> VerifiedToken | Refusal:
        """The verdict on a request from its ``Authorization`` header
        (``None``: it has none, a 401 with a bare ``Bearer`` challenge);
        ``path`` becomes the refusal's problem ``instance``."""
        return self._native.authenticate(authorization, path)

    async def authenticate_async(
        self, authorization: str | None, *, path: str | None = None
    ) -> VerifiedToken | Refusal:
        """:meth:`authenticate`, awaited."""
        return await self._native.authenticate_async(authorization, path)

    async def authenticate_headers_async(
        self, values: Sequence[bytes], *, path: str | None = None
    ) -> VerifiedToken | Refusal:
        """:meth:`authenticate` from every raw value of the request's
        ``Authorization`` header (an ASGI scope's): two are refused."""
        return await self._native.authenticate_values_async(list(values), path)

    def require(
        self, token: VerifiedToken, required: Iterable[str], *, path: str | None = None
    ) -> Refusal | None:
        """``None`` when ``token`` grants every scope in ``required`` (the
        broker's rule, wildcards included), else the 403
        ``insufficient_scope`` refusal naming them. Recorded when usage
        recording is on (:meth:`VerifiedToken.allows` records nothing)."""
        return self._native.require(token, scopes(required, "required"), path)

    def insufficient_scope(
        self, required: Iterable[str], *, path: str | None = None
    ) -> Refusal:
        """The 403 refusal for a token that lacks ``required``."""
        return self._native.insufficient_scope(scopes(required, "required"), path)

    def is_public(self, path: str) -> bool:
        """Whether ``path`` passes without a token (``public_paths``,
        ``public_prefixes``)."""
        return self._native.is_public(path)

    def discovery(self, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """``(status, headers, body)`` when the request is discovery (``GET``
        of the protected resource's metadata path), else ``None``."""
        return self._native.discovery(method, path)

    @property
    def resource(self) -> str | None:
        """The protected resource's identifier, when one is published."""
        return self._native.resource

    @property
    def resource_metadata_url(self) -> str | None:
        """Its metadata URL (what challenges name in ``resource_metadata``)."""
        return self._native.resource_metadata_url

    @property
    def cached_entries(self) -> int:
        """How many verdicts this process's cache holds."""
        return self._native.cached_entries

    # -- usage -------------------------------------------------------------

    @property
    def records_usage(self) -> bool:
        """Whether scope usage is recorded."""
        return self._native.records_usage

    def usage_counters(self) -> dict[str, int] | None:
        """The recorder's counters in this process (``requests_allowed``,
        ``refused_revoked``, ``checks_denied``, ``records_written``, ...),
        or ``None`` without recording or before the first request."""
        return self._native.usage_counters()

    def flush_usage(self) -> None:
        """Write a record for every token with activity since its last
        record, and wait until the file has it (blocks; GIL released)."""
        self._native.flush_usage()

    def close(self) -> None:
        """Write the pending usage records and stop recording (verification
        goes on). Idempotent. At interpreter exit every recorder of the
        process is closed anyway (a forked worker closes its own)."""
        self._native.shutdown_usage()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Verifier(resource={self.resource!r}, records_usage={self.records_usage})"

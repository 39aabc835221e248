"""The data classes of ``agentwrit_rs``, field for field those of the
official SDK (``agentwrit.models``). Token fields are left out of
``repr()``. The native module builds them directly from the Rust values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AgentClaims",
    "DelegatedToken",
    "DelegationRecord",
    "HealthStatus",
    "ProblemDetail",
    "RegisterResult",
    "ValidateResult",
]


@dataclass(frozen=True)
class DelegationRecord:
    """One hop of a delegation chain: who delegated, what, and when."""

    agent: str
    scope: list[str]
    delegated_at: str


@dataclass(frozen=True)
class AgentClaims:
    """The claims of a token, as the broker's validate endpoint returns them."""

    iss: str
    sub: str
    aud: list[str]
    exp: int
    nbf: int
    iat: int
    jti: str
    scope: list[str]
    task_id: str
    orch_id: str
    sid: str | None = None
    delegation_chain: list[DelegationRecord] | None = None
    chain_hash: str | None = None


@dataclass(frozen=True)
class ValidateResult:
    """The broker's verdict on a token: ``valid`` with ``claims``, or not
    with an ``error``. An invalid token is a result, not an exception."""

    valid: bool
    claims: AgentClaims | None = None
    error: str | None = None


@dataclass(frozen=True)
class DelegatedToken:
    """A token an agent handed to another agent, with the chain so far.

    ``delegate()`` hands it on again (multi-hop, at most five hops);
    ``release()`` kills it. Both are additions to the official SDK.
    """

    access_token: str = field(repr=False)
    expires_in: int
    delegation_chain: list[DelegationRecord]
    _native: Any = field(default=None, repr=False, compare=False)

    def delegate(
        self, delegate_to: str, scope: list[str], *, ttl: int | None = None
    ) -> DelegatedToken:
        """Delegate this token's scope (or less) on to ``delegate_to``."""
        if self._native is None:
            raise ValueError("this DelegatedToken was not issued by the SDK")
        from agentwrit_rs._options import scopes

        return _delegated(self._native.delegate(delegate_to, scopes(scope, "scope"), ttl))

    def release(self) -> None:
        """Revoke this delegated token at the broker (idempotent)."""
        if self._native is not None:
            self._native.release()

    @property
    def bearer_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``."""
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass(frozen=True)
class RegisterResult:
    """The outcome of an agent registration."""

    agent_id: str
    access_token: str = field(repr=False)
    expires_in: int


@dataclass(frozen=True)
class HealthStatus:
    """``GET /v1/health``."""

    status: str
    version: str
    uptime: int
    db_connected: bool
    audit_events_count: int


@dataclass(frozen=True)
class ProblemDetail:
    """An RFC 7807 problem from the broker."""

    type: str
    title: str
    detail: str
    instance: str
    status: int | None = None
    error_code: str | None = None
    request_id: str | None = None
    hint: str | None = None


def _delegated(native: Any) -> DelegatedToken:
    """A :class:`DelegatedToken` around the native one."""
    return DelegatedToken(
        access_token=native.access_token,
        expires_in=native.expires_in,
        delegation_chain=native.chain(),
        _native=native,
    )

"""The data classes of ``agentwrit_rs``, field for field those of the
official SDK (``agentwrit.models``). Token fields are left out of
``repr()``."""

from __future__ import annotations

import json
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
        return _delegated(self._native.delegate(delegate_to, list(scope), ttl))

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


# Builders from what the native module returns.


def _chain(records: list[dict[str, Any]] | None) -> list[DelegationRecord]:
    return [
        DelegationRecord(
            agent=r["agent"], scope=list(r["scope"]), delegated_at=r["delegated_at"]
        )
        for r in records or []
    ]


def _claims(text: str) -> AgentClaims:
    c = json.loads(text)
    chain = c.get("delegation_chain")
    return AgentClaims(
        iss=c.get("iss", ""),
        sub=c.get("sub", ""),
        aud=list(c.get("aud") or []),
        exp=c.get("exp", 0),
        nbf=c.get("nbf", 0),
        iat=c.get("iat", 0),
        jti=c.get("jti", ""),
        scope=list(c.get("scope") or []),
        task_id=c.get("task_id") or "",
        orch_id=c.get("orch_id") or "",
        sid=c.get("sid"),
        delegation_chain=_chain(chain) if chain else None,
        chain_hash=c.get("chain_hash"),
    )


def _validate_result(answer: tuple[bool, str | None, str | None]) -> ValidateResult:
    valid, error, claims = answer
    if not valid:
        return ValidateResult(valid=False, error=error)
    if claims is None:
        return ValidateResult(valid=False, error="Missing claims in valid response")
    return ValidateResult(valid=True, claims=_claims(claims))


def _health(text: str) -> HealthStatus:
    h = json.loads(text)
    return HealthStatus(
        status=h["status"],
        version=h.get("version", ""),
        uptime=h.get("uptime", 0),
        db_connected=h.get("db_connected", False),
        audit_events_count=h.get("audit_events_count", 0),
    )


def _delegated(native: Any) -> DelegatedToken:
    return DelegatedToken(
        access_token=native.access_token,
        expires_in=native.expires_in,
        delegation_chain=_chain(json.loads(native.chain())),
        _native=native,
    )

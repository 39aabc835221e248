"""What an agent shows, written once for :class:`~agentwrit_rs.Agent` and
:class:`~agentwrit_rs.AsyncAgent` (both read the same native agent)."""

from __future__ import annotations

from agentwrit_rs import _native
from agentwrit_rs._options import scopes
from agentwrit_rs.models import AgentClaims


class AgentView:
    """The properties of an agent: its identity, its current token, and
    local scope checks. Reading them sends nothing."""

    __slots__ = ()

    _native: _native.Agent

    @property
    def agent_id(self) -> str:
        """The agent's SPIFFE id."""
        return self._native.agent_id

    @property
    def access_token(self) -> str:
        """The current JWT (changes on renewal)."""
        return self._native.access_token

    @property
    def expires_in(self) -> int:
        """The current token's lifetime as issued, in seconds."""
        return self._native.expires_in

    @property
    def expires_at(self) -> float:
        """When the current token expires (Unix time)."""
        return self._native.expires_at

    @property
    def scope(self) -> list[str]:
        """The scope the broker granted (read from the issued token)."""
        return self._native.scope

    @property
    def task_id(self) -> str:
        """The task id the agent was created for."""
        return self._native.task_id

    @property
    def orch_id(self) -> str:
        """The orchestrator id the agent was created for."""
        return self._native.orch_id

    @property
    def jti(self) -> str:
        """The current token's id (changes on renewal)."""
        return self._native.jti

    @property
    def is_released(self) -> bool:
        """True once released."""
        return self._native.is_released

    @property
    def bearer_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}`` for HTTP requests."""
        return {"Authorization": f"Bearer {self._native.access_token}"}

    def claims(self) -> AgentClaims:
        """The current token's claims, decoded locally."""
        return self._native.claims()

    def allows(self, required: list[str]) -> bool:
        """The broker's scope rule, locally: is ``required`` within this
        agent's scope? (A ``str`` raises :class:`~agentwrit_rs.ScopeTypeError`.)"""
        return self._native.allows(scopes(required, "required"))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(agent_id={self.agent_id!r}, "
            f"orch_id={self.orch_id!r}, task_id={self.task_id!r})"
        )

"""The asyncio API: ``AsyncAgentWritApp``, ``AsyncAgent`` and
``async_validate``, on the Rust async client (one shared tokio runtime).
Every broker call is awaitable; many can be in flight on one app."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from agentwrit_rs import _native
from agentwrit_rs._options import Pem, key_seed, tls_kwargs
from agentwrit_rs.models import (
    DelegationRecord,
    HealthStatus,
    ValidateResult,
    _chain,
    _health,
    _validate_result,
)

__all__ = [
    "AsyncAgent",
    "AsyncAgentScope",
    "AsyncAgentWritApp",
    "AsyncDelegatedToken",
    "async_validate",
]


@dataclass(frozen=True)
class AsyncDelegatedToken:
    """A delegated token whose ``delegate()`` and ``release()`` are awaitable."""

    access_token: str = field(repr=False)
    expires_in: int
    delegation_chain: list[DelegationRecord]
    _native: Any = field(default=None, repr=False, compare=False)

    async def delegate(
        self, delegate_to: str, scope: list[str], *, ttl: int | None = None
    ) -> AsyncDelegatedToken:
        """Delegate this token's scope (or less) on to ``delegate_to``."""
        if self._native is None:
            raise ValueError("this AsyncDelegatedToken was not issued by the SDK")
        return _adelegated(await self._native.delegate(delegate_to, list(scope), ttl))

    async def release(self) -> None:
        """Revoke this delegated token at the broker (idempotent)."""
        if self._native is not None:
            await self._native.release()

    @property
    def bearer_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``."""
        return {"Authorization": f"Bearer {self.access_token}"}


def _adelegated(native: Any) -> AsyncDelegatedToken:
    return AsyncDelegatedToken(
        access_token=native.access_token,
        expires_in=native.expires_in,
        delegation_chain=_chain(json.loads(native.chain())),
        _native=native,
    )


async def _release_on_exit(native: _native.AsyncAgent, exc: BaseException | None) -> None:
    try:
        await native.release_task()
    except Exception as release_error:
        if exc is None:
            raise
        add_note = getattr(exc, "add_note", None)  # Python 3.11+
        if add_note is not None:
            add_note(f"and releasing the agent failed: {release_error}")


class AsyncAgent:
    """The asyncio twin of :class:`agentwrit_rs.Agent`: the same
    properties; ``renew``, ``release``, ``release_task``, ``delegate`` and
    ``stop_auto_renewal`` are coroutines. ``async with`` releases it."""

    __slots__ = ("_app", "_native")

    def __init__(self, app: AsyncAgentWritApp, native: _native.AsyncAgent) -> None:
        self._app = app
        self._native = native

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
        """The scope the broker granted."""
        return self._native.scope

    @property
    def task_id(self) -> str:
        """The task id."""
        return self._native.task_id

    @property
    def orch_id(self) -> str:
        """The orchestrator id."""
        return self._native.orch_id

    @property
    def jti(self) -> str:
        """The current token's id."""
        return self._native.jti

    @property
    def is_released(self) -> bool:
        """True once released."""
        return self._native.is_released

    @property
    def bearer_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``."""
        return {"Authorization": f"Bearer {self._native.access_token}"}

    def allows(self, required: list[str]) -> bool:
        """Is ``required`` within this agent's scope?"""
        return self._native.allows(list(required))

    async def renew(self) -> None:
        """Renew the token in place."""
        await self._native.renew()

    async def release(self) -> None:
        """Revoke the token. Idempotent."""
        await self._native.release()

    async def release_task(self) -> None:
        """Release every token this agent delegated, then the agent."""
        await self._native.release_task()

    async def delegate(
        self, delegate_to: str, scope: list[str], *, ttl: int | None = None
    ) -> AsyncDelegatedToken:
        """Hand ``scope`` (equal or narrower) to ``delegate_to``."""
        return _adelegated(await self._native.delegate(delegate_to, list(scope), ttl))

    def start_auto_renewal(self) -> None:
        """Renew in the background before each token expires."""
        self._native.start_auto_renewal()

    async def stop_auto_renewal(self) -> int | None:
        """Stop background renewal; the number of renewals made."""
        return await self._native.stop_auto_renewal()

    async def __aenter__(self) -> AsyncAgent:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await _release_on_exit(self._native, exc)

    def __repr__(self) -> str:
        return (
            f"AsyncAgent(agent_id={self.agent_id!r}, "
            f"orch_id={self.orch_id!r}, task_id={self.task_id!r})"
        )


class AsyncAgentScope:
    """``async with app.agent(...) as agent:`` — released on every exit."""

    __slots__ = ("_app", "_args", "_kwargs", "_agent")

    def __init__(
        self, app: AsyncAgentWritApp, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._app = app
        self._args = args
        self._kwargs = kwargs
        self._agent: AsyncAgent | None = None

    async def __aenter__(self) -> AsyncAgent:
        self._agent = await self._app.create_agent(*self._args, **self._kwargs)
        return self._agent

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._agent is not None:
            await _release_on_exit(self._agent._native, exc)


class AsyncAgentWritApp:
    """The asyncio twin of :class:`agentwrit_rs.AgentWritApp` (same
    constructor; the broker calls are coroutines)."""

    def __init__(
        self,
        broker_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 10.0,
        user_agent: str | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        ca_pem: Pem | None = None,
        client_cert: str | os.PathLike[str] | None = None,
        client_key: str | os.PathLike[str] | None = None,
        client_cert_pem: Pem | None = None,
        client_key_pem: Pem | None = None,
        https_only: bool = False,
    ) -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        tls = tls_kwargs(
            ca_file=ca_file,
            ca_pem=ca_pem,
            client_cert=client_cert,
            client_key=client_key,
            client_cert_pem=client_cert_pem,
            client_key_pem=client_key_pem,
            https_only=https_only,
        )
        self._native = _native.AsyncApp(
            broker_url,
            client_id,
            client_secret,
            timeout=timeout,
            user_agent=user_agent,
            **tls,
        )

    @classmethod
    def from_env(cls) -> AsyncAgentWritApp:
        """As :meth:`agentwrit_rs.AgentWritApp.from_env`."""
        app = cls.__new__(cls)
        app.timeout = 10.0
        app.user_agent = None
        app._native = _native.AsyncApp.from_env()
        return app

    @property
    def broker_url(self) -> str:
        """The broker's base URL, normalised."""
        return self._native.broker_url

    @property
    def client_id(self) -> str:
        """The app's client id."""
        return self._native.client_id

    async def create_agent(
        self,
        orch_id: str,
        task_id: str,
        requested_scope: list[str],
        *,
        private_key: object | None = None,
        max_ttl: int = 300,
        label: str | None = None,
        auto_renew: bool = False,
    ) -> AsyncAgent:
        """Create an agent for one task."""
        native = await self._native.create_agent(
            orch_id,
            task_id,
            list(requested_scope),
            max_ttl=float(max_ttl),
            label=label,
            auto_renew=auto_renew,
            key_seed=key_seed(private_key),
        )
        return AsyncAgent(self, native)

    def agent(
        self,
        orch_id: str,
        task_id: str,
        requested_scope: list[str],
        *,
        private_key: object | None = None,
        max_ttl: int = 300,
        label: str | None = None,
        auto_renew: bool = False,
    ) -> AsyncAgentScope:
        """``async with app.agent(orch, task, scope) as agent:``."""
        return AsyncAgentScope(
            self,
            (orch_id, task_id, requested_scope),
            {
                "private_key": private_key,
                "max_ttl": max_ttl,
                "label": label,
                "auto_renew": auto_renew,
            },
        )

    async def validate(self, token: str) -> ValidateResult:
        """``POST /v1/token/validate``."""
        return _validate_result(await self._native.validate(token))

    async def health(self) -> HealthStatus:
        """``GET /v1/health``."""
        return _health(await self._native.health())

    async def close(self) -> None:
        """Nothing to close; for symmetry with ``async with``."""

    async def __aenter__(self) -> AsyncAgentWritApp:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"AsyncAgentWritApp(broker_url={self.broker_url!r}, client_id={self.client_id!r})"


async def async_validate(
    broker_url: str,
    token: str,
    *,
    timeout: float = 10.0,
    ca_file: str | os.PathLike[str] | None = None,
    ca_pem: Pem | None = None,
    client_cert: str | os.PathLike[str] | None = None,
    client_key: str | os.PathLike[str] | None = None,
    client_cert_pem: Pem | None = None,
    client_key_pem: Pem | None = None,
    https_only: bool = False,
) -> ValidateResult:
    """The awaitable ``validate(broker_url, token)``."""
    tls = tls_kwargs(
        ca_file=ca_file,
        ca_pem=ca_pem,
        client_cert=client_cert,
        client_key=client_key,
        client_cert_pem=client_cert_pem,
        client_key_pem=client_key_pem,
        https_only=https_only,
    )
    return _validate_result(
        await _native.async_validate(broker_url, token, timeout=timeout, **tls)
    )

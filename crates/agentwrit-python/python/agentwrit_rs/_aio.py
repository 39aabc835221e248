"""The asyncio API: ``AsyncAgentWritApp``, ``AsyncAgent`` and
``async_validate``, on the Rust async client (the package's own tokio
runtime, one per process). Every broker call is awaitable; many can be in
flight on one app.

Cancellation stops the *wait*, never a call that may have reached the
broker: a creation cancelled at any point leaves no live token (an agent
that arrives with nobody waiting is released at once), and a release
(``release()``, ``release_task()``, the context managers) runs to its end
on the Rust side even when the awaiting task is cancelled, again and
again, as anyio and Starlette do."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from agentwrit_rs import _native
from agentwrit_rs._agent import AgentView
from agentwrit_rs._options import Pem, key_seed, scopes, settings
from agentwrit_rs.models import DelegationRecord, HealthStatus, ValidateResult

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
        native = await self._native.delegate_async(delegate_to, scopes(scope, "scope"), ttl)
        return _adelegated(native)

    async def release(self) -> None:
        """Revoke this delegated token at the broker (idempotent)."""
        if self._native is not None:
            await self._native.release_async()

    @property
    def bearer_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <token>"}``."""
        return {"Authorization": f"Bearer {self.access_token}"}


def _adelegated(native: _native.Delegated) -> AsyncDelegatedToken:
    return AsyncDelegatedToken(
        access_token=native.access_token,
        expires_in=native.expires_in,
        delegation_chain=native.chain(),
        _native=native,
    )


async def _release_on_exit(native: _native.Agent, exc: BaseException | None) -> None:
    # The release is started before the first await: whatever happens to
    # this task from here on, it runs to its end on the Rust side.
    release = native.release_task_async()
    try:
        await release
    except Exception as release_error:
        if exc is None:
            raise
        add_note = getattr(exc, "add_note", None)  # Python 3.11+
        if add_note is not None:
            add_note(f"and releasing the agent failed: {release_error}")


class AsyncAgent(AgentView):
    """The asyncio twin of :class:`agentwrit_rs.Agent`: the same
    properties; ``renew``, ``release``, ``release_task``, ``delegate`` and
    ``stop_auto_renewal`` are coroutines. ``async with`` releases it."""

    __slots__ = ("_app", "_native")

    def __init__(self, app: AsyncAgentWritApp, native: _native.Agent) -> None:
        self._app = app
        self._native = native

    async def renew(self) -> None:
        """Renew the token in place."""
        await self._native.renew_async()

    async def release(self) -> None:
        """Revoke the token. Idempotent. Runs to its end even if the
        awaiting task is cancelled."""
        await self._native.release_async()

    async def release_task(self) -> None:
        """Release every token this agent delegated, then the agent. Runs
        to its end even if the awaiting task is cancelled."""
        await self._native.release_task_async()

    async def delegate(
        self, delegate_to: str, scope: list[str], *, ttl: int | None = None
    ) -> AsyncDelegatedToken:
        """Hand ``scope`` (equal or narrower) to ``delegate_to``."""
        native = await self._native.delegate_async(delegate_to, scopes(scope, "scope"), ttl)
        return _adelegated(native)

    def start_auto_renewal(self) -> None:
        """Renew in the background (a task on the package's runtime) before
        each token expires."""
        self._native.start_auto_renewal()

    async def stop_auto_renewal(self) -> int | None:
        """Stop background renewal; the number of renewals made."""
        return await self._native.stop_auto_renewal_async()

    async def __aenter__(self) -> AsyncAgent:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await _release_on_exit(self._native, exc)


class AsyncAgentScope:
    """``async with app.agent(...) as agent:`` — released on every exit,
    including a cancellation during the creation itself."""

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
    constructor; the broker calls are coroutines). ``timeout`` bounds each
    call as a whole, retries included."""

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
        self._native = _native.App(
            broker_url,
            client_id,
            client_secret,
            settings(
                timeout=timeout,
                user_agent=user_agent,
                ca_file=ca_file,
                ca_pem=ca_pem,
                client_cert=client_cert,
                client_key=client_key,
                client_cert_pem=client_cert_pem,
                client_key_pem=client_key_pem,
                https_only=https_only,
            ),
            asynchronous=True,
        )

    @classmethod
    def from_env(cls) -> AsyncAgentWritApp:
        """As :meth:`agentwrit_rs.AgentWritApp.from_env`."""
        app = cls.__new__(cls)
        app.timeout = 10.0
        app.user_agent = None
        app._native = _native.App.from_env(asynchronous=True)
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
        """Create an agent for one task. Cancel-safe: cancelled at any
        point (``asyncio.wait_for``, a task's ``cancel()``, a cancel scope),
        it leaves no live token at the broker."""
        pending = self._native.start_create_agent(
            orch_id,
            task_id,
            scopes(requested_scope, "requested_scope"),
            max_ttl=float(max_ttl),
            label=label,
            auto_renew=auto_renew,
            key_seed=key_seed(private_key),
        )
        try:
            await pending.wait()
        except BaseException:
            # Whatever interrupted the wait (a cancellation, even one that
            # lands after the agent arrived), the agent is not ours to
            # return: released now or as soon as it arrives.
            pending.abandon()
            raise
        return AsyncAgent(self, pending.take())

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
            (orch_id, task_id, scopes(requested_scope, "requested_scope")),
            {
                "private_key": private_key,
                "max_ttl": max_ttl,
                "label": label,
                "auto_renew": auto_renew,
            },
        )

    async def validate(self, token: str) -> ValidateResult:
        """``POST /v1/token/validate``."""
        return await self._native.validate_async(token)

    async def health(self) -> HealthStatus:
        """``GET /v1/health``."""
        return await self._native.health_async()

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
    return await _native.validate_async(
        broker_url,
        token,
        settings(
            timeout=timeout,
            ca_file=ca_file,
            ca_pem=ca_pem,
            client_cert=client_cert,
            client_key=client_key,
            client_cert_pem=client_cert_pem,
            client_key_pem=client_key_pem,
            https_only=https_only,
        ),
    )

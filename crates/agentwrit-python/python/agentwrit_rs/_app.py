"""The synchronous API: ``AgentWritApp``, ``Agent`` and ``validate``, on
the Rust blocking client. Every object may be shared by any number of
threads; the GIL is released during every broker call."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from agentwrit_rs import _native
from agentwrit_rs._agent import AgentView
from agentwrit_rs._options import Pem, key_seed, scopes, settings
from agentwrit_rs.models import DelegatedToken, HealthStatus, ValidateResult, _delegated

__all__ = ["Agent", "AgentScope", "AgentWritApp", "scope_is_subset", "validate"]


class Agent(AgentView):
    """An ephemeral agent created by :meth:`AgentWritApp.create_agent`.

    Its token, scope and expiry are read from the issued token.
    ``renew()`` swaps the token in place (same ``agent_id``);
    ``release()`` kills it (a second call is a no-op). Used as a context
    manager it releases itself, and every token it delegated, on exit.

    Dropping the last reference to an agent does not release it (its token
    expires at the end of its TTL) but ends its automatic renewal.
    """

    __slots__ = ("_app", "_native")

    def __init__(self, app: AgentWritApp, native: _native.Agent) -> None:
        self._app = app
        self._native = native

    def renew(self) -> None:
        """Renew the token in place; the old one is dead at the broker."""
        self._native.renew()

    def release(self) -> None:
        """Revoke the token at the broker. Idempotent."""
        self._native.release()

    def release_task(self) -> None:
        """Release every token this agent delegated, then the agent."""
        self._native.release_task()

    def delegate(
        self, delegate_to: str, scope: list[str], *, ttl: int | None = None
    ) -> DelegatedToken:
        """Hand ``scope`` (equal or narrower) to the registered agent
        ``delegate_to`` for ``ttl`` seconds (broker default 60)."""
        native = self._native.delegate(delegate_to, scopes(scope, "scope"), ttl)
        return _delegated(native)

    def start_auto_renewal(self) -> None:
        """Renew in the background (a thread) before each token expires."""
        self._native.start_auto_renewal()

    def stop_auto_renewal(self) -> int | None:
        """Stop background renewal; the number of renewals it made, or
        ``None`` if it was not running (in this process). Raises the error
        of a failed renewal."""
        return self._native.stop_auto_renewal()

    def __enter__(self) -> Agent:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _release_on_exit(self._native.release_task, exc)


def _release_on_exit(release: Any, exc: BaseException | None) -> None:
    """Release; a failure to release is raised unless another exception is
    already on its way out (which then carries it as a note)."""
    try:
        release()
    except Exception as release_error:
        if exc is None:
            raise
        add_note = getattr(exc, "add_note", None)  # Python 3.11+
        if add_note is not None:
            add_note(f"and releasing the agent failed: {release_error}")


class AgentScope:
    """``with app.agent(...) as agent:``: the agent lives for the block
    and is released (with its delegations) on every path out of it."""

    __slots__ = ("_app", "_args", "_kwargs", "_agent")

    def __init__(self, app: AgentWritApp, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._app = app
        self._args = args
        self._kwargs = kwargs
        self._agent: Agent | None = None

    def __enter__(self) -> Agent:
        self._agent = self._app.create_agent(*self._args, **self._kwargs)
        return self._agent

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._agent is not None:
            _release_on_exit(self._agent._native.release_task, exc)


class AgentWritApp:
    """The app (client id and secret from the operator) at a broker.

    Authenticates lazily on the first call that needs it, and again before
    the app token expires. The client secret is kept by the Rust client
    only: it is no attribute, and never in ``repr()``.
    """

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
        )

    @classmethod
    def from_env(cls) -> AgentWritApp:
        """The app named by ``AGENTWRIT_BROKER_URL``, ``AGENTWRIT_CLIENT_ID``
        and ``AGENTWRIT_CLIENT_SECRET``, with ``AGENTWRIT_CA_FILE``,
        ``AGENTWRIT_CLIENT_CERT`` and ``AGENTWRIT_CLIENT_KEY`` when set."""
        app = cls.__new__(cls)
        app.timeout = 10.0
        app.user_agent = None
        app._native = _native.App.from_env()
        return app

    @property
    def broker_url(self) -> str:
        """The broker's base URL, normalised."""
        return self._native.broker_url

    @property
    def client_id(self) -> str:
        """The app's client id."""
        return self._native.client_id

    def create_agent(
        self,
        orch_id: str,
        task_id: str,
        requested_scope: list[str],
        *,
        private_key: object | None = None,
        max_ttl: int = 300,
        label: str | None = None,
        auto_renew: bool = False,
    ) -> Agent:
        """Create an agent for one task: launch token, challenge, Ed25519
        signature, registration. ``requested_scope`` must be within the
        app's ceiling (else :class:`AuthorizationError`)."""
        native = self._native.create_agent(
            orch_id,
            task_id,
            scopes(requested_scope, "requested_scope"),
            max_ttl=float(max_ttl),
            label=label,
            auto_renew=auto_renew,
            key_seed=key_seed(private_key),
        )
        return Agent(self, native)

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
    ) -> AgentScope:
        """``with app.agent(orch, task, scope) as agent:`` — created on
        entry, released (delegations first) on every exit."""
        return AgentScope(
            self,
            (orch_id, task_id, scopes(requested_scope, "requested_scope")),
            {
                "private_key": private_key,
                "max_ttl": max_ttl,
                "label": label,
                "auto_renew": auto_renew,
            },
        )

    def validate(self, token: str) -> ValidateResult:
        """``POST /v1/token/validate`` on this app's connections."""
        return self._native.validate(token)

    def health(self) -> HealthStatus:
        """``GET /v1/health``."""
        return self._native.health()

    def close(self) -> None:
        """Nothing to close (connections are pooled and freed with the app);
        kept for the official SDK's API."""

    def __enter__(self) -> AgentWritApp:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AgentWritApp(broker_url={self.broker_url!r}, client_id={self.client_id!r})"


def validate(
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
    """``POST /v1/token/validate``: any service checks a token it received.
    The client is kept per process for the broker URL and every setting,
    so connections are pooled across calls. ``timeout`` bounds the whole
    call, retries included."""
    return _native.validate(
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


def scope_is_subset(requested: list[str], allowed: list[str]) -> bool:
    """The broker's scope rule: every scope in ``requested`` is covered by
    one in ``allowed`` (``action:resource:identifier``, ``*`` only as the
    whole identifier).

    As in the official SDK, a ``str`` is taken as a sequence of
    one-character scopes (which never match a real scope), not refused."""
    return _native.scope_is_subset(list(requested), list(allowed))

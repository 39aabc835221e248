"""The operator API (admin secret): apps, launch tokens, revocation and the
audit trail, synchronous and asyncio. Answers are the broker's JSON bodies
as dicts; a created app's ``client_secret`` and a launch token are in
clear there, because the operator asked for them."""

from __future__ import annotations

import os
from typing import Any

from agentwrit_rs import _native
from agentwrit_rs._options import Pem, settings
from agentwrit_rs._options import scopes as _scopes

__all__ = ["AgentWritOperator", "AsyncAgentWritOperator", "RevocationLevel"]

RevocationLevel = str
"""``"token"``, ``"agent"``, ``"task"`` or ``"chain"``."""


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("the broker's answer is not an object")
    return value


def _native_operator(
    broker_url: str,
    admin_secret: str,
    asynchronous: bool,
    **kwargs: Any,
) -> _native.Operator:
    return _native.Operator(broker_url, admin_secret, settings(**kwargs), asynchronous=asynchronous)


class AgentWritOperator:
    """The operator at a broker. Logs in lazily with the admin secret (kept
    by the Rust client only, never in ``repr()``)."""

    def __init__(
        self,
        broker_url: str,
        admin_secret: str,
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
        self._native = _native_operator(
            broker_url,
            admin_secret,
            False,
            timeout=timeout,
            user_agent=user_agent,
            ca_file=ca_file,
            ca_pem=ca_pem,
            client_cert=client_cert,
            client_key=client_key,
            client_cert_pem=client_cert_pem,
            client_key_pem=client_key_pem,
            https_only=https_only,
        )

    @classmethod
    def from_env(cls) -> AgentWritOperator:
        """``AGENTWRIT_BROKER_URL`` and ``AGENTWRIT_ADMIN_SECRET`` (and the TLS
        variables)."""
        op = cls.__new__(cls)
        op._native = _native.Operator.from_env()
        return op

    @property
    def broker_url(self) -> str:
        """The broker's base URL."""
        return self._native.broker_url

    def create_app(
        self, name: str, scopes: list[str], *, token_ttl: int | None = None
    ) -> dict[str, Any]:
        """Register an app with a scope ceiling; the answer holds its
        ``client_id`` and ``client_secret``."""
        return _dict(self._native.create_app(name, _scopes(scopes, "scopes"), token_ttl))

    def list_apps(self) -> dict[str, Any]:
        """``{"apps": [...], "total": n}``."""
        return _dict(self._native.list_apps())

    def get_app(self, app_id: str) -> dict[str, Any]:
        """One app."""
        return _dict(self._native.get_app(app_id))

    def update_app(
        self, app_id: str, *, scopes: list[str] | None = None, token_ttl: int | None = None
    ) -> dict[str, Any]:
        """Change an app's ceiling or token TTL."""
        ceiling = None if scopes is None else _scopes(scopes, "scopes")
        return _dict(self._native.update_app(app_id, ceiling, token_ttl))

    def delete_app(self, app_id: str) -> dict[str, Any]:
        """Deregister an app."""
        return _dict(self._native.delete_app(app_id))

    def create_launch_token(
        self,
        agent_name: str,
        allowed_scope: list[str],
        *,
        max_ttl: int | None = None,
        single_use: bool | None = None,
        ttl: int | None = None,
    ) -> dict[str, Any]:
        """A launch token for registering an agent directly."""
        allowed = _scopes(allowed_scope, "allowed_scope")
        return _dict(self._native.launch_token(agent_name, allowed, max_ttl, single_use, ttl))

    def revoke(self, level: RevocationLevel, target: str) -> dict[str, Any]:
        """Revoke by ``token`` (a jti), ``agent`` (a SPIFFE id), ``task`` or
        ``chain``."""
        return _dict(self._native.revoke(level, target))

    def audit_events(
        self,
        *,
        agent_id: str | None = None,
        task_id: str | None = None,
        event_type: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """One page of the audit trail: ``{"events": [...], "total": ...}``.
        ``since`` and ``until`` are RFC 3339 instants."""
        return _dict(
            self._native.audit_events(
                agent_id=agent_id,
                task_id=task_id,
                event_type=event_type,
                outcome=outcome,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
            )
        )

    def __repr__(self) -> str:
        return f"AgentWritOperator(broker_url={self.broker_url!r})"


class AsyncAgentWritOperator:
    """The asyncio twin of :class:`AgentWritOperator`."""

    def __init__(
        self,
        broker_url: str,
        admin_secret: str,
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
        self._native = _native_operator(
            broker_url,
            admin_secret,
            True,
            timeout=timeout,
            user_agent=user_agent,
            ca_file=ca_file,
            ca_pem=ca_pem,
            client_cert=client_cert,
            client_key=client_key,
            client_cert_pem=client_cert_pem,
            client_key_pem=client_key_pem,
            https_only=https_only,
        )

    @classmethod
    def from_env(cls) -> AsyncAgentWritOperator:
        """As :meth:`AgentWritOperator.from_env`."""
        op = cls.__new__(cls)
        op._native = _native.Operator.from_env(asynchronous=True)
        return op

    @property
    def broker_url(self) -> str:
        """The broker's base URL."""
        return self._native.broker_url

    async def create_app(
        self, name: str, scopes: list[str], *, token_ttl: int | None = None
    ) -> dict[str, Any]:
        """Register an app."""
        ceiling = _scopes(scopes, "scopes")
        return _dict(await self._native.create_app_async(name, ceiling, token_ttl))

    async def list_apps(self) -> dict[str, Any]:
        """Every app."""
        return _dict(await self._native.list_apps_async())

    async def get_app(self, app_id: str) -> dict[str, Any]:
        """One app."""
        return _dict(await self._native.get_app_async(app_id))

    async def update_app(
        self, app_id: str, *, scopes: list[str] | None = None, token_ttl: int | None = None
    ) -> dict[str, Any]:
        """Change an app."""
        ceiling = None if scopes is None else _scopes(scopes, "scopes")
        return _dict(await self._native.update_app_async(app_id, ceiling, token_ttl))

    async def delete_app(self, app_id: str) -> dict[str, Any]:
        """Deregister an app."""
        return _dict(await self._native.delete_app_async(app_id))

    async def create_launch_token(
        self,
        agent_name: str,
        allowed_scope: list[str],
        *,
        max_ttl: int | None = None,
        single_use: bool | None = None,
        ttl: int | None = None,
    ) -> dict[str, Any]:
        """A launch token."""
        allowed = _scopes(allowed_scope, "allowed_scope")
        return _dict(
            await self._native.launch_token_async(agent_name, allowed, max_ttl, single_use, ttl)
        )

    async def revoke(self, level: RevocationLevel, target: str) -> dict[str, Any]:
        """Revoke at a level."""
        return _dict(await self._native.revoke_async(level, target))

    async def audit_events(
        self,
        *,
        agent_id: str | None = None,
        task_id: str | None = None,
        event_type: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> dict[str, Any]:
        """One page of the audit trail."""
        return _dict(
            await self._native.audit_events_async(
                agent_id=agent_id,
                task_id=task_id,
                event_type=event_type,
                outcome=outcome,
                since=since,
                until=until,
                limit=limit,
                offset=offset,
            )
        )

    def __repr__(self) -> str:
        return f"AsyncAgentWritOperator(broker_url={self.broker_url!r})"

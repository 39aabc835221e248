"""``DevBroker``: AgentWrit's development broker, in this process, for your
own tests — no Docker, no network beyond ``127.0.0.1``::

    from agentwrit_rs.testing import DevBroker

    with DevBroker() as broker:
        app = broker.universal_app()
        with app.agent("orch", "task", ["read:data:*"]) as agent:
            assert app.validate(agent.access_token).valid

``DevBroker(tls="tls")`` and ``DevBroker(tls="mtls")`` serve HTTPS (and
require a client certificate) with a throwaway PKI; the clients it hands
out trust it (and present its client certificate) automatically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from agentwrit_rs import _native
from agentwrit_rs._aio import AsyncAgentWritApp
from agentwrit_rs._app import AgentWritApp
from agentwrit_rs.operator import AgentWritOperator, AsyncAgentWritOperator

__all__ = ["AppCredentials", "DevBroker", "UNIVERSAL_APP_SCOPES"]

#: The ceiling of :meth:`DevBroker.universal_app` (the sample apps' app).
UNIVERSAL_APP_SCOPES: list[str] = list(_native.UNIVERSAL_APP_SCOPES)


@dataclass(frozen=True)
class AppCredentials:
    """A registered app's id and credentials (the secret not in ``repr()``)."""

    app_id: str
    client_id: str
    client_secret: str = field(repr=False)


class DevBroker:
    """A development broker on ``127.0.0.1:<free port>``, started at once and
    stopped by :meth:`close` (or the end of a ``with`` block).

    ``tls``: ``None`` (plain HTTP), ``"tls"`` or ``"mtls"``. Rate limits are
    off unless ``rate_limits=True``. ``default_ttl``, ``max_ttl`` and
    ``app_token_ttl`` (seconds) set the broker's token lifetimes; ``issuer``
    the tokens' ``iss`` (empty by default, as the real broker's).
    """

    def __init__(
        self,
        *,
        tls: str | None = None,
        rate_limits: bool = False,
        default_ttl: int | None = None,
        max_ttl: int | None = None,
        app_token_ttl: int | None = None,
        issuer: str | None = None,
    ) -> None:
        self._native = _native.DevBroker(
            tls=tls,
            rate_limits=rate_limits,
            default_ttl=default_ttl,
            max_ttl=max_ttl,
            app_token_ttl=app_token_ttl,
            issuer=issuer,
        )
        self._universal: AppCredentials | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` in TLS modes)."""
        return self._native.url

    @property
    def admin_secret(self) -> str:
        """The operator's admin secret (for operator tests)."""
        return self._native.admin_secret

    @property
    def public_key(self) -> str:
        """The broker's Ed25519 public key, base64url (the JWK's ``x``): what
        a local-mode :class:`~agentwrit_rs.service.Verifier` pins
        (``keys=[broker.public_key]``)."""
        import base64

        return base64.urlsafe_b64encode(self._native.public_key).rstrip(b"=").decode()

    @property
    def tls_mode(self) -> str:
        """``"none"``, ``"tls"`` or ``"mtls"``."""
        return self._native.tls_mode

    @property
    def ca_pem(self) -> str | None:
        """The throwaway CA (PEM) in TLS modes."""
        return self._native.ca_pem

    @property
    def client_cert_pem(self) -> str | None:
        """A client certificate the broker accepts in ``mtls`` mode (PEM)."""
        return self._native.client_cert_pem

    @property
    def client_key_pem(self) -> str | None:
        """That certificate's key (PEM)."""
        return self._native.client_key_pem

    def client_tls(self) -> dict[str, Any]:
        """The keyword arguments a client needs for this broker: its CA in
        TLS modes, plus the client identity in ``mtls`` mode."""
        kw: dict[str, Any] = {}
        if self.ca_pem is not None:
            kw["ca_pem"] = self.ca_pem
        if self.tls_mode == "mtls":
            kw["client_cert_pem"] = self.client_cert_pem
            kw["client_key_pem"] = self.client_key_pem
        return kw

    def register_app(
        self, name: str, scopes: list[str], *, token_ttl: int | None = None
    ) -> AppCredentials:
        """Register an app with the ceiling ``scopes``."""
        app_id, client_id, secret = self._native.register_app(name, list(scopes), token_ttl)
        return AppCredentials(app_id=app_id, client_id=client_id, client_secret=secret)

    def universal_credentials(self) -> AppCredentials:
        """The universal app's credentials (registered on first use)."""
        if self._universal is None:
            self._universal = self.register_app(_native.UNIVERSAL_APP_NAME, UNIVERSAL_APP_SCOPES)
        return self._universal

    def universal_app(self, **kwargs: Any) -> AgentWritApp:
        """An :class:`AgentWritApp` for an app with a broad ceiling
        (:data:`UNIVERSAL_APP_SCOPES`); ``kwargs`` go to its constructor."""
        c = self.universal_credentials()
        return AgentWritApp(
            self.url, c.client_id, c.client_secret, **{**self.client_tls(), **kwargs}
        )

    def async_universal_app(self, **kwargs: Any) -> AsyncAgentWritApp:
        """The asyncio twin of :meth:`universal_app`."""
        c = self.universal_credentials()
        return AsyncAgentWritApp(
            self.url, c.client_id, c.client_secret, **{**self.client_tls(), **kwargs}
        )

    def app(self, name: str, scopes: list[str], **kwargs: Any) -> AgentWritApp:
        """Register an app with the ceiling ``scopes`` and return a client for it."""
        c = self.register_app(name, scopes)
        return AgentWritApp(
            self.url, c.client_id, c.client_secret, **{**self.client_tls(), **kwargs}
        )

    def operator(self, **kwargs: Any) -> AgentWritOperator:
        """An :class:`AgentWritOperator` with this broker's admin secret."""
        return AgentWritOperator(
            self.url, self.admin_secret, **{**self.client_tls(), **kwargs}
        )

    def async_operator(self, **kwargs: Any) -> AsyncAgentWritOperator:
        """The asyncio twin of :meth:`operator`."""
        return AsyncAgentWritOperator(
            self.url, self.admin_secret, **{**self.client_tls(), **kwargs}
        )

    def close(self) -> None:
        """Stop the broker (idempotent)."""
        self._native.close()

    def __enter__(self) -> DevBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DevBroker(url={self.url!r}, tls={self.tls_mode!r})"

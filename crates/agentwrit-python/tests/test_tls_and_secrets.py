"""TLS and mutual TLS against the development broker in those modes, and
secrets absent from every repr() and exception text."""

from __future__ import annotations

import asyncio
import socket
import traceback
from pathlib import Path

import pytest

import agentwrit_rs as agentwrit
from agentwrit_rs import AgentWritApp
from agentwrit_rs.testing import DevBroker

SCOPE = ["read:data:customer-7291"]


def test_tls() -> None:
    with DevBroker(tls="tls") as broker:
        assert broker.url.startswith("https://127.0.0.1:")
        app = broker.universal_app()
        with app.agent("orch", "task", SCOPE) as agent:
            assert app.validate(agent.access_token).valid
            ca = broker.ca_pem
            assert ca is not None
            assert agentwrit.validate(broker.url, agent.access_token, ca_pem=ca).valid
        # Without the broker's CA the handshake fails: a TransportError.
        c = broker.universal_credentials()
        untrusting = AgentWritApp(broker.url, c.client_id, c.client_secret)
        with pytest.raises(agentwrit.TransportError):
            untrusting.health()
        # https_only accepts an https:// broker (the handshake still needs the CA).
        with pytest.raises(agentwrit.TransportError):
            AgentWritApp(broker.url, c.client_id, c.client_secret, https_only=True).health()
        trusted = AgentWritApp(
            broker.url, c.client_id, c.client_secret, https_only=True, ca_pem=broker.ca_pem
        )
        assert trusted.health().status == "ok"


def test_https_only_refuses_plain_http(broker: DevBroker) -> None:
    with pytest.raises(agentwrit.AgentWritError):
        AgentWritApp(broker.url, "id", "secret", https_only=True).health()


def test_mtls() -> None:
    with DevBroker(tls="mtls") as broker:
        app = broker.universal_app()  # presents the broker's test client certificate
        with app.agent("orch", "task", SCOPE) as agent:
            assert app.validate(agent.access_token).valid
        # Neither the client key nor the app secret shows in the app's repr or vars.
        c = broker.universal_credentials()
        key = broker.client_key_pem
        assert key is not None
        for text in (repr(app), str(vars(app)), repr(app._native)):
            assert key not in text and c.client_secret not in text
        no_cert = AgentWritApp(broker.url, c.client_id, c.client_secret, ca_pem=broker.ca_pem)
        with pytest.raises(agentwrit.TransportError):
            no_cert.health()

        async def run_async() -> bool:
            aapp = broker.async_universal_app()
            async with aapp.agent("orch", "async", SCOPE) as a:
                return (await aapp.validate(a.access_token)).valid

        assert asyncio.run(run_async())


def test_tls_files_are_read_like_the_environment_variables(tmp_path: Path) -> None:
    with DevBroker(tls="mtls") as broker:
        assert broker.ca_pem and broker.client_cert_pem and broker.client_key_pem
        (tmp_path / "ca.pem").write_text(broker.ca_pem)
        (tmp_path / "cert.pem").write_text(broker.client_cert_pem)
        (tmp_path / "key.pem").write_text(broker.client_key_pem)
        c = broker.universal_credentials()
        app = AgentWritApp(
            broker.url,
            c.client_id,
            c.client_secret,
            ca_file=tmp_path / "ca.pem",
            client_cert=tmp_path / "cert.pem",
            client_key=tmp_path / "key.pem",
        )
        assert app.health().status == "ok"
        with pytest.raises(agentwrit.InvalidInputError):
            AgentWritApp(broker.url, "id", "s", client_cert=tmp_path / "cert.pem")


def test_secrets_never_appear_in_repr_or_exceptions(broker: DevBroker) -> None:
    creds = broker.universal_credentials()
    secret = creds.client_secret
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = broker.universal_app()
    agent = app.create_agent("orch", "task", SCOPE)
    other = app.create_agent("orch", "other", ["read:data:none"])
    delegated = agent.delegate(other.agent_id, SCOPE)
    op = broker.operator()
    secrets = [secret, broker.admin_secret, agent.access_token, delegated.access_token]
    texts = [
        repr(app),
        repr(agent),
        repr(delegated),
        repr(creds),
        repr(op),
        repr(broker),
        repr(app._native),
        repr(agent._native),
        repr(broker.async_universal_app()),
        str(vars(app)),
    ]
    failures: list[BaseException] = []
    for attempt in (
        lambda: AgentWritApp(broker.url, creds.client_id, secret + "x").create_agent(
            "o", "t", SCOPE
        ),
        lambda: app.create_agent("orch", "task", ["delete:data:*"]),
        lambda: agent.delegate(other.agent_id, ["read:data:*"]),
        lambda: agentwrit.AgentWritOperator(broker.url, broker.admin_secret + "x").list_apps(),
        lambda: AgentWritApp(closed, creds.client_id, secret).create_agent(
            "o", "t", SCOPE
        ),
    ):
        try:
            attempt()
        except agentwrit.AgentWritError as e:
            failures.append(e)
    agent.release()
    other.release()
    try:
        agent.renew()
    except agentwrit.AgentWritError as e:
        failures.append(e)
    assert len(failures) == 6
    for failure in failures:
        texts.append(str(failure))
        texts.append(repr(failure))
        texts.append(
            "".join(traceback.format_exception(type(failure), failure, failure.__traceback__))
        )
        texts.append(repr(vars(failure)))
    for text in texts:
        for s in secrets:
            assert s not in text

"""Errors that cross processes and say what to do (29.6): every exception
pickles to the same class with the same fields (through a
``multiprocessing.Pool`` whose worker raises it), a connection failure
names the broker URL, and a ``str`` where a list of scopes belongs is a
``TypeError`` that says so."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import socket
from typing import Any

import pytest

import agentwrit_rs as agentwrit
from agentwrit_rs import errors, models
from agentwrit_rs.testing import DevBroker

SCOPE = ["read:data:customer-7291"]


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    return url


def raised_by_the_sdk(broker: DevBroker) -> list[BaseException]:
    """One real exception of every class the SDK raises."""
    app = broker.universal_app()
    c = broker.universal_credentials()
    attempts: list[Any] = [
        lambda: agentwrit.AgentWritApp(broker.url, c.client_id, "wrong").create_agent(
            "o", "t", SCOPE
        ),
        lambda: app.create_agent("o", "t", ["delete:data:*"]),
        lambda: app.create_agent("o", "t", ["not a scope"]),
        lambda: agentwrit.AgentWritApp(closed_port_url(), "id", "secret").health(),
        lambda: app.create_agent("o", "t", SCOPE, private_key=b"short"),
        lambda: app.create_agent("o", "t", "read:data:x"),  # type: ignore[arg-type]
        lambda: agentwrit.AgentWritOperator(broker.url, broker.admin_secret).revoke("x", "y"),
    ]
    agent = app.create_agent("o", "released", SCOPE)
    agent.release()
    attempts.append(agent.renew)
    out: list[BaseException] = []
    for attempt in attempts:
        try:
            attempt()
        except agentwrit.AgentWritError as e:
            out.append(e)
    problem = models.ProblemDetail(
        type="urn:agentwrit:error:rate_limited",
        title="Too Many Requests",
        detail="slow down",
        instance="/v1/app/auth",
        status=429,
        request_id="req-1",
    )
    limited = errors.RateLimitError(problem, 429)
    limited.retry_after = 2.5
    out += [
        limited,
        errors.ProblemResponseError(problem, 500),
        errors.DecodeError("could not decode the broker's response"),
        errors.AgentWritError("other"),
    ]
    return out


def fields(e: BaseException) -> dict[str, Any]:
    return {"type": type(e), "str": str(e), "args": e.args, **vars(e)}


def reraise(e: BaseException) -> None:
    raise e


def test_every_exception_crosses_a_process_pool_intact(broker: DevBroker) -> None:
    raised = raised_by_the_sdk(broker)
    classes = {type(e) for e in raised}
    for cls in (
        errors.AuthenticationError,
        errors.AuthorizationError,
        errors.InvalidInputError,
        errors.TransportError,
        errors.CryptoError,
        errors.ScopeTypeError,
        errors.ReleasedError,
        errors.RateLimitError,
        errors.ProblemResponseError,
        errors.DecodeError,
        errors.AgentWritError,
    ):
        assert cls in classes, cls
    for e in raised:
        assert fields(pickle.loads(pickle.dumps(e))) == fields(e)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        for e in raised:
            result = pool.apply_async(reraise, (e,))
            with pytest.raises(type(e)) as caught:
                result.get(timeout=60)
            assert fields(caught.value) == fields(e)


def test_errors_carry_code_retryable_and_request_id(broker: DevBroker) -> None:
    app = broker.universal_app()
    with pytest.raises(agentwrit.AuthorizationError) as caught:
        app.create_agent("o", "t", ["delete:data:*"])
    e = caught.value
    assert (e.code, e.retryable, e.status_code) == ("authorization", False, 403)
    assert e.request_id and e.request_id == e.problem.request_id
    with pytest.raises(agentwrit.TransportError) as down:
        agentwrit.validate(closed_port_url(), "token", timeout=2)
    assert down.value.code == "transport" and down.value.retryable


def test_a_connection_failure_names_the_broker_url() -> None:
    url = closed_port_url()
    with pytest.raises(agentwrit.TransportError, match=url):
        agentwrit.AgentWritApp(url, "id", "secret").create_agent("o", "t", SCOPE)
    with pytest.raises(agentwrit.TransportError, match=url):
        agentwrit.validate(url, "token")

    async def main() -> None:
        with pytest.raises(agentwrit.TransportError, match=url):
            await agentwrit.AsyncAgentWritApp(url, "id", "secret").create_agent("o", "t", SCOPE)

    asyncio.run(main())


def test_a_string_for_a_list_of_scopes_is_a_type_error(broker: DevBroker) -> None:
    app = broker.universal_app()
    agent = app.create_agent("o", "t", SCOPE)
    op = broker.operator()
    for call in (
        lambda: app.create_agent("o", "t", "read:data:x"),  # type: ignore[arg-type]
        lambda: app.agent("o", "t", "read:data:x"),  # type: ignore[arg-type]
        lambda: agent.delegate(agent.agent_id, "read:data:x"),  # type: ignore[arg-type]
        lambda: agent.allows("read:data:x"),  # type: ignore[arg-type]
        lambda: op.create_app("x", "read:data:*"),  # type: ignore[arg-type]
        lambda: op.create_launch_token("x", "read:data:*"),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError, match=r"must be a list of scopes, not a str"):
            call()
    # Also an AgentWritError, as the official SDK's broker refusal is.
    with pytest.raises(agentwrit.AgentWritError):
        app.create_agent("o", "t", "read:data:x")  # type: ignore[arg-type]

    async def main() -> None:
        aapp = broker.async_universal_app()
        with pytest.raises(TypeError, match="requested_scope"):
            await aapp.create_agent("o", "t", "read:data:x")  # type: ignore[arg-type]

    asyncio.run(main())
    # scope_is_subset keeps the official SDK's behaviour: a str is a
    # sequence of one-character scopes, which never match.
    assert agentwrit.scope_is_subset("read:data:x", ["read:data:*"]) is False  # type: ignore[arg-type]
    agent.release()

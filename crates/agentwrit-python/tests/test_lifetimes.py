"""Renewal ends with the last handle (29.3), shielded async releases
(29.4), one deadline per call and complete cache keys (29.5), checked at
the broker."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator

import anyio
import pytest

import agentwrit_rs
from agentwrit_rs import _native
from agentwrit_rs.testing import DevBroker
from support import DelayProxy, Silent, events, live_tokens

SCOPE = ["read:data:customer-7291"]


def renewals(broker: DevBroker, agent_id: str) -> int:
    return len(events(broker, agent_id=agent_id, event_type="token_renewed"))


def released(broker: DevBroker, agent_id: str) -> int:
    return len(events(broker, agent_id=agent_id, event_type="token_released"))


def wait_past(expires_at: float, extra: float) -> None:
    """Short TTLs stand in for a clock: wait until `extra` seconds after a
    token's expiry."""
    left = expires_at + extra - time.time()
    if left > 0:
        time.sleep(left)


@pytest.fixture
def short_lived() -> Iterator[DevBroker]:
    with DevBroker(max_ttl=2) as broker:
        yield broker


def test_dropping_an_auto_renewing_agent_ends_its_renewal(short_lived: DevBroker) -> None:
    app = short_lived.universal_app()
    agent = app.create_agent("orch", "sync", SCOPE, max_ttl=2, auto_renew=True)
    first = agent.jti
    deadline = time.monotonic() + 10
    while agent.jti == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent.jti != first, "no renewal while the agent was held"
    agent_id, expires_at = agent.agent_id, agent.expires_at
    at_drop = renewals(short_lived, agent_id)
    del agent
    gc.collect()
    # The token held at the drop expires at `expires_at` (whole seconds, so
    # up to 1 s early); a renewer still running would renew every 1.6 s
    # (80 % of 2 s): by 4 s past it, at least twice more.
    wait_past(expires_at, 4.0)
    assert renewals(short_lived, agent_id) <= at_drop + 1  # at most one in flight
    # Decided semantics: not released, it expires at its TTL.
    assert released(short_lived, agent_id) == 0


def test_garbage_collecting_an_async_auto_renewing_agent_ends_its_renewal(
    short_lived: DevBroker,
) -> None:
    app = short_lived.async_universal_app()

    async def create() -> tuple[str, float, str]:
        agent = await app.create_agent("orch", "async", SCOPE, max_ttl=2, auto_renew=True)
        first = agent.jti
        deadline = time.monotonic() + 10
        while agent.jti == first and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return agent.agent_id, agent.expires_at, first

    agent_id, expires_at, first = asyncio.run(create())  # the agent is garbage here
    gc.collect()
    at_drop = renewals(short_lived, agent_id)
    assert at_drop >= 1, "no renewal while the agent was held"
    wait_past(expires_at, 4.0)
    assert renewals(short_lived, agent_id) <= at_drop + 1
    assert released(short_lived, agent_id) == 0


def test_an_async_release_finishes_under_anyio_repeated_cancellation() -> None:
    with DevBroker() as broker:
        proxy = DelayProxy(broker.url, 0.1)
        c = broker.universal_credentials()
        app = agentwrit_rs.AsyncAgentWritApp(proxy.url, c.client_id, c.client_secret)

        async def request_handler(i: int) -> None:
            # What Starlette/FastAPI do to a request whose client went away:
            # cancel its scope, which cancels every await from then on.
            with anyio.CancelScope() as scope:
                async with app.agent("orch", f"req-{i}", SCOPE):
                    scope.cancel()
                    await anyio.sleep(1)  # cancelled; __aexit__'s release too

        async def direct(i: int) -> None:
            agent = await app.create_agent("orch", f"direct-{i}", SCOPE)
            with anyio.move_on_after(0.01):
                await agent.release()  # cut off long before the broker answers

        async def main() -> None:
            async with anyio.create_task_group() as tg:
                for i in range(8):
                    tg.start_soon(request_handler, i)
                    tg.start_soon(direct, i)

        try:
            anyio.run(main)
            assert _native.drain(60.0)
            assert live_tokens(broker) == set()
        finally:
            proxy.close()


def test_timeout_bounds_a_whole_async_call_retries_included() -> None:
    silent = Silent()
    try:

        async def main() -> None:
            with pytest.raises(agentwrit_rs.TransportError) as caught:
                await agentwrit_rs.async_validate(silent.url, "token", timeout=0.5)
            assert silent.url in str(caught.value)
            # One attempt, not three (each bounded by the timeout on its own).
            assert silent.accepted == 1
            app = agentwrit_rs.AsyncAgentWritApp(silent.url, "id", "secret", timeout=0.5)
            with pytest.raises(agentwrit_rs.TransportError):
                await app.health()
            assert silent.accepted == 2

        asyncio.run(main())
    finally:
        silent.close()


def test_timeout_bounds_a_whole_sync_call_retries_included() -> None:
    # The sync API runs on the blocking transport, whose calls are bounded
    # as a whole by the transports' one deadline (agentwrit-core).
    silent = Silent()
    try:
        with pytest.raises(agentwrit_rs.TransportError) as caught:
            agentwrit_rs.validate(silent.url, "token", timeout=0.5)
        assert silent.url in str(caught.value)
        assert silent.accepted == 1
    finally:
        silent.close()


def test_the_cached_validator_is_keyed_by_every_setting(broker: DevBroker) -> None:
    app = broker.universal_app()
    with app.agent("orch", "task", SCOPE) as agent:
        assert agentwrit_rs.validate(broker.url, agent.access_token).valid
        # A later call that refuses clear text must not reuse the client
        # cached for the same URL that allows it.
        with pytest.raises(agentwrit_rs.AgentWritError):
            agentwrit_rs.validate(broker.url, agent.access_token, https_only=True)
        with pytest.raises(agentwrit_rs.AgentWritError):
            asyncio.run(
                agentwrit_rs.async_validate(broker.url, agent.access_token, https_only=True)
            )
        assert agentwrit_rs.validate(broker.url, agent.access_token, timeout=3).valid


def test_tls_settings_are_part_of_the_key() -> None:
    with DevBroker(tls="tls") as broker:
        app = broker.universal_app()
        with app.agent("orch", "task", SCOPE) as agent:
            assert agentwrit_rs.validate(broker.url, agent.access_token, ca_pem=broker.ca_pem).valid
            # Without the CA the same URL must fail its handshake.
            with pytest.raises(agentwrit_rs.TransportError):
                agentwrit_rs.validate(broker.url, agent.access_token)

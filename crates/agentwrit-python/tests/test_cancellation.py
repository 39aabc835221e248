"""Cancel-safe creation (issue 29.2): whatever point a cancellation lands
on — ``asyncio.wait_for``, a task's ``cancel()``, inside ``async with
app.agent(...)`` — every token the broker issued is released, checked at
the broker's audit trail. A loopback proxy holds the broker's answers back,
so the cancellations land while requests are in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import agentwrit_rs
from agentwrit_rs import _native
from agentwrit_rs.testing import DevBroker
from support import DelayProxy, live_tokens, registrations

SCOPE = ["read:data:customer-7291"]
DELAY = 0.05


@pytest.fixture
def proxied() -> Iterator[tuple[DevBroker, agentwrit_rs.AsyncAgentWritApp]]:
    with DevBroker() as broker:
        proxy = DelayProxy(broker.url, DELAY)
        c = broker.universal_credentials()
        try:
            yield broker, agentwrit_rs.AsyncAgentWritApp(proxy.url, c.client_id, c.client_secret)
        finally:
            proxy.close()


def settle(broker: DevBroker) -> None:
    """Every call the cancellations left running has ended (bounded), and
    the broker saw every issued token released."""
    assert _native.drain(60.0), "calls still running after 60 s"
    assert live_tokens(broker) == set()


def test_wait_for_timing_out_at_many_points_leaves_no_live_token(
    proxied: tuple[DevBroker, agentwrit_rs.AsyncAgentWritApp],
) -> None:
    broker, app = proxied

    async def main() -> int:
        # Warm the app token, so the points below fall on the creation.
        warm = await app.create_agent("orch", "warm", SCOPE)
        await warm.release()
        cancelled = 0
        for i in range(24):
            timeout = i * DELAY / 4  # 0 .. ~6 round trips: every request of the creation
            try:
                agent = await asyncio.wait_for(app.create_agent("orch", f"w{i}", SCOPE), timeout)
            except asyncio.TimeoutError:
                cancelled += 1
            else:
                await agent.release()
        return cancelled

    cancelled = asyncio.run(main())
    assert cancelled >= 8
    settle(broker)
    # Registrations did complete behind cancelled waits: the layer released them.
    assert registrations(broker) > 25 - cancelled


def test_task_cancel_at_many_points_leaves_no_live_token(
    proxied: tuple[DevBroker, agentwrit_rs.AsyncAgentWritApp],
) -> None:
    broker, app = proxied

    async def main() -> None:
        warm = await app.create_agent("orch", "warm", SCOPE)
        await warm.release()
        for i in range(20):
            task = asyncio.create_task(app.create_agent("orch", f"t{i}", SCOPE))
            # Let the task run for i loop iterations (each a few ms behind
            # the proxy), then cancel it wherever it is.
            for _ in range(i):
                await asyncio.sleep(DELAY / 5)
            task.cancel()
            try:
                agent = await task
            except asyncio.CancelledError:
                continue
            await agent.release()

    asyncio.run(main())
    settle(broker)


def test_cancel_inside_async_with_and_during_its_creation(
    proxied: tuple[DevBroker, agentwrit_rs.AsyncAgentWritApp],
) -> None:
    broker, app = proxied

    async def body(i: int) -> None:
        async with app.agent("orch", f"a{i}", SCOPE) as agent:
            assert agent.agent_id
            await asyncio.sleep(10)  # cancelled here (or during creation)

    async def main() -> None:
        for i in range(16):
            task = asyncio.create_task(body(i))
            for _ in range(i):
                await asyncio.sleep(DELAY / 3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    settle(broker)


def test_a_creation_that_outlives_its_deadline_is_released() -> None:
    with DevBroker() as broker:
        proxy = DelayProxy(broker.url, 0.2)
        c = broker.universal_credentials()
        app = agentwrit_rs.AsyncAgentWritApp(proxy.url, c.client_id, c.client_secret, timeout=0.5)

        async def main() -> None:
            with pytest.raises(agentwrit_rs.TransportError) as caught:
                await app.create_agent("orch", "slow", SCOPE)
            assert caught.value.retryable
            assert proxy.url in str(caught.value)

        try:
            asyncio.run(main())
            settle(broker)
            assert registrations(broker) == 1
        finally:
            proxy.close()

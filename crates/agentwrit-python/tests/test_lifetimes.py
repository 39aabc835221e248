"""Renewal ends with the last handle (29.3; shown with a witness agent,
not a clock), shielded async releases
(29.4), one deadline per call and complete cache keys (29.5), checked at
the broker."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import anyio
import pytest

import agentwrit_rs
from agentwrit_rs import _native
from agentwrit_rs.testing import DevBroker
from support import DelayProxy, Silent, events, eventually, live_tokens

SCOPE = ["read:data:customer-7291"]


def count(broker: DevBroker, event_type: str, agent_id: str, after: int = 0) -> int:
    """The events of ``event_type`` for ``agent_id`` past the first
    ``after`` events of the audit trail."""
    return sum(
        1
        for e in events(broker)[after:]
        if e["event_type"] == event_type and e.get("agent_id") == agent_id
    )


def wait_for(what: str, check: Callable[[], bool]) -> None:
    assert eventually(check, limit=30.0), f"the audit trail never showed {what}"


@pytest.fixture
def short_lived() -> Iterator[DevBroker]:
    # Two-second tokens: a renewal every 1.6 s (80 % of the lifetime).
    with DevBroker(max_ttl=2) as broker:
        yield broker


def check_renewal_ends_with_the_last_handle(
    broker: DevBroker,
    create: Callable[[str], tuple[str, str]],
    end_witness: Callable[[], None],
    valid: Callable[[str], bool],
) -> None:
    """What the Rust acceptance test checks on both transports, with a
    witness instead of a clock: ``create(task)`` makes an auto-renewing
    agent and drops every reference to it except the one the witness
    keeps (``end_witness`` releases that one). The first agent renews
    while held, then is dropped; a witness agent made after the drop
    renews twice, which takes longer than the first one's next renewal was
    due; then the audit trail must show the first agent's renewal stopped,
    and no release of it either: its token expires at its TTL."""
    dropped_id, token = create("dropped")  # renewed once while held, then dropped
    gc.collect()
    mark = len(events(broker))
    witness_id, _ = create("witness")
    wait_for(
        "two renewals of the witness",
        lambda: count(broker, "token_renewed", witness_id, after=mark) >= 2,
    )
    end_witness()
    # A renewer still running would have renewed the first agent at least
    # twice since the mark (its period is the witness's, and it started
    # earlier); one renewal already in flight at the drop may land after it.
    assert count(broker, "token_renewed", dropped_id, after=mark) <= 1, (
        "the agent was renewed after its last reference was dropped"
    )
    # Decided semantics: a drop releases nothing (that is what `with` is
    # for); the token dies at the end of its TTL, with no renewal to save it.
    assert count(broker, "token_released", dropped_id) == 0
    assert eventually(lambda: not valid(token), limit=10.0), "the dropped agent's token lives on"
    assert eventually(lambda: live_tokens(broker) == set(), limit=10.0)


def test_dropping_an_auto_renewing_agent_ends_its_renewal(short_lived: DevBroker) -> None:
    app = short_lived.universal_app()
    kept: list[agentwrit_rs.Agent] = []

    def create(task: str) -> tuple[str, str]:
        agent = app.create_agent("orch", task, SCOPE, max_ttl=2, auto_renew=True)
        agent_id = agent.agent_id
        wait_for(f"a renewal of {task}", lambda: count(short_lived, "token_renewed", agent_id) >= 1)
        if task == "witness":
            kept.append(agent)
        return agent_id, agent.access_token  # `agent` ends here unless kept

    def end_witness() -> None:
        kept.pop().release()

    check_renewal_ends_with_the_last_handle(
        short_lived, create, end_witness, lambda token: app.validate(token).valid
    )


def test_garbage_collecting_an_async_auto_renewing_agent_ends_its_renewal(
    short_lived: DevBroker,
) -> None:
    app = short_lived.async_universal_app()
    kept: list[agentwrit_rs.AsyncAgent] = []

    def create(task: str) -> tuple[str, str]:
        async def made() -> agentwrit_rs.AsyncAgent:
            return await app.create_agent("orch", task, SCOPE, max_ttl=2, auto_renew=True)

        # The event loop that made it is gone when this returns: only the
        # agent object (and the witness list) could keep the renewal alive.
        agent = asyncio.run(made())
        agent_id = agent.agent_id
        wait_for(f"a renewal of {task}", lambda: count(short_lived, "token_renewed", agent_id) >= 1)
        if task == "witness":
            kept.append(agent)
        return agent_id, agent.access_token

    def end_witness() -> None:
        asyncio.run(kept.pop().release())

    def valid(token: str) -> bool:
        return asyncio.run(app.validate(token)).valid

    check_renewal_ends_with_the_last_handle(short_lived, create, end_witness, valid)


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

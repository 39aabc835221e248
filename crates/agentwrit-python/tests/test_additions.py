"""What the official SDK lacks: asyncio, threads, context managers,
auto-renewal, multi-hop delegation, the operator API."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import agentwrit_rs as agentwrit
from agentwrit_rs import AgentWritApp, AsyncAgentWritApp
from agentwrit_rs.testing import DevBroker

SCOPE = ["read:data:customer-7291"]


def test_100_concurrent_creates_on_one_async_app(broker: DevBroker) -> None:
    async def main() -> None:
        app = broker.async_universal_app()
        agents = await asyncio.gather(
            *(app.create_agent("orch", f"task-{i}", SCOPE) for i in range(100))
        )
        assert len({a.agent_id for a in agents}) == 100
        results = await asyncio.gather(*(app.validate(a.access_token) for a in agents))
        assert all(r.valid for r in results)
        await asyncio.gather(*(a.release() for a in agents))
        assert all(a.is_released for a in agents)
        dead = await asyncio.gather(
            *(agentwrit.async_validate(app.broker_url, a.access_token) for a in agents)
        )
        assert not any(r.valid for r in dead)

    asyncio.run(main())


def test_the_async_api_covers_the_lifecycle(broker: DevBroker) -> None:
    async def main() -> None:
        async with broker.async_universal_app() as app:
            assert (await app.health()).status == "ok"
            a = await app.create_agent("orch", "a", ["read:data:x", "write:data:y"])
            b = await app.create_agent("orch", "b", ["read:data:none"])
            c = await app.create_agent("orch", "c", ["read:data:none"])
            old = a.access_token
            await a.renew()
            assert not (await app.validate(old)).valid
            hop1 = await a.delegate(b.agent_id, ["read:data:x"])
            hop2 = await hop1.delegate(c.agent_id, ["read:data:x"])
            assert len(hop2.delegation_chain) == 2
            with pytest.raises(agentwrit.AuthorizationError):
                await a.delegate(b.agent_id, ["read:data:*"])
            await a.release_task()
            for token in (a.access_token, hop1.access_token, hop2.access_token):
                assert not (await app.validate(token)).valid
            await asyncio.gather(b.release(), c.release())

    asyncio.run(main())


def test_async_with_releases_on_an_exception(broker: DevBroker) -> None:
    async def main() -> str:
        app = broker.async_universal_app()
        token = ""
        with pytest.raises(RuntimeError):
            async with app.agent("orch", "task", SCOPE) as agent:
                token = agent.access_token
                assert (await app.validate(token)).valid
                raise RuntimeError("task failed")
        assert not (await app.validate(token)).valid
        return token

    assert asyncio.run(main())


def test_32_threads_share_one_app(app: AgentWritApp) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(32)

    def work(i: int) -> str:
        barrier.wait()
        with app.agent("orch", f"thread-{i}", SCOPE) as agent:
            assert app.validate(agent.access_token).valid
            agent.renew()
            assert app.validate(agent.access_token).valid
            return agent.agent_id

    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [pool.submit(work, i) for i in range(32)]
        ids = []
        for f in futures:
            try:
                ids.append(f.result())
            except BaseException as e:  # collected, then asserted on
                errors.append(e)
    assert errors == []
    assert len(set(ids)) == 32


def test_the_gil_is_released_during_broker_calls() -> None:
    # A "broker" that accepts connections (in a Python thread, which needs
    # the GIL to run) and never answers until told to. If a thread blocked in
    # a broker call kept the GIL, the accepting thread could never run and
    # `accepted` would never be set.
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted = threading.Event()
    done = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.1)
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conns.append(conn)
            accepted.set()

    outcome: list[BaseException] = []

    def call() -> None:
        try:
            agentwrit.validate(f"http://127.0.0.1:{port}", "token", timeout=20.0)
        except BaseException as e:
            outcome.append(e)

    server_thread = threading.Thread(target=serve)
    server_thread.start()
    caller = threading.Thread(target=call)
    try:
        caller.start()
        assert accepted.wait(timeout=15), "the accepting thread never ran during the call"
        assert caller.is_alive()  # still inside the broker call
    finally:
        done.set()
        server_thread.join()
        for c in conns:
            c.close()
        server.close()
        caller.join(timeout=60)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], agentwrit.AgentWritError)


def test_with_releases_the_agent_and_its_delegations_on_an_exception(app: AgentWritApp) -> None:
    helper = app.create_agent("orch", "helper", ["read:data:none"])
    seen: dict[str, str] = {}
    with pytest.raises(KeyError):
        with app.agent("orch", "task", SCOPE) as agent:
            seen["agent"] = agent.access_token
            seen["delegated"] = agent.delegate(helper.agent_id, SCOPE).access_token
            raise KeyError("boom")
    assert not app.validate(seen["agent"]).valid
    assert not app.validate(seen["delegated"]).valid
    assert app.validate(helper.access_token).valid
    helper.release()


def test_an_agent_is_its_own_context_manager(app: AgentWritApp) -> None:
    with app.create_agent("orch", "task", SCOPE) as agent:
        token = agent.access_token
    assert agent.is_released
    assert not app.validate(token).valid


def test_auto_renewal_with_a_short_ttl(app: AgentWritApp) -> None:
    agent = app.create_agent("orch", "task", SCOPE, max_ttl=2, auto_renew=True)
    first = agent.jti
    deadline = time.monotonic() + 20
    # Wait for the renewal the SDK schedules before the 2 s token expires.
    while agent.jti == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent.jti != first
    assert app.validate(agent.access_token).valid
    renewals = agent.stop_auto_renewal()
    assert renewals is not None and renewals >= 1
    agent.release()


def test_multi_hop_delegation(app: AgentWritApp) -> None:
    a = app.create_agent("orch", "a", ["read:data:customer-7291", "write:data:order-1"])
    b = app.create_agent("orch", "b", ["read:data:none"])
    c = app.create_agent("orch", "c", ["read:data:none"])
    d = app.create_agent("orch", "d", ["read:data:none"])
    ab = a.delegate(b.agent_id, ["read:data:customer-7291", "write:data:order-1"])
    bc = ab.delegate(c.agent_id, ["read:data:customer-7291"])
    cd = bc.delegate(d.agent_id, ["read:data:customer-7291"], ttl=30)
    assert [r.agent for r in cd.delegation_chain] == [a.agent_id, b.agent_id, c.agent_id]
    claims = app.validate(cd.access_token).claims
    assert claims is not None and claims.sub == d.agent_id
    assert claims.delegation_chain is not None and len(claims.delegation_chain) == 3
    with pytest.raises(agentwrit.AuthorizationError):
        bc.delegate(d.agent_id, ["write:data:order-1"])  # not held at this hop
    cd.release()
    assert not app.validate(cd.access_token).valid
    a.release_task()
    assert not app.validate(ab.access_token).valid
    assert not app.validate(bc.access_token).valid
    for helper in (b, c, d):
        helper.release()


def test_operator_calls(broker: DevBroker) -> None:
    op = broker.operator()
    created = op.create_app("billing", ["read:data:*"], token_ttl=900)
    assert created["client_id"] and created["client_secret"]
    app_id = created["app_id"]
    assert any(a["app_id"] == app_id for a in op.list_apps()["apps"])
    assert op.get_app(app_id)["scopes"] == ["read:data:*"]
    assert op.update_app(app_id, scopes=["read:data:*", "write:data:*"])["scopes"] == [
        "read:data:*",
        "write:data:*",
    ]
    billing = AgentWritApp(broker.url, created["client_id"], created["client_secret"])
    agent = billing.create_agent("orch", "task", ["write:data:x"])
    revoked = op.revoke("agent", agent.agent_id)
    assert revoked["revoked"] is True and revoked["count"] >= 1
    assert not billing.validate(agent.access_token).valid
    events = op.audit_events(agent_id=agent.agent_id)
    assert events["total"] >= 1
    launch = op.create_launch_token("direct", ["read:data:x"], max_ttl=60)
    assert launch["launch_token"]
    with pytest.raises(agentwrit.InvalidInputError):
        op.revoke("everything", "x")
    op.delete_app(app_id)
    gone = AgentWritApp(broker.url, created["client_id"], created["client_secret"])
    with pytest.raises(agentwrit.AuthenticationError):
        gone.create_agent("orch", "again", ["read:data:x"])
    bad = agentwrit.AgentWritOperator(broker.url, "not-the-secret")
    with pytest.raises(agentwrit.AuthenticationError):
        bad.list_apps()


def test_async_operator_calls(broker: DevBroker) -> None:
    async def main() -> None:
        op = broker.async_operator()
        created = await op.create_app("async-billing", ["read:data:*"])
        apps = await op.list_apps()
        assert any(a["app_id"] == created["app_id"] for a in apps["apps"])
        events = await op.audit_events(event_type="app_registered")
        assert events["total"] >= 1

    asyncio.run(main())


def test_objects_from_the_async_app_work_across_event_loops(broker: DevBroker) -> None:
    app: AsyncAgentWritApp = broker.async_universal_app()

    async def create() -> agentwrit.AsyncAgent:
        return await app.create_agent("orch", "loop", SCOPE)

    async def check(token: str) -> bool:
        return (await app.validate(token)).valid

    agent = asyncio.run(create())
    assert asyncio.run(check(agent.access_token))
    asyncio.run(agent.release())  # a third loop
    assert not asyncio.run(check(agent.access_token))

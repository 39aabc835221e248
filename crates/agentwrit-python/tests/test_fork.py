"""Fork safety (issue 29.1): apps, async apps, operators and
``validate()`` used in a parent just work in children forked from it
(``multiprocessing`` with the ``fork`` start method, ``gunicorn
--preload``), with no crossed responses; fresh objects work in children
too; agents from the parent stay usable there, their renewal the
parent's. Every run is bounded by a timeout, and the broker's audit trail
shows every token released."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import pytest

import agentwrit_rs
from agentwrit_rs.testing import DevBroker
from support import live_tokens

SCOPE = ["read:data:customer-7291"]
ROUNDS, CHILDREN, LIFECYCLES = 5, 6, 10
FORK = multiprocessing.get_context("fork")

# What the parent sets up before forking; the children find it here.
PARENT: dict[str, Any] = {}


def checked(result: agentwrit_rs.ValidateResult, agent_id: str, task: str) -> None:
    """The answer is about this agent's token, not another process's."""
    assert result.valid, result.error
    assert result.claims is not None
    assert (result.claims.sub, result.claims.task_id) == (agent_id, task)


async def async_lifecycles(app: agentwrit_rs.AsyncAgentWritApp, prefix: str) -> list[str]:
    ids = []
    for i in range(LIFECYCLES // 2):
        task = f"{prefix}-{i}"
        async with app.agent("orch", task, SCOPE) as agent:
            checked(await app.validate(agent.access_token), agent.agent_id, task)
            checked(
                await agentwrit_rs.async_validate(app.broker_url, agent.access_token),
                agent.agent_id,
                task,
            )
            ids.append(agent.agent_id)
    return ids


def child(n: int) -> list[str]:
    pid = os.getpid()
    app: agentwrit_rs.AgentWritApp = PARENT["app"]
    url: str = PARENT["url"]
    ids = []
    # The parent's sync app and the module-level validate it used.
    for i in range(LIFECYCLES):
        task = f"{pid}-{n}-{i}"
        with app.agent("orch", task, SCOPE) as agent:
            checked(app.validate(agent.access_token), agent.agent_id, task)
            checked(agentwrit_rs.validate(url, agent.access_token), agent.agent_id, task)
            ids.append(agent.agent_id)
    # The parent's async app, on a runtime of this process's own.
    ids += asyncio.run(async_lifecycles(PARENT["async_app"], f"{pid}-a"))
    # Fresh objects made here.
    fresh = agentwrit_rs.AgentWritApp(url, *PARENT["credentials"])
    with fresh.agent("orch", f"{pid}-fresh", SCOPE) as agent:
        checked(fresh.validate(agent.access_token), agent.agent_id, f"{pid}-fresh")
        ids.append(agent.agent_id)
    ids += asyncio.run(
        async_lifecycles(agentwrit_rs.AsyncAgentWritApp(url, *PARENT["credentials"]), f"{pid}-af")
    )
    # The parent's operator.
    assert PARENT["operator"].list_apps()["total"] >= 1
    # The parent's agent: its token is a value; its renewal is the parent's.
    inherited: agentwrit_rs.Agent = PARENT["agent"]
    checked(app.validate(inherited.access_token), inherited.agent_id, "parent")
    assert inherited.stop_auto_renewal() is None
    with app.agent("orch", f"{pid}-delegate", SCOPE) as helper:
        token = inherited.delegate(helper.agent_id, SCOPE)
        assert app.validate(token.access_token).valid
        token.release()
    return ids


def test_objects_of_the_parent_work_in_forked_children(broker: DevBroker) -> None:
    c = broker.universal_credentials()
    app = broker.universal_app()
    async_app = broker.async_universal_app()
    operator = broker.operator()
    PARENT.update(
        app=app,
        async_app=async_app,
        operator=operator,
        url=broker.url,
        credentials=(c.client_id, c.client_secret),
        agent=app.create_agent("orch", "parent", SCOPE, auto_renew=True),
    )
    # Everything is used before the first fork: pooled connections, the
    # async runtime's threads, the cached validator, the operator's session.
    with app.agent("orch", "warm", SCOPE) as agent:
        assert agentwrit_rs.validate(broker.url, agent.access_token).valid
    asyncio.run(async_lifecycles(async_app, "parent-async"))
    assert operator.list_apps()["total"] >= 1
    seen: set[str] = set()
    try:
        for _ in range(ROUNDS):
            with FORK.Pool(CHILDREN) as pool:
                results = pool.map_async(child, range(CHILDREN)).get(timeout=180)
            for ids in results:
                assert not seen & set(ids)
                seen |= set(ids)
            # The parent's connections still answer the parent.
            with app.agent("orch", "after", SCOPE) as agent:
                checked(app.validate(agent.access_token), agent.agent_id, "after")
        expected = ROUNDS * CHILDREN * (LIFECYCLES + 1 + 2 * (LIFECYCLES // 2))
        assert len(seen) == expected
        assert PARENT["agent"].stop_auto_renewal() == 0
    finally:
        PARENT["agent"].release()
        PARENT.clear()
    assert live_tokens(broker) == set()


def fresh_async_child(url: str, client_id: str, secret: str) -> None:
    app = agentwrit_rs.AsyncAgentWritApp(url, client_id, secret)
    asyncio.run(async_lifecycles(app, f"{os.getpid()}-child"))


def test_a_parent_that_used_the_async_api_forks_working_children(broker: DevBroker) -> None:
    c = broker.universal_credentials()
    asyncio.run(async_lifecycles(broker.async_universal_app(), "parent"))
    children = [
        FORK.Process(target=fresh_async_child, args=(broker.url, c.client_id, c.client_secret))
        for _ in range(4)
    ]
    for p in children:
        p.start()
    for p in children:
        p.join(timeout=120)
        if p.is_alive():
            p.kill()
        assert p.exitcode == 0
    assert live_tokens(broker) == set()


def gunicorn_address(server: subprocess.Popen[str], limit: float) -> str:
    """The address gunicorn says it listens at, read from its log within
    ``limit`` seconds: a thread reads the log (to its end, so gunicorn
    never blocks on a full pipe) and this waits on what it hands over,
    never on a read that may not return."""
    assert server.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, args=(server.stderr,), daemon=True).start()
    log: list[str] = []
    deadline = time.monotonic() + limit
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        log.append(line)
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
        if found:
            return found.group(1)
    raise AssertionError(f"gunicorn did not start within {limit} s:\n{''.join(log)}")


def test_the_start_up_wait_is_bounded() -> None:
    # A process that prints nothing and never exits: the wait gives up.
    silent = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # (Before, the read itself blocked: this test hung.)
        with pytest.raises(AssertionError, match="did not start within"):
            gunicorn_address(silent, limit=0.5)
    finally:
        silent.kill()
        silent.wait()


def test_gunicorn_preload_serves_concurrent_lifecycles(broker: DevBroker) -> None:
    c = broker.universal_credentials()
    env = {
        **os.environ,
        "AGENTWRIT_BROKER_URL": broker.url,
        "AGENTWRIT_CLIENT_ID": c.client_id,
        "AGENTWRIT_CLIENT_SECRET": c.client_secret,
        "PYTHONUNBUFFERED": "1",
    }
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "--preload", "--workers", "4",
            "--bind", "127.0.0.1:0", "--chdir", str(Path(__file__).parent / "fork_apps"),
            "--graceful-timeout", "10", "wsgi_app:app",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = gunicorn_address(server, limit=60.0)

        def request(i: int) -> dict[str, Any]:
            with urllib.request.urlopen(f"{base}/req-{i}", timeout=60) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body

        with ThreadPoolExecutor(16) as load:
            answers = list(load.map(request, range(200)))
        assert all(a["ok"] for a in answers)
        assert [a["task"] for a in answers] == [f"req-{i}" for i in range(200)]
        assert len({a["agent_id"] for a in answers}) == 200
        assert len({a["pid"] for a in answers}) > 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert live_tokens(broker) == set()

"""The agentwrit_rs side of `cargo xtask bench-compare`: the Python package
on the Rust core (crates/agentwrit-python), doing the lifecycle the other
rows do, against the broker named by AGENTWRIT_BROKER_URL /
AGENTWRIT_CLIENT_ID / AGENTWRIT_CLIENT_SECRET:

  * "sync": N sequential lifecycles on one AgentWritApp;
  * "asyncio_32": N lifecycles on one AsyncAgentWritApp, 32 in flight;
  * "threads_32": N lifecycles on one AgentWritApp shared by 32 threads;
  * client CPU per create-agent (time.process_time(): every thread of this
    process, the Rust runtime's included; the broker is another process).

Prints one JSON object on stdout.

usage: python rs_bench.py LIFECYCLES CPU_CREATES
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from typing import Any

import agentwrit_rs
from agentwrit_rs import AgentWritApp, AsyncAgentWritApp


def lifecycle(app: AgentWritApp, task: str) -> None:
    agent = app.create_agent("bench-orch", task, [f"read:data:customer-{task}"])
    if not app.validate(agent.access_token).valid:
        raise RuntimeError("fresh token did not validate")
    agent.release()
    if app.validate(agent.access_token).valid:
        raise RuntimeError("released token still valid")


async def alifecycle(app: AsyncAgentWritApp, task: str) -> None:
    agent = await app.create_agent("bench-orch", task, [f"read:data:customer-{task}"])
    if not (await app.validate(agent.access_token)).valid:
        raise RuntimeError("fresh token did not validate")
    await agent.release()
    if (await app.validate(agent.access_token)).valid:
        raise RuntimeError("released token still valid")


def row(samples: list[float], wall: float, cpu: float, n: int) -> dict[str, Any]:
    return {"samples_s": samples, "wall_s": wall, "cpu_s": cpu / n}


def sync_row(app: AgentWritApp, n: int) -> dict[str, Any]:
    samples = []
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        lifecycle(app, f"rs-seq-{i}")
        samples.append(time.perf_counter() - t)
    return row(samples, time.perf_counter() - wall, time.process_time() - cpu, n)


def threads_row(app: AgentWritApp, n: int, workers: int) -> dict[str, Any]:
    samples: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def work() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t = time.perf_counter()
            try:
                lifecycle(app, f"rs-thr-{i}")
            except BaseException as e:
                errors.append(e)
                return
            with lock:
                samples.append(time.perf_counter() - t)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    cpu, wall = time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return row(samples, time.perf_counter() - wall, time.process_time() - cpu, n)


async def asyncio_row(app: AsyncAgentWritApp, n: int, in_flight: int) -> dict[str, Any]:
    samples: list[float] = []
    counter = iter(range(n))

    async def work() -> None:
        for i in counter:
            t = time.perf_counter()
            await alifecycle(app, f"rs-aio-{i}")
            samples.append(time.perf_counter() - t)

    for i in range(5):
        await alifecycle(app, f"rs-aio-warm-{i}")
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(work() for _ in range(in_flight)))
    return row(samples, time.perf_counter() - wall, time.process_time() - cpu, n)


def main() -> None:
    n, cpu_n = int(sys.argv[1]), int(sys.argv[2])
    url = os.environ["AGENTWRIT_BROKER_URL"]
    cid = os.environ["AGENTWRIT_CLIENT_ID"]
    secret = os.environ["AGENTWRIT_CLIENT_SECRET"]
    app = AgentWritApp(url, cid, secret)
    for i in range(5):
        lifecycle(app, f"rs-warm-{i}")
    sync = sync_row(app, n)
    threads = threads_row(app, n, 32)

    agents = []
    cpu = time.process_time()
    for i in range(cpu_n):
        agents.append(app.create_agent("bench-orch", f"rs-cpu-{i}", [f"read:data:customer-{i}"]))
    create_cpu = (time.process_time() - cpu) / cpu_n
    for a in agents:
        a.release()

    aio = asyncio.run(asyncio_row(AsyncAgentWritApp(url, cid, secret), n, 32))
    json.dump(
        {
            "sync": sync,
            "asyncio_32": aio,
            "threads_32": threads,
            "create_cpu_s": create_cpu,
            "version": agentwrit_rs.__version__,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()

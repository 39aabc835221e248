"""The Python rows of `cargo xtask bench-cost`: W warm-up creates, then N
measured ones, with the official Python SDK (agentwrit==0.3.0) or this
repository's Python package (agentwrit_rs), against the broker named by
AGENTWRIT_BROKER_URL / AGENTWRIT_CLIENT_ID / AGENTWRIT_CLIENT_SECRET (a
separate process). Each agent is dropped right after its create, as in the
Rust rows. Prints one JSON line: the CPU time of the N creates
(time.process_time(), all threads).

`rs-runtime` measures the path the package's sync API does not take: its
native App built on the async client, each create driven to its end with
block_on on the binding layer's runtime (the GIL released).

usage: python cost_create.py official|rs|rs-runtime WARMUP OPS
"""

import json
import os
import sys
import time


def make_create(sdk):
    url = os.environ["AGENTWRIT_BROKER_URL"]
    client_id = os.environ["AGENTWRIT_CLIENT_ID"]
    secret = os.environ["AGENTWRIT_CLIENT_SECRET"]
    if sdk == "official":
        from agentwrit import AgentWritApp

        app = AgentWritApp(broker_url=url, client_id=client_id, client_secret=secret)
        return lambda orch, task, scope: app.create_agent(
            orch_id=orch, task_id=task, requested_scope=scope
        )
    if sdk == "rs":
        import agentwrit_rs

        app = agentwrit_rs.AgentWritApp(
            broker_url=url, client_id=client_id, client_secret=secret
        )
        return lambda orch, task, scope: app.create_agent(
            orch_id=orch, task_id=task, requested_scope=scope
        )
    if sdk == "rs-runtime":
        from agentwrit_rs import _native

        native = _native.App(
            url, client_id, secret, _native.Settings(timeout=10.0), asynchronous=True
        )
        return lambda orch, task, scope: native.create_agent(orch, task, scope)
    raise SystemExit(f"unknown sdk {sdk!r}")


def main():
    sdk, warmup, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    create = make_create(sdk)

    def one(i):
        create("cost-orch", f"py-cost-{i}", [f"read:data:customer-{i}"])

    for i in range(warmup):
        one(i)
    cpu = time.process_time()
    wall = time.perf_counter()
    for i in range(warmup, warmup + ops):
        one(i)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    print(json.dumps({"row": sdk, "warmup": warmup, "ops": ops,
                      "cpu_ns": int(cpu * 1e9), "wall_ns": int(wall * 1e9)}))


if __name__ == "__main__":
    main()

"""The Python side of `cargo xtask bench-compare`.

Runs, with the official Python SDK (agentwrit==0.3.0), the same work the
Rust `compare` binary runs, against the broker named by
AGENTWRIT_BROKER_URL / AGENTWRIT_CLIENT_ID / AGENTWRIT_CLIENT_SECRET:

  * N sequential lifecycles: create -> validate -> release -> validate-dead;
  * client CPU per create-agent (time.process_time() over M creates; the
    broker is another process, so its CPU is not counted);
  * scope_is_subset (the SDK's own function) on the six cases of the Rust
    criterion suite, timed with timeit.

Prints one JSON object on stdout.

usage: python py_bench.py LIFECYCLES CPU_CREATES
"""

import json
import os
import sys
import time
import timeit

from agentwrit import AgentWritApp, scope_is_subset


def scope_cases():
    numbered = lambda n: [f"read:data:item-{i}" for i in range(n)]
    return [
        ("1x1", ["read:data:customer-7291"], ["read:data:customer-7291"]),
        (
            "2x2",
            ["read:data:customer-7291", "write:data:order-4823"],
            ["read:data:customer-7291", "write:data:order-4823"],
        ),
        (
            "1_vs_4_wildcards",
            ["write:reports:hospital"],
            ["read:data:*", "write:data:*", "read:analytics:*", "write:reports:*"],
        ),
        (
            "denied",
            ["read:data:customer-9999"],
            ["read:data:customer-7291", "write:data:order-4823"],
        ),
        ("10x10", numbered(10), list(reversed(numbered(10)))),
        ("100x100", numbered(100), list(reversed(numbered(100)))),
    ]


def lifecycle(app, i):
    scope = [f"read:data:customer-{i}", f"write:data:order-{i}"]
    agent = app.create_agent(
        orch_id="bench-orch", task_id=f"py-task-{i}", requested_scope=scope
    )
    if not app.validate(agent.access_token).valid:
        raise RuntimeError("fresh token did not validate")
    agent.release()
    if app.validate(agent.access_token).valid:
        raise RuntimeError("released token still valid")


def broker_cpu():
    """The broker process's CPU seconds (Linux), or None."""
    pid = os.environ.get("AGENTWRIT_BENCH_BROKER_PID")
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def main():
    n = int(sys.argv[1])
    cpu_n = int(sys.argv[2])
    app = AgentWritApp(
        broker_url=os.environ["AGENTWRIT_BROKER_URL"],
        client_id=os.environ["AGENTWRIT_CLIENT_ID"],
        client_secret=os.environ["AGENTWRIT_CLIENT_SECRET"],
    )
    # Warm up: app authentication and connection set-up.
    for i in range(min(5, n)):
        lifecycle(app, 1_000_000 + i)

    samples = []
    cpu_lifecycles = time.process_time()
    broker_before = broker_cpu()
    wall = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        lifecycle(app, i)
        samples.append(time.perf_counter() - t)
    wall = time.perf_counter() - wall
    cpu_lifecycles = time.process_time() - cpu_lifecycles
    broker_after = broker_cpu()
    broker_lifecycle = (
        (broker_after - broker_before) / n
        if broker_before is not None and broker_after is not None
        else None
    )

    agents = []
    cpu = time.process_time()
    for i in range(cpu_n):
        agents.append(
            app.create_agent(
                orch_id="bench-orch",
                task_id=f"py-cpu-{i}",
                requested_scope=[f"read:data:customer-{i}"],
            )
        )
    cpu = time.process_time() - cpu
    for a in agents:
        a.release()

    scope = {}
    for name, required, held in scope_cases():
        timer = timeit.Timer(lambda: scope_is_subset(required, held))
        number, _ = timer.autorange()
        best = min(timer.repeat(repeat=9, number=number))
        scope[name] = best / number * 1e9

    json.dump(
        {
            "lifecycle_samples_s": samples,
            "lifecycle_wall_s": wall,
            "lifecycle_cpu_s": cpu_lifecycles / n,
            "lifecycle_broker_cpu_s": broker_lifecycle,
            "create_cpu_s": cpu / cpu_n,
            "scope_ns": scope,
            "python": sys.version.split()[0],
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()

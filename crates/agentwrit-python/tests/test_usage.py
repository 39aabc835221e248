"""Scope-usage evidence from the Python service side: a Verifier with
``record_usage`` behind a FastAPI route (``require_scope``) and an MCP
server's tool scopes; the JSON Lines records are read back and their
figures checked, also from a forked worker (its own file)."""

import json
import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from agentwrit_rs import AgentWritApp
from agentwrit_rs.mcp import ToolScopes
from agentwrit_rs.service import UsageRecording, VerifiedToken, Verifier
from agentwrit_rs.starlette import install, require_scope
from agentwrit_rs.testing import DevBroker
from support import live_tokens


def records(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(directory.iterdir()):
        out.extend(json.loads(line) for line in path.read_text().splitlines())
    return out


def uses(record: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(u["scope"], u["decision"]): u["count"] for u in record["scopes"]}


def call(tool: str, **args: Any) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}}
    ).encode()


def test_route_and_tool_decisions_are_recorded(broker: DevBroker, app: AgentWritApp, tmp_path: Path) -> None:
    verifier = Verifier(
        broker.url,
        max_staleness=0,
        record_usage=UsageRecording(tmp_path, service_name="orders-api"),
    )
    assert verifier.records_usage
    api = FastAPI()
    install(api)
    Reader = Annotated[VerifiedToken, Depends(require_scope(verifier, "read:data:customer-{customer_id}"))]

    @api.get("/customers/{customer_id}")
    async def customer(customer_id: str, token: Reader) -> str:
        return customer_id

    client = TestClient(api)
    tools = ToolScopes({"tenant_report": "read:analytics:{tenant}"})
    granted = ["read:data:customer-7291", "read:analytics:*", "write:data:order-1"]
    agent = app.create_agent("orch-usage", "task-usage", granted)
    auth = {"Authorization": f"Bearer {agent.access_token}"}

    assert client.get("/customers/7291", headers=auth).status_code == 200
    assert client.get("/customers/7291", headers=auth).status_code == 200
    assert client.get("/customers/9999", headers=auth).status_code == 403
    token = verifier.verify(agent.access_token)
    assert isinstance(token, VerifiedToken)
    required, refusal, _ = tools.decide(verifier, call("tenant_report", tenant="bank"), token)
    assert required == ["read:analytics:bank"] and refusal is None
    # Checked, not recorded: allows() records nothing.
    assert token.allows(["write:data:order-1"])

    secret = agent.access_token
    agent.release()
    assert client.get("/customers/7291", headers=auth).status_code == 401
    assert client.get("/customers/7291").status_code == 401

    counters = verifier.usage_counters()
    assert counters is not None
    assert counters["requests_allowed"] == 4
    assert counters["refused_revoked"] == 1
    assert counters["missing_token"] == 1
    assert counters["checks_allowed"] == 3 and counters["checks_denied"] == 1

    verifier.flush_usage()
    (record,) = records(tmp_path)
    assert record["schema"] == "agentwrit.usage/v1"
    assert record["service"] == "orders-api"
    assert record["instance"] == f"pid-{os.getpid()}"
    assert (record["jti"], record["sub"]) == (agent.jti, agent.agent_id)
    assert (record["orch_id"], record["task_id"]) == ("orch-usage", "task-usage")
    assert record["granted"] == granted
    assert record["requests"] == 4
    assert uses(record) == {
        ("read:data:customer-7291", "allowed"): 2,
        ("read:data:customer-9999", "denied"): 1,
        ("read:analytics:bank", "allowed"): 1,
    }
    assert [(r["reason"], r["count"]) for r in record["refused"]] == [("revoked", 1)]
    assert record["reason"] == "flush" and record["seq"] == 0
    assert secret not in "".join(p.read_text() for p in tmp_path.iterdir())

    verifier.close()
    verifier.close()  # idempotent
    # Verification goes on, unrecorded.
    assert client.get("/customers/7291").status_code == 401
    assert live_tokens(broker) == set()


def test_no_recording_by_default(broker: DevBroker) -> None:
    verifier = Verifier(broker.url)
    assert not verifier.records_usage
    assert verifier.usage_counters() is None
    verifier.flush_usage()
    verifier.close()


def test_a_forked_worker_records_into_its_own_file(
    broker: DevBroker, app: AgentWritApp, tmp_path: Path
) -> None:
    # Built in the parent (a pre-forking server's master), used in both.
    verifier = Verifier(broker.url, record_usage=UsageRecording(tmp_path, service_name="svc"))
    with app.agent("orch", "parent", ["read:data:a"]) as parent, app.agent(
        "orch", "child", ["read:data:b"]
    ) as child:
        token = verifier.verify(parent.access_token)
        assert isinstance(token, VerifiedToken)
        assert verifier.require(token, ["read:data:a"]) is None
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                mine = verifier.verify(child.access_token)
                if isinstance(mine, VerifiedToken) and verifier.require(mine, ["read:data:b"]) is None:
                    denied = verifier.require(mine, ["read:data:a"])
                    if denied is not None and denied.status == 403:
                        verifier.close()
                        code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The parent's recorder is untouched by the child.
        assert verifier.require(token, ["read:data:a"]) is None
        verifier.flush_usage()
    by_task = {r["task_id"]: r for r in records(tmp_path)}
    assert len(list(tmp_path.iterdir())) == 2
    assert by_task["parent"]["instance"] == f"pid-{os.getpid()}"
    assert by_task["child"]["instance"] == f"pid-{pid}"
    assert uses(by_task["parent"]) == {("read:data:a", "allowed"): 2}
    assert uses(by_task["child"]) == {("read:data:b", "allowed"): 1, ("read:data:a", "denied"): 1}
    assert by_task["child"]["reason"] == "shutdown"
    verifier.close()
    assert live_tokens(broker) == set()


EXAMPLE = Path(__file__).parents[3] / "examples" / "mcp" / "python" / "mcp_server.py"


def test_the_example_mcp_server_records_its_decisions(
    broker: DevBroker, app: AgentWritApp, tmp_path: Path
) -> None:
    """The Python example server, run as users run it, with
    ``--record-usage``: an allowed and a refused tool call are in the
    record it writes when stopped with SIGTERM."""
    import asyncio
    import signal
    import subprocess
    import sys

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    server = subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--port", "0", "--broker-url", broker.url, "--record-usage", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = ""
        for line in server.stdout:
            if line.startswith("MCP server listening on "):
                url = line.removeprefix("MCP server listening on ").strip()
            if line.startswith("press Ctrl-C"):
                break
        assert url.startswith("http://127.0.0.1:")

        async def calls(token: str) -> list[bool]:
            outcomes = []
            client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
            async with client:
                for customer in ("cust-7291", "cust-9999"):
                    try:
                        async with streamable_http_client(url, http_client=client) as (read, write):
                            async with ClientSession(read, write) as session:
                                await session.initialize()
                                result = await session.call_tool("get_customer_profile", {"customer_id": customer})
                                outcomes.append(not result.is_error)
                    except BaseException as e:  # the refusal is raised by the client
                        if isinstance(e, (KeyboardInterrupt, SystemExit)):
                            raise
                        outcomes.append(False)
            return outcomes

        with app.agent("mcp-orch", "ticket-7", ["read:data:customer-cust-7291"]) as agent:
            assert asyncio.run(calls(agent.access_token)) == [True, False]
            jti = agent.jti
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    (record,) = records(tmp_path)
    assert (record["jti"], record["task_id"], record["reason"]) == (jti, "ticket-7", "shutdown")
    assert uses(record) == {
        ("read:data:customer-cust-7291", "allowed"): 1,
        ("read:data:customer-cust-9999", "denied"): 1,
    }
    assert live_tokens(broker) == set()

"""Every example of docs/python.md runs, as a program of its own, against a
fresh development broker named in its environment; afterwards the broker's
audit trail shows every token it obtained released."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentwrit_rs.testing import DevBroker
from support import live_tokens

DOC = Path(__file__).parents[3] / "docs" / "python.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)


def test_the_reference_has_examples() -> None:
    assert len(BLOCKS) >= 15


def test_no_example_sends_to_a_fixed_port() -> None:
    # A dead broker is a loopback port bound and closed, never a port
    # someone else may be listening on. 8000 only names the in-process
    # MCP example's resource (its test client opens no socket).
    for block in BLOCKS:
        ports = set(re.findall(r"127\.0\.0\.1:(\d+)", block))
        assert ports <= {"8000"}, f"a fixed port in an example: {sorted(ports)}\n{block}"
        if "8000" in ports:
            assert "TestClient(" in block, block


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example-{i + 1}" for i in range(len(BLOCKS))])
def test_example_runs_and_leaves_no_live_token(block: str) -> None:
    with DevBroker() as broker:
        c = broker.universal_credentials()
        env = {
            **os.environ,
            "AGENTWRIT_BROKER_URL": broker.url,
            "AGENTWRIT_CLIENT_ID": c.client_id,
            "AGENTWRIT_CLIENT_SECRET": c.client_secret,
            "AGENTWRIT_ADMIN_SECRET": broker.admin_secret,
        }
        done = subprocess.run(
            [sys.executable, "-c", block],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert live_tokens(broker) == set()


MCP_DOC = Path(__file__).parents[3] / "docs" / "mcp.md"


def test_the_mcp_guides_python_snippets_are_python() -> None:
    # Abridged server set-ups (with `...`): they must at least be valid
    # Python; the example server they come from runs in `cargo xtask mcp`.
    blocks = re.findall(r"^```python\n(.*?)^```", MCP_DOC.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) >= 2
    for block in blocks:
        compile(block, str(MCP_DOC), "exec")

"""The suite's own guards can fail: the live-token check of conftest.py
fails a test that leaves a token alive at its broker, and passes one that
released everything."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_a_test_leaving_a_live_token_fails(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest((HERE / "conftest.py").read_text(encoding="utf-8"))
    monkeypatch.setenv("PYTHONPATH", str(HERE))  # `support`, as here
    pytester.makepyfile(
        test_leaks='''
from agentwrit_rs.testing import DevBroker

SCOPE = ["read:data:x"]


def test_leaves_a_token(broker: DevBroker) -> None:
    broker.universal_app().create_agent("orch", "leaked", SCOPE)


def test_releases_its_token(broker: DevBroker) -> None:
    broker.universal_app().create_agent("orch", "released", SCOPE).release()


def test_a_with_block_releases(broker: DevBroker) -> None:
    with broker.universal_app().agent("orch", "scoped", SCOPE):
        pass
'''
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaves_a_token*", "*left 1 live token*"])

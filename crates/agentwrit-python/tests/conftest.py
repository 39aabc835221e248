"""Fixtures: a fresh development broker per test (in-process, 127.0.0.1:0),
so tests share nothing and may run in any order or in parallel."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import agentwrit_rs
from agentwrit_rs import AgentWritApp
from agentwrit_rs.testing import DevBroker


def pytest_configure(config: pytest.Config) -> None:
    # The suite tests the installed wheel, never the source tree.
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.join(os.path.dirname(here), "python")
    if os.path.abspath(agentwrit_rs.__file__).startswith(source):
        raise pytest.UsageError(
            "agentwrit_rs is imported from the source tree; install the wheel "
            "(cargo xtask python) and run pytest from the tests directory"
        )


@pytest.fixture
def broker() -> Iterator[DevBroker]:
    with DevBroker() as b:
        yield b


@pytest.fixture
def app(broker: DevBroker) -> AgentWritApp:
    return broker.universal_app()

"""Fixtures: a fresh development broker per test (in-process, 127.0.0.1:0),
so tests share nothing and may run in any order or in parallel; and a
check after every test that used one: no token it obtained is alive at
that broker's audit trail."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import agentwrit_rs
from agentwrit_rs import AgentWritApp, _native
from agentwrit_rs.testing import DevBroker
from support import live_tokens

# `pytester`: test_suite_checks.py runs this conftest on tests made to fail it.
pytest_plugins = ("pytester",)

#: The fixtures that give a test a development broker (alone, or first in
#: a tuple). A fixture added to the suite that does belongs here, so the
#: check below covers its tests.
BROKER_FIXTURES = ("broker", "short_lived", "proxied")


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


def brokers_of(request: pytest.FixtureRequest) -> list[DevBroker]:
    """The development brokers the test's fixtures gave it."""
    found: list[DevBroker] = []
    for name in BROKER_FIXTURES:
        if name not in request.fixturenames:
            continue
        value = request.getfixturevalue(name)
        candidates = value if isinstance(value, tuple) else (value,)
        found += [c for c in candidates if isinstance(c, DevBroker)]
    return found


@pytest.fixture(autouse=True)
def no_live_token_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test that leaves a live token at the broker it used.

    Asking for the broker fixtures here (rather than in the signature)
    makes this fixture depend on them, so it ends before they do: the
    brokers still run when the audit trail is read. Calls the test left
    running on the package's runtime (a release handed over by a
    cancellation) are waited for first, boundedly."""
    brokers = brokers_of(request)
    yield
    if not brokers:
        return
    assert _native.drain(60.0), "calls the test left running did not end within 60 s"
    for b in brokers:
        alive = live_tokens(b)
        assert alive == set(), f"the test left {len(alive)} live token(s) at its broker: {sorted(alive)}"

"""Helpers the lifetime tests share: the broker's audit trail read as
"which tokens are still alive", a loopback proxy that holds the broker's
answers back, and a port that accepts and never answers."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from agentwrit_rs import AgentWritOperator
from agentwrit_rs.testing import DevBroker

_JTI = re.compile(r"(?:new_)?jti=([0-9a-f]+)")


def events(broker: DevBroker, **filters: Any) -> list[dict[str, Any]]:
    """Every audit event (oldest first), through the operator API."""
    op = AgentWritOperator(broker.url, broker.admin_secret)
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = op.audit_events(limit=500, offset=offset, **filters)
        out.extend(page["events"])
        if len(page["events"]) < 500:
            return out
        offset += 500


def _unix(timestamp: str) -> float:
    """An audit event's RFC 3339 timestamp (nanoseconds, ``Z``) in Unix
    seconds."""
    found = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", timestamp)
    assert found, f"unexpected audit timestamp {timestamp!r}"
    whole = datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return whole.timestamp() + float(f"0.{found.group(2) or '0'}")


def live_tokens(broker: DevBroker, now: float | None = None) -> set[str]:
    """The agents' current tokens (the registration's, or the last
    renewal's) that the broker never saw released or revoked, and that
    have not expired by ``now`` (Unix seconds; default: the present) on
    the broker's clock: a token issued with ``ttl=N`` (a renewal keeps the
    lifetime) is dead ``N`` seconds after its event at the latest."""
    now = time.time() if now is None else now
    current: dict[str, str] = {}
    tasks: dict[str, str] = {}
    ttls: dict[str, int] = {}
    expired: set[str] = set()
    dead: set[str] = set()
    revoked: set[tuple[str, str]] = set()
    for e in events(broker):
        kind, agent = e["event_type"], e.get("agent_id") or ""
        detail = e.get("detail") or ""
        if kind == "token_revoked":
            level = re.search(r"level=(\w+) target=(\S+)", detail)
            if level:
                revoked.add((level.group(1), level.group(2)))
            continue
        match = _JTI.search(detail)
        if match is None:
            continue
        if kind in ("token_issued", "token_renewed"):
            current[agent] = match.group(1)
            tasks[agent] = e.get("task_id") or ""
            ttl = re.search(r"ttl=(\d+)", detail)
            if ttl:
                ttls[agent] = int(ttl.group(1))
            if agent in ttls and _unix(e["timestamp"]) + ttls[agent] <= now:
                expired.add(match.group(1))
        elif kind == "token_released":
            dead.add(match.group(1))
    return {
        jti
        for agent, jti in current.items()
        if jti not in dead
        and jti not in expired
        and ("token", jti) not in revoked
        and ("agent", agent) not in revoked
        and ("task", tasks.get(agent, "")) not in revoked
    }


def registrations(broker: DevBroker) -> int:
    """How many agents the broker registered."""
    return sum(1 for e in events(broker) if e["event_type"] == "agent_registered")


def eventually(check: Callable[[], bool], limit: float = 30.0) -> bool:
    """Polls ``check`` until it holds or ``limit`` seconds pass (a bounded
    wait for work that finishes on its own, never a fixed sleep)."""
    end = time.monotonic() + limit
    while True:
        if check():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.02)


class DelayProxy:
    """A loopback proxy to ``upstream`` holding each of the broker's
    answers back for ``delay`` seconds."""

    def __init__(self, upstream: str, delay: float) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self._delay = delay
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            self._socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, self._delay), daemon=True
            ).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while data := src.recv(65536):
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass


class Silent:
    """A loopback port that accepts connections and never answers."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._held.append(conn)

    @property
    def accepted(self) -> int:
        with self._lock:
            return len(self._held)

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for c in self._held:
                c.close()

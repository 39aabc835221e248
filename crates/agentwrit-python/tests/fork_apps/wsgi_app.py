"""A WSGI app for `gunicorn --preload`: the app object is created, and
used, in the master before it forks its workers (the process model that
used to share pooled connections between processes). Each request
creates an agent, checks its token twice (the app's connections and the
module-level ``validate``), and releases it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

import agentwrit_rs

URL = os.environ["AGENTWRIT_BROKER_URL"]
APP = agentwrit_rs.AgentWritApp.from_env()
# Used in the master, so its pool holds a live connection when it forks.
with APP.agent("preload", "warm", ["read:data:warm"]) as _warm:
    assert agentwrit_rs.validate(URL, _warm.access_token).valid


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    task = environ.get("PATH_INFO", "/").strip("/") or "root"
    with APP.agent("gunicorn", task, ["read:data:customer-7291"]) as agent:
        mine = APP.validate(agent.access_token)
        theirs = agentwrit_rs.validate(URL, agent.access_token)
        ok = all(
            r.valid and r.claims is not None and r.claims.sub == agent.agent_id
            and r.claims.task_id == task
            for r in (mine, theirs)
        )
        body = {"pid": os.getpid(), "task": task, "agent_id": agent.agent_id, "ok": ok}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]

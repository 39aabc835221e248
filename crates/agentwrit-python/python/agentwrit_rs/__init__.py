"""``agentwrit_rs``: the official AgentWrit Python SDK's API (``agentwrit``
0.3.0) on the Rust core, so ``import agentwrit_rs as agentwrit`` runs a
program written for it unchanged — plus what that SDK lacks: asyncio
(:class:`AsyncAgentWritApp`), objects safe to share across threads (the
GIL is released during broker calls), context managers that release on
every path, automatic renewal, multi-hop delegation, TLS and mutual TLS,
the operator API, and a development broker for tests
(:mod:`agentwrit_rs.testing`).
"""

from __future__ import annotations

import atexit as _atexit

from agentwrit_rs import _native
from agentwrit_rs._aio import (
    AsyncAgent,
    AsyncAgentScope,
    AsyncAgentWritApp,
    AsyncDelegatedToken,
    async_validate,
)
from agentwrit_rs._app import Agent, AgentScope, AgentWritApp, scope_is_subset, validate
from agentwrit_rs.errors import (
    AgentWritError,
    AuthenticationError,
    AuthorizationError,
    CryptoError,
    DecodeError,
    InvalidInputError,
    ProblemResponseError,
    RateLimitError,
    ReleasedError,
    ScopeTypeError,
    TransportError,
)
from agentwrit_rs.models import (
    AgentClaims,
    DelegatedToken,
    DelegationRecord,
    HealthStatus,
    ProblemDetail,
    RegisterResult,
    ValidateResult,
)
from agentwrit_rs.operator import AgentWritOperator, AsyncAgentWritOperator

__version__ = "0.1.0"

# Calls that outlived their callers (a release whose awaiting task was
# cancelled, an agent whose creation was cancelled and is being released)
# finish before the interpreter exits, for at most this many seconds.
_atexit.register(_native.drain, 10.0)

__all__ = [
    "Agent",
    "AgentClaims",
    "AgentScope",
    "AgentWritApp",
    "AgentWritError",
    "AgentWritOperator",
    "AsyncAgent",
    "AsyncAgentScope",
    "AsyncAgentWritApp",
    "AsyncAgentWritOperator",
    "AsyncDelegatedToken",
    "AuthenticationError",
    "AuthorizationError",
    "CryptoError",
    "DecodeError",
    "DelegatedToken",
    "DelegationRecord",
    "HealthStatus",
    "InvalidInputError",
    "ProblemDetail",
    "ProblemResponseError",
    "RateLimitError",
    "RegisterResult",
    "ReleasedError",
    "ScopeTypeError",
    "TransportError",
    "ValidateResult",
    "__version__",
    "async_validate",
    "scope_is_subset",
    "validate",
]

"""The exceptions of ``agentwrit_rs``: the official SDK's hierarchy, same
names and attributes, plus narrower classes for failures the Rust core
tells apart (all subclasses of :class:`AgentWritError`).

Every exception carries ``code`` (a stable machine-readable kind, e.g.
``"authorization"``, ``"transport"``), ``retryable`` (whether the same call
might succeed later unchanged) and ``request_id`` (the broker's, for log
correlation, when it answered); a broker rejection also ``problem`` (its
RFC 7807 body) and ``status_code``. Every exception pickles to the same
class with the same fields, so it crosses ``multiprocessing`` intact.

No exception's message or attributes ever hold a secret: the broker's
problem details carry none, and transport failures name the request step
and the broker URL, not headers or bodies.
"""

from __future__ import annotations

from typing import Any

from agentwrit_rs.models import ProblemDetail

__all__ = [
    "AgentWritError",
    "AuthenticationError",
    "AuthorizationError",
    "CryptoError",
    "DecodeError",
    "InvalidInputError",
    "ProblemResponseError",
    "RateLimitError",
    "ReleasedError",
    "ScopeTypeError",
    "TransportError",
]


class AgentWritError(Exception):
    """Base class of every error the SDK raises."""

    #: The kind of failure, stable across releases.
    code: str = "other"
    #: Whether the same call might succeed later without any change.
    retryable: bool = False
    #: The broker's request id, when the broker answered.
    request_id: str | None = None


class ProblemResponseError(AgentWritError):
    """The broker answered with an RFC 7807 problem (any non-2xx status).

    ``problem`` is the broker's :class:`~agentwrit_rs.models.ProblemDetail`
    (``error_code``, ``detail``, ``request_id``, ...); ``status_code`` the
    HTTP status.
    """

    code = "problem"
    problem: ProblemDetail
    status_code: int

    def __init__(self, problem: ProblemDetail, status_code: int) -> None:
        super().__init__(f"{problem.title}: {problem.detail}")
        self.problem = problem
        self.status_code = status_code
        self.request_id = problem.request_id

    def __reduce__(self) -> tuple[Any, ...]:
        # The constructor's arguments, not the message `args` holds; the
        # other fields (retryable, retry_after, ...) travel in __dict__.
        return (type(self), (self.problem, self.status_code), self.__dict__)


class AuthenticationError(ProblemResponseError):
    """401: wrong, expired, revoked or released credentials."""

    code = "authentication"


class AuthorizationError(ProblemResponseError):
    """403: authenticated, but not allowed (scope beyond a ceiling, widening
    delegation, delegation depth)."""

    code = "authorization"


class RateLimitError(ProblemResponseError):
    """429: too many requests, once the retry policy gave up.

    ``retry_after`` is the broker's ``Retry-After`` in seconds, when sent.
    """

    code = "rate_limited"
    retryable = True
    retry_after: float | None = None


class TransportError(AgentWritError):
    """The broker could not be reached or the exchange failed: connection
    refused, timeout (the call's ``timeout`` passed), DNS, TLS handshake.
    The message names the broker URL."""

    code = "transport"


class CryptoError(AgentWritError):
    """An Ed25519 key, signature or nonce could not be used."""

    code = "crypto"


class InvalidInputError(AgentWritError, ValueError):
    """An argument was refused before anything was sent (an empty scope
    part, a non-positive TTL, a malformed URL, ...)."""

    code = "invalid_input"


class ScopeTypeError(InvalidInputError, TypeError):
    """A ``str`` was passed where a list of scopes is expected
    (``create_agent(..., "read:data:x")`` instead of ``["read:data:x"]``).
    Both an :class:`InvalidInputError` (so ``except AgentWritError`` in a
    program written for the official SDK, where the broker refuses the
    request, still catches it) and a ``TypeError``."""


class ReleasedError(AgentWritError):
    """The agent has been released; its token can no longer be used."""

    code = "released"


class DecodeError(AgentWritError):
    """The broker's answer was not what the contract says."""

    code = "decode"

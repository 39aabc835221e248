"""The exceptions of ``agentwrit_rs``: the official SDK's hierarchy, same
names and attributes, plus three narrower classes for failures the Rust
core tells apart (all subclasses of :class:`AgentWritError`).

No exception's message or attributes ever hold a secret: the broker's
problem details carry none, and transport failures name the request
step, not its headers or body.
"""

from __future__ import annotations

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
    "TransportError",
]


class AgentWritError(Exception):
    """Base class of every error the SDK raises."""


class ProblemResponseError(AgentWritError):
    """The broker answered with an RFC 7807 problem (any non-2xx status).

    ``problem`` is the broker's :class:`~agentwrit_rs.models.ProblemDetail`
    (``error_code``, ``detail``, ``request_id``, ...); ``status_code`` the
    HTTP status.
    """

    problem: ProblemDetail
    status_code: int

    def __init__(self, problem: ProblemDetail, status_code: int) -> None:
        super().__init__(f"{problem.title}: {problem.detail}")
        self.problem = problem
        self.status_code = status_code


class AuthenticationError(ProblemResponseError):
    """401: wrong, expired, revoked or released credentials."""


class AuthorizationError(ProblemResponseError):
    """403: authenticated, but not allowed (scope beyond a ceiling, widening
    delegation, delegation depth)."""


class RateLimitError(ProblemResponseError):
    """429: too many requests, once the retry policy gave up.

    ``retry_after`` is the broker's ``Retry-After`` in seconds, when sent.
    """

    retry_after: float | None = None


class TransportError(AgentWritError):
    """The broker could not be reached or the exchange failed: connection
    refused, timeout, DNS, TLS handshake."""


class CryptoError(AgentWritError):
    """An Ed25519 key, signature or nonce could not be used."""


class InvalidInputError(AgentWritError, ValueError):
    """An argument was refused before anything was sent (an empty scope
    part, a non-positive TTL, a malformed URL, ...)."""


class ReleasedError(AgentWritError):
    """The agent has been released; its token can no longer be used."""


class DecodeError(AgentWritError):
    """The broker's answer was not what the contract says."""

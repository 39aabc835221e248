"""What every client's constructor shares: the settings (timeout,
User-Agent, TLS), private keys, and scope lists."""

from __future__ import annotations

import os
from collections.abc import Iterable

from agentwrit_rs import _native

Pem = str | bytes


def _pem(value: Pem | None) -> bytes | None:
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


def _read(path: str | os.PathLike[str] | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def settings(
    *,
    timeout: float | None,
    user_agent: str | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    ca_pem: Pem | None = None,
    client_cert: str | os.PathLike[str] | None = None,
    client_key: str | os.PathLike[str] | None = None,
    client_cert_pem: Pem | None = None,
    client_key_pem: Pem | None = None,
    https_only: bool = False,
) -> _native.Settings:
    """The native settings: files read, PEM text as bytes, checked once."""
    ca = _pem(ca_pem)
    if ca_file is not None:
        ca = (ca or b"") + (_read(ca_file) or b"")
    cert = _pem(client_cert_pem) if client_cert_pem is not None else _read(client_cert)
    key = _pem(client_key_pem) if client_key_pem is not None else _read(client_key)
    return _native.Settings(
        timeout=timeout,
        user_agent=user_agent,
        ca_pem=ca,
        client_cert_pem=cert,
        client_key_pem=key,
        https_only=https_only,
    )


def key_seed(private_key: object | None) -> bytes | None:
    """The 32-byte Ed25519 seed of ``private_key``: raw bytes, or a
    ``cryptography`` ``Ed25519PrivateKey`` (anything with
    ``private_bytes_raw()``)."""
    if private_key is None:
        return None
    if isinstance(private_key, (bytes, bytearray, memoryview)):
        return bytes(private_key)
    raw = getattr(private_key, "private_bytes_raw", None)
    if callable(raw):
        value = raw()
        if isinstance(value, bytes):
            return value
    from agentwrit_rs.errors import CryptoError

    raise CryptoError(
        "private_key must be 32 raw bytes or an Ed25519 private key with private_bytes_raw()"
    )


def scopes(value: Iterable[str], name: str) -> list[str]:
    """``value`` as a list of scopes; a ``str`` (one scope not wrapped in a
    list, which would otherwise be read as one scope per character) is
    refused with :class:`~agentwrit_rs.errors.ScopeTypeError`."""
    if isinstance(value, (str, bytes)):
        from agentwrit_rs.errors import ScopeTypeError

        raise ScopeTypeError(
            f"{name} must be a list of scopes, not a {type(value).__name__}: "
            f"write [{value!r}] for a single scope"
        )
    return list(value)

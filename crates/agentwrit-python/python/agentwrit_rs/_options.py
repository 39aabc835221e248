"""Keyword arguments shared by every client: timeout, User-Agent and TLS."""

from __future__ import annotations

import os
from typing import Any

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


def tls_kwargs(
    *,
    ca_file: str | os.PathLike[str] | None,
    ca_pem: Pem | None,
    client_cert: str | os.PathLike[str] | None,
    client_key: str | os.PathLike[str] | None,
    client_cert_pem: Pem | None,
    client_key_pem: Pem | None,
    https_only: bool,
) -> dict[str, Any]:
    """The native constructors' TLS arguments: files read, PEM text as bytes."""
    ca = _pem(ca_pem)
    if ca_file is not None:
        ca = (ca or b"") + (_read(ca_file) or b"")
    cert = _pem(client_cert_pem) if client_cert_pem is not None else _read(client_cert)
    key = _pem(client_key_pem) if client_key_pem is not None else _read(client_key)
    return {
        "ca_pem": ca,
        "client_cert_pem": cert,
        "client_key_pem": key,
        "https_only": https_only,
    }


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

"""Identifiers: time-ordered, URL-safe strings (ULID layout, Crockford base32)."""

from __future__ import annotations

import os
import random
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(now_ms: int | None = None) -> str:
    """A 26-character id whose first 10 characters sort by creation time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return _encode(ms, 10) + _encode(int.from_bytes(os.urandom(10), "big"), 16)


_requests = random.Random(os.urandom(16))


def request_id() -> str:
    """An id for one HTTP request: the same layout, from a fast generator (it needs to be unique, not secret).

    `os.urandom` is a system call; on a busy web process's event loop it is one more point where
    the GIL is given up and may take a while to come back.
    """
    return _encode(int(time.time() * 1000), 10) + _encode(_requests.getrandbits(80), 16)


def seeded_id(rng: random.Random, now_ms: int) -> str:
    """A deterministic id for demo data: same seed, same ids."""
    return _encode(now_ms, 10) + _encode(rng.getrandbits(80), 16)


def new_secret(nbytes: int = 32) -> str:
    """An unguessable token, for bearer tokens and anonymous cart ids."""
    return secrets.token_urlsafe(nbytes)

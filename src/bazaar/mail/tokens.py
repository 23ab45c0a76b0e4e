"""Unsubscribe links: an address and a kind of email (or "all"), signed with the secret key; no login needed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from bazaar.mail.errors import InvalidUnsubscribeLink

ALL = "all"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, email: str, kind: str) -> str:
    mac = hmac.new(secret.encode(), f"unsubscribe:{email}:{kind}".encode(), hashlib.sha256).digest()
    return _b64(mac[:18])


def unsubscribe_token(*, secret: str, email: str, kind: str) -> str:
    email = email.strip().lower()
    return f"{_b64(email.encode())}.{kind}.{_signature(secret, email, kind)}"


def read_unsubscribe_token(*, secret: str, token: str, kinds: tuple[str, ...]) -> tuple[str, str]:
    """(email, kind) of a genuine token; anything else raises InvalidUnsubscribeLink."""
    parts = token.split(".") if 0 < len(token) <= 1200 else []
    if len(parts) != 3:
        raise InvalidUnsubscribeLink()
    try:
        email = _unb64(parts[0]).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidUnsubscribeLink() from exc
    kind = parts[1]
    if kind not in (*kinds, ALL) or not hmac.compare_digest(parts[2], _signature(secret, email, kind)):
        raise InvalidUnsubscribeLink()
    return email, kind

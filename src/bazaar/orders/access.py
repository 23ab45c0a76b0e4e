"""Guests' access links: a guest's order (and its checkout) is shown to whoever holds the token made for it.

The token is an HMAC of the checkout id under the deployment's secret key, so nothing is stored, a replayed
checkout answers the same token, and every node can check it. Rotating BAZAAR_SECRET_KEY retires old links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def access_token_for(*, secret: str, checkout_id: str) -> str:
    digest = hmac.new(secret.encode(), f"guest-order:{checkout_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def access_token_matches(*, secret: str, checkout_id: str, token: str | None) -> bool:
    if not token or len(token) > 128:
        return False
    return hmac.compare_digest(access_token_for(secret=secret, checkout_id=checkout_id).encode(), token.encode())

"""Admission tokens: a signed "this buyer may hold units of this sale until then", checked without a lookup.

`<sale>.<ticket>.<buyer>.<until, unix seconds>.<HMAC-SHA256 of those under the secret key>`, base64url.
Rotating BAZAAR_SECRET_KEY retires every token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from bazaar.flash_sales.errors import AdmissionExpired, AdmissionInvalid

_SALT = b"bazaar.flash-sales.admission.v1:"


@dataclass(frozen=True)
class Admission:
    sale_id: str
    ticket_id: str
    buyer_id: str
    until: datetime


def _mac(secret: str, message: bytes) -> str:
    digest = hmac.new(_SALT + secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(secret: str, admission: Admission) -> str:
    message = f"{admission.sale_id}.{admission.ticket_id}.{admission.buyer_id}.{int(admission.until.timestamp())}"
    return f"{message}.{_mac(secret, message.encode())}"


def verify(secret: str, token: str, *, sale_id: str, buyer_id: str, now: datetime) -> Admission:
    """The admission the token carries; AdmissionInvalid if it is forged or another's, AdmissionExpired if late."""
    parts = token.split(".")
    if len(parts) != 5 or len(token) > 300:
        raise AdmissionInvalid()
    message = ".".join(parts[:4])
    if not hmac.compare_digest(_mac(secret, message.encode()), parts[4]):
        raise AdmissionInvalid()
    token_sale, ticket_id, token_buyer, until_text = parts[:4]
    if token_sale != sale_id or token_buyer != buyer_id or not until_text.isdigit():
        raise AdmissionInvalid()
    until = datetime.fromtimestamp(int(until_text), tz=UTC)
    if until <= now:
        raise AdmissionExpired(admitted_until=until.isoformat())
    return Admission(sale_id, ticket_id, buyer_id, until)


def sale_of(token: str) -> str:
    """The sale a token names (unverified: only to find which sale to verify it against)."""
    sale_id = token.split(".", 1)[0]
    if not sale_id or len(sale_id) > 32:
        raise AdmissionInvalid()
    return sale_id

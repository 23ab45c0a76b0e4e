"""Accounts events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from bazaar.kernel.events import Event


@dataclass(frozen=True)
class UserRegistered(Event):
    topic: ClassVar[str] = "accounts.user_registered.v1"
    id: str
    email: str


@dataclass(frozen=True)
class SellerCreated(Event):
    topic: ClassVar[str] = "accounts.seller_created.v1"
    id: str
    user_id: str
    display_name: str

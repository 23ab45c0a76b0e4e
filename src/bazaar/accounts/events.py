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


@dataclass(frozen=True)
class GuestClaimed(Event):
    """Someone registered with an email that had checked out as a guest: its orders are the account's now."""

    topic: ClassVar[str] = "accounts.guest_claimed.v1"
    id: str
    email: str


@dataclass(frozen=True)
class SellerSuspended(Event):
    topic: ClassVar[str] = "accounts.seller_suspended.v1"
    id: str
    user_id: str
    reason: str


@dataclass(frozen=True)
class SellerReinstated(Event):
    topic: ClassVar[str] = "accounts.seller_reinstated.v1"
    id: str
    user_id: str

"""Address book schemas: an address is a shipping address plus an optional label and the default flag."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bazaar.shipping.addresses import ShippingAddress

MAX_ADDRESSES = 50  # per buyer
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country")


def _label(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


class AddressCreate(ShippingAddress):
    label: str | None = Field(default=None, max_length=60, description="e.g. Home, Work")
    default: bool = False

    _clean_label = field_validator("label")(_label)

    def address(self) -> ShippingAddress:
        return ShippingAddress.model_validate(self.model_dump(include=set(ADDRESS_FIELDS)))


class AddressUpdate(BaseModel):
    """Any subset of the fields; the address that results is checked as a whole."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=200)
    line1: str | None = Field(default=None, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=120)
    region: str | None = Field(default=None, max_length=80)
    postal_code: str | None = Field(default=None, max_length=16)
    country: str | None = Field(default=None, max_length=2)
    label: str | None = Field(default=None, max_length=60)
    default: bool | None = None


class AddressRead(ShippingAddress):
    model_config = ConfigDict(extra="ignore")

    id: str
    label: str | None
    default: bool
    created_at: datetime
    updated_at: datetime

    def address(self) -> ShippingAddress:
        return ShippingAddress.model_validate(self.model_dump(include=set(ADDRESS_FIELDS)))

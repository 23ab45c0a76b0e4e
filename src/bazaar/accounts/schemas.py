"""Accounts schemas: what the API reads and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from bazaar.accounts.passwords import password_problem


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=8, max_length=200)
    name: str = Field(min_length=1, max_length=200)

    @field_validator("password")
    @classmethod
    def _guessable(cls, value: str) -> str:
        problem = password_problem(value)
        if problem:
            raise ValueError(f"password {problem}")
        return value

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


# Logging in looks the address up and answers 401 when no account has it, so it takes any address's shape; only
# registering holds an address to email-validator's rules (deliverable domains, no reserved names such as .test).
LOGIN_EMAIL = r"^[^@\s\u0000-\u001f\u007f-\u009f]+@[^@\s\u0000-\u001f\u007f-\u009f]+$"


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=254, pattern=LOGIN_EMAIL)
    password: str = Field(min_length=1, max_length=200)
    cart_id: str | None = Field(default=None, max_length=64)


class UserRead(BaseModel):
    id: str
    email: str
    name: str
    roles: list[str]
    seller_id: str | None = None
    created_at: datetime
    is_guest: bool = False


class LoginResult(BaseModel):
    token: str
    user: UserRead
    cart_id: str | None = None


class SellerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str = Field(min_length=2, max_length=120)

    @field_validator("display_name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 2:
            raise ValueError("display_name must have at least 2 characters")
        return value


class SellerRead(BaseModel):
    id: str
    user_id: str
    display_name: str
    rating: float
    rating_count: int
    created_at: datetime
    status: str = "active"
    status_reason: str | None = None
    status_changed_at: datetime | None = None


class Principal(BaseModel):
    """The authenticated caller, with roles read at request time."""

    user_id: str
    email: str
    name: str
    roles: list[str]
    seller_id: str | None
    token_id: str
    created_at: datetime

    def has_role(self, role: str) -> bool:
        return role in self.roles

"""Password hashing with Argon2id; hashing runs in a thread so the event loop keeps serving."""

from __future__ import annotations

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# A fixed hash to verify against when the email is unknown, so timing does not reveal accounts.
_FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


class Passwords:
    def __init__(self, profile: str = "default") -> None:
        self._hasher = _FAST if profile == "fast" else PasswordHasher()
        self._dummy = self._hasher.hash("not-a-real-password")

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
            except (VerificationError, InvalidHashError):
                return False

        return await anyio.to_thread.run_sync(check)

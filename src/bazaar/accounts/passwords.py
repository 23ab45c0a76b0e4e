"""Password hashing with Argon2id; hashing runs in a thread so the event loop keeps serving."""

from __future__ import annotations

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MIN_DISTINCT = 4
# The passwords tried first by anyone guessing (the classic top of every leaked list), lower-cased.
COMMON = frozenset(
    """password password1 password12 password123 passw0rd p@ssw0rd p@ssword qwerty qwerty123 qwertyuiop
    qwertyui asdfghjk asdfghjkl zxcvbnm zxcvbnm1 iloveyou letmein letmein1 welcome welcome1 admin123 administrator
    football baseball basketball superman batman monkey123 dragon123 sunshine princess trustno1 abc12345
    abcd1234 1q2w3e4r 1qaz2wsx zaq12wsx qazwsxedc changeme default123 secret123 master123 starwars
    whatever computer internet shadow123 michael1 jennifer charlie1 bazaar123""".split()
)
_RUNS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def password_problem(password: str) -> str | None:
    """Why a new password is too easy to guess, or None: short, blank, few distinct characters, a straight run
    of keys or letters (12345678, abcdefgh), or one of the most common passwords."""
    if len(password) < MIN_LENGTH:
        return f"must have at least {MIN_LENGTH} characters"
    if not password.strip():
        return "must not be only spaces"
    lowered = password.lower()
    if len(set(lowered)) < MIN_DISTINCT:
        return f"must use at least {MIN_DISTINCT} different characters"
    if any(lowered in run or lowered in run[::-1] for run in _RUNS):
        return "must not be a run of keys or letters"
    if lowered in COMMON or lowered.rstrip("0123456789!") in COMMON:
        return "is one of the most common passwords"
    return None


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

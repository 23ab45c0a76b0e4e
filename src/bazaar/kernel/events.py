"""The Event base: small frozen dataclasses, past tense, published through the outbox."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Subclasses set `topic` (`<context>.<event>.v<N>`) and `key` names the aggregate id field."""

    topic: ClassVar[str] = "event.v1"
    key_field: ClassVar[str] = "id"

    def key(self) -> str:
        return str(getattr(self, self.key_field))

    def payload(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

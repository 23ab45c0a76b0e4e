"""Pure arithmetic of the ledger: commission in basis points and splitting an amount by weights exactly."""

from __future__ import annotations

from collections.abc import Mapping


def commission(gross: int, bps: int) -> int:
    """The marketplace's cut of `gross` minor units at `bps` basis points, rounded half up."""
    if gross <= 0 or bps <= 0:
        return 0
    return (gross * bps + 5_000) // 10_000


def split(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`total` shared in proportion to `weights` (largest remainder): the parts always add up to `total`.
    With no positive weight, the first key takes it all."""
    keys = list(weights)
    if not keys:
        return {}
    positive = {k: max(0, w) for k, w in weights.items()}
    whole = sum(positive.values())
    if whole == 0:
        return {k: (total if i == 0 else 0) for i, k in enumerate(keys)}
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    parts = {k: magnitude * w // whole for k, w in positive.items()}
    remainders = sorted(keys, key=lambda k: (-(magnitude * positive[k] % whole), keys.index(k)))
    for k in remainders[: magnitude - sum(parts.values())]:
        parts[k] += 1
    return {k: sign * v for k, v in parts.items()}

"""Seeded reviews: the demo catalog's ratings are written reviews, so a product's stars, histogram and review list
agree. Drawn from the product's id in their own random stream (the catalog's other values do not move)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

MAX_SEEDED_REVIEWS = 8  # per product: enough to read, cheap at a million products
DAY_MS = 86_400_000
NAMES = (
    "Ava", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Maya",
    "Noah", "Olga", "Priya", "Quentin", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Yusuf", "Zoe",
)  # fmt: skip
INITIALS = "ABCDEFGHJKLMNOPRSTVW"
TITLES = {
    1: ("Disappointed", "Would not buy again", "Broke quickly"),
    2: ("Not great", "Expected more", "Just about works"),
    3: ("Okay for the price", "Does the job", "Mixed feelings"),
    4: ("Very good", "Happy with it", "Good value"),
    5: ("Excellent", "Love it", "Exactly what I wanted", "Five stars"),
}
BODIES = {
    1: "The {noun} stopped working after a week and the finish felt cheap.",
    2: "The {noun} works, but the quality is below what the photos suggest.",
    3: "A decent {noun}. Nothing special, nothing wrong either.",
    4: "Solid {noun}, well made and arrived quickly. Minor quibbles only.",
    5: "This {noun} is great: well made, works perfectly and arrived early. Would recommend.",
}


def seeded_reviews(
    product_id: str, id_time: str, rating: float, rating_count: int, created_ms: int, stamp: Callable[[int], Any],
    noun: str, new_id: Callable[[random.Random], str],
) -> tuple[list[tuple[Any, ...]], float, int, dict[str, int]]:  # fmt: skip
    """Review rows (in COLUMNS["reviews"] order) near the seeded average; answers (rows, average, count, histogram)."""
    count = min(rating_count, MAX_SEEDED_REVIEWS)
    histogram = {str(n): 0 for n in range(1, 6)}
    if count == 0:
        return [], 0.0, 0, histogram
    rng = random.Random(f"reviews:{product_id}")
    draw = rng.random
    rows = []
    for _ in range(count):
        stars = min(5, max(1, round(rng.gauss(rating, 0.8))))
        histogram[str(stars)] += 1
        at = stamp(created_ms + int(draw() * 30 * DAY_MS) + DAY_MS)
        name = f"{NAMES[int(draw() * len(NAMES))]} {INITIALS[int(draw() * len(INITIALS))]}."
        titles = TITLES[stars]
        title = titles[int(draw() * len(titles))]
        body = BODIES[stars].format(noun=noun.lower())
        review_id = id_time + new_id(rng)
        rows.append((review_id, product_id, None, name, stars, title, body, True, "published", None, at, at))
    average = round(sum(int(s) * n for s, n in histogram.items()) / count, 4)
    return rows, average, count, histogram

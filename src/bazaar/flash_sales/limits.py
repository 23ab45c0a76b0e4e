"""Flash-sale limits in one place, used by the schemas and the services alike."""

from __future__ import annotations

MAX_UNITS = 1_000_000
MAX_PER_BUYER = 100
MAX_WINDOW_DAYS = 14
MAX_LEAD_DAYS = 365  # how far ahead a sale may be scheduled
START_SLACK_SECONDS = 60  # a start this much in the past is taken as "now" (clocks and slow forms)
MAX_PRICE = 100_000_000_00

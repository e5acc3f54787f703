"""What Hyperliquid's public and streaming clients share: its name and its funding
schedule (every hour, at an hourly rate)."""

from __future__ import annotations

NAME = __name__.split(".")[-2]
INTERVAL_H = 1.0

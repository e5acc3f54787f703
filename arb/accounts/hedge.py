"""Positions across venues, matched by asset into hedged books.

A carry trade is a long on one venue and a short of the same size on
another. Per asset this adds up every leg in coins (contract sizes and 1000x
symbols already converted by the clients): the net is the delta the desk is
exposed to. A book is hedged when it has both sides and the net is within
`TOLERANCE` of the larger side; a one-sided book is an unhedged leg.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from arb.accounts.models import FundingPayment, Position

TOLERANCE = 0.02  # net within 2 % of the larger side counts as hedged

Status = Literal["hedged", "imbalanced", "unhedged"]


@dataclass(frozen=True, slots=True)
class Book:
    asset: str
    legs: tuple[Position, ...]  # longs first, then shorts, each by size

    @property
    def long_size(self) -> float:
        return sum(p.size for p in self.legs if p.side == "long")

    @property
    def short_size(self) -> float:
        return sum(p.size for p in self.legs if p.side == "short")

    @property
    def net_size(self) -> float:
        return self.long_size - self.short_size

    @property
    def net_usd(self) -> float | None:
        """Net delta at each leg's mark; None when a leg has no mark."""
        values = [p.notional for p in self.legs]
        return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

    @property
    def gross_usd(self) -> float:
        return sum(abs(p.notional or 0.0) for p in self.legs)

    @property
    def unrealised_pnl(self) -> float:
        return sum(p.unrealised_pnl or 0.0 for p in self.legs)

    @property
    def status(self) -> Status:
        larger = max(self.long_size, self.short_size)
        if self.long_size == 0 or self.short_size == 0:
            return "unhedged"
        return "hedged" if abs(self.net_size) <= TOLERANCE * larger else "imbalanced"

    @property
    def venues(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.venue for p in self.legs))


def books(positions: Iterable[Position]) -> list[Book]:
    """Positions grouped by asset; the largest exposure first."""
    by_asset: dict[str, list[Position]] = defaultdict(list)
    for p in positions:
        by_asset[p.asset].append(p)
    out = [
        Book(asset, tuple(sorted(legs, key=lambda p: (p.side != "long", -p.size, p.venue))))
        for asset, legs in by_asset.items()
    ]
    return sorted(out, key=lambda b: (-b.gross_usd, b.asset))


def funding_totals(payments: Iterable[FundingPayment]) -> dict[str, dict[str, float]]:
    """venue -> asset -> net funding received (negative when paid), assets by amount."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for p in payments:
        sums[p.venue][p.asset] += p.amount
    return {
        venue: dict(sorted(assets.items(), key=lambda kv: (-kv[1], kv[0])))
        for venue, assets in sorted(sums.items())
    }

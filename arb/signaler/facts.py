"""The computed figures a signal is grounded in, and their JSON for the model.

The math decides: every number here comes from `arb.spread`, and the carry at the
desk's notional from `arb.depth.size_carry` (the figures /size shows); the model is
only asked to explain them. Units are in the key names (`_pct`, `_bps`,
`_h`, `_usd`) so that neither a model nor a reader has to guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from arb.depth import SizedCarry
from arb.history import PairStats
from arb.models import Opportunity, Quote


@dataclass(frozen=True, slots=True)
class Facts:
    opportunity: Opportunity
    now: float  # seconds since epoch
    history: tuple[PairStats, ...] = ()  # the pair's recent record, when stored
    sized: SizedCarry | None = None  # the carry at the desk's notional, when its books came

    @property
    def asset(self) -> str:
        return self.opportunity.asset

    @property
    def adverse_basis_bps(self) -> float:
        """What the entry prices cost: shorting below where we buy. Zero when favourable."""
        basis = self.opportunity.basis_bps
        return max(0.0, -basis) if basis is not None else 0.0

    @property
    def breakeven_with_basis_h(self) -> float | None:
        o = self.opportunity
        if o.spread_hourly <= 0:
            return None
        return (o.fees_round_trip + self.adverse_basis_bps / 10_000) / o.spread_hourly

    @property
    def thinnest_leg(self) -> Quote | None:
        """The leg with the smaller 24 h turnover; None when no leg reports one."""
        legs = [q for q in (self.opportunity.long, self.opportunity.short) if q.turnover_24h]
        return min(legs, key=lambda q: q.turnover_24h or 0.0) if legs else None

    def cache_key(self) -> tuple[object, ...]:
        """Figures rounded so that an answer is reused while they barely move."""
        o = self.opportunity
        basis = None if o.basis_bps is None else round(o.basis_bps / 5)
        return (
            o.asset,
            o.long_venue,
            o.short_venue,
            round(o.spread_8h * 10_000 * 2),  # half basis points
            round(o.apr_net * 100),  # whole APR percent
            basis,  # 5 bp steps
            *self._size_key(),
        )

    def _size_key(self) -> tuple[object, ...]:
        """The sizing, rounded likewise: whole APR percent, capacity to two figures."""
        s = self.sized
        if s is None:
            return ()
        apr = None if s.apr_net is None else round(s.apr_net * 100)
        return (s.notional_usd, apr, float(f"{s.capacity_usd:.2g}"), s.complete)


def _sig(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else float(f"{x:.{digits}g}")


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _leg(q: Quote, now: float) -> dict[str, Any]:
    minutes = None if q.next_funding_time is None else (q.next_funding_time / 1000 - now) / 60
    return {
        "venue": q.venue,
        "symbol": q.symbol,
        "funding_rate_pct": _sig(q.rate * 100),
        "interval_h": q.interval_h,
        "rate_per_8h_pct": _sig(q.rate_8h * 100),
        "apr_pct": _sig(q.apr * 100, 4),
        "next_funding_utc": _iso(q.next_funding_time),
        "minutes_to_next_funding": None if minutes is None else round(max(0.0, minutes)),
        "mark_price": _sig(q.unit_price),
        "turnover_24h_usd": _sig(q.turnover_24h, 4),
        "open_interest_usd": _sig(q.open_interest_value, 4),
    }


def _size(s: SizedCarry | None) -> dict[str, Any]:
    """The carry at the desk's notional on the legs' books; nothing when they failed.
    Figures the books cannot fill whole are left out, never extrapolated."""
    if s is None:
        return {}
    return {
        "notional_usd": s.notional_usd,
        "book_fills_notional": s.complete,
        "fillable_usd": round(s.fillable_usd),
        "entry_slippage_bps": _sig(s.entry_slippage_bps, 4),
        "apr_net_at_size_pct": None if s.apr_net is None else _sig(s.apr_net * 100, 4),
        "breakeven_at_size_h": _sig(s.breakeven_h, 4),
        "capacity_usd": round(s.capacity_usd),
        "capacity_max_slippage_bps": s.max_slippage_bps,
    }


def facts_json(f: Facts, rule_verdict: str) -> dict[str, Any]:
    """What the model is told: both legs, the carry, and the rules' own verdict."""
    o = f.opportunity
    out: dict[str, Any] = {
        "asset": o.asset,
        "direction": {"long": o.long_venue, "short": o.short_venue},
        "long_leg": _leg(o.long, f.now),
        "short_leg": _leg(o.short, f.now),
        "spread_per_8h_pct": _sig(o.spread_8h * 100),
        "apr_gross_pct": _sig(o.apr_gross * 100, 4),
        "apr_net_pct": _sig(o.apr_net * 100, 4),
        "holding_horizon_h": o.horizon_h,
        "fees_round_trip_pct": _sig(o.fees_round_trip * 100),
        "breakeven_h": _sig(o.breakeven_h, 4),
        "basis_bps": _sig(o.basis_bps, 4),
        "breakeven_with_adverse_basis_h": _sig(f.breakeven_with_basis_h, 4),
        **_size(f.sized),
        "rule_based_verdict": rule_verdict,
    }
    history = [h for h in f.history if h.avg_spread_8h is not None]
    if history:
        out["recent_history_of_this_pair"] = [
            {
                "window_h": h.window_h,
                "hours_with_data": round(h.covered_h, 1),
                "avg_spread_per_8h_pct": _sig(h.avg_spread_8h * 100),
                "min_spread_per_8h_pct": _sig((h.min_spread_8h or 0.0) * 100),
                "share_of_time_same_direction": round(h.share_positive or 0.0, 3),
                "carry_earned_pct_before_fees": _sig(h.earned * 100),
            }
            for h in history
        ]
    return out

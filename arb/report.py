"""What `scan`, `funding` and `size` answer, as data and as JSON (plain decimals, the
figures of the README's "The numbers"), and the JSON of the risk watch's report (`arb.risk`).

These are the plain functions behind both the CLI and the bot: a snapshot in,
a report out. Text rendering lives in `arb.render`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from arb.books import LegBook, SizeParams
from arb.carry import LeftOut, carry_in
from arb.depth import Fill, SizedCarry
from arb.market import MarketSnapshot, VenueHealth
from arb.models import Opportunity, Quote
from arb.ranking import ranked
from arb.risk import AccountRisk, BookRisk, LegRisk, RiskReport
from arb.spread import ScanParams


@dataclass(frozen=True, slots=True)
class ScanReport:
    opportunities: list[Opportunity]
    total: int  # before --top
    params: ScanParams
    health: tuple[VenueHealth, ...]  # of the venues fetched
    taken_at: float


@dataclass(frozen=True, slots=True)
class FundingReport:
    asset: str
    quotes: list[Quote]  # every venue's, highest hourly first: the natural short leg on top
    best: Opportunity | None  # `arb.carry.best_carry`: the pair /scan ranks for the asset
    left_out: tuple[LeftOut, ...]  # legs in `quotes` the best pair may not use, and why
    params: ScanParams
    health: tuple[VenueHealth, ...]
    taken_at: float


@dataclass(frozen=True, slots=True)
class Sizing:
    """A carry sized against its legs' books, or the legs whose book could not be had."""

    opportunity: Opportunity
    params: SizeParams
    sized: SizedCarry | None  # None: a leg's book failed (`failed` says which and why)
    failed: tuple[LegBook, ...] = ()


@dataclass(frozen=True, slots=True)
class SizeReport:
    """/size: the asset's best carry (as /funding and /signal name it) at a notional."""

    asset: str
    params: SizeParams  # its notional_usd is the one asked
    best: Opportunity | None  # None: fewer than two venues have a leg that passes
    left_out: tuple[LeftOut, ...]  # legs the best pair may not use, and why
    sizing: Sizing | None  # None when there is no best pair
    health: tuple[VenueHealth, ...]  # of the venues the snapshot fetched
    taken_at: float

    @property
    def notional_usd(self) -> float:
        return self.params.notional_usd

    @property
    def sized(self) -> SizedCarry | None:
        return None if self.sizing is None else self.sizing.sized

    @property
    def failed(self) -> tuple[LegBook, ...]:
        return () if self.sizing is None else self.sizing.failed


def scan_report(snapshot: MarketSnapshot, params: ScanParams, top: int | None = None) -> ScanReport:
    found = ranked(snapshot, params)  # the book's warm ranking: `spread.scan`'s answer
    shown = found if top is None else found[:top]
    return ScanReport(shown, len(found), params, snapshot.health, snapshot.taken_at)


def funding_report(snapshot: MarketSnapshot, asset: str, params: ScanParams) -> FundingReport:
    """Every venue's quote for one asset, the best carry between them (`arb.carry`) and
    the legs it leaves out, with why.

    Raises ValueError when `asset` cannot be an asset name at all.
    """
    carry = carry_in(snapshot, asset, params)
    return FundingReport(
        carry.asset,
        list(carry.quotes),
        carry.best,
        carry.left_out,
        params,
        snapshot.health,
        snapshot.taken_at,
    )


# --- JSON -------------------------------------------------------------------


# The attributes a leg's and an opportunity's JSON carry, in the output's order.
LEG_FIELDS = (
    "venue", "symbol", "rate", "interval_h", "hourly", "rate_8h", "apr", "next_funding_time",
    "mark_price", "multiplier", "unit_price", "turnover_24h", "open_interest_value", "settle",
)  # fmt: skip
OPPORTUNITY_FIELDS = (
    "asset", "long_venue", "short_venue", "spread_hourly", "spread_8h", "apr_gross",
    "apr_net", "horizon_h", "fees_round_trip", "breakeven_h", "basis_bps",
)  # fmt: skip


def fields_json(obj: object, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


def leg_json(q: Quote, now: float) -> dict[str, Any]:
    return {**fields_json(q, LEG_FIELDS), "age_s": round(max(0.0, now - q.received_at), 3)}


def opportunity_json(o: Opportunity, now: float) -> dict[str, Any]:
    return {
        **fields_json(o, OPPORTUNITY_FIELDS),
        "long": leg_json(o.long, now),
        "short": leg_json(o.short, now),
    }


def left_out_json(x: LeftOut) -> dict[str, Any]:
    return {"venue": x.quote.venue, "symbol": x.quote.symbol, "reason": x.reason}


def status_json(h: VenueHealth) -> dict[str, Any]:
    return {
        **fields_json(h, ("venue", "ok", "quote_count")),
        "error": h.last_error,
        "warnings": list(h.warnings),
        "elapsed_s": round(h.elapsed_s, 4),
    }


def params_json(p: ScanParams) -> dict[str, Any]:
    return {
        **fields_json(p, ("horizon_h", "min_apr", "min_turnover_24h", "max_quote_age_s")),
        "taker_fees": dict(sorted(p.taker_fees.items())),
    }


def scan_json(r: ScanReport) -> dict[str, Any]:
    return {
        "taken_at": r.taken_at,
        "params": params_json(r.params),
        "count": len(r.opportunities),
        "total": r.total,
        "opportunities": [opportunity_json(o, r.taken_at) for o in r.opportunities],
        "venues": [status_json(h) for h in r.health],
    }


def funding_json(r: FundingReport) -> dict[str, Any]:
    return {
        "asset": r.asset,
        "taken_at": r.taken_at,
        "params": params_json(r.params),
        "quotes": [leg_json(q, r.taken_at) for q in r.quotes],
        "best": opportunity_json(r.best, r.taken_at) if r.best else None,
        "left_out": [left_out_json(x) for x in r.left_out],
        "venues": [status_json(h) for h in r.health],
    }


FILL_FIELDS = (
    "side", "asked_usd", "coins", "filled_usd", "vwap", "slippage_bps", "complete", "book_usd",
)  # fmt: skip
SIZED_FIELDS = (
    "notional_usd", "coins", "complete", "fillable_usd", "fees", "entry_slippage_bps",
    "exit_slippage_bps", "adverse_basis_bps", "cost", "apr_net", "breakeven_h", "capacity_usd",
    "max_slippage_bps",
)  # fmt: skip


def fill_json(f: Fill) -> dict[str, Any]:
    return fields_json(f, FILL_FIELDS)


def sized_json(s: SizedCarry) -> dict[str, Any]:
    """The carry at its notional: cost, apr_net and breakeven_h are null when the books
    cannot fill it whole (`complete` false): nothing is extrapolated."""
    o = s.opportunity
    return {
        **fields_json(s, SIZED_FIELDS),
        "long": {
            "venue": o.long_venue,
            "symbol": o.long.symbol,
            "entry": fill_json(s.long_entry),
            "exit": fill_json(s.long_exit),
        },
        "short": {
            "venue": o.short_venue,
            "symbol": o.short.symbol,
            "entry": fill_json(s.short_entry),
            "exit": fill_json(s.short_exit),
        },
    }


def failed_leg_json(leg: LegBook) -> dict[str, Any]:
    return {"side": leg.side, "venue": leg.venue, "symbol": leg.symbol, "reason": leg.error}


def size_json(r: SizeReport) -> dict[str, Any]:
    return {
        "asset": r.asset,
        "taken_at": r.taken_at,
        "notional_usd": r.notional_usd,
        "max_slippage_bps": r.params.max_slippage_bps,
        "best": opportunity_json(r.best, r.taken_at) if r.best else None,
        "sized": sized_json(r.sized) if r.sized else None,
        "failed": [failed_leg_json(leg) for leg in r.failed],
        "left_out": [left_out_json(x) for x in r.left_out],
        "venues": [status_json(h) for h in r.health],
    }


POSITION_FIELDS = (
    "venue", "symbol", "side", "size", "entry_price", "mark_price", "liquidation_price",
    "leverage", "margin_mode", "adl_rank", "unrealised_pnl",
)  # fmt: skip
BOOK_RISK_FIELDS = (
    "asset", "status", "worst_liq_pct", "drift_coins", "drift_usd", "drift_pct",
    "carry_apr", "next_settlement_usd",
)  # fmt: skip


def leg_risk_json(x: LegRisk, now: float) -> dict[str, Any]:
    """A leg as the risk watch sees it; `funding` is its quote (null: not quoted now)."""
    return {
        **fields_json(x.position, POSITION_FIELDS),
        "liq_distance_pct": x.liq_distance_pct,
        "next_payment_usd": x.next_payment_usd,
        "funding": leg_json(x.quote, now) if x.quote else None,
    }


def book_risk_json(b: BookRisk, now: float) -> dict[str, Any]:
    return {
        **fields_json(b, BOOK_RISK_FIELDS),
        "carry": opportunity_json(b.carry, now) if b.carry else None,
        "legs": [leg_risk_json(x, now) for x in b.legs],
    }


def account_risk_json(a: AccountRisk) -> dict[str, Any]:
    return fields_json(a, ("venue", "equity", "margin_ratio", "error"))


def risk_json(r: RiskReport) -> dict[str, Any]:
    """`arb-bot risk --json`: books worst first (as /risk), then every account."""
    return {
        "taken_at": r.taken_at,
        "books": [book_risk_json(b, r.taken_at) for b in r.books],
        "accounts": [account_risk_json(a) for a in r.accounts],
    }


def dumps(obj: Any, indent: int | None = 2) -> str:
    """JSON whose numbers are plain decimals (0.0000036337, never 3.6337e-06).

    Floats are written from their shortest round-trip repr, so parsing the
    output gives back exactly the float that was computed. NaN and infinities
    (never expected) become null rather than invalid JSON. msgspec writes the
    tree with each float pre-formatted (`_plain`); `_dump`, the pure-Python
    writer, is kept for what msgspec would spell differently (a non-ASCII key,
    an indent of 0) and writes the same bytes (tests/test_report.py proves it).
    """
    if indent is not None and indent <= 0:
        return _dump(obj, indent, 0)
    try:
        tree = _plain(obj)
    except _Unusual:
        return _dump(obj, indent, 0)
    encoded = msgspec.json.encode(tree)
    if indent is not None:
        encoded = msgspec.json.format(encoded, indent=indent)
    return encoded.decode()


class _Unusual(Exception):
    """A tree msgspec would not write exactly as `_dump` does."""


def _plain(obj: Any) -> Any:
    """`obj` with every float as the raw JSON `_number` writes, for msgspec to copy.
    Dicts and lists, all a report holds, take the fast path (no call per scalar)."""
    kind = type(obj)
    if kind is dict:
        out = {}
        for k, v in obj.items():
            if type(k) is not str:
                k = str(k)
            if not k.isascii():  # `_dump` writes keys ASCII-escaped, msgspec as UTF-8
                raise _Unusual
            t = type(v)
            out[k] = _raw(v) if t is float else v if t is str or t is int else _plain(v)
        if len(out) != len(obj):  # two keys the same once written ({1: .., "1": ..})
            raise _Unusual
        return out
    if kind is list:
        return [
            _raw(v) if (t := type(v)) is float else v if t is str or t is int else _plain(v)
            for v in obj
        ]  # fmt: skip
    if kind is float:
        return _raw(obj)
    if obj is None or kind is str or kind is bool or kind is int:
        return obj
    if isinstance(obj, Mapping):
        return _plain(dict(obj.items()))
    if isinstance(obj, bool | str | int | float):  # subclasses: written as `_dump` writes them
        return msgspec.Raw(_dump(obj, None, 0).encode())
    if isinstance(obj, Sequence):
        return _plain(list(obj))
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def _raw(x: float) -> msgspec.Raw:
    text = repr(x)
    if "e" in text or "n" in text:  # an exponent, nan or inf; else already plain
        text = _number(x)
    return msgspec.Raw(text.encode())


def _number(x: float) -> str:
    if not math.isfinite(x):
        return "null"
    text = format(Decimal(repr(x)), "f")
    return text if "." in text else text + ".0"  # stays a float when read back


def _dump(obj: Any, indent: int | None, level: int) -> str:
    """The pure-Python writer (the reference `dumps` matches byte for byte)."""
    if obj is None or isinstance(obj, bool | str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return _number(obj)
    pad, sep = ("", ",") if indent is None else ("\n" + " " * indent * (level + 1), ",")
    end = "" if indent is None else "\n" + " " * indent * level
    colon = ":" if indent is None else ": "
    if isinstance(obj, Mapping):
        if not obj:
            return "{}"
        items = (
            f"{pad}{json.dumps(str(k))}{colon}{_dump(v, indent, level + 1)}" for k, v in obj.items()
        )
        return "{" + sep.join(items) + end + "}"
    if isinstance(obj, Sequence):
        if not obj:
            return "[]"
        return "[" + sep.join(f"{pad}{_dump(v, indent, level + 1)}" for v in obj) + end + "]"
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")

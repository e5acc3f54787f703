"""The rule-based signal: deterministic, from net APR, break-even, basis and liquidity,
and, when the legs' books came, the carry at the desk's notional (`Facts.sized`).

Used when no model is configured or the model fails, and given to the model as
the baseline it may refine. Same facts in, same verdict out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from arb.depth import SizedCarry
from arb.formats import apr_pct, hours, money
from arb.signaler.facts import Facts

VerdictName = Literal["take", "watch", "skip"]
VERDICTS: tuple[VerdictName, ...] = ("take", "watch", "skip")

TAKE_APR_NET = 0.15  # net APR a carry needs before the rules call it a take
TAKE_BREAKEVEN_H = 24.0  # ... recovered within a day, fees and adverse basis included
WIDE_BASIS_BPS = 50.0  # legs' prices this far apart are a risk either way
THIN_TURNOVER_USD = 1_000_000.0  # below this a leg is too thin to enter at size
DEEP_TURNOVER_USD = 20_000_000.0  # a take wants both legs at least this deep
SOON_MIN = 15  # a funding this close may settle before the position is on


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: VerdictName
    confidence: int  # 0-100
    rationale: str
    risks: tuple[str, ...] = ()


def rule_verdict(f: Facts) -> Verdict:
    o = f.opportunity
    risks = _risks(f)
    if o.spread_hourly <= 0 or o.apr_net <= 0:
        why = f"Round-trip fees outweigh the spread over the {o.horizon_h:g}h horizon"
        return Verdict("skip", 90, f"{why} (net APR {apr_pct(o.apr_net)}).", risks)
    breakeven = f.breakeven_with_basis_h
    if breakeven is None or breakeven > o.horizon_h:
        return Verdict(
            "skip",
            80,
            f"Break-even with fees and adverse basis is {hours(breakeven)}, beyond the "
            f"{o.horizon_h:g}h horizon.",
            risks,
        )
    thin = f.thinnest_leg
    if thin is not None and (thin.turnover_24h or 0.0) < THIN_TURNOVER_USD:
        return Verdict(
            "skip",
            70,
            f"The {thin.venue} leg trades only ${money(thin.turnover_24h)} a day: too thin to "
            "enter and exit at size.",
            risks,
        )
    sized = f.sized
    if sized is not None and not sized.complete:
        return Verdict(
            "skip",
            70,
            f"The books fill only ${sized.fillable_usd:,.0f} of the ${sized.notional_usd:,.0f} "
            "per leg asked.",
            risks,
        )
    if sized is not None and sized.apr_net is not None and sized.apr_net <= 0:
        return Verdict(
            "skip",
            80,
            f"At ${sized.notional_usd:,.0f} per leg, fees and slippage outweigh the spread "
            f"(net APR {apr_pct(sized.apr_net)}).",
            risks,
        )
    lacking = []
    if o.apr_net < TAKE_APR_NET:
        lacking.append(f"net APR {apr_pct(o.apr_net)} is under {apr_pct(TAKE_APR_NET)}")
    if breakeven > TAKE_BREAKEVEN_H:
        lacking.append(
            f"break-even with the entry basis {hours(breakeven)} is over {hours(TAKE_BREAKEVEN_H)}"
        )
    if o.basis_bps is None:
        lacking.append("the basis is unknown")
    elif abs(o.basis_bps) > WIDE_BASIS_BPS:
        lacking.append(f"the basis of {o.basis_bps:+.0f}bp is wide")
    if thin is None or (thin.turnover_24h or 0.0) < DEEP_TURNOVER_USD:
        lacking.append("a leg's liquidity is under $20M a day or unknown")
    if sized is not None and _under_capacity(sized):
        lacking.append(_capacity_words(sized))
    if lacking:
        return Verdict("watch", 50, "Positive carry, but " + "; ".join(lacking) + ".", risks)
    # Stronger carry, more confidence: 60 at the take threshold, 95 at 100% net APR.
    confidence = 60 + round(35 * min(1.0, (o.apr_net - TAKE_APR_NET) / (1.0 - TAKE_APR_NET)))
    return Verdict(
        "take",
        confidence,
        f"Net APR {apr_pct(o.apr_net)} after fees, break-even with the entry basis "
        f"{hours(breakeven)}, basis {o.basis_bps:+.1f}bp, both legs liquid.",
        risks,
    )


def _risks(f: Facts) -> tuple[str, ...]:
    o = f.opportunity
    out = []
    if o.long.interval_h != o.short.interval_h:
        out.append(
            f"Intervals differ ({o.long.venue} {o.long.interval_h:g}h, {o.short.venue} "
            f"{o.short.interval_h:g}h): the legs settle at different times."
        )
    if f.adverse_basis_bps > 0:
        out.append(f"Entry basis costs {f.adverse_basis_bps:.1f}bp.")
    for q in (o.long, o.short):
        if q.next_funding_time is not None:
            minutes = (q.next_funding_time / 1000 - f.now) / 60
            if 0 <= minutes < SOON_MIN:
                out.append(f"{q.venue} settles in {minutes:.0f} min: that funding may be missed.")
    s = f.sized
    if s is not None and s.complete and _under_capacity(s):
        out.append(f"Depth: {_capacity_words(s)}.")
    out.append("Funding rates change every interval; the spread can close or flip.")
    return tuple(out)


def _under_capacity(s: SizedCarry) -> bool:
    """The books take less than the desk's notional within the slippage allowed."""
    return s.capacity_usd < s.notional_usd


def _capacity_words(s: SizedCarry) -> str:
    return (
        f"capacity ${s.capacity_usd:,.0f} per leg within {s.max_slippage_bps:g}bp is under "
        f"the ${s.notional_usd:,.0f} notional"
    )

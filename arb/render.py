"""The terminal's text of the reports (`arb-bot scan`, `arb-bot funding`, `arb-bot chart`,
`arb-bot size`, `arb-bot risk`).

Figures are written by `arb.formats`, as in the bot's replies; the bot wraps the same
tables in `<pre>` (escaped), and says a carry at a size in the same words (`size_words`,
`capacity_words`), escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from arb.books import LegBook
from arb.commands import ChartReport
from arb.depth import Fill, SizedCarry
from arb.formats import (
    MISSING,
    apr_pct,
    bps,
    coins,
    countdown,
    hours,
    interval,
    money,
    pct,
    price,
    signed_usd,
    table,
    utc,
    venue_label,
)
from arb.market import VenueHealth
from arb.report import FundingReport, ScanReport, SizeReport, Sizing
from arb.risk import AccountRisk, BookRisk, LegRisk, RiskReport
from arb.risk_alerts import margin_words


def venue_problems(health: Iterable[VenueHealth]) -> list[str]:
    """One line for failed venues and one for degraded ones; nothing when all is well."""
    failed, degraded = [], []
    for h in health:
        if not h.ok:
            failed.append(f"{h.venue} ({_without_venue(h.venue, h.last_error or 'unknown error')})")
        elif h.warnings:
            reasons = "; ".join(_without_venue(h.venue, w) for w in h.warnings)
            degraded.append(f"{h.venue} ({reasons})")
    lines = []
    if failed:
        lines.append("Failed venues: " + "; ".join(failed))
    if degraded:
        lines.append("Degraded: " + "; ".join(degraded))
    return lines


def _without_venue(venue: str, text: str) -> str:
    """An error without its venue's name in front: '<venue> /api/...: HTTP 500' ->
    '/api/...: HTTP 500'."""
    for prefix in (venue + ": ", venue + " "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


# The terminal tables' column heads.
SCAN_HEADERS = (
    "#", "Asset", "Long", "Short", "Spread/8h", "APR", "Net APR", "B/E", "Basis bp", "Next L / S"
)  # fmt: skip
FUNDING_HEADERS = (
    "Venue", "Symbol", "Rate", "Every", "Per 8h", "APR", "Next", "Price", "Turnover", "OI"
)  # fmt: skip


def nobody_answered(health: Sequence[VenueHealth], head: str, then: str) -> str:
    """'<head>: no venue answered (4 asked)<then>.', and each venue asked with its cause."""
    causes = [
        f"  {h.venue}: {_without_venue(h.venue, h.last_error or 'no answer')}" for h in health
    ]
    return "\n".join([f"{head}: no venue answered ({len(health)} asked){then}.", *causes])


def scan_text(r: ScanReport) -> str:
    now = r.taken_at
    ok = [h.venue for h in r.health if h.ok]
    if not ok:
        return nobody_answered(r.health, f"Funding carry at {utc(now)}", ", so nothing to rank")
    head = (
        f"Funding carry at {utc(now)}: {len(r.opportunities)} of {r.total} opportunities"
        f" across {', '.join(ok) or 'no venue'}; net APR over {r.params.horizon_h:g} h"
        " after round-trip taker fees."
    )
    lines = [head]
    if r.opportunities:
        rows = [
            [
                str(i),
                o.asset,
                o.long_venue,
                o.short_venue,
                pct(o.spread_8h),
                apr_pct(o.apr_gross),
                apr_pct(o.apr_net),
                hours(o.breakeven_h),
                bps(o.basis_bps),
                f"{countdown(o.long.next_funding_time, now)} / "
                f"{countdown(o.short.next_funding_time, now)}",
            ]
            for i, o in enumerate(r.opportunities, 1)
        ]
        lines += ["", table(SCAN_HEADERS, rows, left=4)]
    else:
        lines.append("No opportunity passes the filters.")
    problems = venue_problems(r.health)
    if problems:
        lines += ["", *problems]
    return "\n".join(lines)


# A leg the best pair may not use (stale or thin) is still shown, marked, and named with
# its reason under the best pair (arb.carry), in the CLI's text and in /funding.
LEFT_OUT_MARK = "†"
NO_BEST = "No best carry: fewer than two venues have a leg fresh and liquid enough."


def funding_text(r: FundingReport) -> str:
    now = r.taken_at
    if not any(h.ok for h in r.health):
        return nobody_answered(r.health, f"{r.asset} funding at {utc(now)}", "")
    if not r.quotes:
        lines = [f"No venue quotes {r.asset} right now."]
    else:
        rows = [
            [
                q.venue,
                q.symbol,
                pct(q.rate),
                interval(q.interval_h),
                pct(q.rate_8h),
                apr_pct(q.apr),
                countdown(q.next_funding_time, now),
                price(q.unit_price),
                money(q.turnover_24h),
                money(q.open_interest_value),
            ]
            for q in r.quotes
        ]
        left_out = {(x.quote.venue, x.quote.symbol) for x in r.left_out}
        for row in rows:
            if (row[0], row[1]) in left_out:
                row[0] += LEFT_OUT_MARK
        lines = [f"{r.asset} funding at {utc(now)}", "", table(FUNDING_HEADERS, rows, left=2)]
        if r.best is not None:
            b = r.best
            lines += [
                "",
                f"Best carry: long {b.long_venue}, short {b.short_venue}: "
                f"{pct(b.spread_8h)} per 8h, APR {apr_pct(b.apr_gross)}, "
                f"net {apr_pct(b.apr_net)} over {b.horizon_h:g} h, "
                f"break-even {hours(b.breakeven_h)}, basis {bps(b.basis_bps)} bp.",
            ]
        else:
            lines += ["", NO_BEST]
        lines += [
            f"{LEFT_OUT_MARK} {x.quote.venue} {x.quote.symbol} left out of the best carry: "
            f"{x.reason}."
            for x in r.left_out
        ]
    problems = venue_problems(r.health)
    if problems:
        lines += ["", *problems]
    return "\n".join(lines)


def chart_text(r: ChartReport, path: str) -> str:
    """One line on the PNG written to `path`: its size and what it was drawn from."""
    assert r.png is not None
    from arb.chart import png_size  # here: `arb-bot scan` starts without the chart module

    width, height = png_size(r.png)
    per_venue = ", ".join(f"{venue_label(v)} {n}" for v, n in sorted(r.points.items()))
    return (
        f"{path}: {width}x{height} PNG, {r.asset} over {r.window}; "
        f"settled points per venue: {per_venue}; and the live rates"
    )


# --- a carry at a size (/size, arb-bot size, and the capacity line elsewhere) ----------


def usd(x: float) -> str:
    """50000 -> '$50,000': whole dollars, as a desk sizes a leg."""
    return f"${x:,.0f}"


def slip(x: float | None) -> str:
    return MISSING if x is None else f"{x:.1f} bp"


def pair_words(s: SizedCarry) -> str:
    o = s.opportunity
    return f"long {venue_label(o.long_venue)} / short {venue_label(o.short_venue)}"


def capacity_words(s: SizedCarry) -> str:
    """'$180,000 per leg within 10 bp': the most both legs fill within the slippage."""
    return f"{usd(s.capacity_usd)} per leg within {s.max_slippage_bps:g} bp"


def at_size_words(s: SizedCarry) -> str:
    """The capacity line under a best pair (/funding, alerts): the net APR at the desk's
    notional and the capacity, as /size computes them."""
    head = f"At {usd(s.notional_usd)} per leg: "
    if not s.complete:
        return f"{head}the books can fill only {usd(s.fillable_usd)} per leg; capacity " + (
            capacity_words(s)
        )
    return (
        f"{head}net APR {apr_pct(s.apr_net)}, entry slippage {slip(s.long_entry.slippage_bps)}"
        f" + {slip(s.short_entry.slippage_bps)}; capacity {capacity_words(s)}"
    )


def size_words(s: SizedCarry) -> str:
    """The carry at its notional in one sentence. A book too thin for the notional says
    how much it fills and gives no figure at the size (nothing is extrapolated)."""
    head = f"{pair_words(s)}, {usd(s.notional_usd)} per leg: "
    if not s.complete:
        short_of = "; ".join(
            dict.fromkeys(_side_words(v, f) for v, f in _fills(s) if not f.complete)
        )
        return (
            f"{head}the books can fill only {usd(s.fillable_usd)} per leg ({short_of}); "
            f"up to {capacity_words(s)}"
        )
    return (
        f"{head}entry slippage {slip(s.long_entry.slippage_bps)} + "
        f"{slip(s.short_entry.slippage_bps)}, fees {s.fees * 100:.2f}%, net APR at this size "
        f"{apr_pct(s.apr_net)}, break-even {hours(s.breakeven_h)}; up to {capacity_words(s)}"
    )


def _fills(s: SizedCarry) -> list[tuple[str, Fill]]:
    """Each fill with its venue: the entries, then the estimated exits."""
    long, short = s.opportunity.long_venue, s.opportunity.short_venue
    return [
        (long, s.long_entry),
        (short, s.short_entry),
        (long, s.long_exit),
        (short, s.short_exit),
    ]


def _side_words(venue: str, f: Fill) -> str:
    """'<venue> asks hold $12,000': what one side of a book holds in all."""
    return f"{venue_label(venue)} {'asks' if f.side == 'buy' else 'bids'} hold {usd(f.book_usd)}"


def size_details(s: SizedCarry) -> list[str]:
    """What the sentence is made of: each leg's entry VWAP, the estimated exit, the cost."""
    o = s.opportunity
    if not s.complete:
        return []
    return [
        f"{s.coins:.10g} {o.asset} a leg. "
        f"Entry VWAP: long {price(s.long_entry.vwap)}, short {price(s.short_entry.vwap)}; "
        f"exit estimated from the same books {slip(s.long_exit.slippage_bps)} + "
        f"{slip(s.short_exit.slippage_bps)}; adverse basis {slip(s.adverse_basis_bps)}.",
        f"Cost {pct(s.cost, 3)} of the notional round trip; funding alone nets "
        f"{apr_pct(o.apr_net)} over {o.horizon_h:g} h.",
    ]


def leg_failure(leg: LegBook) -> str:
    """'long <venue> <symbol>: no order book (<venue> <endpoint>: HTTP 500)'."""
    return f"{leg.side} {venue_label(leg.venue)} {leg.symbol}: no order book ({leg.error})"


def sizing_lines(sz: Sizing) -> list[str]:
    """/funding's lines on its best pair at the desk's notional: the capacity line, or
    each leg whose book could not be had and why."""
    if sz.sized is not None:
        return [at_size_words(sz.sized)]
    return [leg_failure(leg) for leg in sz.failed]


def size_lines(r: SizeReport) -> list[str]:
    """The report's lines after its title, in plain text (the bot escapes them)."""
    if r.best is None:
        lines = [f"No best carry for {r.asset}: fewer than two venues have a leg fresh and "
                 "liquid enough."]  # fmt: skip
    elif r.sized is None:
        o = r.best
        lines = [
            f"long {venue_label(o.long_venue)} / short {venue_label(o.short_venue)}, "
            f"{usd(r.notional_usd)} per leg: cannot size it, a leg's book is missing.",
            *(leg_failure(leg) for leg in r.failed),
        ]
    else:
        lines = [size_words(r.sized), *size_details(r.sized)]
    lines += [
        f"{LEFT_OUT_MARK} {x.quote.venue} {x.quote.symbol} left out of the best carry: {x.reason}."
        for x in r.left_out
    ]
    return lines


def size_text(r: SizeReport) -> str:
    title = f"{r.asset} at {usd(r.notional_usd)} per leg, {utc(r.taken_at)}"
    problems = venue_problems(r.health)
    return "\n".join([title, *size_lines(r), *(["", *problems] if problems else [])])


# --- risk on the open books (/risk, arb-bot risk) ----------------------------------------


def risk_book_lines(b: BookRisk) -> list[str]:
    """One book in plain text (the bot escapes it): a head line with its status, drift and
    carry, then one line per leg."""
    head = f"{b.asset} {b.status} · drift {drift_words(b)} · carry {carry_words(b)}"
    return [head, *(risk_leg_line(x) for x in b.legs)]


def drift_words(b: BookRisk) -> str:
    """'+0.1 BTC (+$9,500.00, 10.0%)': longs - shorts, in USD at the legs' mark, in % of
    the larger side."""
    sign = "+" if b.drift_coins > 0 else "-" if b.drift_coins < 0 else ""
    share = MISSING if b.drift_pct is None else f"{b.drift_pct:.1f}%"
    return f"{sign}{coins(abs(b.drift_coins))} {b.asset} ({signed_usd(b.drift_usd)}, {share})"


def carry_words(b: BookRisk) -> str:
    """'long A / short B, net 12.3% APR, next settlement +$4.20', or why there is none."""
    c = b.carry
    if c is None:
        if b.status == "unhedged":
            return f"{MISSING} (one side only)"
        return f"{MISSING} (a leg has no funding quote)"
    return (
        f"long {venue_label(c.long_venue)} / short {venue_label(c.short_venue)}, net "
        f"{apr_pct(b.carry_apr)} APR after exit fees, next settlement "
        f"{signed_usd(b.next_settlement_usd)}"
    )


def risk_leg_line(x: LegRisk) -> str:
    """'  A BTCUSDT short 0.5 BTC · mark 100,000.0 · liq 106,200.0 (6.2%) · 10x cross ·
    ADL 2/5 · next +$2.10'."""
    p = x.position
    distance = "" if x.liq_distance_pct is None else f" ({x.liq_distance_pct:.1f}%)"
    parts = [
        f"  {venue_label(p.venue)} {p.symbol} {p.side} {coins(p.size)} {p.asset}",
        f"mark {price(p.mark_price)}",
        f"liq {price(p.liquidation_price)}{distance}",
        margin_words(p),
        *([] if p.adl_rank is None else [f"ADL {p.adl_rank}/5"]),
        f"next {signed_usd(x.next_payment_usd)}",
    ]
    return " · ".join(parts)


def risk_account_line(a: AccountRisk) -> str:
    """'A: equity 12,345.67, margin ratio 12.3% (100% liquidates)', or why it is unread."""
    where = venue_label(a.venue)
    if a.error is not None:
        return f"{where}: unreadable ({_without_venue(a.venue, a.error)})"
    equity = MISSING if a.equity is None else f"{a.equity:,.2f}"
    ratio = (
        "margin ratio not given"
        if a.margin_ratio is None
        else f"margin ratio {a.margin_ratio * 100:.1f}% (100% liquidates)"
    )
    return f"{where}: equity {equity}, {ratio}"


def risk_text(r: RiskReport) -> str:
    """`arb-bot risk`: every book worst first, then every account."""
    n = len(r.books)
    lines = [f"Risk at {utc(r.taken_at)}: {n} book{'' if n == 1 else 's'}, worst first"]
    if not r.books:
        read = any(a.error is None for a in r.accounts)
        lines.append("No open positions." if read else "No account could be read.")
    for b in r.books:
        lines += ["", *risk_book_lines(b)]
    if r.accounts:
        lines += ["", "Accounts:", *(risk_account_line(a) for a in r.accounts)]
    return "\n".join(lines)

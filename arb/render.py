"""The terminal's text of the reports (`arb-bot scan`, `arb-bot funding`, `arb-bot chart`).

Figures are written by `arb.formats`, as in the bot's replies; the bot wraps the same
tables in `<pre>` (escaped).
"""

from __future__ import annotations

from collections.abc import Iterable

from arb.chart import png_size
from arb.commands import ChartReport
from arb.formats import (
    apr_pct,
    bps,
    countdown,
    hours,
    interval,
    money,
    pct,
    price,
    table,
    utc,
    venue_label,
)
from arb.market import VenueHealth
from arb.report import FundingReport, ScanReport


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


def scan_text(r: ScanReport) -> str:
    now = r.taken_at
    ok = [h.venue for h in r.health if h.ok]
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
    width, height = png_size(r.png)
    per_venue = ", ".join(f"{venue_label(v)} {n}" for v, n in sorted(r.points.items()))
    return (
        f"{path}: {width}x{height} PNG, {r.asset} over {r.window}; "
        f"settled points per venue: {per_venue}; and the live rates"
    )

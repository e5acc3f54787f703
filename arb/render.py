"""Plain-text rendering of reports: number formats, countdowns, aligned tables.

Rates are shown as percent with 4 decimals, APRs with 1. The bot wraps these
same tables in `<pre>` (escaped); the CLI prints them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from arb.market import VenueStatus

if TYPE_CHECKING:  # types only: arb.report imports arb.carry, which uses the formats here
    from arb.report import FundingReport, ScanReport

MISSING = "-"
SHORT_VENUE = {"hyperliquid": "hl"}  # how replies and charts name a venue, where not as is


def venue_label(name: str) -> str:
    """The venue's name in replies and on charts: 'hl' for hyperliquid."""
    return SHORT_VENUE.get(name, name)


def pct(x: float | None, places: int = 4) -> str:
    """0.0001 -> '0.0100%'."""
    return MISSING if x is None else f"{x * 100:.{places}f}%"


def apr_pct(x: float | None) -> str:
    return MISSING if x is None else f"{x * 100:.1f}%"


def hours(x: float | None) -> str:
    if x is None:
        return MISSING
    return f"{x:.0f}h" if x >= 10 else f"{x:.1f}h"


def interval(h: float) -> str:
    return f"{h:g}h" if h >= 1 else f"{h * 60:g}m"


def bps(x: float | None) -> str:
    return MISSING if x is None else f"{x:+.1f}"


def ago(seconds: float | None) -> str:
    """12s, 7m, 2h13m, 3d4h; 'never' for None."""
    if seconds is None:
        return "never"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h}h"


def countdown(next_ms: int | None, now_s: float) -> str:
    """Time to the next funding: '3h47m', '47m', '<1m', 'due'."""
    if next_ms is None:
        return MISSING
    left_s = next_ms / 1000 - now_s
    if left_s <= 0:
        return "due"
    minutes = int(left_s // 60)
    if minutes < 1:
        return "<1m"
    h, m = divmod(minutes, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m"


def money(x: float | None) -> str:
    """Compact quote-currency amount: 2.90B, 165M, 12.3K."""
    if x is None:
        return MISSING
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= size:
            v = x / size
            decimals = 2 if abs(v) < 10 else 1 if abs(v) < 100 else 0
            return f"{v:.{decimals}f}{unit}"
    return f"{x:.0f}"


def price(x: float | None) -> str:
    """About six significant figures, never an exponent."""
    if x is None:
        return MISSING
    if x == 0:
        return "0"
    decimals = max(1, 5 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1, sep: str = "  "
) -> str:
    """Aligned columns; the first `left` columns flush left, the rest (numbers) right."""
    rows = [list(r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return sep.join(out).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def venue_problems(statuses: Iterable[VenueStatus]) -> list[str]:
    """One line for failed venues and one for degraded ones; nothing when all is well."""
    failed, degraded = [], []
    for s in statuses:
        if not s.ok:
            failed.append(f"{s.venue} ({_without_venue(s.venue, s.error or 'unknown error')})")
        elif s.warnings:
            reasons = "; ".join(_without_venue(s.venue, w) for w in s.warnings)
            degraded.append(f"{s.venue} ({reasons})")
    lines = []
    if failed:
        lines.append("Failed venues: " + "; ".join(failed))
    if degraded:
        lines.append("Degraded: " + "; ".join(degraded))
    return lines


def _without_venue(venue: str, text: str) -> str:
    """'okx /api/...: HTTP 500' -> '/api/...: HTTP 500'; 'okx: answered...' -> 'answered...'."""
    for prefix in (venue + ": ", venue + " "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def scan_text(r: ScanReport) -> str:
    now = r.taken_at
    ok = [s.venue for s in r.statuses if s.ok]
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
        headers = [
            "#",
            "Asset",
            "Long",
            "Short",
            "Spread/8h",
            "APR",
            "Net APR",
            "B/E",
            "Basis bp",
            "Next L / S",
        ]
        lines += ["", table(headers, rows, left=4)]
    else:
        lines.append("No opportunity passes the filters.")
    problems = venue_problems(r.statuses)
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
        headers = [
            "Venue",
            "Symbol",
            "Rate",
            "Every",
            "Per 8h",
            "APR",
            "Next",
            "Price",
            "Turnover",
            "OI",
        ]
        lines = [f"{r.asset} funding at {utc(now)}", "", table(headers, rows, left=2)]
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
    problems = venue_problems(r.statuses)
    if problems:
        lines += ["", *problems]
    return "\n".join(lines)

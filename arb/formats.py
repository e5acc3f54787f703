"""How a figure is written, the same in the terminal, in Telegram and on a chart: rates in
percent with 4 decimals, APRs with 1, bps, durations, countdowns, money, venue labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from arb.models import Quote
from arb.venues.registry import SPECS

MISSING = "-"


def venue_label(name: str) -> str:
    """The venue's name in replies and on charts: its spec's short name, if it has one."""
    spec = SPECS.get(name)
    return name if spec is None else spec.shown


def usdc_margined(q: Quote) -> bool:
    """Whether a leg is marked as USDC-margined: on a venue where every contract is, it
    goes without saying."""
    spec = SPECS.get(q.venue)
    return q.settle == "USDC" and not (spec is not None and spec.usdc_only)


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


def coins(x: float | None) -> str:
    """Six significant figures without an exponent or trailing zeros: 2, 0.1234, 12,000,000."""
    if x is None:
        return MISSING
    if x == 0:
        return "0"
    decimals = max(0, 5 - math.floor(math.log10(abs(x))))
    text = f"{x:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def signed_usd(x: float | None) -> str:
    """An amount received or paid, to the cent: '+$4.20', '-$1,234.56', '$0.00'."""
    if x is None:
        return MISSING
    cents = round(x, 2)
    sign = "-" if cents < 0 else "+" if cents > 0 else ""
    return f"{sign}${abs(cents):,.2f}"


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

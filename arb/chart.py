"""The funding chart: one step line per venue, as APR, and the best pair's spread shaded.

Drawn with matplotlib's object API on the Agg backend (no pyplot, no display,
safe off the event loop's thread), 1280x800 px: the size Telegram keeps for a
photo, with fonts and a legend large enough to read on a phone.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from arb.history import HOUR_S, Series, apr_steps, spread_steps, value_at

WIDTH_PX, HEIGHT_PX, DPI = 1280, 800, 100
VENUE_COLORS = {
    "binance": "#4e79a7",
    "bybit": "#f28e2b",
    "okx": "#333333",
    "hyperliquid": "#59a14f",
    "bitget": "#76b7b2",
    "gate": "#e15759",
}
SPREAD_COLOR = "#59a14f"
_LOCK = threading.Lock()  # matplotlib's font cache and text layout are shared state


def render_chart(
    asset: str,
    history: Mapping[str, Series],
    start: float,
    end: float,
    title_window: str,
    pair: tuple[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """A PNG of each venue's funding APR over [start, end]; `pair` is (long, short) to shade."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    labels = labels or {}
    with _LOCK:
        fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        ax = fig.add_subplot()
        drawn = 0
        for venue in sorted(history):
            corners = apr_steps(history[venue], start, end)
            if not corners:
                continue
            xs = [_dt(t) for t, _ in corners]
            ys = [float("nan") if v is None else v * 100 for _, v in corners]
            color = VENUE_COLORS.get(venue, "#9c755f")
            ax.plot(xs, ys, color=color, linewidth=3, label=labels.get(venue, venue))
            drawn += 1
        if pair is not None:
            _shade(ax, history, pair, start, end, labels)
        ax.axhline(0, color="#888888", linewidth=1)
        ax.set_xlim(_dt(start), _dt(end))
        ax.set_title(f"{asset} funding, APR %  ·  last {title_window}", fontsize=26, pad=14)
        ax.set_ylabel("APR %", fontsize=20)
        ax.tick_params(labelsize=18)
        ax.xaxis.set_major_formatter(
            DateFormatter("%H:%M" if end - start <= 36 * HOUR_S else "%d %b", tz=UTC)
        )
        ax.grid(True, alpha=0.3)
        if drawn:  # under the plot, so that it never hides a line
            ax.legend(fontsize=18, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3,
                      frameon=False)  # fmt: skip
        else:
            ax.text(0.5, 0.5, "no history stored", transform=ax.transAxes, ha="center",
                    fontsize=24, color="#888888")  # fmt: skip
        ax.set_xlabel("UTC", fontsize=16, color="#666666", loc="right")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _shade(ax, history, pair, start, end, labels) -> None:  # type: ignore[no-untyped-def]
    """Fill between the long and the short leg's lines wherever both are known."""
    long, short = pair
    xs: list[datetime] = []
    lows: list[float] = []
    highs: list[float] = []
    previous_end = None
    for a, b, _ in spread_steps(history.get(long, ()), history.get(short, ()), start, end):
        if previous_end is not None and a > previous_end:  # a gap: break the fill
            xs.append(_dt(previous_end))
            lows.append(float("nan"))
            highs.append(float("nan"))
        lo = (value_at(history[long], a) or 0.0) * 876_000  # hourly -> APR %
        hi = (value_at(history[short], a) or 0.0) * 876_000
        xs += [_dt(a), _dt(b)]
        lows += [lo, lo]
        highs += [hi, hi]
        previous_end = b
    if xs:
        label = f"spread: long {labels.get(long, long)} / short {labels.get(short, short)}"
        ax.fill_between(xs, lows, highs, color=SPREAD_COLOR, alpha=0.2, linewidth=0, label=label)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; ValueError if it is not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")

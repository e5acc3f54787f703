"""The funding chart: one step line per venue, as APR, and the best pair's spread under it.

Drawn with matplotlib's object API on the Agg backend (no pyplot, no display,
safe off the event loop's thread), 1280x800 px: the size Telegram keeps for a
photo, with fonts and a legend large enough to read on a phone.

The top panel has each venue's funding; between the best pair's two legs it
is shaded green where the carry is positive (the short leg pays more) and
red where it is negative. The bottom panel is that pair's spread itself,
short minus long, as APR, filled the same way. Venues are named as in the
text replies (`arb.formats.venue_label`: a venue's short name, if it has one). Dates are
placed by matplotlib's `AutoDateLocator` and written by its
`ConciseDateFormatter`, in UTC, few enough to stay apart on a phone over
24 h, 7 d or 30 d.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from arb.formats import venue_label
from arb.history import Series, apr_steps, spread_steps, value_at
from arb.venues.registry import SPECS

WIDTH_PX, HEIGHT_PX, DPI = 1280, 800, 100
OTHER_VENUE_COLOR = "#bab0ac"
POSITIVE_COLOR = "#2ca02c"  # the carry pays
NEGATIVE_COLOR = "#d62728"  # the carry costs
SHADE_ALPHA = 0.25  # between the legs, top panel
FILL_ALPHA = 0.35  # under the spread line, bottom panel
APR_PCT = 8760 * 100  # hourly rate -> APR in percent
# A tick at the start of a day is its date, of a month its name, of a year the year.
ZERO_FORMATS = ["", "%Y", "%b", "%d %b", "%H:%M", "%H:%M"]
# The date under the ticks (ConciseDateFormatter's "offset") says the time zone too.
OFFSET_FORMATS = [
    "UTC",
    "%Y UTC",
    "%b %Y UTC",
    "%d %b %Y UTC",
    "%d %b %Y UTC",
    "%d %b %Y %H:%M UTC",
]
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
    """A PNG of each venue's funding APR over [start, end]; `pair` is (long, short), whose
    spread gets the shading and a panel of its own. `labels` override venue names."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    def label(venue: str) -> str:
        return (labels or {}).get(venue) or venue_label(venue)

    steps = []
    if pair is not None:
        long, short = pair
        steps = spread_steps(history.get(long, ()), history.get(short, ()), start, end)
    with _LOCK:
        fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
        if steps:
            ax, spread_ax = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        else:
            ax, spread_ax = fig.add_subplot(), None
        drawn = 0
        for venue in sorted(history):
            corners = apr_steps(history[venue], start, end)
            if not corners:
                continue
            xs = [_dt(t) for t, _ in corners]
            ys = [math.nan if v is None else v * 100 for _, v in corners]
            color = SPECS[venue].colour if venue in SPECS else OTHER_VENUE_COLOR
            ax.plot(xs, ys, color=color, linewidth=3, label=label(venue))
            drawn += 1
        if pair is not None and spread_ax is not None:
            _shade_legs(ax, history, pair, steps)
            _spread_panel(spread_ax, steps, f"spread {label(pair[1])} − {label(pair[0])}")
        ax.axhline(0, color="#888888", linewidth=1)
        ax.set_xlim(_dt(start), _dt(end))
        ax.set_ylabel("APR %", fontsize=20)
        ax.grid(True, alpha=0.3)
        bottom = spread_ax if spread_ax is not None else ax
        locator = AutoDateLocator(tz=UTC, minticks=3, maxticks=8)
        formatter = ConciseDateFormatter(
            locator, tz=UTC, zero_formats=ZERO_FORMATS, offset_formats=OFFSET_FORMATS
        )
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(formatter)
        for a in (ax, spread_ax):
            if a is not None:
                a.tick_params(labelsize=18)
                a.use_sticky_edges = False  # a margin above and below the fills too
                a.margins(y=0.08)
        bottom.xaxis.get_offset_text().set_fontsize(16)
        fig.suptitle(f"{asset} funding, APR %  ·  last {title_window}", fontsize=26)
        if drawn:  # under the plot, so that it never hides a line
            handles = [h for a in (ax, spread_ax) if a is not None
                       for h in a.get_legend_handles_labels()[0]]  # fmt: skip
            fig.legend(handles=handles, fontsize=17, loc="outside lower center", ncol=4,
                       frameon=False, handlelength=1.5, columnspacing=1.2)  # fmt: skip
        else:
            ax.text(0.5, 0.5, "no history stored", transform=ax.transAxes, ha="center",
                    fontsize=24, color="#888888")  # fmt: skip
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _corners(
    steps: list[tuple[float, float, float]], values
) -> tuple[list[datetime], list[list[float]], list[bool]]:  # type: ignore[no-untyped-def]
    """Step corners for fill_between: x, one list per value column, and whether the
    carry is positive there; a gap in the steps is a NaN break."""
    xs: list[datetime] = []
    cols: list[list[float]] = []
    positive: list[bool] = []
    previous_end = None
    for a, b, s in steps:
        row = values(a, s)
        if not cols:
            cols = [[] for _ in row]
        if previous_end is not None and a > previous_end:
            xs.append(_dt(previous_end))
            for col in cols:
                col.append(math.nan)
            positive.append(False)
        xs += [_dt(a), _dt(b)]
        for col, v in zip(cols, row, strict=True):
            col += [v, v]
        positive += [s >= 0, s >= 0]
        previous_end = b
    return xs, cols, positive


def _fill_by_sign(ax, xs, low, high, positive, alpha, legend=False) -> None:  # type: ignore[no-untyped-def]
    """Green where the carry is positive, red where negative. A step's two corners share a
    sign, and where the sign flips two steps meet at one instant: nothing is filled across
    the change."""
    for color, where, name in (
        (POSITIVE_COLOR, positive, "carry > 0"),
        (NEGATIVE_COLOR, [not p for p in positive], "carry < 0"),
    ):
        if any(where):
            ax.fill_between(xs, low, high, where=where, color=color, alpha=alpha, linewidth=0,
                            label=name if legend else None)  # fmt: skip


def _shade_legs(ax, history, pair, steps) -> None:  # type: ignore[no-untyped-def]
    """Fill between the long and the short leg's lines wherever both are known."""
    long, short = pair

    def legs(a: float, _s: float) -> tuple[float, float]:
        return (
            (value_at(history[long], a) or 0.0) * APR_PCT,
            (value_at(history[short], a) or 0.0) * APR_PCT,
        )

    xs, (lows, highs), positive = _corners(steps, legs)
    _fill_by_sign(ax, xs, lows, highs, positive, SHADE_ALPHA, legend=True)


def _spread_panel(ax, steps, name: str) -> None:  # type: ignore[no-untyped-def]
    """The pair's spread (short minus long) as APR %, filled green above zero, red below."""
    xs, (spread,), positive = _corners(steps, lambda _a, s: (s * APR_PCT,))
    ax.plot(xs, spread, color="#222222", linewidth=2, label=name)
    _fill_by_sign(ax, xs, [0.0] * len(xs), spread, positive, FILL_ALPHA)
    ax.axhline(0, color="#888888", linewidth=1)
    ax.set_ylabel("spread APR %", fontsize=18)
    ax.grid(True, alpha=0.3)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; ValueError if it is not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")

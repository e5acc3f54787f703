"""Telegram HTML for /chart captions and /history."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from arb.formats import apr_pct, hours, pct
from arb.history import WINDOWS_H, HistoryReport, PairStats, Pending
from arb.models import Opportunity
from arb.signaler.answer import clean
from bot.render import clock, esc, narrow_table, pre, venue

# --- /chart and /history ----------------------------------------------------------


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def chart_caption(
    asset: str,
    window: str,
    best: Opportunity | None,
    stats: PairStats | None,
    threshold_8h: float,
    errors: Sequence[str],
    pending: Pending | None = None,
) -> str:
    """The key figures under the chart, each with the hours it rests on: the window is
    marked partial (*) when both legs are known for under 80 % of it; the carry earned
    counts paid funding only, the interval in progress is "expected"."""
    lines = [f"<b>{esc(asset)}</b> funding per venue as APR · last {esc(window)}"]
    if best is not None:
        lines.append(
            f"Now: long {esc(venue(best.long_venue))} / short {esc(venue(best.short_venue))} "
            f"{pct(best.spread_8h)}/8h · net {apr_pct(best.apr_net)}"
        )
    if stats is not None and stats.avg_spread_8h is not None:
        mark = "*" if stats.partial else ""
        lines.append(
            f"{esc(window)}{mark}: avg {pct(stats.avg_spread_8h)}/8h · ≥ {pct(threshold_8h)} "
            f"{_share(stats.share_above)} of the time"
        )
        lines.append(f"Earned{mark} {_earned(stats)}{_expected(pending)}")
        covers = f"covers {hours(stats.covered_h)} of {esc(window)}"
        lines.append(f"* partial: {covers}" if stats.partial else f"{covers.capitalize()}.")
    lines += [f"⚠ {esc(clean(e, 150))}" for e in errors]
    return "\n".join(lines)


def _earned(s: PairStats) -> str:
    """ "0.07% over 2.3h paid": the carry of the funding both legs have been paid."""
    return (
        f"{pct(s.earned, 2)} over {hours(s.settled_h)} paid" if s.settled_h else "nothing paid yet"
    )


def _expected(p: Pending | None) -> str:
    return "" if p is None else f" · {pct(p.carry, 2)} expected by {clock(p.end)}"


def no_history(asset: str, window: str, errors: Sequence[str]) -> str:
    """/chart with nothing stored or fetched for the window: one line, no empty chart."""
    why = ": nothing is stored yet and the venues' history did not answer" if errors else " yet"
    return f"No funding history for {esc(asset)} over the last {esc(window)}{why}, so no chart."


PARTIAL_NOTE = "* partial: both legs known for under 80% of the window"
SAME_NOTE = "= same data as the column to its left: nothing older is known"


def _window_cells(windows: Sequence[PairStats], show: Callable[[PairStats], str]) -> list[str]:
    """One cell per window: the figure, "*" after it when the window is partial, "=" when a
    window holds nothing the one to its left does not (the same figures again), "-" when
    it holds nothing at all."""
    cells = []
    for i, s in enumerate(windows):
        if not s.covered_h:
            cells.append("-")
        elif i and windows[i - 1].covered_h and s.same_data(windows[i - 1]):
            cells.append("=")
        else:
            cells.append(show(s) + ("*" if s.partial else ""))
    return cells


def _marked_table(rows: list[list[str]]) -> list[str]:
    """`narrow_table`, with a blank after unmarked figures when some are marked "*", so that
    the digits stay in line."""
    if any(c.endswith("*") for r in rows[1:] for c in r[1:]):
        rows = [rows[0]] + [
            [r[0], *(c if c.endswith("*") else c + " " for c in r[1:])] for r in rows[1:]
        ]
    return narrow_table(rows)


def history_html(r: HistoryReport, own_threshold: bool, errors: Sequence[str]) -> str:
    names = list(WINDOWS_H)
    lines = [f"<b>{esc(r.asset)} history</b> · {clock(r.now)}"]
    if not any(p.windows[n].covered_h for p in r.pairs for n in names):
        lines.append("No funding history for it yet: the bot keeps a snapshot with every scan.")
    else:
        lines.append("Average spread per 8h, each pair the way it would be entered now:")
        rows = [["long/short", *names]]
        rows += [
            [
                f"{venue(p.long)}/{venue(p.short)}",
                *_window_cells([p.windows[n] for n in names], lambda s: pct(s.avg_spread_8h)),
            ]
            for p in r.pairs[:8]
        ]
        cells = [c for row in rows[1:] for c in row[1:]]
        lines.append(pre(_marked_table(rows)))
        if any(c.endswith("*") for c in cells):
            lines.append(PARTIAL_NOTE)
        if "=" in cells:
            lines.append(SAME_NOTE)
        best = r.pairs[0] if r.best is not None and r.pairs else None
        if best is not None and r.best is not None:
            level = (
                f"this chat's {pct(r.threshold_8h)} alert"
                if own_threshold
                else f"{pct(r.threshold_8h)} (no alert set here)"
            )
            lines.append(
                f"Best now, long {esc(venue(best.long))} / short {esc(venue(best.short))}: share "
                f"of time at or above {level}, and the carry it earned (paid funding only):"
            )
            w = [best.windows[n] for n in names]
            fees = r.best.fees_round_trip
            rows = [
                ["", *names],
                ["above", *_window_cells(w, lambda s: _share(s.share_above))],
                ["earned", *_window_cells(w, lambda s: pct(s.earned, 2))],
                ["net fees", *_window_cells(w, lambda s: pct(s.earned - fees, 2))],
                ["covers", *(hours(s.covered_h) if s.covered_h else "-" for s in w)],
            ]
            lines.append(pre(_marked_table(rows)))
            p = best.pending
            if p is not None:
                lines.append(
                    f"Not paid yet: {pct(p.carry, 2)} expected by {clock(p.end)} if the rates "
                    "hold (the funding in progress)."
                )
    lines += [f"⚠ {esc(clean(e, 150))}" for e in errors]
    return "\n".join(lines)

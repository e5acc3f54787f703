"""Telegram HTML for the desk's replies: narrow `<pre>` blocks a phone shows whole.

Every dynamic value goes through `esc()`. Rates are percent with 4 decimals,
APRs with 1; each leg carries a countdown to its next funding.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from arb.alerts import Crossing
from arb.feeds.base import FeedState
from arb.formats import ago, apr_pct, bps, countdown, hours, interval, money, pct, table
from arb.formats import venue_label as venue  # the labels the charts use too
from arb.history import WINDOWS_H, HistoryReport, PairStats, Pending
from arb.models import Opportunity, Quote
from arb.render import LEFT_OUT_MARK
from arb.report import FundingReport, ScanReport
from arb.service import VenueHealth
from arb.signaler import Prices, Signal
from arb.signaler.answer import clean
from storage.health import StorageHealth
from storage.store import LlmUsage

MAX_MESSAGE = 4096


SHOWN_ARG = 40  # characters of a bad argument echoed back


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def shown(text: str) -> str:
    """A user's argument, cut and escaped, for quoting it back."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return esc(text if len(text) <= SHOWN_ARG else text[: SHOWN_ARG - 1] + "…")


def clock(ts: float) -> str:
    return time.strftime("%H:%M UTC", time.gmtime(ts))


def pre(lines: Iterable[str]) -> str:
    return "<pre>" + esc("\n".join(lines)) + "</pre>"


def narrow_table(rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """A phone-width table: the first row is the header, one space between columns, the
    first `left` columns flush left."""
    return table(rows[0], rows[1:], left=left, sep=" ").split("\n")


def _usdc_margined(q: Quote) -> bool:
    return q.settle == "USDC" and q.venue != "hyperliquid"  # all of Hyperliquid is USDC


def _leg_label(q: Quote) -> str:
    return venue(q.venue) + ("*" if _usdc_margined(q) else "")


# --- /funding ------------------------------------------------------------------


NO_BEST_PAIR = "No best pair: fewer than two venues have a leg fresh and liquid enough."


def funding_html(r: FundingReport, health: Sequence[VenueHealth], max_age_s: float) -> str:
    now = r.taken_at
    title = f"<b>{esc(r.asset)} funding</b> · {clock(now)}"
    if not r.quotes:
        missing = f"No venue lists {esc(r.asset)} right now."
        return "\n".join([title, missing, *_health_notes(health, now, max_age_s)])
    marked = any(_usdc_margined(q) for q in r.quotes)
    rows = [["venue", "rate", "int", "apr", "next"]]
    rows += [
        [
            _leg_label(q),
            pct(q.rate),
            f"{q.interval_h:g}h",
            apr_pct(q.apr),
            countdown(q.next_funding_time, now),
        ]
        for q in r.quotes
    ]
    left_out = {(x.quote.venue, x.quote.symbol) for x in r.left_out}
    for q, row in zip(r.quotes, rows[1:], strict=True):
        if (q.venue, q.symbol) in left_out:
            row[0] += LEFT_OUT_MARK  # still shown: the desk sees every venue's rate
    lines = [title, pre(narrow_table(rows))]
    if marked:
        lines.append("* USDC-margined")
    lines.append(_best(r.best) if r.best is not None else NO_BEST_PAIR)
    lines += [
        f"{LEFT_OUT_MARK} {esc(venue(x.quote.venue))} {esc(x.quote.symbol)} left out of the "
        f"best pair: {esc(x.reason)}"
        for x in r.left_out
    ]
    # A venue with a leg here is spoken for by that leg (used, or left out and why); its
    # venue-wide "left out" note could contradict a leg a live feed keeps fresh.
    quoted = {q.venue for q in r.quotes}
    lines += _health_notes([h for h in health if h.venue not in quoted], now, max_age_s)
    return "\n".join(lines)


def _best(o: Opportunity) -> str:
    return (
        f"Best: long <b>{esc(venue(o.long_venue))}</b>, short <b>{esc(venue(o.short_venue))}</b>\n"
        f"{pct(o.spread_8h)}/8h · APR {apr_pct(o.apr_gross)} · net {apr_pct(o.apr_net)} "
        f"({o.horizon_h:g}h)\n"
        f"Break-even {hours(o.breakeven_h)} · basis {bps(o.basis_bps)}bp"
    )


# --- /scan ---------------------------------------------------------------------


def scan_html(r: ScanReport, health: Sequence[VenueHealth], max_age_s: float) -> str:
    now = r.taken_at
    floor = f" · net ≥ {apr_pct(r.params.min_apr)}" if r.params.min_apr is not None else ""
    title = (
        f"<b>Top {len(r.opportunities)} of {r.total} carry</b>{floor}\n"
        f"net APR over {r.params.horizon_h:g}h after fees · {clock(now)}"
    )
    if not r.opportunities:
        body = ["No opportunity passes the filters."]
    else:
        blocks: list[str] = []
        for i, o in enumerate(r.opportunities, 1):
            nxt = f"{countdown(o.long.next_funding_time, now)}|"
            nxt += countdown(o.short.next_funding_time, now)
            blocks += [
                f"{i}. {o.asset}  long {venue(o.long_venue)} / short {venue(o.short_venue)}",
                f"   {pct(o.spread_8h)}/8h  APR {apr_pct(o.apr_gross)}  net {apr_pct(o.apr_net)}",
                f"   b/e {hours(o.breakeven_h)}  basis {bps(o.basis_bps)}bp  next {nxt}",
            ]
        body = [pre(blocks)]
    return "\n".join([title, *body, *_health_notes(health, now, max_age_s)])


# --- alerts --------------------------------------------------------------------


ALERT_LIMIT = MAX_MESSAGE - 200  # room for a "sent again" line on a resend
MAX_ALERT_BLOCKS = 10  # the rest is "… and K more", so a hot market is one short message
MORE_ROOM = 160


def alert_html(
    crossings: Sequence[Crossing], now: float, note: str | None = None, limit: int = ALERT_LIMIT
) -> tuple[str, list[Crossing]]:
    """One message gathering a chat topic's new crossings, widest spread first: whole
    blocks while they fit under `limit`, then "… and K more". Returns the text and the
    crossings it shows in full."""
    ordered = sorted(crossings, key=lambda c: c.opportunity.spread_8h, reverse=True)
    lines = [f"🔔 <b>Funding carry alert</b> · {clock(now)}"]
    if note:
        lines.append(note)
    size = utf16_len("\n".join(lines))
    shown: list[Crossing] = []
    for i, c in enumerate(ordered):
        block = "\n" + _alert_block(c, now)
        last = i == len(ordered) - 1
        room = 0 if last else MORE_ROOM
        if len(shown) == MAX_ALERT_BLOCKS or size + utf16_len(block) + 1 + room > limit:
            break
        lines.append(block)
        size += utf16_len(block) + 1
        shown.append(c)
    rest = ordered[len(shown) :]
    if rest:
        lines += ["", _more(rest)]
    return "\n".join(lines), shown


def _alert_block(c: Crossing, now: float) -> str:
    o = c.opportunity
    why = f"≥ {pct(c.threshold_8h)}" if c.reason == "crossed" else f"grew, ≥ {pct(c.threshold_8h)}"
    nxt = f"{countdown(o.long.next_funding_time, now)}|{countdown(o.short.next_funding_time, now)}"
    return "\n".join(
        [
            f"<b>{esc(o.asset)}</b>: long {esc(venue(o.long_venue))} / short "
            f"{esc(venue(o.short_venue))}",
            f"{pct(o.spread_8h)}/8h ({why}) · APR {apr_pct(o.apr_gross)} · "
            f"net {apr_pct(o.apr_net)}",
            f"Break-even {hours(o.breakeven_h)} · basis {bps(o.basis_bps)}bp · next {esc(nxt)}",
        ]
    )


def _more(rest: Sequence[Crossing]) -> str:
    """ "… and 4 more: DOGE, WIF, SUI, TIA. /scan shows them all", names cut to fit."""
    names = list(dict.fromkeys(c.opportunity.asset for c in rest))
    listed = ""
    for i in range(len(names), 0, -1):
        listed = ", ".join(names[:i]) + ("" if i == len(names) else ", …")
        if len(listed) <= MORE_ROOM - 60:
            break
    else:
        listed = "…"
    return f"… and {len(rest)} more ({esc(listed)}): /scan shows them all"


# --- /signal and /usage ------------------------------------------------------------

VERDICT_MARK = {"take": "🟢", "watch": "🟡", "skip": "🔴"}
NOTE_LEN = 160


def signal_html(s: Signal) -> str:
    """The computed figures first, then the verdict, then who produced it and why."""
    o, now, v = s.facts.opportunity, s.facts.now, s.verdict
    legs = " · ".join(
        f"{side} {esc(venue(q.venue))} {pct(q.rate)}/{interval(q.interval_h)}"
        for side, q in (("long", o.long), ("short", o.short))
    )
    nxt = f"{countdown(o.long.next_funding_time, now)}|{countdown(o.short.next_funding_time, now)}"
    lines = [
        f"📡 <b>{esc(o.asset)} signal</b> · {clock(now)}",
        legs,
        f"{pct(o.spread_8h)}/8h · APR {apr_pct(o.apr_gross)} · net {apr_pct(o.apr_net)} "
        f"({o.horizon_h:g}h)",
        f"Break-even {hours(o.breakeven_h)} · basis {bps(o.basis_bps)}bp · next {esc(nxt)}",
        f"24h turnover {money(o.long.turnover_24h)} | {money(o.short.turnover_24h)}",
        "",
        f"{VERDICT_MARK[v.verdict]} <b>{v.verdict.upper()}</b> · confidence {v.confidence}/100",
        esc(v.rationale),
    ]
    if v.risks:
        lines += ["", "<b>Risks</b>", *(f"• {esc(r)}" for r in v.risks)]
    lines += ["", f"<i>{esc(signal_source(s))}</i>"]
    return "\n".join(lines)


def signal_source(s: Signal) -> str:
    if s.source == "model":
        cached = ", reused from a few minutes ago" if s.cached else ""
        return f"Written by {s.model}{cached} from the figures above, which the bot computed."
    return f"Rule-based verdict: {s.fallback}." if s.fallback else "Rule-based verdict."


def alert_note(s: Signal) -> str:
    """One line under an alert: the model's verdict and the start of its rationale."""
    v = s.verdict
    return (
        f"🤖 <b>{esc(s.facts.asset)}</b> {v.verdict} ({v.confidence}): "
        f"{esc(clean(v.rationale, NOTE_LEN))}"
    )


def usd(x: float) -> str:
    """$0, $0.00049, $0.0123, $12.34: small amounts keep their significant digits."""
    if x == 0:
        return "$0"
    if x < 0.01:
        return "$" + f"{x:.6f}".rstrip("0")
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def usage_html(
    windows: Sequence[tuple[str, LlmUsage]],
    model: str | None,
    prices: Prices,
    cache_hits: int,
) -> str:
    title = f"<b>Model usage</b> · {esc(model)}" if model else "<b>Model usage</b>"
    rows = [["", "calls", "failed", "tok in", "tok out", "cost"]]
    rows += [
        [
            name,
            str(u.calls),
            str(u.failed),
            f"{u.prompt_tokens:,}",
            f"{u.completion_tokens:,}",
            usd(u.cost_usd),
        ]
        for name, u in windows
    ]
    lines = [title, pre(narrow_table(rows))]
    if not model:
        lines.append("No model configured: /signal gives rule-based verdicts.")
    if prices.prompt_per_m or prices.completion_per_m:
        lines.append(
            f"Priced at ${prices.prompt_per_m:,.2f} in / ${prices.completion_per_m:,.2f} out "
            "per million tokens."
        )
    else:
        lines.append("No prices set: put LLM_PRICE_IN_PER_M and LLM_PRICE_OUT_PER_M in .env.")
    lines.append(f"Answers reused from the cache since start: {cache_hits}.")
    return "\n".join(lines)


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


# --- /status -------------------------------------------------------------------


def status_html(
    health: Sequence[VenueHealth],
    now: float,
    uptime_s: float,
    version: str,
    snapshot_age_s: float | None,
    interval_s: float,
    max_age_s: float,
    feeds: Mapping[str, FeedState] | None = None,
    storage: StorageHealth | None = None,
    held_alerts: int = 0,
) -> str:
    rows = [["venue", "age", "quotes", "state"]]
    for h in health:
        if h.last_error:
            state = "error"
        elif h.last_ok_at is None:
            state = "waiting"
        else:
            state = "degraded" if h.warnings else "ok"
        rows.append([venue(h.venue), ago(h.age_s(now)), str(h.quote_count), state])
    lines = [
        f"<b>Status</b> · up {ago(uptime_s)} · v{esc(version)}",
        pre(narrow_table(rows)),
        f"Refresh every {interval_s:g}s; last {ago(snapshot_age_s)} ago.",
    ]
    if storage is not None:
        lines.append(_storage_line(storage, now, held_alerts))
    if feeds:
        frows = [["feed", "state", "last msg", "drops"]]
        for name, f in feeds.items():
            last = "-" if f.last_message_at is None else ago(now - f.last_message_at)
            frows.append([venue(name), _feed_state(f, now), last, str(f.reconnects)])
        lines.append(pre(narrow_table(frows)))
        lines += [
            f"{esc(venue(name))} feed: {esc(f.last_error)}; polling by REST"
            for name, f in feeds.items()
            if not f.connected and f.last_error
        ]
    for h in health:
        if h.last_error:
            since = ago(now - (h.last_error_at or now))
            lines.append(f"{esc(venue(h.venue))}: {esc(h.last_error)} ({since} ago)")
        for w in h.warnings:
            lines.append(f"{esc(venue(h.venue))}: {esc(w)}")
    return "\n".join(lines)


def _storage_line(h: StorageHealth, now: float, held_alerts: int) -> str:
    if h.failing:
        since = ago(now - (h.failing_since or now))
        held = f"; {held_alerts} alert(s) held until it recovers" if held_alerts else ""
        return f"⚠ Storage failing for {since}: {esc(h.cause or 'unknown error')}{held}"
    last = "none yet" if h.last_write_at is None else f"{ago(now - h.last_write_at)} ago"
    return f"Storage ok; last write {last}."


def _feed_state(f: FeedState, now: float) -> str:
    """live only while messages arrive: an open connection quiet past the dialect's
    allowance is `silent 26s`, one that has not spoken yet `connected`."""
    if not f.connected:
        return "connecting" if f.disconnected_at is None else f"down {ago(now - f.disconnected_at)}"
    silent = f.silent_for(now)
    if silent is not None:
        return f"silent {ago(silent)}"
    return "live" if f.heard_since_connect else "connected"


def _health_notes(health: Sequence[VenueHealth], now: float, max_age_s: float) -> list[str]:
    """One line per venue whose data is missing or too old to use."""
    notes = []
    for h in health:
        age = h.age_s(now)
        if age is None:
            why = f": {h.last_error}" if h.last_error else ""
            notes.append(f"⚠ {venue(h.venue)}: no data yet{why}")
        elif age > max_age_s:
            why = f" ({h.last_error})" if h.last_error else ""
            notes.append(f"⚠ {venue(h.venue)}: data {ago(age)} old, left out{why}")
    return [esc(n if len(n) <= 200 else n[:199] + "…") for n in notes]


# --- splitting -----------------------------------------------------------------


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split on line boundaries under `limit`, closing and reopening an open <pre>.

    Lengths are counted on the HTML source, which is never shorter than the
    text Telegram counts, so every part is within Telegram's limit.
    """
    parts: list[str] = []
    current: list[str] = []
    size = 0
    in_pre = False  # whether the text so far leaves a <pre> open
    for raw in text.split("\n"):
        line = _fit(raw, limit - len("<pre></pre>") - 1)
        cost = utf16_len(line) + 1
        if current and size + cost + len("</pre>") > limit:
            parts.append("\n".join(current) + ("</pre>" if in_pre else ""))
            current, size = [], 0
            if in_pre:
                line, cost = "<pre>" + line, cost + len("<pre>")
        current.append(line)
        size += cost
        opened, closed = line.rfind("<pre>"), line.rfind("</pre>")
        if opened != closed:
            in_pre = opened > closed
    if current:
        parts.append("\n".join(current))
    return parts


def _fit(line: str, limit: int) -> str:
    """Cut a line longer than a whole message, never inside an entity like &amp;."""
    if utf16_len(line) <= limit:
        return line
    cut = line[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"

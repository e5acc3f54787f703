"""Telegram HTML for /funding, /scan, /size and /status."""

from __future__ import annotations

from collections.abc import Sequence

from arb.books import SizeParams
from arb.commands import StatusReport, StorageState
from arb.formats import ago, apr_pct, bps, countdown, hours, pct, usdc_margined
from arb.market import FeedView, VenueHealth
from arb.models import Opportunity, Quote
from arb.network import KIND_WORDS, same_cause
from arb.render import LEFT_OUT_MARK, size_lines, sizing_lines, usd
from arb.report import FundingReport, ScanReport, SizeReport, Sizing
from bot.render import clock, esc, narrow_table, pre, venue
from bot.render_risk import keys_line


def _leg_label(q: Quote) -> str:
    return venue(q.venue) + ("*" if usdc_margined(q) else "")


# --- /funding ------------------------------------------------------------------


NO_BEST_PAIR = "No best pair: fewer than two venues have a leg fresh and liquid enough."


def funding_html(
    r: FundingReport,
    health: Sequence[VenueHealth],
    max_age_s: float,
    sizing: Sizing | None = None,
) -> str:
    """/funding's reply; `sizing` is its best pair at the desk's notional (`arb.commands.
    size_opportunity`), shown under it."""
    now = r.taken_at
    title = f"<b>{esc(r.asset)} funding</b> · {clock(now)}"
    if not r.quotes:
        missing = f"No venue lists {esc(r.asset)} right now."
        return "\n".join([title, missing, *_health_notes(health, now, max_age_s)])
    marked = any(usdc_margined(q) for q in r.quotes)
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
    if r.best is not None and sizing is not None:
        lines += [esc(line) for line in sizing_lines(sizing)]
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


# --- /size ---------------------------------------------------------------------


def size_help(sizes: SizeParams) -> str:
    """/help's line on /size, with the desk's notional and slippage."""
    return (
        f"/size BTC [USD]: the asset's best carry at a notional per leg (default"
        f" {esc(usd(sizes.notional_usd))}; 50000, 50k and $1.5M all work) on the legs' order"
        " books: each entry's slippage, fees, net APR and break-even at that size, and how"
        f" much fits within {sizes.max_slippage_bps:g} bp of slippage."
    )


def size_html(r: SizeReport) -> str:
    """/size's reply: the sentence `arb-bot size` prints, under a title."""
    title = f"<b>{esc(r.asset)}</b> at {esc(usd(r.notional_usd))} per leg · {clock(r.taken_at)}"
    return "\n".join([title, *(esc(line) for line in size_lines(r))])


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


# --- /status -------------------------------------------------------------------


def status_html(r: StatusReport) -> str:
    health, now = r.health, r.now
    feeds = {h.venue: h.feed for h in health if h.feed is not None}
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
        f"<b>Status</b> · up {ago(r.uptime_s)} · v{esc(r.version)}",
        pre(narrow_table(rows)),
        f"Refresh every {r.interval_s:g}s; last {ago(r.snapshot_age_s)} ago.",
    ]
    if r.storage is not None:
        lines.append(_storage_line(r.storage, now, r.held_alerts))
    if (keys := keys_line(r.keys)) is not None:
        lines.append(keys)
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
        if (hint := unreachable_hint(health)) is not None:
            lines.append(hint)
    for h in health:
        if h.last_error:
            since = ago(now - (h.last_error_at or now))
            lines.append(f"{esc(venue(h.venue))}: {esc(h.last_error)} ({since} ago)")
        for w in h.warnings:
            lines.append(f"{esc(venue(h.venue))}: {esc(w)}")
    return "\n".join(lines)


def unreachable_hint(health: Sequence[VenueHealth]) -> str | None:
    """One line when every live feed failed to connect for the same network reason (no
    network, a DNS or firewall problem, WebSockets blocked): what to check, and ARB_FEEDS=0.
    """
    feeds = [h.feed for h in health if h.feed is not None]
    kind = same_cause([None if f.connected else f.unreachable for f in feeds])
    if kind is None:
        return None
    words = KIND_WORDS[kind]
    if any(h.ok for h in health):
        return (
            f"⚠ No venue's live feed can be reached ({words} for each) while REST answers:"
            " WebSockets may be blocked here. Set ARB_FEEDS=0 to poll by REST only."
        )
    return (
        f"⚠ No venue can be reached ({words} for each): check the network, DNS, firewall"
        " or proxy, or set ARB_FEEDS=0 to poll by REST only."
    )


def _storage_line(h: StorageState, now: float, held_alerts: int) -> str:
    if h.failing:
        since = ago(now - (h.failing_since or now))
        held = f"; {held_alerts} alert(s) held until it recovers" if held_alerts else ""
        return f"⚠ Storage failing for {since}: {esc(h.cause or 'unknown error')}{held}"
    last = "none yet" if h.last_write_at is None else f"{ago(now - h.last_write_at)} ago"
    return f"Storage ok; last write {last}."


def _feed_state(f: FeedView, now: float) -> str:
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

"""Telegram HTML for alerts: one message per chat topic, always under Telegram's limit."""

from __future__ import annotations

from collections.abc import Sequence

from arb.alerts import Crossing
from arb.formats import apr_pct, bps, countdown, hours, pct
from arb.render import at_size_words
from bot.render import MAX_MESSAGE, clock, esc, utf16_len, venue

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
    lines = [
        f"<b>{esc(o.asset)}</b>: long {esc(venue(o.long_venue))} / short "
        f"{esc(venue(o.short_venue))}",
        f"{pct(o.spread_8h)}/8h ({why}) · APR {apr_pct(o.apr_gross)} · net {apr_pct(o.apr_net)}",
        f"Break-even {hours(o.breakeven_h)} · basis {bps(o.basis_bps)}bp · next {esc(nxt)}",
    ]
    if c.sized is not None:  # sized only under ARB_MIN_CAPACITY_USD, when its books came
        lines.append(esc(at_size_words(c.sized)))
    return "\n".join(lines)


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

"""Telegram HTML for trading: the /open and /close preview, a trade as it runs and as it
ended (one message, edited), /trades, /halt and /resume, and /status's trading line.

Every figure comes from the trader's `Plan` or the journal's `JournalTrade`; nothing is
computed here but words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from arb.formats import apr_pct, coins, hours, price, utc
from arb.models import Halt, JournalOrder, JournalTrade
from arb.render import usd
from arb.trading.engine import Plan, PlannedLeg, TradingParams, moved
from bot.render import esc, narrow_table, pre, venue

STATE_WORDS = {
    "working": "⏳ Working…",
    "hedged": "✅ Hedged",
    "flat": "Flat: nothing is left on",
    "unhedged": "⚠️ UNHEDGED",
    "refused": "Not sent",
}


def mode_word(mode: str) -> str:
    return f"<b>{esc(mode.upper())}</b>"


# --- the preview ---------------------------------------------------------------------


def preview_html(
    plan: Plan, params: TradingParams, lots: Mapping[str, float], confirm_s: float
) -> str:
    """What Confirm would send, its cost and carry, the limits, and every problem.
    `lots`: each leg's venue lot, in coins, where its book was read."""
    kind = "Open" if plan.kind == "open" else "Close"
    title = (
        f"<b>{kind} {esc(plan.asset)}</b> · {mode_word(plan.mode)} · "
        f"{esc(usd(plan.notional_usd))} per leg"
    )
    lines = [title]
    lines += [_leg_line(leg, plan, lots) for leg in plan.legs if leg.coins]
    if plan.kind == "open":
        margin = sum(leg.margin_usd for leg in plan.legs)
        fees = [leg.fee_usd for leg in plan.legs if leg.fee_usd is not None]
        lines.append(
            f"Entry fees about ${sum(fees):,.2f}; "
            f"margin {esc(usd(margin))} at {params.leverage:g}x "
            f"({' + '.join(esc(usd(leg.margin_usd)) for leg in plan.legs)})"
        )
        lines.append(
            f"Net APR at this size {apr_pct(plan.apr_net)}, break-even {hours(plan.breakeven_h)}"
        )
    lines.append(limits_line(params))
    lines += [f"Note: {esc(n)}" for n in plan.notes]
    lines += [f"⚠️ {esc(p)}" for p in plan.problems]
    if plan.ok:
        sent = "recorded, nothing is sent" if plan.mode == "paper" else "sent to the venues"
        lines.append(
            f"Confirm within {confirm_s:g} s: both legs as IOC limit orders ({sent}), or neither."
        )
    else:
        lines.append("Nothing can be sent while a problem stands.")
    return "\n".join(lines)


def _leg_line(leg: PlannedLeg, plan: Plan, lots: Mapping[str, float]) -> str:
    verb = "Buy" if leg.side == "buy" else "Sell"
    role = leg.role if plan.kind == "open" else f"closes the {leg.role}"
    lot = lots.get(leg.venue)
    lot_words = f", lot {coins(lot)}" if lot else ""
    at = (
        f" at ~{price(leg.price)} (slippage {leg.slippage_bps:.1f} bp)"
        if leg.price is not None and leg.slippage_bps is not None
        else " (no book price)"
    )
    fee = f", fee ${leg.fee_usd:,.2f}" if leg.fee_usd is not None else ""
    return esc(
        f"{verb} {coins(leg.coins)} {plan.asset} on {venue(leg.venue)} {leg.symbol} ({role}"
        f"{lot_words}){at}{fee}"
    )


def limits_line(params: TradingParams) -> str:
    per_trade = usd(params.max_notional_usd) if params.max_notional_usd else "none"
    per_asset = usd(params.max_asset_usd) if params.max_asset_usd else "none"
    return esc(
        f"Limits: {per_trade} per trade and {per_asset} per asset (per leg); prices capped "
        f"{params.max_slippage_bps:g} bp past the best."
    )


def preview_ended(text: str, words: str) -> str:
    """The preview as it stays once Cancel (or time) ended it."""
    return f"{text}\n<b>{esc(words)}</b>"


# --- a trade, as it runs and as it ended --------------------------------------------


def trade_html(trade: JournalTrade) -> str:
    """The one message a trade is told in: its orders so far and where it stands."""
    kind = "Open" if trade.kind == "open" else "Close"
    lines = [
        f"<b>{kind} {esc(trade.asset)}</b> · trade #{trade.id} · {mode_word(trade.mode)}",
        esc(
            f"long {venue(trade.long_venue)} {trade.long_symbol} / short "
            f"{venue(trade.short_venue)} {trade.short_symbol}, {coins(trade.coins)} "
            f"{trade.asset} per leg"
        ),
    ]
    if trade.orders:
        lines.append(pre(orders_table(trade.orders)))
    lines += _reasons(trade.orders)
    lines.append(state_line(trade))
    if trade.state == "unhedged":
        lines.append(unhedged_warning(trade))
    return "\n".join(lines)


def orders_table(orders: Sequence[JournalOrder]) -> list[str]:
    rows = [["step", "venue", "side", "coins", "status", "filled", "avg"]]
    for o in orders:
        out = o.outcome
        status = (
            "sending" if out is None else "looking up" if out.status == "unknown" else (out.status)
        )
        rows.append(
            [
                o.step,
                venue(o.intent.venue),
                o.intent.side,
                coins(o.intent.coins),
                status,
                coins(out.filled_coins) if out is not None else "-",
                price(out.avg_price) if out is not None and out.avg_price else "-",
            ]
        )
    return narrow_table(rows)


def _reasons(orders: Sequence[JournalOrder]) -> list[str]:
    return [
        esc(f"{o.step} on {venue(o.intent.venue)}: {o.outcome.reason}")
        for o in orders
        if o.outcome is not None and o.outcome.reason
    ]


def state_line(trade: JournalTrade) -> str:
    words = STATE_WORDS.get(trade.state, trade.state)
    if trade.state == "working" or not trade.note:
        return f"<b>{esc(words)}</b>"
    return f"<b>{esc(words)}</b> · {esc(trade.note)}"


def unhedged_warning(trade: JournalTrade) -> str:
    long, short = moved(trade)
    return (
        f"⚠️ <b>Trade #{trade.id} left {esc(trade.asset)} unhedged: "
        f"{esc(venue(trade.long_venue))} {esc(f'{long:+g}')}, {esc(venue(trade.short_venue))} "
        f"{esc(f'{short:+g}')}. Trading is halted: check the venues, then /resume.</b>"
    )


# --- /trades -------------------------------------------------------------------------


def trades_html(trades: Sequence[JournalTrade], mode: str = "off") -> str:
    """The journal's trades, newest first; `mode` the desk's now (a trade left working in
    another mode waits for that mode, whose venues alone know its orders)."""
    if not trades:
        return "No trades yet. /open ASSET [USD] previews one."
    blocks = [f"<b>Last {len(trades)} trade{'s' if len(trades) != 1 else ''}</b>"]
    for t in trades:
        fees = sum(o.outcome.fee_usd or 0.0 for o in t.orders if o.outcome is not None)
        head = (
            f"<b>#{t.id}</b> {esc(utc(t.created_at))} · {esc(t.kind)} {esc(t.asset)} · "
            f"{esc(t.mode.upper())} · {esc(t.state)}"
            + (
                f" (reconciled when the desk runs ARB_TRADING={esc(t.mode)} again)"
                if t.state == "working" and t.mode != mode
                else ""
            )
        )
        legs = [
            esc(f"{o.step}: {o.intent.side} {coins(o.intent.coins)} on {venue(o.intent.venue)}"
                f" {o.intent.symbol}, filled {coins(o.outcome.filled_coins if o.outcome else 0)}"
                f" @ {price(o.outcome.avg_price) if o.outcome and o.outcome.avg_price else '-'}"
                f" ({o.outcome.status if o.outcome else 'no answer'})")
            for o in t.orders
        ]  # fmt: skip
        tail = [f"fees ${fees:,.2f}"]
        if t.note:
            tail.append(esc(t.note))
        blocks.append("\n".join([head, *legs, " · ".join(tail)]))
    return "\n\n".join(blocks)


# --- the halt and /status --------------------------------------------------------------


def halted_html(halt: Halt) -> str:
    return (
        f"⛔ <b>Trading halted</b> ({esc(halt.reason)}, by {esc(halt.by)}). Previews show it "
        "and Confirm is refused until /resume."
    )


def resumed_html(lifted: Halt | None) -> str:
    if lifted is None:
        return "Trading was not halted."
    return f"Trading resumed: the halt ({esc(lifted.reason)}, by {esc(lifted.by)}) is lifted."


def status_line(mode: str, ready: bool, venues: Sequence[str], halt: Halt | None) -> str:
    """/status's line on trading (shown when it is not off)."""
    where = ", ".join(venue(v) for v in venues) or "no venue"
    parts = [f"Trading: {mode_word(mode)} on {esc(where)}"]
    if not ready:
        parts.append("reconciling unfinished trades")
    if halt is not None:
        parts.append(f"⛔ halted ({esc(halt.reason)}, by {esc(halt.by)}): /resume lifts it")
    return " · ".join(parts)

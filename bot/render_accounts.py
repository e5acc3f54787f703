"""Telegram HTML for the account commands: balances, hedged books, funding earned."""

from __future__ import annotations

from collections.abc import Mapping

from arb.accounts.hedge import Book, books, funding_totals
from arb.accounts.models import Balance, FundingPayment, Position
from arb.formats import coins, price, utc
from bot.render import clock, esc, narrow_table, pre, venue

STATUS_MARK = {"hedged": "✅ hedged", "imbalanced": "⚖ imbalanced", "unhedged": "⚠ unhedged"}


def usd(x: float | None, sign: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+,.2f}" if sign else f"{x:,.2f}"


def _errors(errors: Mapping[str, str]) -> list[str]:
    return [f"⚠ {esc(e if len(e) <= 200 else e[:199] + '…')}" for _, e in sorted(errors.items())]


def balances_html(items: Mapping[str, list[Balance]], errors: Mapping[str, str], now: float) -> str:
    lines = [f"<b>Balances</b> · {clock(now)}"]
    rows = [["venue", "equity", "available", "uPnL"]]
    total = 0.0
    for name in sorted(items):
        for b in items[name]:
            total += b.equity
            rows.append([f"{venue(name)} {b.currency}", usd(b.equity), usd(b.available),
                         usd(b.unrealised_pnl, sign=True)])  # fmt: skip
    if len(rows) > 1:
        rows.append(["total", usd(total), "", ""])
        lines.append(pre(narrow_table(rows)))
    return "\n".join(lines + _errors(errors))


def _leg(p: Position) -> list[str]:
    lev = "-" if p.leverage is None else f"{p.leverage:g}x"
    return [
        f"{venue(p.venue)} {p.side} {coins(p.size)} @ {price(p.entry_price)}",
        f"  mark {price(p.mark_price)} uPnL {usd(p.unrealised_pnl, sign=True)}"
        f" {lev} liq {price(p.liquidation_price)}",
    ]


def _book_warning(b: Book) -> str | None:
    if b.status == "unhedged":
        side = "long" if b.long_size else "short"
        other = "short" if side == "long" else "long"
        where = ", ".join(venue(v) for v in b.venues)
        return f"{b.asset}: {side} {coins(abs(b.net_size))} on {where} has no {other} leg"
    if b.status == "imbalanced":
        larger = max(b.long_size, b.short_size)
        side = "long" if b.net_size > 0 else "short"
        share = abs(b.net_size) / larger * 100
        return f"{b.asset}: net {side} {coins(abs(b.net_size))} ({share:.0f}% of the larger side)"
    return None


def positions_html(
    items: Mapping[str, list[Position]], errors: Mapping[str, str], now: float
) -> str:
    found = books(p for ps in items.values() for p in ps)
    lines = [f"<b>Positions</b> · {clock(now)}"]
    warnings = [w for w in (_book_warning(b) for b in found) if w]
    lines += [f"⚠ {esc(w)}" for w in warnings]
    if not found:
        lines.append("No open positions." if items else "No venue answered.")
    for b in found:
        net = f"net {b.net_size:+,.6g} {b.asset}"
        if b.net_usd is not None:
            dollars = round(b.net_usd)
            net += f" ({'-' if dollars < 0 else '+'}${abs(dollars):,})"
        lines += [
            "",
            f"<b>{esc(b.asset)}</b> {STATUS_MARK[b.status]} · {esc(net)} · "
            f"uPnL {usd(b.unrealised_pnl, sign=True)}",
            pre(line for p in b.legs for line in _leg(p)),
        ]
    return "\n".join(lines + _errors(errors))


def pnl_html(
    items: Mapping[str, list[FundingPayment]],
    errors: Mapping[str, str],
    days: int,
    now: float,
    partial: Mapping[str, int] | None = None,
) -> str:
    totals = funding_totals(p for ps in items.values() for p in ps)
    lines = [f"<b>Funding earned, last {days}d</b> · {clock(now)}"]
    rows = [["venue", "asset", "amount"]]
    overall = 0.0
    for name in sorted(items):
        assets = totals.get(name, {})
        first = True
        for asset, amount in assets.items():
            rows.append([venue(name) if first else "", asset, usd(amount, sign=True)])
            first = False
        venue_total = sum(assets.values())
        overall += venue_total
        rows.append([venue(name) if first else "", "total", usd(venue_total, sign=True)])
    if len(rows) > 1:
        rows.append(["all", "", usd(overall, sign=True)])
        lines.append(pre(narrow_table(rows, left=2)))
        lines.append("Positive: received. Settle currency (USDT/USD).")
    for name, from_ms in sorted((partial or {}).items()):
        lines.append(
            f"⚠ {esc(venue(name))}: more settlements than the request limit pages through; "
            f"complete from {utc(from_ms / 1000)} only"
        )
    return "\n".join(lines + _errors(errors))

"""Telegram HTML for /signal, /usage and the model's notes under alerts."""

from __future__ import annotations

from collections.abc import Sequence

from arb.formats import apr_pct, bps, countdown, hours, interval, money, pct
from arb.signaler import Prices, Signal
from arb.signaler.answer import clean
from bot.render import clock, esc, narrow_table, pre, venue
from storage.store import LlmUsage

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

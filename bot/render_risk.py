"""Telegram HTML for the risk watch's surfaces: `/risk`, the key-permission warning sent
at start, and `/status`'s line about the keys.

`/risk` is built from the same plain-text lines as `arb-bot risk` (`arb.render`'s
`risk_book_lines` and `risk_account_line`), escaped, with the asset in bold and each
book marked by the worst of its figures against the desk's thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from arb import render as plain
from arb.accounts.models import KeyAccess
from arb.risk import BookRisk, RiskParams, RiskReport
from arb.venues.registry import key_variables
from bot.render import clock, esc, venue

CRITICAL, WARNING, FINE = "🔴", "🟠", "🟢"
SEP = " · "  # between the figures of one of `arb.render`'s risk lines


def book_mark(b: BookRisk, params: RiskParams) -> str:
    """🔴 a leg within ARB_LIQ_CRIT_PCT of liquidation; 🟠 within ARB_LIQ_WARN_PCT, a lone
    leg, drift over ARB_MAX_DRIFT_PCT or a carry under ARB_EXIT_APR; 🟢 none of these."""
    liq = b.worst_liq_pct
    if params.critical(liq):
        return CRITICAL
    warned = (
        b.status == "unhedged"
        or params.drifting(b.drift_pct)
        or params.losing(b.carry_apr)
        or params.near(liq)
    )
    return WARNING if warned else FINE


def book_html(b: BookRisk, params: RiskParams) -> list[str]:
    """One book's block: its mark and the asset in bold, then its legs; each figure past a
    threshold (a leg's liquidation, the drift, the carry) in bold, everything escaped."""
    head, *legs = plain.risk_book_lines(b)
    head = head.removeprefix(b.asset)
    marked = {"drift ": params.drifting(b.drift_pct), "carry ": params.losing(b.carry_apr)}
    head = _bold_parts(head, marked)
    lines = [f"{book_mark(b, params)} <b>{esc(b.asset)}</b>{head}"]
    for leg, line in zip(b.legs, legs, strict=False):
        lines.append(_bold_parts(line, {"liq ": params.near(leg.liq_distance_pct)}))
    return lines


def _bold_parts(line: str, marked: dict[str, bool]) -> str:
    """`line` escaped, its " · "-separated parts that start with a marked prefix in bold."""
    parts = line.split(SEP)
    for i, part in enumerate(parts):
        hit = any(on and part.startswith(prefix) for prefix, on in marked.items())
        parts[i] = f"<b>{esc(part)}</b>" if hit else esc(part)
    return SEP.join(parts)


def risk_html(r: RiskReport, params: RiskParams) -> str:
    """/risk: one block per book, worst first, then one line per account."""
    lines = [f"<b>Risk</b> · {clock(r.taken_at)}"]
    read = [a for a in r.accounts if a.error is None]
    if not r.books:
        lines.append("No open positions." if read else "No venue answered.")
    for b in r.books:
        lines += ["", *book_html(b, params)]
    if r.accounts:
        lines.append("")
    for a in r.accounts:
        line = esc(plain.risk_account_line(a))
        lines.append(f"⚠ {line}" if a.error is not None else line)
    return "\n".join(lines)


# --- keys -------------------------------------------------------------------------------


def key_words(k: KeyAccess) -> str:
    """What a key may do, in the words /status uses."""
    if k.can_withdraw:
        return "CAN WITHDRAW"
    if k.read_only:
        return "read-only"
    if k.can_trade:
        return "can trade"
    return "permissions unknown"


def keys_line(keys: Sequence[KeyAccess]) -> str | None:
    """/status's line about the keys: each keyed venue's permissions; None without keys."""
    if not keys:
        return None
    marked = [f"{esc(venue(k.venue))} {'⚠️ ' if k.can_withdraw else ''}{key_words(k)}" for k in keys]
    return "Keys: " + ", ".join(marked)


def withdraw_warning(k: KeyAccess) -> str:
    """The loud message every admin gets when a venue says its key can withdraw."""
    names = "/".join(key_variables(k.venue))
    said = f" ({esc(venue(k.venue))} says: {esc(k.detail)})" if k.detail else ""
    return (
        f"⚠️ <b>The {esc(venue(k.venue))} key can withdraw funds: replace it with a read-only "
        f"key.</b>{said}\n"
        "The desk only reads its accounts; a key that can withdraw lets whoever copies it "
        f"from this server move the money out. Create a read-only key, put it in {esc(names)} "
        "and restart the bot."
    )


def withdrawing(keys: Iterable[KeyAccess]) -> list[KeyAccess]:
    return [k for k in keys if k.can_withdraw]

"""What every Telegram reply is made of: escaping, narrow `<pre>` tables a phone shows
whole, venue labels, and splitting under Telegram's 4096-character limit.

Every dynamic value goes through `esc()`. The replies themselves are rendered per command
family: render_market (/funding, /scan, /status), render_alerts, render_signals
(/signal, /usage), render_history (/chart, /history), render_accounts.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence

from arb.formats import table, venue_label
from arb.venues.registry import labels

MAX_MESSAGE = 4096
SHOWN_ARG = 40  # characters of a bad argument echoed back
COVERAGE = f"Cross-venue perpetual funding on {labels()}."


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def venue(name: str) -> str:
    """A venue as every reply and chart names it (its short name, if it has one)."""
    return venue_label(name)


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

"""Binance USDⓈ-M live funding: the all-market mark-price stream.

One stream, `!markPrice@arr@1s`, carries every symbol's mark price, funding rate and next
funding time once a second, so one connection covers the whole venue whatever the number
of symbols. It lives on the routed `/market` endpoint (since 2026-04-23 an unrouted URL
connects and then hears nothing) and is named in the URL, in the combined form
`/market/stream?streams=...`, whose frames say which stream they carry:
`{"stream": "!markPrice@arr@1s", "data": [row, ...]}`. `parse` also reads the raw form
(`/market/ws/<stream>`: the bare array), single-symbol frames (`<symbol>@markPrice`), the
reply to a runtime SUBSCRIBE (`{"result": null, "id": 1}`) and its refusal.

Binance's rules per connection: at most 200 streams, at most 10 incoming messages a
second (more disconnects, and repeated disconnects ban the IP), and a life of at most
24 h. The server pings every 3 minutes and drops a connection that has not answered
within 10; the websockets library answers for us.

Frames flow from the handshake on, so some may be read just after the REST re-seed they
predate; each carries whole rows, not deltas, and the next one (a second later) puts the
book right.

The stream has no interval, turnover or open interest: those stay None in the updates and
the book keeps the REST client's values (fundingInfo, the 24 h ticker).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from arb.feeds.base import Dialect, FeedError, with_default_path
from arb.models import QuoteUpdate
from arb.venues.binance.common import NAME
from arb.venues.numbers import Num

MARK_PRICE_STREAM = "!markPrice@arr@1s"  # every symbol, every second (`!markPrice@arr`: 3 s)
MARK_PRICE_EVENT = "markPriceUpdate"
ROUTE = "/market"  # the routed endpoint of the mark-price streams


class MarkPriceUpdate(msgspec.Struct, gc=False):
    """One symbol's row, with the venue's field names. Decimals are strings, times numbers."""

    s: str  # the symbol, as REST's `symbol` (`1000PEPEUSDT`)
    p: Num | None = None  # mark price per contract unit, as REST's markPrice
    r: Num | None = None  # funding rate per the symbol's interval; "" on delivery contracts
    T: int | None = None  # next funding time, ms; 0 on delivery contracts


class Refusal(msgspec.Struct, gc=False):
    code: int | str | None = None
    msg: str = ""


class Frame(msgspec.Struct, gc=False):
    """Any object frame: a combined-stream wrapper (`stream`, `data`), one symbol's row
    (`e`), a reply to a request (`result`, `id`), or a refusal. Binance documents refusals
    flat (`{"code": 2, "msg": ...}`); live captures show them nested
    (`{"error": {"code": 2, "msg": ...}, "id": 1}`). Both are read."""

    data: msgspec.Raw = msgspec.Raw()
    e: str = ""
    error: Refusal | None = None
    code: int | str | None = None
    msg: str = ""


_frame = msgspec.json.Decoder(list[msgspec.Raw] | Frame)
_row = msgspec.json.Decoder(MarkPriceUpdate, strict=False)


def stream_url(base_url: str) -> str:
    """The combined-stream URL of the all-market mark prices under the routed base (a
    bare host: under `/market`, not on the unrouted root that hears nothing)."""
    return f"{with_default_path(base_url, ROUTE)}/stream?streams={MARK_PRICE_STREAM}"


def frame_rows(frame: str | bytes | msgspec.Raw) -> list[str | bytes | msgspec.Raw]:
    """The rows a frame carries, still encoded, so one junk row costs only itself.

    Raises ValueError when the frame is not JSON, FeedError when it is a refusal; JSON of
    no known shape carries no rows.
    """
    try:
        decoded = _frame.decode(frame)
    except msgspec.ValidationError:
        return []
    except msgspec.DecodeError as e:
        raise ValueError(f"binance frame is not JSON: {e}") from None
    if isinstance(decoded, list):
        return decoded
    refusal = decoded.error
    if refusal is None and decoded.code is not None:
        refusal = Refusal(decoded.code, decoded.msg)
    if refusal is not None:
        raise FeedError(f"binance refused: {refusal.msg} (code {refusal.code})")
    if decoded.data:
        return frame_rows(decoded.data)
    return [frame] if decoded.e == MARK_PRICE_EVENT else []


def _present(x: float | str | None) -> bool:
    """Whether the venue gave a value at all: "" and null say it has none, not junk."""
    return x is not None and x != ""


def row_update(row: str | bytes | msgspec.Raw, received_at: float) -> QuoteUpdate | None:
    """One row in the REST client's units, or None for a row to skip.

    Skipped: junk (no symbol, a number that does not parse, is not finite, or a
    non-positive price or time) and rows without a funding rate, which are delivery
    contracts the REST client drops too. A blank price or a 0 time is unknown: None.
    """
    try:
        u = _row.decode(row)
    except msgspec.DecodeError:
        return None
    if not u.s or not isinstance(u.r, float) or not math.isfinite(u.r):
        return None
    if _present(u.p) and not (isinstance(u.p, float) and math.isfinite(u.p) and u.p > 0):
        return None
    if u.T is not None and u.T < 0:
        return None
    return QuoteUpdate(
        venue=NAME,
        symbol=u.s,
        received_at=received_at,
        rate=u.r,
        next_funding_time=u.T or None,
        mark_price=u.p if _present(u.p) else None,
    )


class BinanceDialect(Dialect):
    """The mark-price stream named in the URL: nothing to send, nothing to remember.

    Every frame carries whole rows (not deltas), so there is no per-connection state to
    reset. No app-level ping: the server's protocol pings are answered by the library, and
    pings of our own would only spend the 10 incoming messages a second. Every symbol is
    pushed every second, so 10 s without a frame means the connection is dead.
    """

    venue = NAME
    silence_s = 10.0
    default_path = ROUTE

    def url(self, base_url: str) -> str:
        return stream_url(base_url)

    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        """Nothing: the URL names the one all-market stream, well within 200 streams and 10
        incoming messages a second however many symbols there are. (Per-symbol streams
        would need a connection per 200 symbols and SUBSCRIBE messages paced under 10/s.)"""
        return []

    def parse(self, frame: str | bytes, received_at: float) -> list[QuoteUpdate]:
        """Every funded symbol in the frame, including those the REST client does not keep
        (USDC pairs, symbols it has not listed yet): the book ignores what it does not hold."""
        updates = (row_update(row, received_at) for row in frame_rows(frame))
        return [u for u in updates if u is not None]

"""Bitget v2 public WebSocket: live funding of USDT-margined perpetuals from `ticker`.

The wire (api-doc/common/websocket-intro, contract/websocket/public/Tickers-Channel):

- URL: BITGET_WS_URL as configured, `wss://ws.bitget.com/v2/ws/public` by default.
- Subscribe: `{"op":"subscribe","args":[{"instType":"USDT-FUTURES","channel":"ticker",
  "instId":"BTCUSDT"},...]}`. Each arg is acked alone, `{"event":"subscribe","arg":{..}}`.
  An unknown instId is refused arg by arg, `{"event":"error","arg":{..},"code":30001,
  "msg":"instType:..,channel:ticker,instId:.. doesn't exist","op":"subscribe"}`, and a
  request the server cannot read gets `{"event":"error","code":30002,"msg":..}`.
- Push: `{"action":"snapshot","arg":{..},"data":[row],"ts":ms}`, the whole ticker row,
  every few hundred ms whether it moved or not. A row's `fundingRate` is per the symbol's
  own interval and `markPrice` per contract unit (a 1000X symbol's is per 1000 X), both as
  the REST tickers give them; `nextFundingTime` is ms (a string on the v2 pages, a number
  on the demo page); `quoteVolume` is 24 h turnover in USDT; `holdingAmount` is open
  interest in contract units; `symbolType` 2 marks a delivery contract. There is no
  interval: it stays the REST one. The last price (`lastPr` on the v2 pages, `last` on the
  demo page) has no place in a Quote, so neither spelling is read and both pass.
- Heartbeat: the text `ping`, answered by the text `pong` (neither is JSON).

Venue limits, and how this dialect keeps within them:
- a subscribe request's channels may total 4096 bytes: counted here as the whole message
  in UTF-8 (a few Bitget ids are not ASCII), stricter than the args alone; ~60 symbols.
- 10 messages a second per connection, pings and subscribes alike, or the server cuts the
  connection. `Feed` sends every subscribe message back to back on connect (base.py has
  no pacing), so a connection sends at most MAX_REQUESTS of them: ~600 symbols, in the
  order `symbols()` gives. The rest are left out with a warning and keep their REST quotes.
- 1000 channels and 240 subscribe requests per connection (per hour): 10 requests of ~60
  args stay far below both, so neither is counted. The docs' advice of fewer than 50
  channels a connection would take several connections; a `Feed` holds one.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Sequence
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import msgspec

from arb.feeds.base import Dialect, FeedError
from arb.models import QuoteUpdate
from arb.symbols import split_multiplier
from arb.venues.base import Num

log = logging.getLogger(__name__)

NAME = "bitget"
PUBLIC_PATH = "/v2/ws/public"
INST_TYPE = "USDT-FUTURES"
TICKER = "ticker"
QUOTE = "USDT"
PING = "ping"
PONG = "pong"
DELIVERY = 2  # `symbolType`: 1 perpetual, 2 delivery
MAX_REQUEST_BYTES = 4096
MAX_REQUESTS = 10  # per connection: all of them go out within the first second


# --- frame shapes ------------------------------------------------------------

# A row's number: None when absent or null, "" when blank, else the number (strict=False
# decodes the venue's strings). Anything else makes the row junk.
Field = Num | None


class Arg(msgspec.Struct, gc=False):
    instType: str = ""
    channel: str = ""
    instId: str = ""


class Frame(msgspec.Struct, gc=False):
    """Any JSON frame: a push (`action`, `arg`, `data`) or an event about one of our
    requests (`event` "subscribe" or "error", with `code`, `msg` and `op`). Rows stay raw
    so that one junk row is skipped instead of failing the frame."""

    event: str = ""
    action: str = ""
    arg: Arg | None = None
    data: list[msgspec.Raw] = msgspec.field(default_factory=list)
    code: str | int = ""
    msg: str = ""
    op: str = ""


class TickerRow(msgspec.Struct, gc=False):
    """The ticker fields a Quote needs, and the one that puts a contract out of scope."""

    instId: str = ""
    fundingRate: Field = None
    nextFundingTime: Field = None
    markPrice: Field = None
    quoteVolume: Field = None
    holdingAmount: Field = None
    symbolType: int | None = None


_frame = msgspec.json.Decoder(Frame, strict=False).decode
_row = msgspec.json.Decoder(TickerRow, strict=False).decode
_encode = msgspec.json.encode
EMPTY_REQUEST_BYTES = len(_encode({"op": "subscribe", "args": []}))


# --- parsing -----------------------------------------------------------------


@functools.lru_cache(maxsize=16_384)
def asset_of(symbol: str) -> str | None:
    """The canonical asset of a USDT perpetual's symbol (`1000PEPEUSDT` -> PEPE, as the REST
    Quote names it; its mark stays per 1000 PEPE); None for anything but the REST client's
    `{alphanumeric base}USDT`, which then costs no subscription and gives no update."""
    base = symbol.removesuffix(QUOTE)
    if base == symbol or not base.isalnum():
        return None
    return split_multiplier(base)[0]


def decode_frame(frame: str | bytes) -> Frame | None:
    """None for JSON that is not a frame of ours (skipped, the stream goes on); ValueError
    for a frame that is not JSON at all (the loop reconnects)."""
    try:
        return _frame(frame)
    except msgspec.ValidationError as e:
        # Debug only: tickers push several times a second, a changed format would flood.
        log.debug("bitget feed: skipped a frame: %s", e)
        return None
    except msgspec.DecodeError as e:
        raise ValueError(f"not JSON: {e}") from None


def _number(x: Field) -> float | None:
    """Blank, absent, NaN or infinite is unknown: None, never 0."""
    return x if isinstance(x, float) and math.isfinite(x) else None


def _positive(x: Field) -> float | None:
    n = _number(x)
    return n if n is not None and n > 0 else None


def _non_negative(x: Field) -> float | None:
    n = _number(x)
    return n if n is not None and n >= 0 else None


def to_update(row: TickerRow, received_at: float) -> QuoteUpdate | None:
    """A ticker row in the REST client's units, or None for a delivery contract, a symbol
    out of scope, or a row that says nothing. Open interest is valued at the row's own
    mark, as a quote-currency figure like every venue's in Quote."""
    if asset_of(row.instId) is None or row.symbolType == DELIVERY:
        return None
    mark = _positive(row.markPrice)
    holding = _non_negative(row.holdingAmount)
    next_funding = _positive(row.nextFundingTime)
    update = QuoteUpdate(
        venue=NAME,
        symbol=row.instId,
        received_at=received_at,
        rate=_number(row.fundingRate),
        next_funding_time=int(next_funding) if next_funding is not None else None,
        mark_price=mark,
        turnover_24h=_non_negative(row.quoteVolume),
        open_interest_value=holding * mark if holding is not None and mark is not None else None,
    )
    return None if update == QuoteUpdate(NAME, row.instId, received_at) else update


def ticker_updates(rows: Iterable[msgspec.Raw], received_at: float) -> list[QuoteUpdate]:
    """One update per readable row; a junk row is skipped, the others still count."""
    updates: list[QuoteUpdate] = []
    for raw in rows:
        try:
            update = to_update(_row(raw), received_at)
        except msgspec.ValidationError as e:
            log.debug("bitget feed: skipped a ticker row: %s", e)
            continue
        if update is not None:
            updates.append(update)
    return updates


def refusal(frame: Frame) -> str:
    """The venue's own words first: /status shows the first 200 characters."""
    return f"{frame.op or 'request'} refused: {frame.code} {frame.msg}"


# --- subscribing -------------------------------------------------------------


def ticker_arg(symbol: str) -> dict[str, str]:
    return {"instType": INST_TYPE, "channel": TICKER, "instId": symbol}


def batch_symbols(symbols: Iterable[str]) -> list[list[str]]:
    """Symbols in requests of at most MAX_REQUEST_BYTES each, in order, in at most
    MAX_REQUESTS requests; what does not fit is left out. Each arg costs its JSON bytes
    and a comma, each request the bytes of an empty one."""
    batches: list[list[str]] = []
    size = 0
    for symbol in symbols:
        cost = len(_encode(ticker_arg(symbol)))
        if batches and size + 1 + cost <= MAX_REQUEST_BYTES:
            batches[-1].append(symbol)
            size += 1 + cost
            continue
        if len(batches) == MAX_REQUESTS:
            break
        batches.append([symbol])
        size = EMPTY_REQUEST_BYTES + cost
    return batches


def subscribe_requests(symbols: Iterable[str]) -> list[str]:
    """Subscribe messages for the in-scope symbols, each once, within the venue's limits."""
    wanted = [s for s in dict.fromkeys(symbols) if asset_of(s) is not None]
    batches = batch_symbols(wanted)
    left_out = len(wanted) - sum(map(len, batches))
    if left_out:
        log.warning(
            "bitget feed: %d of %d symbols are past the %d subscribe requests one connection "
            "may send at once; they keep their REST quotes",
            left_out,
            len(wanted),
            MAX_REQUESTS,
        )
    return [
        _encode({"op": "subscribe", "args": [ticker_arg(s) for s in batch]}).decode()
        for batch in batches
    ]


# --- the dialect -------------------------------------------------------------


class BitgetDialect(Dialect):
    """`ticker` of the given USDT perpetuals.

    Heartbeat: the text `ping` every 25 s. The docs ask for one every 30 s; one mirror of
    them says a connection without a ping for 30 s is cut (the current page says 2 min),
    so a ping exactly every 30 s would race that cut. A `pong` is due after every ping
    and tickers push several times a second, so 40 s without any frame means a pong is
    15 s late: the connection is dead.

    No per-connection state: every push is a whole ticker row, and a field a row lacks
    stays None, which the book reads as unchanged; `reset()` has nothing to forget.
    """

    venue: ClassVar[str] = NAME
    ping_every_s: ClassVar[float] = 25.0
    silence_s: ClassVar[float] = 40.0

    def url(self, base_url: str) -> str:
        """BITGET_WS_URL names the public stream itself; a bare host gets the public path,
        since the host alone serves no stream."""
        parts = urlsplit(base_url)
        if parts.path in ("", "/"):
            return urlunsplit(parts._replace(path=PUBLIC_PATH))
        return base_url

    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        return subscribe_requests(symbols)

    def ping(self) -> str:
        return PING

    def parse(self, frame: str | bytes, received_at: float) -> list[QuoteUpdate]:
        if frame in (PONG, PONG.encode()):
            return []
        msg = decode_frame(frame)
        if msg is None:
            return []
        if msg.event == "error":
            raise FeedError(refusal(msg))
        arg = msg.arg
        if msg.event or arg is None or (arg.instType, arg.channel) != (INST_TYPE, TICKER):
            return []  # an ack, or a channel we did not ask for
        return ticker_updates(msg.data, received_at)

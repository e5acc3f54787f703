"""Bitget v2 public WebSocket: live funding of USDT-margined perpetuals from `ticker`.

The wire (api-doc/common/websocket-intro, contract/websocket/public/Tickers-Channel):

- URL: BITGET_WS_URL as configured, `wss://ws.bitget.com/v2/ws/public` by default.
- Subscribe: `{"op":"subscribe","args":[{"instType":"USDT-FUTURES","channel":"ticker",
  "instId":"BTCUSDT"},...]}`. Each arg is acked alone, `{"event":"subscribe","arg":{..}}`.
  An unknown instId is refused arg by arg, `{"event":"error","arg":{..},"code":30001,
  "msg":"instType:..,channel:ticker,instId:.. doesn't exist","op":"subscribe"}`: that
  symbol is reported refused and the others stream on. A request the server cannot read
  gets `{"event":"error","code":30002,"msg":..}`, which names none: the loop reconnects.
- Push: `{"action":"snapshot","arg":{..},"data":[row],"ts":ms}`, the whole ticker row,
  every few hundred ms whether it moved or not. A row's `fundingRate` is per the symbol's
  own interval and `markPrice` per contract unit (a 1000X symbol's is per 1000 X), both as
  the REST tickers give them; `nextFundingTime` is ms (a string on the v2 pages, a number
  on the demo page); `quoteVolume` is 24 h turnover in USDT; `holdingAmount` is open
  interest in contract units; `symbolType` 2 marks a delivery contract and a
  `deliveryTime` (REST's sign of a contract that expires) is read the REST client's way
  if a row carries one. There is no
  interval: it stays the REST one. The last price (`lastPr` on the v2 pages, `last` on the
  demo page) has no place in a Quote, so neither spelling is read and both pass.
- Heartbeat: the text `ping`, answered by the text `pong` (neither is JSON).

Venue limits, and how this dialect keeps within them:
- a subscribe request's channels may total 4096 bytes: counted here as the whole message
  in UTF-8 (a few Bitget ids are not ASCII), stricter than the args alone; ~60 symbols.
- 10 messages a second per connection, pings and subscribes alike, or the server cuts the
  connection: `max_messages_per_s` has `Feed` send at most 8 a second, room to spare for
  timer jitter.
- 1000 channels per connection: symbols past MAX_CHANNELS, in the order `symbols()`
  gives, are left out with a warning and keep their REST quotes. 240 subscribe requests
  per connection (per hour): ~17 requests of ~60 args stay far below, so they are not
  counted. The docs' advice of fewer than 50 channels a connection would take several
  connections; a `Feed` holds one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import ClassVar

import msgspec

from arb.feeds.base import Dialect, FeedError, SymbolsRefused, decode_or_skip, row_updates
from arb.models import QuoteUpdate
from arb.venues.bitget.common import NAME, asset_of
from arb.venues.bitget.rest import expires
from arb.venues.numbers import Num, to_non_negative, to_number, to_positive

log = logging.getLogger(__name__)

PUBLIC_PATH = "/v2/ws/public"
INST_TYPE = "USDT-FUTURES"
TICKER = "ticker"
PING = "ping"
PONG = "pong"
DELIVERY = 2  # `symbolType`: 1 perpetual, 2 delivery
MAX_REQUEST_BYTES = 4096
MAX_CHANNELS = 1000  # per connection


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
    """The ticker fields a Quote needs, and the ones that put a contract out of scope."""

    instId: str = ""
    fundingRate: Field = None
    nextFundingTime: Field = None
    markPrice: Field = None
    quoteVolume: Field = None
    holdingAmount: Field = None
    symbolType: int | None = None
    deliveryTime: str | float | None = None


_frame = msgspec.json.Decoder(Frame, strict=False).decode
_row = msgspec.json.Decoder(TickerRow, strict=False).decode
_encode = msgspec.json.encode
EMPTY_REQUEST_BYTES = len(_encode({"op": "subscribe", "args": []}))


# --- parsing -----------------------------------------------------------------


def to_update(row: TickerRow, received_at: float) -> QuoteUpdate | None:
    """A ticker row in the REST client's units, or None for a delivery contract, a symbol
    out of scope, or a row that says nothing. Open interest is valued at the row's own
    mark, as a quote-currency figure like every venue's in Quote."""
    if asset_of(row.instId) is None or row.symbolType == DELIVERY or expires(row.deliveryTime):
        return None
    mark = to_positive(row.markPrice)
    holding = to_non_negative(row.holdingAmount)
    next_funding = to_positive(row.nextFundingTime)
    update = QuoteUpdate(
        venue=NAME,
        symbol=row.instId,
        received_at=received_at,
        rate=to_number(row.fundingRate),
        next_funding_time=int(next_funding) if next_funding is not None else None,
        mark_price=mark,
        turnover_24h=to_non_negative(row.quoteVolume),
        open_interest_value=holding * mark if holding is not None and mark is not None else None,
    )
    return None if update == QuoteUpdate(NAME, row.instId, received_at) else update


def refusal(frame: Frame) -> FeedError:
    """The venue's own words first (/status shows the first 200 characters); a refusal of
    one arg names its symbol."""
    text = f"{frame.op or 'request'} refused: {frame.code} {frame.msg}"
    if frame.arg is None or not frame.arg.instId:
        return FeedError(text)
    return SymbolsRefused(text, [frame.arg.instId])


# --- subscribing -------------------------------------------------------------


def ticker_arg(symbol: str) -> dict[str, str]:
    return {"instType": INST_TYPE, "channel": TICKER, "instId": symbol}


def batch_symbols(symbols: Iterable[str]) -> list[list[str]]:
    """Symbols in requests of at most MAX_REQUEST_BYTES each, in order, the first
    MAX_CHANNELS of them. Each arg costs its JSON bytes and a comma, each request the
    bytes of an empty one."""
    batches: list[list[str]] = []
    size = 0
    for n, symbol in enumerate(symbols):
        if n == MAX_CHANNELS:
            break
        cost = len(_encode(ticker_arg(symbol)))
        if batches and size + 1 + cost <= MAX_REQUEST_BYTES:
            batches[-1].append(symbol)
            size += 1 + cost
            continue
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
            "bitget feed: %d of %d symbols are past the %d channels of one connection; they "
            "keep their REST quotes",
            left_out,
            len(wanted),
            MAX_CHANNELS,
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
    default_path: ClassVar[str] = PUBLIC_PATH
    max_messages_per_s: ClassVar[float | None] = 8.0  # the venue cuts a connection past 10

    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        return subscribe_requests(symbols)

    def ping(self) -> str:
        return PING

    def parse(self, frame: str | bytes, received_at: float) -> list[QuoteUpdate]:
        if frame in (PONG, PONG.encode()):
            return []
        msg = decode_or_skip(_frame, frame, NAME)
        if msg is None:
            return []
        if msg.event == "error":
            raise refusal(msg)
        arg = msg.arg
        if msg.event or arg is None or (arg.instType, arg.channel) != (INST_TYPE, TICKER):
            return []  # an ack, or a channel we did not ask for
        return row_updates(msg.data, _row, to_update, received_at, NAME)

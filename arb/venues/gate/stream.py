"""Gate v4 public futures stream: live funding, mark and turnover from `futures.tickers`.

The wire (Gate Futures WebSocket v4 docs, 2026: API overview, System API, Tickers API):

- URL: GATE_WS_URL, `wss://fx-ws.gateio.ws/v4/ws/usdt` by default: the USDT-settled
  perpetuals. A bare host gets that path, since the pathless URL serves BTC-settled ones.
- Subscribe: `{"time":s,"channel":"futures.tickers","event":"subscribe","payload":[..]}`
  with contract names (`BTC_USDT`). Each request is answered once: `"result":{"status":
  "success"}` with no error, or a refusal carrying `"error":{"code":n,"message":..}` (1
  invalid argument struct, 2 invalid argument, 3 service error, 4 authentication fail).
- Push: `{"channel":"futures.tickers","event":"update","result":[row,..]}`, each row a
  contract's whole ticker (no deltas). `funding_rate` is the coming settlement's rate per
  the contract's own interval and `mark_price` is per coin, both as in REST `contracts`;
  `volume_24h_quote` is the 24 h turnover in USDT. The rows carry neither the interval
  nor the next settlement time, and open interest only as `total_size` in contracts (its
  value needs the contract's `quanto_multiplier`): those stay the REST snapshot's.
- Heartbeat: the server sends protocol pings and cuts a client that leaves them
  unanswered; the websockets library answers them by itself. The app-level
  `{"time":s,"channel":"futures.ping"}` is optional on the venue's side, but its
  `futures.pong` is a frame the loop sees, while protocol pongs are not: tickers push
  only when a ticker changes, so without it a quiet connection would look dead.
- Before a service upgrade the server sends a system notice of type `upgrade`;
  reconnecting at once beats being cut off.

No per-connection state: every push is whole, and a refusal echoes the payload it refused.
The venue refuses a whole request: the contracts its message names are reported refused,
and the rest of that payload is asked for again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import msgspec

from arb.feeds.base import Dialect, FeedError, SymbolsRefused, decode_or_skip, row_updates
from arb.models import QuoteUpdate
from arb.venues.gate.common import NAME
from arb.venues.numbers import Num, to_non_negative, to_number, to_positive

log = logging.getLogger(__name__)

USDT_PATH = "/v4/ws/usdt"
TICKERS = "futures.tickers"
PING = "futures.ping"
SYSTEM = "futures.system"
SUBSCRIBE = "subscribe"
UPDATE = "update"
UPGRADE = "upgrade"
USDT_SUFFIX = "_USDT"
# The futures docs set no limit on a request's payload, on subscriptions per connection
# or on requests. Gate's maintainers said the same of the spot v4 stream
# (gateio/gatews#25: "no limit on subscriptions", "no limit for message sent"; only a
# client too slow to read its pushes is cut off). 100 contracts keep a request near
# 1.5 KB, so a whole market of ~600 is six requests and six answers on one connection.
CONTRACTS_PER_REQUEST = 100


# --- frame shapes ------------------------------------------------------------

NULL = msgspec.Raw(b"null")  # a frame without `result` reads as `"result":null`


class Refusal(msgspec.Struct, gc=False):
    code: int | str = ""
    message: str = ""


class Frame(msgspec.Struct, gc=False):
    """Any frame: a push, an answer to one of our requests (ack, refusal, pong), or a
    system notice. `result` stays raw: rows in a push, a status in an ack, null in a
    pong. The docs print the upgrade notice bare (`type`, `msg` at the top) while their
    other system notices come as `futures.system` results: both are read."""

    channel: str = ""
    event: str = ""
    payload: Any = None  # a refusal echoes the request's: its contracts
    error: Refusal | None = None
    result: msgspec.Raw = NULL
    type: str = ""
    msg: str = ""


class Notice(msgspec.Struct, gc=False):
    type: str = ""
    msg: str = ""


class TickerRow(msgspec.Struct, gc=False):
    """The fields of a ticker row a Quote takes; the venue writes numbers as strings."""

    contract: str
    funding_rate: Num = ""
    mark_price: Num = ""
    volume_24h_quote: Num = ""


_frame = msgspec.json.Decoder(Frame, strict=False).decode
_rows = msgspec.json.Decoder(list[msgspec.Raw]).decode
_row = msgspec.json.Decoder(TickerRow, strict=False).decode
_notice = msgspec.json.Decoder(Notice).decode
_encode = msgspec.json.encode


# --- parsing -----------------------------------------------------------------


def is_usdt_contract(name: str) -> bool:
    return name.endswith(USDT_SUFFIX) and len(name) > len(USDT_SUFFIX)


def to_update(row: TickerRow, received_at: float) -> QuoteUpdate | None:
    """A ticker row in the REST client's units, or None when it names no USDT
    contract or carries none of the figures a Quote takes."""
    if not is_usdt_contract(row.contract):
        return None
    rate, mark = to_number(row.funding_rate), to_positive(row.mark_price)
    turnover = to_non_negative(row.volume_24h_quote)
    if rate is None and mark is None and turnover is None:
        return None
    return QuoteUpdate(
        venue=NAME,
        symbol=row.contract,
        received_at=received_at,
        rate=rate,
        mark_price=mark,
        turnover_24h=turnover,
    )


def ticker_updates(result: msgspec.Raw, received_at: float) -> list[QuoteUpdate]:
    """One update per readable row; a junk row is skipped, not the frame."""
    try:
        rows = _rows(result)
    except msgspec.ValidationError as e:
        log.debug("gate feed: skipped a push without rows: %s", e)
        return []
    return row_updates(rows, _row, to_update, received_at, NAME)


def refusal(frame: Frame, error: Refusal) -> FeedError:
    """The venue's words; SymbolsRefused when they name contracts of the refused payload
    (or it held only one), the rest of that payload to ask for again."""
    text = f"{frame.channel or 'request'} {frame.event} refused: {error.code} {error.message}"
    echoed = frame.payload if isinstance(frame.payload, list) else []
    payload = [c for c in echoed if isinstance(c, str)]
    named = [c for c in payload if c in error.message] or (payload if len(payload) == 1 else [])
    if frame.event != SUBSCRIBE or not named:
        return FeedError(text)
    return SymbolsRefused(text, named, [c for c in payload if c not in named])


def system_notice(frame: Frame) -> Notice | None:
    if frame.type:
        return Notice(frame.type, frame.msg)
    if frame.channel != SYSTEM:
        return None
    try:
        return _notice(frame.result)
    except msgspec.ValidationError:
        return None


# --- subscribing -------------------------------------------------------------


def subscribe_requests(contracts: Iterable[str], now_s: int) -> list[str]:
    """Subscribe requests for the USDT contracts, each once, CONTRACTS_PER_REQUEST a
    request. Another name would get the whole request refused (and the connection
    retried forever), so it is left out with a warning."""
    unique = list(dict.fromkeys(contracts))
    wanted = [c for c in unique if is_usdt_contract(c)]
    if len(wanted) < len(unique):
        log.warning(
            "gate feed: %d of %d symbols are not USDT contracts; not subscribed",
            len(unique) - len(wanted),
            len(unique),
        )
    return [
        _encode(
            {
                "time": now_s,
                "channel": TICKERS,
                "event": SUBSCRIBE,
                "payload": wanted[i : i + CONTRACTS_PER_REQUEST],
            }
        ).decode()
        for i in range(0, len(wanted), CONTRACTS_PER_REQUEST)
    ]


# --- the dialect -------------------------------------------------------------


class GateDialect(Dialect):
    venue: ClassVar[str] = NAME
    ping_every_s: ClassVar[float] = 10.0  # the docs' demo client pings every 10 s
    # A pong is due every 10 s even when no ticker changes: 30 s without any frame
    # means three went missing.
    silence_s: ClassVar[float] = 30.0
    default_path: ClassVar[str] = USDT_PATH  # the pathless URL serves BTC-settled contracts

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # the `time` field of requests, in seconds

    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        """Every contract on this one connection, CONTRACTS_PER_REQUEST a request: the
        venue documents no limit to stay within."""
        return subscribe_requests(symbols, int(self._clock()))

    def ping(self) -> str:
        """The loop asks once per connection and resends the same frame, so `time` is the
        connection's start. The docs' own example sends 123456: the server does not check it."""
        return _encode({"time": int(self._clock()), "channel": PING}).decode()

    def parse(self, frame: str | bytes, received_at: float) -> list[QuoteUpdate]:
        msg = decode_or_skip(_frame, frame, NAME)
        if msg is None:
            return []
        if msg.error is not None:
            raise refusal(msg, msg.error)
        notice = system_notice(msg)
        if notice is not None and notice.type == UPGRADE:
            raise FeedError(f"gate service upgrade notice: {notice.msg}")
        if msg.channel != TICKERS or msg.event != UPDATE:
            return []  # an ack, a pong, another system notice
        return ticker_updates(msg.result, received_at)

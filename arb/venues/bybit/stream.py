"""Bybit v5 public linear stream: live funding from the `tickers.{symbol}` topic.

The stream is `wss://stream.bybit.com/v5/public/linear` (testnet and the regional hosts
serve the same path). After a subscription the first push per symbol is a `snapshot` of
the whole ticker and the rest are `delta`s carrying only what changed: a field missing
from a delta is unchanged, never zero. So the dialect keeps each symbol's merged ticker
for the life of one connection and emits the merged values, in the units the REST client
gives `Quote` (`arb.venues.bybit.parse_tickers`): the ticker's fields and names are the
REST ones.

Venue limits (docs/v5/ws/connect, public channels):
- the `args` of one connection may total at most 21,000 characters; counted here as the
  JSON text of every request's args array, quotes and commas included, since the docs do
  not say how they count. Symbols past the limit are not subscribed (a warning names how
  many) and keep their REST quotes.
- linear has no per-request arg count limit; requests carry 100 args each, so a whole
  market is a handful of frames and acks.
- heartbeat: `{"op":"ping"}` every 20 s; without pings or data the server cuts the
  connection after about 10 minutes.

A refusal (`success:false`) lists the topics it refused in `ret_msg`, `Invalid topic
:[tickers.NOPEUSDT]`: those symbols are reported refused and the feed goes on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import ClassVar

import msgspec

from arb.feeds.base import Dialect, FeedError, SymbolsRefused, decode_or_skip
from arb.models import QuoteUpdate
from arb.venues.bybit.common import NAME, classify
from arb.venues.numbers import Num, to_number, to_positive

log = logging.getLogger(__name__)

LINEAR_PATH = "/v5/public/linear"
TICKERS = "tickers."  # the topic is "tickers.{symbol}"
MAX_ARGS_CHARS = 21_000  # per connection
ARGS_PER_REQUEST = 100
PING = '{"op":"ping"}'
REFUSED_TOPIC = re.compile(r"tickers\.([^\s,\[\]]+)")


# --- frame shapes ------------------------------------------------------------

# A ticker field: None when this push leaves it out (unchanged), "" when the venue
# blanks it (unknown), else the number (strict=False decodes the venue's strings).
Field = Num | None


class TickerFields(msgspec.Struct, gc=False):
    """`tickers.{symbol}` data: the fields a Quote needs, plus the two that put a
    contract out of scope (a delisting perpetual, a pre-market one)."""

    symbol: str
    fundingRate: Field = None
    fundingIntervalHour: Field = None  # hours, unlike instruments-info's minutes
    nextFundingTime: Field = None
    markPrice: Field = None
    turnover24h: Field = None
    openInterestValue: Field = None
    deliveryTime: Field = None
    curPreListingPhase: str | None = None


class Frame(msgspec.Struct, gc=False):
    """Any frame on the stream: a topic push (`topic`, `type`, `data`), or the reply to
    one of our ops (`op`, `success`, `ret_msg`): a subscribe ack or refusal, a pong."""

    topic: str = ""
    type: str = ""
    data: TickerFields | None = None
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""


_decode = msgspec.json.Decoder(Frame, strict=False).decode


# --- parsing -----------------------------------------------------------------


def merge(base: TickerFields | None, delta: TickerFields) -> TickerFields:
    """A delta over the ticker so far: every field the delta leaves out keeps its value."""
    if base is None:
        return delta  # no snapshot yet: what the delta carries is all that is known
    changed = {f: v for f in delta.__struct_fields__ if (v := getattr(delta, f)) is not None}
    return msgspec.structs.replace(base, **changed)


def to_update(ticker: TickerFields, received_at: float) -> QuoteUpdate | None:
    """The merged ticker as an QuoteUpdate in the REST client's units, or None for a contract
    the REST client leaves out (dated future, delisting perpetual, pre-market).

    `mark_price` is per contract, as in the REST Quote (1000PEPEUSDT: per 1000 PEPE), and
    `rate` is per the symbol's own interval; "0" times and intervals mean none.
    """
    if classify(ticker.symbol) is None:
        return None
    if ticker.deliveryTime or ticker.curPreListingPhase:
        return None  # as in the REST client: a perpetual being delisted, a pre-market one
    next_funding = to_positive(ticker.nextFundingTime)
    return QuoteUpdate(
        venue=NAME,
        symbol=ticker.symbol,
        received_at=received_at,
        rate=to_number(ticker.fundingRate),
        next_funding_time=int(next_funding) if next_funding is not None else None,
        mark_price=to_positive(ticker.markPrice),
        interval_h=to_positive(ticker.fundingIntervalHour),
        turnover_24h=to_number(ticker.turnover24h),
        open_interest_value=to_number(ticker.openInterestValue),
    )


# --- subscribing -------------------------------------------------------------


def batch_topics(topics: Iterable[str], per_request: int, max_chars: int) -> list[list[str]]:
    """Topics in requests of at most `per_request`, in order, until the args of all the
    requests would pass `max_chars` as JSON text: each topic costs its quotes and a comma
    (or a closing bracket), each request one opening bracket more."""
    batches: list[list[str]] = []
    used = 0
    for topic in topics:
        opens = not batches or len(batches[-1]) == per_request
        cost = len(topic) + 3 + opens
        if used + cost > max_chars:
            break
        if opens:
            batches.append([])
        batches[-1].append(topic)
        used += cost
    return batches


def subscribe_requests(symbols: Iterable[str]) -> list[str]:
    """Subscribe frames for the in-scope symbols (the REST client's `classify`: no budget
    spent on dated futures), each once, within the venue's limits."""
    topics = [TICKERS + s for s in dict.fromkeys(symbols) if classify(s) is not None]
    batches = batch_topics(topics, ARGS_PER_REQUEST, MAX_ARGS_CHARS)
    left_out = len(topics) - sum(map(len, batches))
    if left_out:
        log.warning(
            "bybit feed: %d of %d symbols are past the %d-character args limit of one "
            "connection; they keep their REST quotes",
            left_out,
            len(topics),
            MAX_ARGS_CHARS,
        )
    return [
        msgspec.json.encode({"req_id": f"sub-{n}", "op": "subscribe", "args": batch}).decode()
        for n, batch in enumerate(batches, 1)
    ]


def refusal(msg: Frame) -> FeedError:
    """The venue's refusal, as SymbolsRefused when its message names the topics."""
    text = f"{msg.op or 'request'} refused: {msg.ret_msg}"
    symbols = REFUSED_TOPIC.findall(msg.ret_msg)
    if not symbols or "already subscribed" in msg.ret_msg.lower():
        return FeedError(text)  # a repeat is not a refusal of the symbol
    return SymbolsRefused(text, symbols)


# --- the dialect -------------------------------------------------------------


class BybitDialect(Dialect):
    venue: ClassVar[str] = NAME
    ping_every_s: ClassVar[float] = 20.0  # the venue's recommendation
    # A pong is due every 20 s even when no ticker moves: 30 s without a frame means one
    # went missing, long before the venue's own 10-minute cut.
    silence_s: ClassVar[float] = 30.0
    default_path: ClassVar[str] = LINEAR_PATH

    def __init__(self) -> None:
        self._tickers: dict[str, TickerFields] = {}  # merged per symbol, this connection only

    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        return subscribe_requests(symbols)

    def ping(self) -> str:
        return PING

    def parse(self, frame: str | bytes, received_at: float) -> list[QuoteUpdate]:
        msg = decode_or_skip(_decode, frame, NAME)
        if msg is None:
            return []
        if msg.success is False:
            raise refusal(msg)
        data = msg.data
        if data is None or not msg.topic.startswith(TICKERS):
            return []  # an ack, a pong, or a topic we did not ask for
        ticker = data if msg.type == "snapshot" else merge(self._tickers.get(data.symbol), data)
        self._tickers[data.symbol] = ticker
        update = to_update(ticker, received_at)
        return [update] if update is not None else []

    def reset(self) -> None:
        """A new connection starts with snapshots again; an old base must not fill in a
        delta that arrives before them."""
        self._tickers.clear()

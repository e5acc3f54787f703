"""OKX v5 public WebSocket: every linear swap's funding and mark price, live.

The wire (docs-v5 WebSocket overview, "Funding rate channel", "Mark price channel"):

- URL: OKX_WS_URL as configured, `wss://ws.okx.com:8443/ws/v5/public` by default.
- Subscribe: `{"id":"1","op":"subscribe","args":[{"channel":"funding-rate","instId":
  "BTC-USDT-SWAP"},...]}`. Both channels take one instId per arg, so a swap costs two
  args. Each arg is acked alone (`{"id":..,"event":"subscribe","arg":{..},"connId":..}`);
  a refusal is `{"id":..,"event":"error","code":"60012","msg":..}`. A refusal of one
  arg names its swap in `msg` (`Wrong URL or channel:funding-rate,instId:X doesn't
  exist`): that swap is reported refused and the others, acked arg by arg, stream on.
- Push: `{"arg":{"channel":..,"instId":..},"data":[row]}`. `funding-rate` rows are the
  REST rows (every 30 to 90 s): `fundingTime` is the upcoming settlement and the
  interval exists only as `nextFundingTime - fundingTime`. `mark-price` rows carry
  `markPx`, per coin like REST's (every 200 ms while it moves, 10 s when it does not).
  Neither carries turnover or open interest: those stay the REST snapshot's.
- Heartbeat: the server drops a connection that has no subscription or has pushed
  nothing for 30 s; a client that heard nothing for N < 30 s sends the text `ping`
  (not JSON) and gets the text `pong`.
- Before a service upgrade the server sends `{"event":"notice","code":"64008"}` 30 s
  ahead: reconnecting at once beats being cut off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import msgspec

from arb.feeds.base import Dialect, FeedError, SymbolsRefused, row_updates
from arb.models import QuoteUpdate
from arb.venues.numbers import RawNum, to_number
from arb.venues.okx.common import NAME, interval_hours

log = logging.getLogger(__name__)

FUNDING_RATE = "funding-rate"
MARK_PRICE = "mark-price"
CHANNELS = (FUNDING_RATE, MARK_PRICE)
PING = "ping"
PONG = "pong"
# The current docs allow 64 KB of args per message, an older page 4096 bytes: the
# smaller one is safe under both.
MAX_SUBSCRIBE_BYTES = 4096
# Subscribe, unsubscribe and login requests per connection per hour. Every connection
# subscribes once, in 4 KB batches of about 75 args: ~16 requests for 600 swaps, and
# the allowance would bind only past ~18,000 swaps, so nothing here counts them.
SUBSCRIBES_PER_HOUR = 480
# The REST client keeps linear USDT/USDC swaps; `-USD-SWAP` ones are inverse.
LINEAR_SUFFIXES = ("-USDT-SWAP", "-USDC-SWAP")
UPGRADE_NOTICE = "64008"
REFUSED_INST_ID = re.compile(r"instId:([A-Za-z0-9-]+)")


class Arg(msgspec.Struct, gc=False):
    channel: str = ""
    instId: str = ""


class Frame(msgspec.Struct, gc=False):
    """Any text frame: an event (ack, error, notice) or a push. Rows stay raw so that
    one junk row is skipped instead of failing the frame."""

    event: str = ""
    id: str | int = ""  # echoed as the request sent it: a string here
    code: str | int = ""
    msg: str = ""
    arg: Arg | None = None
    data: list[msgspec.Raw] = msgspec.field(default_factory=list)


class FundingRow(msgspec.Struct, gc=False):
    instId: str = ""
    fundingRate: RawNum = None
    fundingTime: RawNum = None  # the upcoming settlement, ms
    nextFundingTime: RawNum = None  # the one after it, ms


class MarkRow(msgspec.Struct, gc=False):
    instId: str = ""
    markPx: RawNum = None


_frame = msgspec.json.Decoder(Frame, strict=False).decode
_funding_row = msgspec.json.Decoder(FundingRow, strict=False).decode
_mark_row = msgspec.json.Decoder(MarkRow, strict=False).decode
_encode = msgspec.json.encode


def is_linear(inst_id: str) -> bool:
    return inst_id.endswith(LINEAR_SUFFIXES)


def funding_update(row: FundingRow, received_at: float) -> QuoteUpdate | None:
    """A funding-rate row as the REST client reads it; None when it has no rate or no
    settlement time, or its two times are out of order."""
    rate, next_ms, after_ms = (
        to_number(row.fundingRate),
        to_number(row.fundingTime),
        to_number(row.nextFundingTime),
    )
    if rate is None or next_ms is None or next_ms <= 0:
        return None
    interval_h = None if after_ms is None else interval_hours(next_ms, after_ms)
    if interval_h is not None and interval_h <= 0:
        return None
    return QuoteUpdate(
        NAME,
        row.instId,
        received_at,
        rate=rate,
        next_funding_time=int(next_ms),
        interval_h=interval_h,
    )


def mark_update(row: MarkRow, received_at: float) -> QuoteUpdate | None:
    mark = to_number(row.markPx)
    if mark is None or mark <= 0:
        return None
    return QuoteUpdate(NAME, row.instId, received_at, mark_price=mark)


ROWS = {
    FUNDING_RATE: (_funding_row, funding_update),
    MARK_PRICE: (_mark_row, mark_update),
}


def push_updates(channel: str, rows: list[msgspec.Raw], received_at: float) -> list[QuoteUpdate]:
    """One update per readable row of a linear swap; other rows are skipped, logged."""
    decode, to_update = ROWS[channel]
    updates = row_updates(rows, decode, to_update, received_at, NAME)
    return [u for u in updates if is_linear(u.symbol)]


def subscribe_message(request_id: str, symbols: Sequence[str]) -> bytes:
    args = [{"channel": channel, "instId": s} for s in symbols for channel in CHANNELS]
    return _encode({"id": request_id, "op": "subscribe", "args": args})


def subscribe_batches(symbols: Sequence[str], first_id: int) -> list[tuple[str, list[str]]]:
    """(request id, symbols) batches, each symbol once with both its channels, whose
    messages stay within MAX_SUBSCRIBE_BYTES."""
    batches: list[tuple[str, list[str]]] = []
    batch: list[str] = []
    for symbol in dict.fromkeys(symbols):
        request_id = str(first_id + len(batches))
        if batch and len(subscribe_message(request_id, [*batch, symbol])) > MAX_SUBSCRIBE_BYTES:
            batches.append((request_id, batch))
            batch = []
        batch.append(symbol)
    if batch:
        batches.append((str(first_id + len(batches)), batch))
    return batches


class OkxDialect(Dialect):
    """Funding and mark price of the given swaps, two channels each.

    Heartbeat: the text `ping` every `ping_every_s` (20 s, under the server's 30 s
    idle cut-off); its `pong` keeps a live connection talking, so `silence_s` (30 s)
    with nothing at all means the connection is dead.

    Per connection it remembers which instIds each subscribe request carried, so that
    a refusal (which names only the request id) says which swaps it refused.
    """

    venue = NAME
    ping_every_s = 20.0
    silence_s = 30.0
    default_path = "/ws/v5/public"

    def __init__(self) -> None:
        self._requests: dict[str, list[str]] = {}

    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        """Messages of at most MAX_SUBSCRIBE_BYTES; a connection subscribes once, far
        below SUBSCRIBES_PER_HOUR requests."""
        batches = subscribe_batches(symbols, len(self._requests) + 1)
        self._requests.update(batches)
        return [subscribe_message(request_id, batch).decode() for request_id, batch in batches]

    def ping(self) -> str:
        return PING

    def parse(self, frame: str | bytes, received_at: float) -> list[QuoteUpdate]:
        if frame in (PONG, PONG.encode()):
            return []
        try:
            decoded = _frame(frame)
        except msgspec.ValidationError as e:
            log.warning("okx: skipping a frame of an unknown shape: %s", e)
            return []
        if decoded.event:
            self._check_event(decoded)
            return []
        if decoded.arg is None or decoded.arg.channel not in ROWS:
            return []
        return push_updates(decoded.arg.channel, decoded.data, received_at)

    def reset(self) -> None:
        self._requests.clear()

    def _check_event(self, frame: Frame) -> None:
        """Acks pass; a refusal or an upgrade notice ends the connection."""
        if frame.event == "error":
            refused = self._requests.get(str(frame.id)) or ["no known request"]
            what = refused[0] + (f" and {len(refused) - 1} more" if len(refused) > 1 else "")
            # The venue's words first: /status shows the first 200 characters.
            text = f"okx refused: {frame.code} {frame.msg} (id {frame.id}: {what})"
            named = REFUSED_INST_ID.findall(frame.msg)
            raise SymbolsRefused(text, named) if named else FeedError(text)
        if frame.event == "notice" and str(frame.code) == UPGRADE_NOTICE:
            raise FeedError(f"okx service upgrade notice {frame.code}: {frame.msg}")

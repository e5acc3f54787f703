"""Hyperliquid's public WebSocket: one `activeAssetCtx` subscription per coin.

Each push carries one coin's whole asset context, the fields REST's
metaAndAssetCtxs gives (arb/venues/hyperliquid.py), so an update says what that
quote says, in the same units: `funding` is already hourly (interval 1 h, never
divided by 8 again), the next funding is the next whole UTC hour (no field says
so), `markPx` is the price of one contract unit (kPEPE: 1000 PEPE, as in REST),
`dayNtlVlm` is 24 h turnover in USDC and `openInterest` is in contract units
(coins; kPEPE: lots of 1000), valued here at mark as REST does. Numbers come as
strings; a blank or unreadable one is unknown, never 0.

Limits, per IP (reference section 4.5): 10 connections, 30 new connections a
minute, 1000 subscriptions, 2000 messages sent a minute. A subscribe message
carries exactly one coin, so one connection carries every coin, one message each,
at most 1000 coins (the venue has about 200 perpetuals). A resubscription after
every reconnect is what could break the message budget (600 coins three times a
minute is 1800), so the dialect counts what it sent over the last minute and
refuses a burst that would pass it: the loop counts that as a failure, backs off
and tries again. The connection limits are the loop's: it holds one connection
and paces reconnects with its backoff.

The server closes a connection it has sent nothing to for 60 s, and answers
`{"method":"ping"}` with `{"channel":"pong"}`; a refused subscription comes back
as `{"channel":"error","data":"<message>"}`. On connecting it first sends the
plain text "Websocket connection established." (not JSON; the official Python
SDK skips it too).

No per-connection state: every push is a whole context, so there is no delta base
to rebuild and `reset()` has nothing to forget. The message budget belongs to the
IP, so it outlives reconnects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from arb.feeds.base import Dialect, FeedError
from arb.models import QuoteUpdate
from arb.venues.base import next_hour_ms
from arb.venues.hyperliquid.common import INTERVAL_H, NAME
from arb.venues.numbers import RawNum, to_number

log = logging.getLogger(__name__)

CTX_CHANNEL = "activeAssetCtx"  # the subscription type and its pushes' channel
ACK_CHANNEL = "subscriptionResponse"
PONG_CHANNEL = "pong"
ERROR_CHANNEL = "error"
GREETING = "Websocket connection established."
PING = '{"method":"ping"}'

IDLE_CLOSE_S = 60.0  # the server drops a connection it has sent nothing to for this long
MAX_SUBSCRIPTIONS = 1000
MESSAGES_PER_MINUTE = 2000
# Subscribe messages a minute may carry: the venue's budget less room for pings
# (two a minute at our pace, with plenty to spare).
SUBSCRIBE_BUDGET = MESSAGES_PER_MINUTE - 20
BUDGET_WINDOW_S = 60.0


# --- frames -------------------------------------------------------------------


class AssetCtx(msgspec.Struct, gc=False):
    # Decimal strings, left raw so that one unreadable field loses only itself.
    funding: RawNum = None  # hourly
    markPx: RawNum = None
    dayNtlVlm: RawNum = None  # 24 h, USDC
    openInterest: RawNum = None  # contract units


class CoinCtx(msgspec.Struct, gc=False):
    coin: str
    ctx: AssetCtx


class CtxPush(msgspec.Struct, tag_field="channel", tag=CTX_CHANNEL):
    data: CoinCtx


class Ack(msgspec.Struct, tag_field="channel", tag=ACK_CHANNEL):
    pass


class Pong(msgspec.Struct, tag_field="channel", tag=PONG_CHANNEL):
    pass


class Refusal(msgspec.Struct, tag_field="channel", tag=ERROR_CHANNEL):
    data: Any = None  # the venue's message, a string on the wire


Frame = CtxPush | Ack | Pong | Refusal
_frame = msgspec.json.Decoder(Frame)


# --- parsing ------------------------------------------------------------------


def decode_frame(frame: str | bytes) -> Frame | None:
    """The frame as one of the channels we read; None for JSON we skip (another
    channel, or a row whose fields have the wrong types).

    Raises ValueError when the frame is not JSON at all: the loop reconnects.
    """
    try:
        return _frame.decode(frame)
    except msgspec.ValidationError as e:
        skipped = e
    except msgspec.DecodeError:
        raise _not_json(frame) from None
    # A wrong type can stop the decoder before the end of the frame: read it all.
    try:
        msgspec.json.decode(frame)
    except msgspec.DecodeError:
        raise _not_json(frame) from None
    log.debug("hyperliquid feed: skipping a frame: %s", skipped)
    return None


def _not_json(frame: str | bytes) -> ValueError:
    return ValueError(f"not JSON: {frame[:80]!r}")


def ctx_update(push: CoinCtx, received_at: float) -> QuoteUpdate | None:
    """One coin's context as an update in REST's units; None for a coin REST would not
    quote either: no readable rate (delisted), or a HIP-3 builder dex name (`xyz:TSLA`)."""
    rate = to_number(push.ctx.funding)
    if rate is None or not push.coin or ":" in push.coin:
        return None
    mark = to_number(push.ctx.markPx)
    if mark is not None and mark <= 0:
        mark = None  # no price is zero or less: a junk field, and basis divides by it
    oi = to_number(push.ctx.openInterest)
    return QuoteUpdate(
        venue=NAME,
        symbol=push.coin,
        received_at=received_at,
        rate=rate,
        next_funding_time=next_hour_ms(received_at),
        mark_price=mark,
        interval_h=INTERVAL_H,
        turnover_24h=to_number(push.ctx.dayNtlVlm),
        open_interest_value=oi * mark if oi is not None and mark is not None else None,
    )


def subscribe_message(coin: str) -> str:
    return msgspec.json.encode(
        {"method": "subscribe", "subscription": {"type": CTX_CHANNEL, "coin": coin}}
    ).decode()


def coins_to_subscribe(symbols: Sequence[str]) -> list[str]:
    """Each coin once (the venue refuses a repeat: "Already subscribed"), at most
    MAX_SUBSCRIPTIONS of them, in the order given."""
    coins = list(dict.fromkeys(symbols))
    if len(coins) > MAX_SUBSCRIPTIONS:
        log.warning(
            "hyperliquid feed: %d coins, the venue allows %d subscriptions; %d left to REST",
            len(coins),
            MAX_SUBSCRIPTIONS,
            len(coins) - MAX_SUBSCRIPTIONS,
        )
    return coins[:MAX_SUBSCRIPTIONS]


# --- the dialect --------------------------------------------------------------


class HyperliquidDialect(Dialect):
    venue = NAME
    # Twice inside the server's 60 s idle cut: one lost pong does not yet cost the connection.
    ping_every_s = 30.0
    # Quiet coins still bring a pong every 30 s: nothing for this long is a dead connection.
    silence_s = 45.0
    default_path = "/ws"  # HYPERLIQUID_WS_URL: `wss://api.hyperliquid.xyz/ws`

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sent: list[tuple[float, int]] = []  # (when, subscribe messages) this minute

    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        """One message per coin. Raises FeedError instead of passing the venue's message
        budget; the loop counts that as a failure and backs off."""
        coins = coins_to_subscribe(symbols)
        self._spend(len(coins))
        return [subscribe_message(coin) for coin in coins]

    def ping(self) -> str:
        return PING

    def parse(self, frame: str | bytes, received_at: float) -> list[QuoteUpdate]:
        if frame == GREETING:
            return []
        message = decode_frame(frame)
        if isinstance(message, CtxPush):
            update = ctx_update(message.data, received_at)
            return [update] if update is not None else []
        if isinstance(message, Refusal):
            raise FeedError(f"hyperliquid refused: {message.data}")
        return []  # acks, pongs, channels we did not ask for

    def _spend(self, messages: int) -> None:
        now = self._clock()
        self._sent = [(t, n) for t, n in self._sent if now - t < BUDGET_WINDOW_S]
        used = sum(n for _, n in self._sent)
        if used + messages > SUBSCRIBE_BUDGET:
            raise FeedError(
                f"subscribing {messages} coins now would pass the venue's "
                f"{MESSAGES_PER_MINUTE} messages a minute ({used} sent in the last minute)"
            )
        self._sent.append((now, messages))

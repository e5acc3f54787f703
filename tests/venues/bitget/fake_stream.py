"""A fake of Bitget's v2 public WebSocket (`/v2/ws/public`) on 127.0.0.1, for feed tests.

It speaks the venue's protocol in the shapes tests/fixtures/bitget/ws_*.json record: one
ack per subscribed arg, `{"event":"subscribe","arg":{..}}`, then that symbol's ticker
snapshot if it has a quote; the venue's refusal, one per arg, for a symbol in `refused`
(code 30001 "... doesn't exist") or an arg that is not a USDT-FUTURES ticker (30016
"Param error"); the text `pong` for the text `ping`, and code 30002 "Unrecognized
request" for anything else, as the venue answers a JSON `{"op":"ping"}`. Every ticker
push is a whole row, as on the venue. Unsubscribe and login are not served.

    async with FakeBitgetWs() as fake:
        fake.set_quote("BTCUSDT", rate=0.0001, next_funding_ms=T, mark=77600.0)
        feed = Feed(BitgetDialect(), fake.url, symbols, on_updates)  # fake.url: BITGET_WS_URL
        task = asyncio.create_task(feed.run())
        await fake.wait_subscribed(1, ["BTCUSDT"])  # acked, snapshot sent
        await fake.push_quote("BTCUSDT", rate=0.0002)  # the whole row, rate changed

While `fake.silent`, subscriptions are still recorded (a later push reaches them). The
plumbing (drop, silence, waits) is `tests.fakes.ws_base.FakeWs`'s.
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.venues import FakeMarket, fixture
from tests.fakes.ws_base import Connection, Frame, TickerFakeWs, TickerRows, json_object
from tests.venues.bitget.fake_rest import bitget_symbol

PUBLIC_PATH = "/v2/ws/public"
INST_TYPE = "USDT-FUTURES"
TICKER = "ticker"
NO_SUCH_INSTRUMENT = 30001
UNRECOGNIZED = 30002
PARAM_ERROR = 30016

# A symbol first quoted starts from this recorded row, so that its pushes carry every
# field the venue sends; the quote's own figures replace the row's.
SNAPSHOT_ROW: dict[str, Any] = fixture("bitget/ws_ticker_snapshot.json")["data"][0]
# `turnover` is quoteVolume (USDT), `holding` the open interest in contracts.
ROWS = TickerRows(
    recorded=SNAPSHOT_ROW,
    symbol_field="instId",
    fields_of={
        "rate": ("fundingRate",),
        "next_funding_ms": ("nextFundingTime",),
        "mark": ("markPrice",),
        "turnover": ("quoteVolume",),
        "holding": ("holdingAmount",),
        "last": ("lastPr",),
    },
)


def ticker_arg(symbol: str) -> dict[str, str]:
    return {"instType": INST_TYPE, "channel": TICKER, "instId": symbol}


def ticker_frame(symbol: str, row: dict[str, Any], action: str = "snapshot") -> dict[str, Any]:
    """A `ticker` push of one row (the venue's are whole rows, action "snapshot")."""
    now_ms = int(time.time() * 1000)
    return {
        "action": action,
        "arg": ticker_arg(symbol),
        "data": [{**row, "instId": symbol, "symbol": symbol, "ts": str(now_ms)}],
        "ts": now_ms,
    }


def subscribe_error(arg: Any, code: int, message: str) -> dict[str, Any]:
    """The venue's refusal of one subscribe arg."""
    return {"event": "error", "arg": arg, "code": code, "msg": message, "op": "subscribe"}


def no_such_instrument(arg: dict[str, Any]) -> dict[str, Any]:
    what = ",".join(f"{k}:{arg.get(k)}" for k in ("instType", "channel", "instId"))
    return subscribe_error(arg, NO_SUCH_INSTRUMENT, f"{what} doesn't exist")


class FakeBitgetWs(TickerFakeWs):
    venue = "bitget"
    path = PUBLIC_PATH
    rows = ROWS

    # --- the market -------------------------------------------------------------

    async def push_quote(self, symbol: str, **figures: Any) -> int:
        """`set_quote`, then the whole row to each connection subscribed to the symbol."""
        self.set_quote(symbol, **figures)
        return await self.push(ticker_frame(symbol, self.tickers[symbol]))

    async def push(self, frame: Frame) -> int:
        """A frame as given, to every connection subscribed to its `arg.instId`; a frame
        without one (junk, for robustness tests) goes to every subscribed connection."""
        arg = frame.get("arg") if isinstance(frame, dict) else None
        symbol = arg.get("instId") if isinstance(arg, dict) else None
        return await self.push_to(self.routed(None if symbol is None else [symbol]), frame)

    @classmethod
    def market_pushes(cls, market: FakeMarket) -> list[Frame]:
        """A row per perpetual as the fake REST tickers give it (mark per contract)."""
        frames: list[Frame] = []
        for p in market.perps("bitget"):
            row = cls.rows.row(
                bitget_symbol(p),
                rate=p.rate,
                next_funding_ms=market.next_settlement(p.interval_h),
                mark=p.price * p.multiplier,
                turnover=p.turnover,
                holding=p.open_interest / p.multiplier,
            )
            frames.append(ticker_frame(bitget_symbol(p), row))
        return frames

    # --- the protocol -----------------------------------------------------------

    async def receive(self, conn: Connection, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode(errors="replace")
        if text == "ping":
            self.pings += 1
            await self.send(conn, "pong")
        elif (request := json_object(text)) is not None and request.get("op") == "subscribe":
            self.subscribes.append(request)
            await self._subscribe(conn, request.get("args"))
        else:
            reply = {"event": "error", "code": UNRECOGNIZED, "msg": f"Unrecognized request:{text}"}
            await self.send(conn, reply)

    async def _subscribe(self, conn: Connection, args: Any) -> None:
        """Each arg on its own, as the venue does: an ack and the snapshot, or a refusal."""
        for arg in args if isinstance(args, list) else [args]:
            if not _is_ticker(arg):
                await self.send(conn, subscribe_error(arg, PARAM_ERROR, "Param error"))
                continue
            symbol = str(arg.get("instId"))
            if symbol in self.refused:
                await self.send(conn, no_such_instrument(arg))
                continue
            conn.routes.add(symbol)
            if not await self.send(conn, {"event": "subscribe", "arg": arg}):
                continue  # silent: recorded, never acked
            if symbol in self.tickers:
                await self.send(conn, ticker_frame(symbol, self.tickers[symbol]))
            conn.subscribed.add(symbol)


def _is_ticker(arg: Any) -> bool:
    """A USDT-FUTURES ticker arg: the one channel this fake serves."""
    if not isinstance(arg, dict):
        return False
    return arg.get("instType") == INST_TYPE and arg.get("channel") == TICKER

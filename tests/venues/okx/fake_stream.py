"""A fake of OKX's public WebSocket (`/ws/v5/public`) on 127.0.0.1, for feed tests.

It speaks the venue's protocol: one ack per subscribed arg in the real shape, the
real error shape for a refusal of every request (`fake.refusal = ("60012", "Invalid
request: ...")`), of an unknown channel or of an instId in `refused` (60018, arg by
arg: the request's other args are acked), the text `pong` for the text `ping`. Every
subscribe message is recorded as sent (`fake.subscribes`), every ping counted.

A test pushes venue-shaped frames to the connections subscribed to them
(`await fake.push_quote("BTC-USDT-SWAP", rate=0.0001, next_funding_ms=..., mark=...)`);
the plumbing (drop, silence, waits) is `tests.fakes.ws_base.FakeWs`'s.

    async with FakeOkxWs() as fake:
        feed = Feed(OkxDialect(), fake.url, symbols, on_updates)
        task = asyncio.create_task(feed.run())
        await fake.wait_subscribed(1, ["BTC-USDT-SWAP"])
        await fake.push_quote("BTC-USDT-SWAP", rate=0.0001, next_funding_ms=T, mark=77600.0)
        await fake.drop()  # the feed reconnects, re-seeds and resubscribes
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.venues import FakeMarket, dec, fixture
from tests.fakes.ws_base import Connection, FakeWs, Frame, json_object
from tests.venues.okx.fake_rest import okx_symbol

WS_PATH = "/ws/v5/public"
HOUR_MS = 3_600_000
CHANNELS = ("funding-rate", "mark-price")
INVALID_REQUEST = "60012"
NO_SUCH_CHANNEL = "60018"


def funding_rate_frame(
    symbol: str,
    rate: float,
    next_funding_ms: int,
    interval_h: float = 8.0,
    ts_ms: int | None = None,
) -> dict[str, Any]:
    """The recorded funding-rate push with its numbers replaced; `fundingTime` is the
    upcoming settlement, as on the venue."""
    frame = fixture("okx/ws_funding_rate_push.json")
    frame["arg"]["instId"] = symbol
    frame["data"][0].update(
        instId=symbol,
        fundingRate=dec(rate),
        fundingTime=str(next_funding_ms),
        nextFundingTime=str(next_funding_ms + round(interval_h * HOUR_MS)),
        ts=str(ts_ms if ts_ms is not None else int(time.time() * 1000)),
    )
    return frame


def mark_price_frame(symbol: str, mark: float, ts_ms: int | None = None) -> dict[str, Any]:
    """A mark-price push as the docs show it (per coin, like the REST mark price)."""
    ts = ts_ms if ts_ms is not None else int(time.time() * 1000)
    return {
        "arg": {"channel": "mark-price", "instId": symbol},
        "data": [{"instType": "SWAP", "instId": symbol, "markPx": dec(mark), "ts": str(ts)}],
    }


class FakeOkxWs(FakeWs):
    venue = "okx"
    path = WS_PATH

    # --- what a test does ---------------------------------------------------------

    async def push(self, frame: Frame) -> int:
        """A frame to every connection subscribed to its arg (a str goes to every
        connection with any subscription, junk included); how many it reached."""
        if not isinstance(frame, dict):
            return await self.push_to(self.routed(), frame)
        arg = frame["arg"]
        return await self.push_to(self.routed([(arg["channel"], arg["instId"])]), frame)

    async def push_quote(
        self,
        symbol: str,
        rate: float,
        next_funding_ms: int,
        mark: float,
        interval_h: float = 8.0,
    ) -> int:
        """Both channels' pushes for one swap; how many frames went out."""
        funding = funding_rate_frame(symbol, rate, next_funding_ms, interval_h)
        return await self.push(funding) + await self.push(mark_price_frame(symbol, mark))

    async def push_rate(self, symbol: str, rate: float) -> int:
        next_ms = (int(time.time() * 1000) // HOUR_MS + 1) * HOUR_MS
        return await self.push(funding_rate_frame(symbol, rate, next_ms))

    @classmethod
    def market_pushes(cls, market: FakeMarket) -> list[Frame]:
        """Both channels of every swap, the mark per coin as on the venue."""
        frames: list[Frame] = []
        for p in market.perps("okx"):
            symbol, next_ms = okx_symbol(p), market.next_settlement(p.interval_h)
            frames.append(funding_rate_frame(symbol, p.rate, next_ms, p.interval_h, market.now()))
            frames.append(mark_price_frame(symbol, p.price, market.now()))
        return frames

    # --- the venue's side -----------------------------------------------------------

    async def receive(self, conn: Connection, message: str | bytes) -> None:
        if message == "ping":
            self.pings += 1
            await self.send(conn, "pong")
            return
        request = json_object(message)
        if request is None or request.get("op") != "subscribe":
            await self._error(conn, None, INVALID_REQUEST, f"Invalid request: {message!s}")
            return
        self.subscribes.append(message if isinstance(message, str) else message.decode())
        await self._subscribe(conn, request)

    async def _subscribe(self, conn: Connection, request: dict[str, Any]) -> None:
        request_id = request.get("id")
        if self.refusal is not None:
            self.refusals += 1
            await self._error(conn, request_id, *self.refusal)
            return
        args = request.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            await self._error(conn, request_id, INVALID_REQUEST, f"Invalid request: {request}")
            return
        for arg in args:
            channel, inst_id = arg.get("channel"), arg.get("instId")
            if channel not in CHANNELS or not isinstance(inst_id, str) or inst_id in self.refused:
                msg = f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist."
                await self._error(conn, request_id, NO_SUCH_CHANNEL, msg)
                if channel not in CHANNELS:
                    return
                continue
            conn.routes.add((channel, inst_id))
            ack = {"event": "subscribe", "arg": arg, "connId": conn.conn_id}
            await self.send(conn, self._with_id(request_id, ack))
            conn.subscribed.add(inst_id)

    async def _error(self, conn: Connection, request_id: Any, code: str, msg: str) -> None:
        error = {"event": "error", "code": code, "msg": msg, "connId": conn.conn_id}
        await self.send(conn, self._with_id(request_id, error))

    @staticmethod
    def _with_id(request_id: Any, event: dict[str, Any]) -> dict[str, Any]:
        """The venue echoes the request's id first, and only when there was one."""
        return event if request_id is None else {"id": request_id, **event}

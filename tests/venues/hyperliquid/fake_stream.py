"""A fake of Hyperliquid's public WebSocket, on 127.0.0.1, for tests.

It speaks the venue's protocol as the real server does: the plain-text greeting on
connect, `subscriptionResponse` acks echoing the request, `{"channel":"error"}`
for a subscription it refuses (a repeated coin, a request it cannot read, or
every subscription while `refusal` is set, with that message), `pong` for `{"method":"ping"}`, and
`activeAssetCtx` pushes only to the connections subscribed to that coin.

A test drives it and waits on it without sleeping:

    async with FakeHyperliquidWs() as hl:            # HYPERLIQUID_WS_URL=hl.url
        ...start a feed or the bot...
        await hl.wait_subscribed(1, ["BTC"])
        await hl.push_quote("BTC", 0.0000125, mark=77600.0)
        await hl.drop()                               # abrupt, no close frame
        await hl.wait_subscribed(1, ["BTC"])          # the next connection is back

The plumbing (drop, silence, waits) is `tests.fakes.ws_base.FakeWs`'s.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.fakes.venues import FakeMarket, dec, fixture
from tests.fakes.ws_base import Connection, FakeWs, Frame
from tests.venues.hyperliquid.fake_rest import hl_symbol

PATH = "/ws"
GREETING = "Websocket connection established."
CTX_CHANNEL = "activeAssetCtx"


def asset_ctx_frame(
    coin: str,
    rate: float,
    *,
    mark: float = 77562.0,
    turnover: float = 1_516_669_192.0,
    open_interest: float = 27_353.17682,
) -> dict[str, Any]:
    """An `activeAssetCtx` push: the recorded frame with its numbers replaced. `rate` is
    hourly, `mark` the price of one contract unit (kPEPE: 1000 PEPE), `turnover` USDC,
    `open_interest` coins. The venue sends no next funding time: it is the next hour."""
    frame = copy.deepcopy(fixture("hyperliquid/ws_activeAssetCtx.json"))
    frame["data"]["coin"] = coin
    frame["data"]["ctx"].update(
        funding=dec(rate),
        markPx=dec(mark),
        oraclePx=dec(mark),
        midPx=dec(mark),
        impactPxs=[dec(mark), dec(mark)],
        dayNtlVlm=dec(turnover),
        openInterest=dec(open_interest),
    )
    return frame


def compact(value: Any) -> str:
    """JSON as the venue writes it, without spaces."""
    return json.dumps(value, separators=(",", ":"))


def error_frame(message: str) -> dict[str, Any]:
    return {"channel": "error", "data": message}


def unreadable(message: str | bytes) -> dict[str, Any]:
    """The venue's answer to a request it cannot read, a subscription of an unknown type
    included."""
    return error_frame(f"Error parsing JSON into valid websocket request: {message!s}")


def _ctx_coin(frame: dict[str, Any] | str) -> str | None:
    """The coin of an `activeAssetCtx` push, None for any other frame."""
    if not isinstance(frame, dict) or frame.get("channel") != CTX_CHANNEL:
        return None
    data = frame.get("data")
    return data.get("coin") if isinstance(data, dict) else None


class FakeHyperliquidWs(FakeWs):
    venue = "hyperliquid"
    path = PATH

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.pongs = 0

    # what a test does

    async def push(self, frame: Frame) -> int:
        """Send a frame to the open connections that should get it (an `activeAssetCtx`
        push: those subscribed to its coin; anything else: all). Returns how many."""
        coin = _ctx_coin(frame)
        targets = [c for c in self.open if coin is None or coin in c.subscribed]
        return await self.push_to(targets, frame)

    async def push_quote(self, coin: str, rate: float, **fields: float) -> int:
        """A quote update for one coin (see `asset_ctx_frame` for `fields`)."""
        return await self.push(asset_ctx_frame(coin, rate, **fields))

    async def push_rate(self, symbol: str, rate: float) -> int:
        return await self.push_quote(symbol, rate)

    @classmethod
    def market_pushes(cls, market: FakeMarket) -> list[Frame]:
        """Every coin's context, its mark per contract unit (kPEPE: per 1000 PEPE)."""
        return [
            asset_ctx_frame(
                hl_symbol(p),
                p.rate,
                mark=p.price * p.multiplier,
                turnover=p.turnover,
                open_interest=p.open_interest / p.multiplier,
            )
            for p in market.perps("hyperliquid")
        ]

    # the server side

    async def on_open(self, conn: Connection) -> None:
        await self.send(conn, GREETING)

    async def send(self, conn: Connection, frame: Frame) -> int:
        return await super().send(conn, compact(frame) if isinstance(frame, dict) else frame)

    async def receive(self, conn: Connection, message: str | bytes) -> None:
        try:
            request = json.loads(message)
            method = request["method"]
        except (ValueError, TypeError, KeyError):
            await self.send(conn, unreadable(message))
            return
        if method == "ping":
            self.pings += 1
            if not self.silent:
                self.pongs += 1
                await self.send(conn, {"channel": "pong"})
        elif method == "subscribe":
            self.subscribes.append(request)
            await self._subscribe(conn, request)
        else:
            await self.send(conn, unreadable(message))

    async def _subscribe(self, conn: Connection, request: dict[str, Any]) -> None:
        subscription = request.get("subscription")
        coin = subscription.get("coin") if isinstance(subscription, dict) else None
        if not isinstance(coin, str) or subscription.get("type") != CTX_CHANNEL:
            reply = unreadable(compact(request))
        elif self.refusal is not None:
            self.refusals += 1
            reply = error_frame(self.refusal)
        elif coin in conn.subscribed:
            reply = error_frame(f"Already subscribed: {compact(subscription)}")
        else:
            conn.subscribed.add(coin)
            reply = {"channel": "subscriptionResponse", "data": request}
        await self.send(conn, reply)

"""A fake of Binance USDⓈ-M's public market WebSocket, on 127.0.0.1, for tests.

It serves the routed `/market` endpoint the way Binance does: streams named in the URL
(`/market/stream?streams=a/b` wraps each push as `{"stream": ..., "data": ...}`,
`/market/ws/<stream>` sends it bare) or subscribed at runtime with
`{"method": "SUBSCRIBE", "params": [...], "id": n}`, answered `{"result": null, "id": n}`, or,
when `fake.refusal` holds a message, `{"error": {"code": 2, "msg": ...}, "id": n}`. A path
outside `/market` connects but hears no mark prices, like Binance's retired unrouted URLs.
The server pings every `ping_every_s` (Binance: 3 minutes) and counts the pongs.

The fake has no clock: the all-market mark-price stream carries exactly what a test pushes,
to every connection subscribed to it:

    async with FakeBinanceWs() as fake:  # BINANCE_WS_URL=fake.url
        feed = Feed(BinanceDialect(), fake.url, seed, on_updates)
        task = asyncio.create_task(feed.run())
        await fake.wait_subscribed(1)
        await fake.push([mark_price_row("BTCUSDT", 0.0001, 1789027200000, 77591.2)])
        await fake.push(market_rows(market))  # the FakeMarket that FakeVenues serves

`fake.silent = True` stops pushes, pings and answers (a dead connection the client must
notice); the plumbing (drop, silence, waits) is `tests.fakes.ws_base.FakeWs`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.venues import FakeMarket, dec
from tests.fakes.ws_base import Connection, FakeWs, Frame, json_object
from tests.venues.binance.fake_rest import binance_symbol

ROUTE = "/market"
MARK_PRICE_STREAMS = ("!markPrice@arr@1s", "!markPrice@arr")  # every symbol, 1 s or 3 s
INVALID_REQUEST = 2  # Binance's code for a request it will not take


def mark_price_row(
    symbol: str, rate: float, next_funding_ms: int, mark: float, *, event_ms: int | None = None
) -> dict[str, Any]:
    """One symbol's row of the mark-price stream: decimals as strings, times as numbers."""
    return {
        "e": "markPriceUpdate",
        "E": int(time.time() * 1000) if event_ms is None else event_ms,
        "s": symbol,
        "p": dec(mark),
        "P": dec(mark),  # estimated settle price
        "i": dec(mark),  # index price
        "r": dec(rate),
        "T": next_funding_ms,
    }


def market_rows(market: FakeMarket) -> list[dict[str, Any]]:
    """The stream's payload for `market`'s Binance perps, with the figures FakeVenues
    serves over REST (mark per contract unit: 1000PEPE is priced per 1000 coins)."""
    return [
        mark_price_row(
            binance_symbol(p),
            p.rate,
            market.next_settlement(p.interval_h),
            p.price * p.multiplier,
            event_ms=market.now(),
        )
        for p in market.perps("binance")
    ]


@dataclass(eq=False)
class BinanceConnection(Connection):
    """One client connection: where it connected, its streams and what it sent."""

    routed: bool = False
    combined: bool = False  # pushes wrapped as {"stream": ..., "data": ...}
    streams: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Read the streams named in the request path, routed or not."""
        path, _, query = self.ws.request.path.partition("?")  # type: ignore[union-attr]
        self.routed = path.startswith(f"{ROUTE}/")
        path = path.removeprefix(ROUTE) if self.routed else path
        self.combined = path.startswith("/stream")
        named = parse_qs(query).get("streams", [""])[0] if self.combined else unquote(path)
        self.streams = [s for s in named.removeprefix("/ws").split("/") if s]

    @property
    def mark_price_stream(self) -> str | None:
        """The all-market stream this connection hears, if any."""
        if not self.routed:
            return None
        return next((s for s in self.streams if s in MARK_PRICE_STREAMS), None)


class FakeBinanceWs(FakeWs):
    """Binance's `/market` WebSocket endpoint on 127.0.0.1 (see the module docstring)."""

    venue = "binance"
    path = ROUTE
    connection_class = BinanceConnection

    def __init__(self, *, ping_every_s: float = 180.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.ping_every_s = ping_every_s
        self.pongs = 0
        self._pingers: dict[Connection, asyncio.Task[None]] = {}

    @property
    def subscribe_messages(self) -> list[dict[str, Any]]:
        """Every runtime SUBSCRIBE received, in order, refused ones included."""
        return [m for c in self._conns() for m in c.messages if m.get("method") == "SUBSCRIBE"]

    # --- what a test does ----------------------------------------------------

    async def push(self, payload: list[dict[str, Any]] | str) -> int:
        """Send the mark-price stream's payload (rows, see `mark_price_row`) to every open
        connection hearing it, wrapped for combined ones; a str goes out verbatim. Returns
        how many connections it reached: 0 while silent."""
        reached = 0
        for c in self._conns():
            stream = c.mark_price_stream
            if stream is None or not c.open:
                continue
            wrapped = {"stream": stream, "data": payload} if c.combined else payload
            reached += await self.send(c, payload if isinstance(payload, str) else wrapped)
        return reached

    async def push_rate(self, symbol: str, rate: float) -> int:
        next_ms = (int(time.time() * 1000) // 3_600_000 + 1) * 3_600_000
        return await self.push([mark_price_row(symbol, rate, next_ms, 1.0)])

    @classmethod
    def market_pushes(cls, market: FakeMarket) -> list[Frame]:
        return [market_rows(market)]

    async def wait_pongs(self, n: int) -> None:
        await self.wait_until(lambda: self.pongs >= n, f"{n} pongs")

    def holds(self, conn: Connection, symbols: set[str]) -> bool:
        """The all-market stream carries every symbol."""
        return isinstance(conn, BinanceConnection) and conn.mark_price_stream is not None

    # --- the server ----------------------------------------------------------

    def route(self, connection: ServerConnection, request: Request) -> Response | None:
        return None  # every path connects; only `/market` ones hear mark prices

    async def on_open(self, conn: Connection) -> None:
        self._pingers[conn] = asyncio.create_task(self._ping(conn.ws))

    async def on_close(self, conn: Connection) -> None:
        pinger = self._pingers.pop(conn)
        pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pinger

    async def receive(self, conn: Connection, message: str | bytes) -> None:
        """Only SUBSCRIBE is answered: it is all a client of this fake sends."""
        request = json_object(message) or {}
        assert isinstance(conn, BinanceConnection)
        conn.messages.append(request)
        if self.silent or request.get("method") != "SUBSCRIBE":
            return
        if self.refusal is not None:
            self.refusals += 1
            error = {"code": INVALID_REQUEST, "msg": self.refusal}
            reply: dict[str, Any] = {"error": error, "id": request.get("id")}
        else:
            conn.streams += request.get("params", [])
            reply = {"result": None, "id": request.get("id")}
        await self.send(conn, reply)

    async def _ping(self, ws: ServerConnection) -> None:
        """Binance's heartbeat: a protocol ping on a schedule, a pong expected back."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(self.ping_every_s)
                if self.silent:
                    continue
                pong = await ws.ping()
                await pong
                self.pongs += 1
                await self.notify()

    def _conns(self) -> list[BinanceConnection]:
        return [c for c in self.connections if isinstance(c, BinanceConnection)]

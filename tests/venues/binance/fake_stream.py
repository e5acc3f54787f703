"""A fake of Binance USDⓈ-M's public market WebSocket, on 127.0.0.1, for tests.

It serves the routed `/market` endpoint the way Binance does: streams named in the URL
(`/market/stream?streams=a/b` wraps each push as `{"stream": ..., "data": ...}`,
`/market/ws/<stream>` sends it bare) or subscribed at runtime with
`{"method": "SUBSCRIBE", "params": [...], "id": n}`, answered `{"result": null, "id": n}`, or,
when `fake.refuse` holds a message, `{"error": {"code": 2, "msg": ...}, "id": n}`. A path
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
notice); `await fake.drop()` cuts every connection without a close frame. The waits
(`wait_connections`, `wait_subscribed`, `wait_pongs`) count since the server started and
give up with TimeoutError after `timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from tests.fakes.venues import FakeMarket, binance_symbol, dec

ROUTE = "/market"
MARK_PRICE_STREAMS = ("!markPrice@arr@1s", "!markPrice@arr")  # every symbol, 1 s or 3 s
INVALID_REQUEST = 2  # Binance's code for a request it will not take
WAIT_S = 2.0


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
class Connection:
    """One client connection: where it connected, its streams and what it sent."""

    ws: ServerConnection
    routed: bool
    combined: bool  # pushes wrapped as {"stream": ..., "data": ...}
    streams: list[str]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mark_price_stream(self) -> str | None:
        """The all-market stream this connection hears, if any."""
        if not self.routed:
            return None
        return next((s for s in self.streams if s in MARK_PRICE_STREAMS), None)


def connection_for(ws: ServerConnection) -> Connection:
    """Read the streams named in the request path, routed or not."""
    path, _, query = ws.request.path.partition("?")  # type: ignore[union-attr]
    routed = path.startswith(f"{ROUTE}/")
    path = path.removeprefix(ROUTE) if routed else path
    if path.startswith("/stream"):
        named = parse_qs(query).get("streams", [""])[0]
        return Connection(ws, routed, True, [s for s in named.split("/") if s])
    named = unquote(path.removeprefix("/ws"))
    return Connection(ws, routed, False, [s for s in named.split("/") if s])


class FakeBinanceWs:
    """Binance's `/market` WebSocket endpoint on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, ping_every_s: float = 180.0) -> None:
        self.ping_every_s = ping_every_s
        self.silent = False
        self.refuse: str | None = None  # a message: every SUBSCRIBE is refused with it
        self.connections: list[Connection] = []
        self.pings = 0
        self.pongs = 0
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    async def __aenter__(self) -> FakeBinanceWs:
        self._server = await serve(self._serve, "127.0.0.1", 0, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        """The routed base, for BINANCE_WS_URL."""
        assert self._server is not None, "use `async with FakeBinanceWs()`"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}{ROUTE}"

    @property
    def subscribe_messages(self) -> list[dict[str, Any]]:
        """Every runtime SUBSCRIBE received, in order, refused ones included."""
        return [m for c in self.connections for m in c.messages if m.get("method") == "SUBSCRIBE"]

    # --- what a test does ----------------------------------------------------

    async def push(self, payload: list[dict[str, Any]] | str) -> int:
        """Send the mark-price stream's payload (rows, see `mark_price_row`) to every open
        connection hearing it, wrapped for combined ones; a str goes out verbatim. Returns
        how many connections it reached: 0 while silent."""
        if self.silent:
            return 0
        reached = 0
        for c in self.connections:
            stream = c.mark_price_stream
            if stream is None or c.ws.state is not State.OPEN:
                continue
            if isinstance(payload, str):
                text = payload
            else:
                text = json.dumps({"stream": stream, "data": payload} if c.combined else payload)
            with contextlib.suppress(ConnectionClosed):
                await c.ws.send(text)
                reached += 1
        return reached

    async def drop(self) -> None:
        """Cut every open connection at the TCP level, as a network failure would."""
        open_ = [c.ws for c in self.connections if c.ws.state is State.OPEN]
        for ws in open_:
            ws.transport.abort()
        await asyncio.gather(*(ws.wait_closed() for ws in open_))

    async def wait_connections(self, n: int, timeout_s: float = WAIT_S) -> None:
        await self._wait(f"{n} connections", lambda: len(self.connections) >= n, timeout_s)

    async def wait_subscribed(self, n: int, timeout_s: float = WAIT_S) -> None:
        """Until `n` connections (since the start) have heard the mark-price stream."""
        await self._wait(f"{n} subscribed", lambda: self._subscribed() >= n, timeout_s)

    async def wait_pongs(self, n: int, timeout_s: float = WAIT_S) -> None:
        await self._wait(f"{n} pongs", lambda: self.pongs >= n, timeout_s)

    # --- the server ----------------------------------------------------------

    def _subscribed(self) -> int:
        return sum(1 for c in self.connections if c.mark_price_stream is not None)

    async def _wait(self, what: str, done: Callable[[], bool], timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            seen = (
                f"{len(self.connections)} connections, {self._subscribed()} subscribed, "
                f"{self.pongs} pongs"
            )
            raise TimeoutError(f"fake binance ws: no {what} in {timeout_s:g} s ({seen})") from None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, ws: ServerConnection) -> None:
        connection = connection_for(ws)
        self.connections.append(connection)
        await self._notify()
        pinger = asyncio.create_task(self._ping(ws))
        try:
            async for message in ws:
                await self._answer(connection, json.loads(message))
        except ConnectionClosed:
            pass
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
            await self._notify()

    async def _answer(self, connection: Connection, request: dict[str, Any]) -> None:
        """Only SUBSCRIBE is answered: it is all a client of this fake sends."""
        connection.messages.append(request)
        if self.silent or request.get("method") != "SUBSCRIBE":
            return
        if self.refuse is not None:
            error = {"code": INVALID_REQUEST, "msg": self.refuse}
            reply: dict[str, Any] = {"error": error, "id": request.get("id")}
        else:
            connection.streams += request.get("params", [])
            reply = {"result": None, "id": request.get("id")}
        await connection.ws.send(json.dumps(reply))
        await self._notify()

    async def _ping(self, ws: ServerConnection) -> None:
        """Binance's heartbeat: a protocol ping on a schedule, a pong expected back."""
        while True:
            await asyncio.sleep(self.ping_every_s)
            if self.silent:
                continue
            try:
                pong = await ws.ping()
                self.pings += 1
                await pong
            except ConnectionClosed:
                return
            self.pongs += 1
            await self._notify()

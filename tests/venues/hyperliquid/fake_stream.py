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
        await hl.wait_subscribed(2, ["BTC"])          # the second connection is back

`hl.silent = True` stops every answer and push (the server still reads and records).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.venues import dec, fixture

PATH = "/ws"
GREETING = "Websocket connection established."
CTX_CHANNEL = "activeAssetCtx"
WAIT_S = 5.0  # a wait that takes longer has failed


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


@dataclass(eq=False)
class Client:
    """One connection, and the coins it has subscribed to."""

    ws: ServerConnection
    coins: set[str] = field(default_factory=set)
    open: bool = True


class FakeHyperliquidWs:
    def __init__(self) -> None:
        self.connections: list[Client] = []  # every one accepted, oldest first
        self.subscribe_messages: list[dict[str, Any]] = []  # as received, every connection
        self.pings = 0
        self.pongs = 0
        self.silent = False
        self.refusal: str | None = None  # set: every subscription is refused with it
        self.port = 0
        self._server: Server | None = None
        self._changed = asyncio.Condition()

    # lifecycle

    async def __aenter__(self) -> FakeHyperliquidWs:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._route, ping_interval=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def url(self) -> str:
        """HYPERLIQUID_WS_URL for a client of this fake."""
        return f"ws://127.0.0.1:{self.port}{PATH}"

    # what a test does

    async def push(self, frame: dict[str, Any] | str) -> int:
        """Send a frame to the open connections that should get it (an `activeAssetCtx`
        push: those subscribed to its coin; anything else: all). Returns how many."""
        if self.silent:
            return 0
        text = frame if isinstance(frame, str) else compact(frame)
        coin = _ctx_coin(frame)
        targets = [c for c in self.open_connections() if coin is None or coin in c.coins]
        for client in targets:
            with contextlib.suppress(ConnectionClosed):
                await client.ws.send(text)
        return len(targets)

    async def push_quote(self, coin: str, rate: float, **fields: float) -> int:
        """A quote update for one coin (see `asset_ctx_frame` for `fields`)."""
        return await self.push(asset_ctx_frame(coin, rate, **fields))

    async def drop(self) -> None:
        """Cut every open connection without a close frame, as a network failure does."""
        for client in self.open_connections():
            client.ws.transport.abort()
        await self.wait_until(lambda: not self.open_connections(), "every connection closed")

    def open_connections(self) -> list[Client]:
        return [c for c in self.connections if c.open]

    # waiting

    async def wait_until(
        self, condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S
    ) -> None:
        """Until `condition()` holds, checked after every change the server sees."""
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            raise TimeoutError(
                f"fake hyperliquid ws: {what} not reached in {timeout_s:g} s "
                f"({len(self.connections)} connections, {self.pings} pings)"
            ) from None

    async def wait_connections(self, n: int) -> None:
        """Until n connections have been accepted since the start (open or not)."""
        await self.wait_until(lambda: len(self.connections) >= n, f"{n} connections")

    async def wait_subscribed(self, n: int, coins: Iterable[str] = ()) -> None:
        """Until n connections since the start have subscribed to every one of `coins`
        (to anything, when `coins` is empty)."""
        wanted = set(coins)

        def subscribed(c: Client) -> bool:
            return wanted <= c.coins if wanted else bool(c.coins)

        await self.wait_until(
            lambda: sum(map(subscribed, self.connections)) >= n,
            f"{n} connections subscribed to {sorted(wanted) or 'anything'}",
        )

    async def wait_pings(self, n: int) -> None:
        await self.wait_until(lambda: self.pings >= n, f"{n} pings")

    # the server side

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != PATH:
            return connection.respond(404, f"no stream at {request.path}\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        client = Client(ws)
        self.connections.append(client)
        await self._notify()
        try:
            await self._send(client, GREETING)
            async for message in ws:
                await self._answer(client, message)
        except ConnectionClosed:
            pass
        finally:
            client.open = False
            await self._notify()

    async def _answer(self, client: Client, message: str | bytes) -> None:
        try:
            request = json.loads(message)
            method = request["method"]
        except (ValueError, TypeError, KeyError):
            await self._send(client, unreadable(message))
            return
        if method == "ping":
            self.pings += 1
            if not self.silent:
                self.pongs += 1
                await self._send(client, {"channel": "pong"})
        elif method == "subscribe":
            self.subscribe_messages.append(request)
            await self._subscribe(client, request)
        else:
            await self._send(client, unreadable(message))
        await self._notify()

    async def _subscribe(self, client: Client, request: dict[str, Any]) -> None:
        subscription = request.get("subscription")
        coin = subscription.get("coin") if isinstance(subscription, dict) else None
        if not isinstance(coin, str) or subscription.get("type") != CTX_CHANNEL:
            reply = unreadable(compact(request))
        elif self.refusal is not None:
            reply = error_frame(self.refusal)
        elif coin in client.coins:
            reply = error_frame(f"Already subscribed: {compact(subscription)}")
        else:
            client.coins.add(coin)
            reply = {"channel": "subscriptionResponse", "data": request}
        await self._send(client, reply)

    async def _send(self, client: Client, frame: dict[str, Any] | str) -> None:
        if self.silent:
            return
        with contextlib.suppress(ConnectionClosed):
            await client.ws.send(frame if isinstance(frame, str) else compact(frame))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

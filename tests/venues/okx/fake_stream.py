"""A fake of OKX's public WebSocket (`/ws/v5/public`) on 127.0.0.1, for feed tests.

It speaks the venue's protocol: one ack per subscribed arg in the real shape, the
real error shape for a refusal (`fake.refusal = ("60012", "Invalid request: ...")`)
or an unknown channel (60018), the text `pong` for the text `ping`. Every
subscribe message is recorded as sent (`fake.subscribes`), every ping counted.

A test pushes venue-shaped frames to the connections subscribed to them
(`await fake.push_quote("BTC-USDT-SWAP", rate=0.0001, next_funding_ms=..., mark=...)`),
drops every connection without a close frame (`await fake.drop()`), or makes the
server stop talking (`fake.silent = True`: no pongs, acks or pushes). It waits
for what it needs without sleeping: `wait_connections`, `wait_subscribed`,
`wait_pings`, or any condition with `wait_until`, each bounded by `timeout_s`.

    async with FakeOkxWs() as fake:
        feed = Feed(OkxDialect(), fake.url, symbols, on_updates)
        task = asyncio.create_task(feed.run())
        await fake.wait_subscribed(symbol="BTC-USDT-SWAP")
        await fake.push_quote("BTC-USDT-SWAP", rate=0.0001, next_funding_ms=T, mark=77600.0)
        await fake.drop()  # the feed reconnects, re-seeds and resubscribes
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.venues import dec, fixture

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


@dataclass(eq=False)
class Connection:
    ws: ServerConnection
    conn_id: str
    subscribed: set[tuple[str, str]] = field(default_factory=set)  # (channel, instId)


class FakeOkxWs:
    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s  # the bound on every wait_*
        self.silent = False
        self.refusal: tuple[str, str] | None = None  # (code, msg) to refuse subscribes with
        self.subscribes: list[str] = []  # every subscribe message, as received
        self.refused = 0  # subscribe messages refused
        self.pings = 0
        self.accepted = 0  # connections accepted since the start
        self.open: list[Connection] = []
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    async def __aenter__(self) -> FakeOkxWs:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._check_path, max_size=2**20
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        """What to put in OKX_WS_URL."""
        assert self._server is not None, "use FakeOkxWs as an async context manager"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}{WS_PATH}"

    # --- what a test does ---------------------------------------------------------

    async def push(self, frame: dict[str, Any] | str) -> int:
        """A frame to every connection subscribed to its arg (a str goes to every
        connection with any subscription, junk included); how many it reached."""
        if self.silent:
            return 0
        if isinstance(frame, str):
            targets = [c for c in self.open if c.subscribed]
            text = frame
        else:
            key = (frame["arg"]["channel"], frame["arg"]["instId"])
            targets = [c for c in self.open if key in c.subscribed]
            text = json.dumps(frame)
        reached = 0
        for conn in targets:
            try:
                await conn.ws.send(text)
                reached += 1
            except ConnectionClosed:
                continue  # closing as we pushed: the feed will resubscribe elsewhere
        return reached

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

    async def drop(self) -> None:
        """Cut every connection without a close frame, as a network failure does, and
        wait until the server has let go of them."""
        for conn in list(self.open):
            conn.ws.transport.abort()
        await self.wait_until(lambda: not self.open, "every connection closed")

    async def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Until `condition()` holds, checked whenever a connection, message or close
        changes the fake's state."""
        try:
            async with asyncio.timeout(self.timeout_s), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            raise TimeoutError(f"fake okx ws: {what} not within {self.timeout_s} s") from None

    async def wait_connections(self, n: int) -> None:
        """Until `n` connections were accepted since the start (reconnects count)."""
        await self.wait_until(lambda: self.accepted >= n, f"{n} connections")

    async def wait_subscribed(
        self, connections: int = 1, args: int = 1, symbol: str | None = None
    ) -> None:
        """Until `connections` open connections hold at least `args` subscriptions each,
        and both channels of `symbol` when one is named (a feed may send many batches)."""

        def ready(conn: Connection) -> bool:
            wanted = {(channel, symbol) for channel in CHANNELS} if symbol else set()
            return len(conn.subscribed) >= args and wanted <= conn.subscribed

        await self.wait_until(
            lambda: sum(ready(c) for c in self.open) >= connections,
            f"{connections} connections with {args} subscriptions" + f" to {symbol}" * bool(symbol),
        )

    async def wait_pings(self, n: int) -> None:
        await self.wait_until(lambda: self.pings >= n, f"{n} pings")

    # --- the venue's side -----------------------------------------------------------

    def _check_path(self, ws: ServerConnection, request: Request) -> Response | None:
        if request.path != WS_PATH:
            return ws.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        self.accepted += 1
        conn = Connection(ws, f"{self.accepted:08x}")
        self.open.append(conn)
        await self._notify()
        try:
            async for message in ws:
                await self._receive(conn, message)
                await self._notify()
        except ConnectionClosed:
            pass  # dropped, or the client went away: both are the client's to handle
        finally:
            self.open.remove(conn)
            await self._notify()

    async def _receive(self, conn: Connection, message: str | bytes) -> None:
        if message == "ping":
            self.pings += 1
            await self._send(conn, "pong")
            return
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("op") != "subscribe":
            await self._error(conn, None, INVALID_REQUEST, f"Invalid request: {message!s}")
            return
        self.subscribes.append(message if isinstance(message, str) else message.decode())
        await self._subscribe(conn, request)

    async def _subscribe(self, conn: Connection, request: dict[str, Any]) -> None:
        request_id = request.get("id")
        if self.refusal is not None:
            self.refused += 1
            await self._error(conn, request_id, *self.refusal)
            return
        args = request.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            await self._error(conn, request_id, INVALID_REQUEST, f"Invalid request: {request}")
            return
        for arg in args:
            channel, inst_id = arg.get("channel"), arg.get("instId")
            if channel not in CHANNELS or not isinstance(inst_id, str):
                msg = f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist."
                await self._error(conn, request_id, NO_SUCH_CHANNEL, msg)
                return
            conn.subscribed.add((channel, inst_id))
            ack = {"event": "subscribe", "arg": arg, "connId": conn.conn_id}
            await self._send(conn, self._with_id(request_id, ack))

    async def _error(self, conn: Connection, request_id: Any, code: str, msg: str) -> None:
        error = {"event": "error", "code": code, "msg": msg, "connId": conn.conn_id}
        await self._send(conn, self._with_id(request_id, error))

    @staticmethod
    def _with_id(request_id: Any, event: dict[str, Any]) -> dict[str, Any]:
        """The venue echoes the request's id first, and only when there was one."""
        return event if request_id is None else {"id": request_id, **event}

    async def _send(self, conn: Connection, frame: dict[str, Any] | str) -> None:
        if not self.silent:
            await conn.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

"""A fake of Bybit's public linear WebSocket stream, on 127.0.0.1, for tests.

It speaks the venue's protocol in the shapes tests/fixtures/bybit/ws_*.json record: it
acks each subscribe request, or refuses it with the venue's error when it names a
symbol in `refused`; answers `{"op":"ping"}` with the linear pong; and pushes
`tickers.{symbol}` frames, the first per symbol and connection a whole snapshot, the
rest deltas of the changed fields only, as the venue does.

    async with FakeBybitWs() as fake:
        fake.set_quote("BTCUSDT", rate=0.0001, next_funding_ms=T, mark=77600.0)
        feed = Feed(BybitDialect(), fake.url, symbols, on_updates)  # fake.url: BYBIT_WS_URL
        ...                                                         # run the feed
        await fake.wait_subscribed(1, ["BTCUSDT"])  # acked, snapshot sent
        await fake.push_quote("BTCUSDT", rate=0.0002)  # a delta with fundingRate only

Faults: `await fake.drop()` cuts every connection as a network failure would;
`fake.silent = True` stops every reply and push (pings are still counted). Every
`wait_*` waits on the fake's own events, bounded by `timeout_s`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.venues import dec, fixture

LINEAR_PATH = "/v5/public/linear"
TICKERS = "tickers."
WAIT_S = 5.0

# A symbol first quoted starts from this recorded row, so that its snapshot carries
# every field the venue sends; the quote's own figures replace the row's.
SNAPSHOT_ROW: dict[str, str] = fixture("bybit/ws_tickers_snapshot.json")["data"]


def ticker_fields(
    *,
    rate: float | None = None,
    next_funding_ms: int | None = None,
    mark: float | None = None,
    interval_h: float | None = None,
    turnover: float | None = None,
    oi_value: float | None = None,
) -> dict[str, str]:
    """The given figures under the venue's field names, as the venue writes them
    (decimal strings; the interval in whole hours)."""
    fields = {
        "fundingRate": None if rate is None else dec(rate),
        "nextFundingTime": None if next_funding_ms is None else str(next_funding_ms),
        "markPrice": None if mark is None else dec(mark),
        "fundingIntervalHour": None if interval_h is None else f"{interval_h:g}",
        "turnover24h": None if turnover is None else dec(turnover),
        "openInterestValue": None if oi_value is None else dec(oi_value),
    }
    return {k: v for k, v in fields.items() if v is not None}


_cross_sequence = itertools.count(612874556203)


def ticker_frame(symbol: str, data: dict[str, str], kind: str = "delta") -> dict[str, Any]:
    """A `tickers.{symbol}` push: `kind` is "snapshot" (the whole ticker) or "delta"."""
    return {
        "topic": TICKERS + symbol,
        "type": kind,
        "data": {**data, "symbol": symbol},
        "cs": next(_cross_sequence),
        "ts": int(time.time() * 1000),
    }


@dataclass(eq=False)
class WsClient:
    """One connection as the server sees it."""

    ws: ServerConnection
    conn_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    topics: set[str] = field(default_factory=set)  # pushes go out from the request on
    settled: set[str] = field(default_factory=set)  # topics acked, snapshots sent
    snapshotted: set[str] = field(default_factory=set)  # symbols past their snapshot


class FakeBybitWs:
    def __init__(self) -> None:
        self.tickers: dict[str, dict[str, str]] = {}  # the whole ticker per symbol
        self.refused: set[str] = set()  # symbols the venue calls an invalid topic
        self.silent = False
        self.subscribes: list[dict[str, Any]] = []  # every subscribe request received
        self.pings = 0
        self.accepted = 0  # connections ever accepted
        self.clients: set[WsClient] = set()  # open connections
        self._changed = asyncio.Event()
        self._server: Server | None = None

    async def start(self) -> FakeBybitWs:
        self._server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            process_request=self._route,
            ping_interval=None,  # the venue's heartbeat is app-level
            close_timeout=0.5,
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeBybitWs:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """What to put in BYBIT_WS_URL."""
        assert self._server is not None, "not started"
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}{LINEAR_PATH}"

    # --- the market -------------------------------------------------------------

    def set_quote(self, symbol: str, **figures: Any) -> dict[str, str]:
        """Change a symbol's ticker (figures as `ticker_fields` takes them) without pushing;
        returns the changed fields, i.e. the delta the venue would send."""
        changed = ticker_fields(**figures)
        row = self.tickers.setdefault(symbol, {**SNAPSHOT_ROW, "symbol": symbol})
        row.update(changed)
        return changed

    async def push_quote(self, symbol: str, **figures: Any) -> int:
        """`set_quote`, then to each connection subscribed to the symbol a delta of what
        changed (or the whole snapshot, if it has had none yet). Returns how many it reached."""
        changed = self.set_quote(symbol, **figures)
        reached = 0
        for client in self._subscribers(TICKERS + symbol):
            if symbol in client.snapshotted:
                reached += await self._send(client, ticker_frame(symbol, changed))
            else:
                reached += await self._snapshot(client, symbol)
        return reached

    async def push(self, frame: dict[str, Any] | str | bytes) -> int:
        """A frame as given, to every connection subscribed to its topic; a frame that is
        not a dict (junk, for robustness tests) goes to every subscribed connection."""
        topic = frame.get("topic") if isinstance(frame, dict) else None
        reached = 0
        for client in self._subscribers(topic):
            reached += await self._send(client, frame)
        return reached

    # --- faults -----------------------------------------------------------------

    async def drop(self, timeout_s: float = WAIT_S) -> None:
        """Cut every open connection without a close frame, as a network failure does;
        returns once the server has let go of them."""
        dropped = list(self.clients)
        for client in dropped:
            client.ws.transport.abort()
        await self.wait_until(lambda: self.clients.isdisjoint(dropped), timeout_s)

    # --- waiting ----------------------------------------------------------------

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        """Until `condition()` over the fake's state holds, re-checked at each change."""
        async with asyncio.timeout(timeout_s):
            while not condition():
                await self._changed.wait()

    async def wait_connections(self, n: int, timeout_s: float = WAIT_S) -> None:
        """Until `n` connections have been accepted since the start."""
        await self.wait_until(lambda: self.accepted >= n, timeout_s)

    async def wait_subscribed(
        self, n: int = 1, symbols: Iterable[str] = (), timeout_s: float = WAIT_S
    ) -> None:
        """Until `n` open connections hold every one of `symbols` (any subscription, if
        none is named), their acks and snapshots sent."""
        wanted = {TICKERS + s for s in symbols}

        def subscribed() -> bool:
            return sum(bool(c.settled) and wanted <= c.settled for c in self.clients) >= n

        await self.wait_until(subscribed, timeout_s)

    async def wait_pings(self, n: int, timeout_s: float = WAIT_S) -> None:
        await self.wait_until(lambda: self.pings >= n, timeout_s)

    # --- the protocol -----------------------------------------------------------

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != LINEAR_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such stream\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        client = WsClient(ws)
        self.clients.add(client)
        self.accepted += 1
        self._notify()
        try:
            async for message in ws:
                await self._answer(client, message)
        except ConnectionClosed:
            pass  # dropped: the client sees the same
        finally:
            self.clients.discard(client)
            self._notify()

    async def _answer(self, client: WsClient, message: str | bytes) -> None:
        try:
            request = json.loads(message)
        except ValueError:
            return
        if not isinstance(request, dict):
            return
        if request.get("op") == "ping":
            self.pings += 1
            await self._send(client, self._reply(client, request, True, "pong"))
        elif request.get("op") == "subscribe":
            self.subscribes.append(request)
            await self._subscribe(client, request)
        self._notify()

    async def _subscribe(self, client: WsClient, request: dict[str, Any]) -> None:
        args = [a for a in request.get("args", []) if isinstance(a, str)]
        invalid = [a for a in args if a.removeprefix(TICKERS) in self.refused]
        if invalid:
            # The venue's wording for several invalid topics at once is not recorded.
            message = f"Invalid topic :[{','.join(invalid)}]"
            await self._send(client, self._reply(client, request, False, message))
            return
        client.topics.update(args)
        await self._send(client, self._reply(client, request, True, ""))
        for topic in args:
            symbol = topic.removeprefix(TICKERS)
            if symbol in self.tickers and symbol not in client.snapshotted:
                await self._snapshot(client, symbol)
        client.settled.update(args)

    @staticmethod
    def _reply(client: WsClient, request: dict[str, Any], ok: bool, message: str) -> dict[str, Any]:
        """The linear reply shape: a subscribe ack or refusal, or a pong."""
        reply: dict[str, Any] = {"success": ok, "ret_msg": message, "conn_id": client.conn_id}
        if "req_id" in request:
            reply["req_id"] = request["req_id"]
        reply["op"] = request["op"]
        return reply

    async def _snapshot(self, client: WsClient, symbol: str) -> int:
        if self.silent:
            return 0  # still owed: the next push to this connection is the snapshot
        client.snapshotted.add(symbol)  # before the await: a concurrent push sends a delta
        return await self._send(client, ticker_frame(symbol, self.tickers[symbol], "snapshot"))

    def _subscribers(self, topic: str | None) -> list[WsClient]:
        return [c for c in self.clients if c.topics and (topic is None or topic in c.topics)]

    async def _send(self, client: WsClient, frame: dict[str, Any] | str | bytes) -> int:
        """1 if sent, 0 while silent or when the connection is already gone."""
        if self.silent:
            return 0
        try:
            await client.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)
        except ConnectionClosed:
            return 0
        return 1

    def _notify(self) -> None:
        """Wake every waiter to re-check its condition."""
        self._changed.set()
        self._changed = asyncio.Event()

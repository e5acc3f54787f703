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

Faults: `await fake.drop()` cuts every connection as a network failure would;
`fake.silent = True` stops every reply and push (pings are still counted and
subscriptions recorded; a later push reaches them). Every `wait_*` waits on the fake's
own events, bounded by `timeout_s`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.venues import dec, fixture

PUBLIC_PATH = "/v2/ws/public"
INST_TYPE = "USDT-FUTURES"
TICKER = "ticker"
NO_SUCH_INSTRUMENT = 30001
UNRECOGNIZED = 30002
PARAM_ERROR = 30016
WAIT_S = 5.0

# A symbol first quoted starts from this recorded row, so that its pushes carry every
# field the venue sends; the quote's own figures replace the row's.
SNAPSHOT_ROW: dict[str, Any] = fixture("bitget/ws_ticker_snapshot.json")["data"][0]


def ticker_fields(
    *,
    rate: float | None = None,
    next_funding_ms: int | None = None,
    mark: float | None = None,
    turnover: float | None = None,
    holding: float | None = None,
    last: float | None = None,
) -> dict[str, str]:
    """The given figures under the venue's field names, as the venue writes them (decimal
    strings): `turnover` is quoteVolume (USDT), `holding` the open interest in contracts."""
    fields = {
        "fundingRate": None if rate is None else dec(rate),
        "nextFundingTime": None if next_funding_ms is None else str(next_funding_ms),
        "markPrice": None if mark is None else dec(mark),
        "quoteVolume": None if turnover is None else dec(turnover),
        "holdingAmount": None if holding is None else dec(holding),
        "lastPr": None if last is None else dec(last),
    }
    return {k: v for k, v in fields.items() if v is not None}


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


@dataclass(eq=False)
class WsClient:
    """One connection as the server sees it."""

    ws: ServerConnection
    symbols: set[str] = field(default_factory=set)  # subscribed: pushes reach these
    settled: set[str] = field(default_factory=set)  # acked, snapshot sent if quoted


class FakeBitgetWs:
    def __init__(self) -> None:
        self.tickers: dict[str, dict[str, Any]] = {}  # the whole row per symbol
        self.refused: set[str] = set()  # symbols the venue says do not exist
        self.silent = False
        self.subscribes: list[dict[str, Any]] = []  # every subscribe request received
        self.pings = 0
        self.accepted = 0  # connections ever accepted
        self.clients: set[WsClient] = set()  # open connections
        self._changed = asyncio.Event()
        self._server: Server | None = None

    async def start(self) -> FakeBitgetWs:
        self._server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            process_request=self._route,
            ping_interval=None,  # the venue's heartbeat is the text ping
            close_timeout=0.5,
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeBitgetWs:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """What to put in BITGET_WS_URL."""
        assert self._server is not None, "not started"
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}{PUBLIC_PATH}"

    # --- the market -------------------------------------------------------------

    def set_quote(self, symbol: str, **figures: Any) -> dict[str, Any]:
        """Change a symbol's row (figures as `ticker_fields` takes them) without pushing;
        returns the whole row."""
        row = self.tickers.setdefault(symbol, dict(SNAPSHOT_ROW))
        row.update(ticker_fields(**figures))
        return row

    async def push_quote(self, symbol: str, **figures: Any) -> int:
        """`set_quote`, then the whole row to each connection subscribed to the symbol.
        Returns how many it reached."""
        frame = ticker_frame(symbol, self.set_quote(symbol, **figures))
        return await self.push(frame)

    async def push(self, frame: dict[str, Any] | str | bytes) -> int:
        """A frame as given, to every connection subscribed to its `arg.instId`; a frame
        without one (junk, for robustness tests) goes to every subscribed connection."""
        arg = frame.get("arg") if isinstance(frame, dict) else None
        symbol = arg.get("instId") if isinstance(arg, dict) else None
        reached = 0
        for client in [c for c in self.clients if c.symbols]:
            if symbol is None or symbol in client.symbols:
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
        none is named), acked and their snapshots sent."""
        wanted = set(symbols)

        def subscribed() -> bool:
            return sum(bool(c.settled) and wanted <= c.settled for c in self.clients) >= n

        await self.wait_until(subscribed, timeout_s)

    async def wait_pings(self, n: int, timeout_s: float = WAIT_S) -> None:
        await self.wait_until(lambda: self.pings >= n, timeout_s)

    # --- the protocol -----------------------------------------------------------

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != PUBLIC_PATH:
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
        text = message if isinstance(message, str) else message.decode(errors="replace")
        if text == "ping":
            self.pings += 1
            await self._send(client, "pong")
        elif (request := _json_object(text)) is not None and request.get("op") == "subscribe":
            self.subscribes.append(request)
            await self._subscribe(client, request.get("args"))
        else:
            reply = {"event": "error", "code": UNRECOGNIZED, "msg": f"Unrecognized request:{text}"}
            await self._send(client, reply)
        self._notify()

    async def _subscribe(self, client: WsClient, args: Any) -> None:
        """Each arg on its own, as the venue does: an ack and the snapshot, or a refusal."""
        for arg in args if isinstance(args, list) else [args]:
            if not _is_ticker(arg):
                await self._send(client, subscribe_error(arg, PARAM_ERROR, "Param error"))
                continue
            symbol = str(arg.get("instId"))
            if symbol in self.refused:
                await self._send(client, no_such_instrument(arg))
                continue
            client.symbols.add(symbol)
            if not await self._send(client, {"event": "subscribe", "arg": arg}):
                continue  # silent: recorded, never acked
            if symbol in self.tickers:
                await self._send(client, ticker_frame(symbol, self.tickers[symbol]))
            client.settled.add(symbol)

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


def _is_ticker(arg: Any) -> bool:
    """A USDT-FUTURES ticker arg: the one channel this fake serves."""
    if not isinstance(arg, dict):
        return False
    return arg.get("instType") == INST_TYPE and arg.get("channel") == TICKER


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None

"""A fake of Gate's public USDT futures stream (`/v4/ws/usdt`) on 127.0.0.1, for feed tests.

It speaks the venue's protocol in the shapes tests/fixtures/gate/ws_*.json hold: it
answers each `futures.tickers` subscribe request once, with the ack, or with the
venue's refusal (code 2) when the request names a contract in `refused`; answers
`futures.ping` with `futures.pong`; and pushes `futures.tickers` updates whose rows
are whole tickers, as the venue's are. Like the venue (and every websockets server)
it also pings at the protocol level, which clients answer by themselves. Every
subscribe request is recorded as received (`fake.subscribes`), every ping counted.

    async with FakeGateWs() as fake:
        feed = Feed(GateDialect(), fake.url, symbols, on_updates)  # fake.url: GATE_WS_URL
        task = asyncio.create_task(feed.run())
        await fake.wait_subscribed(1, ["BTC_USDT"])  # acked
        await fake.push_quote("BTC_USDT", rate=0.0001, mark=77600.0, turnover=2.9e8)
        await fake.drop()  # the feed reconnects, re-seeds and resubscribes

The venue's tickers carry no funding interval or next settlement time, so quotes here
have neither: those come from REST. Faults: `await fake.drop()` cuts every connection
as a network failure would; `fake.silent = True` stops every answer and push
(requests are still recorded, pings counted); `await fake.push(upgrade_notice())`
announces a service upgrade. Every `wait_*` waits on the fake's own events, bounded
by `timeout_s`.
"""

from __future__ import annotations

import asyncio
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

USDT_PATH = "/v4/ws/usdt"
TICKERS = "futures.tickers"
PING = "futures.ping"
INVALID_STRUCT = (1, "invalid argument struct")  # the docs' wording for code 1
INVALID_ARGUMENT = 2

# A contract first quoted starts from this recorded row, so that its pushes carry every
# field the venue sends; the quote's own figures replace the row's.
TICKER_ROW: dict[str, str] = fixture("gate/ws_tickers_update.json")["result"][0]
ACK: dict[str, Any] = fixture("gate/ws_subscribe_ack.json")
REFUSAL: dict[str, Any] = fixture("gate/ws_subscribe_error.json")
PONG: dict[str, Any] = fixture("gate/ws_pong.json")
UPGRADE: dict[str, Any] = fixture("gate/ws_system_upgrade.json")


def _stamped(frame: dict[str, Any]) -> dict[str, Any]:
    """The frame with the venue's `time` (s) and `time_ms` set to now."""
    now_ms = int(time.time() * 1000)
    return {**frame, "time": now_ms // 1000, "time_ms": now_ms}


def ticker_row(
    contract: str,
    *,
    base: dict[str, str] | None = None,
    rate: float | None = None,
    mark: float | None = None,
    turnover: float | None = None,
) -> dict[str, str]:
    """A whole ticker row for `contract`: `base` (or the recorded row) with the given
    figures written as the venue writes them. `turnover` is USDT (the quote and, for
    these contracts, the settle currency); `mark` is per coin and moves the index and
    last price with it."""
    row = {**(base or TICKER_ROW), "contract": contract}
    if rate is not None:
        row["funding_rate"] = dec(rate)
    if mark is not None:
        row["mark_price"] = row["index_price"] = row["last"] = dec(mark)
    if turnover is not None:
        row["volume_24h_quote"] = row["volume_24h_settle"] = dec(turnover)
    return row


def tickers_frame(*rows: dict[str, Any]) -> dict[str, Any]:
    """A `futures.tickers` update carrying these rows."""
    return _stamped({"channel": TICKERS, "event": "update", "result": list(rows)})


def upgrade_notice() -> dict[str, Any]:
    """The system notice the venue sends before it closes connections for an upgrade."""
    return _stamped(UPGRADE)


@dataclass(eq=False)
class Connection:
    """One connection as the server sees it."""

    ws: ServerConnection
    conn_id: str
    contracts: set[str] = field(default_factory=set)  # pushes go out from the request on
    acked: set[str] = field(default_factory=set)  # subscriptions answered


class FakeGateWs:
    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s  # the bound on every wait_*
        self.tickers: dict[str, dict[str, str]] = {}  # the whole ticker row per contract
        self.refused: set[str] = set()  # contracts the venue does not know
        self.silent = False
        self.subscribes: list[dict[str, Any]] = []  # every subscribe request, decoded
        self.pings = 0
        self.accepted = 0  # connections accepted since the start
        self.open: list[Connection] = []
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    async def __aenter__(self) -> FakeGateWs:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._check_path, close_timeout=0.5
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        self._server = None

    @property
    def url(self) -> str:
        """What to put in GATE_WS_URL."""
        assert self._server is not None, "use FakeGateWs as an async context manager"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}{USDT_PATH}"

    # --- what a test does ---------------------------------------------------------

    def set_quote(self, contract: str, **figures: float) -> dict[str, str]:
        """Change a contract's ticker (figures as `ticker_row` takes them) without
        pushing; returns the whole row."""
        row = ticker_row(contract, base=self.tickers.get(contract), **figures)
        self.tickers[contract] = row
        return row

    async def push_quote(self, contract: str, **figures: float) -> int:
        """`set_quote`, then the whole row in a tickers update to each connection
        subscribed to the contract; how many it reached."""
        return await self.push(tickers_frame(self.set_quote(contract, **figures)))

    async def push(self, frame: dict[str, Any] | str | bytes) -> int:
        """A tickers update to the connections subscribed to one of its contracts;
        anything else (a notice, junk) to every connection with a subscription. How
        many it reached: 0 while silent."""
        if isinstance(frame, dict) and frame.get("channel") == TICKERS:
            rows = frame.get("result")
            named = {r.get("contract") for r in rows if isinstance(r, dict)} if rows else set()
            targets = [c for c in self.open if c.contracts & named]
        else:
            targets = [c for c in self.open if c.contracts]
        reached = 0
        for conn in targets:
            reached += await self._send(conn, frame)
        return reached

    async def drop(self) -> None:
        """Cut every connection without a close frame, as a network failure does, and
        wait until the server has let go of them."""
        dropped = list(self.open)
        for conn in dropped:
            conn.ws.transport.abort()
        await self.wait_until(
            lambda: not any(c in self.open for c in dropped), "dropped connections closed"
        )

    async def wait_until(self, condition: Callable[[], bool], what: str = "condition") -> None:
        """Until `condition()` holds, checked whenever a connection, request or close
        changes the fake's state."""
        try:
            async with asyncio.timeout(self.timeout_s), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            raise TimeoutError(f"fake gate ws: {what} not within {self.timeout_s} s") from None

    async def wait_connections(self, n: int) -> None:
        """Until `n` connections were accepted since the start (reconnects count)."""
        await self.wait_until(lambda: self.accepted >= n, f"{n} connections")

    async def wait_subscribed(self, n: int = 1, symbols: Iterable[str] = ()) -> None:
        """Until `n` open connections have had subscriptions acked, to every one of
        `symbols` when some are named."""
        wanted = set(symbols)
        await self.wait_until(
            lambda: sum(bool(c.acked) and wanted <= c.acked for c in self.open) >= n,
            f"{n} connections subscribed to {sorted(wanted) or 'anything'}",
        )

    async def wait_pings(self, n: int) -> None:
        await self.wait_until(lambda: self.pings >= n, f"{n} pings")

    # --- the venue's side -----------------------------------------------------------

    def _check_path(self, ws: ServerConnection, request: Request) -> Response | None:
        if request.path != USDT_PATH:
            return ws.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        self.accepted += 1
        conn = Connection(ws, uuid.uuid4().hex[:16])
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
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            await self._refuse(conn, {}, *INVALID_STRUCT)
        elif request.get("channel") == PING:
            self.pings += 1
            await self._send(conn, _stamped(PONG))
        elif request.get("channel") == TICKERS and request.get("event") == "subscribe":
            self.subscribes.append(request)
            await self._subscribe(conn, request)
        else:
            await self._refuse(conn, request, *INVALID_STRUCT)

    async def _subscribe(self, conn: Connection, request: dict[str, Any]) -> None:
        payload = request.get("payload")
        if not isinstance(payload, list) or not all(isinstance(c, str) for c in payload):
            await self._refuse(conn, request, *INVALID_STRUCT)
            return
        unknown = [c for c in payload if c in self.refused]
        if unknown:
            # The venue's wording for several unknown contracts at once is not recorded.
            await self._refuse(conn, request, INVALID_ARGUMENT, f"unknown contract: {unknown[0]}")
            return
        conn.contracts.update(payload)
        if await self._send(conn, self._answer(conn, ACK, request)):
            conn.acked.update(payload)

    async def _refuse(
        self, conn: Connection, request: dict[str, Any], code: int, message: str
    ) -> None:
        error = {"code": code, "message": message}
        await self._send(conn, self._answer(conn, REFUSAL, request, error=error))

    @staticmethod
    def _answer(
        conn: Connection, template: dict[str, Any], request: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        """An answer in the recorded shape, echoing the request's channel, event and
        payload as the venue does."""
        echoed = {k: request[k] for k in ("channel", "event", "payload") if k in request}
        recorded = {k: v for k, v in template.items() if k != "payload"}
        answer = {**recorded, **echoed, **fields, "conn_id": conn.conn_id}
        return _stamped({**answer, "trace_id": uuid.uuid4().hex})

    async def _send(self, conn: Connection, frame: dict[str, Any] | str | bytes) -> int:
        """1 if sent, 0 while silent or when the connection is already gone."""
        if self.silent:
            return 0
        try:
            await conn.ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)
        except ConnectionClosed:
            return 0
        return 1

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

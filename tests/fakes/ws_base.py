"""What every fake venue WebSocket server shares, on 127.0.0.1, for feed tests.

A venue's fake (tests/venues/<venue>/fake_stream.py) subclasses `FakeWs` with only its
protocol: its `path`, its `Connection` record, `receive()` for what a client sends and
`push_rate()`/`market_pushes()` for what the venue pushes. The base serves on a free
port, tracks connections and what each one's pushes are `routed` by, answers nothing
while `silent`, cuts connections as a network failure would (`drop()`), and lets a test
wait on its state without sleeping: every `wait_*` re-checks its condition whenever a
connection opens, a message arrives or a connection closes, bounded by `timeout_s`. A
venue that pushes ticker rows (Bybit, Bitget, Gate) subclasses `TickerFakeWs`, which
keeps each symbol's row as the venue writes it (`TickerRows`).

    async with FakeBybitWs() as fake:          # fake.url: BYBIT_WS_URL
        ...start a Feed on fake.url...
        await fake.wait_subscribed(1, ["BTCUSDT"])
        await fake.push_rate("BTCUSDT", 0.0002)
        await fake.drop()                      # the feed reconnects, re-seeds, resubscribes
        await fake.wait_subscribed(1, ["BTCUSDT"])
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.venues import dec

WAIT_S = 5.0  # a bound for failures only: passing waits take milliseconds
Frame = dict[str, Any] | list[Any] | str | bytes


@dataclass(eq=False)
class Connection:
    """One connection as the server sees it."""

    ws: ServerConnection
    conn_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    subscribed: set[str] = field(default_factory=set)  # symbols acked (and snapshotted)
    # What the venue's pushes reach it by (topics, symbols, channel args), from its request on.
    routes: set[Any] = field(default_factory=set)
    open: bool = True


class FakeWs:
    venue: ClassVar[str]
    path: ClassVar[str]  # the stream's path; any other is a 404
    server_pings: ClassVar[bool] = False  # protocol pings from the server, as Gate sends
    connection_class: ClassVar[type[Connection]] = Connection

    def __init__(self, timeout_s: float = WAIT_S) -> None:
        self.timeout_s = timeout_s  # the bound on every wait_*
        self.silent = False  # no answer and no push goes out (requests are still read)
        self.refused: set[str] = set()  # symbols the venue refuses, in its own words
        # Set, where the venue refuses subscribes naming no symbol (OKX: (code, msg);
        # Hyperliquid, Binance: msg): every subscribe is refused with it, and counted.
        self.refusal: Any = None
        self.refusals = 0
        self.subscribes: list[Any] = []  # every subscribe request received, decoded
        self.pings = 0  # app-level pings received
        self.connections: list[Connection] = []  # every one accepted, oldest first
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    # --- lifecycle ----------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._server = await serve(
            self._serve,
            "127.0.0.1",
            0,
            process_request=self.route,
            ping_interval=20.0 if self.server_pings else None,
            close_timeout=0.5,
            max_size=2**20,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    @property
    def host(self) -> str:
        """The bare host, which a dialect completes with its default path."""
        assert self._server is not None, f"use `async with {type(self).__name__}()`"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    @property
    def url(self) -> str:
        """What to put in <VENUE>_WS_URL."""
        return self.host + self.path

    @property
    def accepted(self) -> int:
        """Connections accepted since the start (reconnects count)."""
        return len(self.connections)

    @property
    def open(self) -> list[Connection]:
        return [c for c in self.connections if c.open]

    # --- what a test does -----------------------------------------------------------

    async def push_rate(self, symbol: str, rate: float) -> int:
        """A push carrying `symbol`'s new funding rate, to the connections subscribed to
        it; how many it reached."""
        raise NotImplementedError

    @classmethod
    def market_pushes(cls, market: Any) -> list[Frame]:
        """Frames carrying every perpetual of `market` (a FakeMarket) on this venue, with
        the figures the fake REST venue serves for it."""
        raise NotImplementedError

    def routed(self, keys: Iterable[Any] | None = None) -> list[Connection]:
        """The open connections with a subscription: to one of `keys`, the routes a push
        names (None: it names none, as junk or a notice, and reaches them all)."""
        conns = [c for c in self.open if c.routes]
        return conns if keys is None else [c for c in conns if c.routes & set(keys)]

    async def push_to(self, targets: Iterable[Connection], frame: Frame) -> int:
        reached = 0
        for conn in targets:
            reached += await self.send(conn, frame)
        return reached

    async def drop(self) -> None:
        """Cut every open connection without a close frame, as a network failure does, and
        wait until the server has let go of them."""
        dropped = self.open
        for conn in dropped:
            conn.ws.transport.abort()
        await self.wait_until(lambda: not any(c.open for c in dropped), "dropped connections")

    # --- waiting --------------------------------------------------------------------

    async def wait_until(self, condition: Callable[[], object], what: str = "condition") -> None:
        """Until `condition()` over the fake's state holds."""
        try:
            async with asyncio.timeout(self.timeout_s), self._changed:
                await self._changed.wait_for(condition)
        except TimeoutError:
            seen = f"{self.accepted} connections, {len(self.open)} open, {self.pings} pings"
            raise TimeoutError(
                f"fake {self.venue} ws: {what} not within {self.timeout_s:g} s ({seen})"
            ) from None

    async def wait_connections(self, n: int) -> None:
        await self.wait_until(lambda: self.accepted >= n, f"{n} connections")

    async def wait_subscribed(self, n: int = 1, symbols: Iterable[str] = ()) -> None:
        """Until `n` open connections are subscribed, to every one of `symbols` if named."""
        wanted = set(symbols)
        await self.wait_until(
            lambda: sum(self.holds(c, wanted) for c in self.open) >= n,
            f"{n} connections subscribed to {sorted(wanted) or 'anything'}",
        )

    async def wait_only(self, n: int, symbols: Iterable[str] = ()) -> None:
        """Until the `n`-th connection is the one open and subscribed (to every one of
        `symbols` if named): the ones before it are gone."""
        wanted = set(symbols)
        await self.wait_until(
            lambda: (
                self.accepted == n
                and self.open == self.connections[-1:]
                and self.holds(self.connections[-1], wanted)
            ),
            f"connection {n} alone, subscribed to {sorted(wanted) or 'anything'}",
        )

    async def wait_pings(self, n: int) -> None:
        await self.wait_until(lambda: self.pings >= n, f"{n} pings")

    def holds(self, conn: Connection, symbols: set[str]) -> bool:
        return bool(conn.subscribed) and symbols <= conn.subscribed

    # --- the venue's side -------------------------------------------------------------

    async def receive(self, conn: Connection, message: str | bytes) -> None:
        """Answer one message from a client."""
        raise NotImplementedError

    async def on_open(self, conn: Connection) -> None:
        """What the venue does first on a new connection (nothing, unless overridden)."""

    async def on_close(self, conn: Connection) -> None:
        """What the venue does once a connection has gone."""

    def route(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path != self.path:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def send(self, conn: Connection, frame: Frame) -> int:
        """1 if sent, 0 while silent or when the connection is already gone."""
        if self.silent:
            return 0
        text = frame if isinstance(frame, str | bytes) else json.dumps(frame)
        try:
            await conn.ws.send(text)
        except ConnectionClosed:
            return 0
        return 1

    async def notify(self) -> None:
        """Wake every waiter to re-check its condition."""
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, ws: ServerConnection) -> None:
        conn = self.connection_class(ws)
        self.connections.append(conn)
        await self.notify()
        try:
            await self.on_open(conn)
            async for message in ws:
                await self.receive(conn, message)
                await self.notify()
        except ConnectionClosed:
            pass  # dropped, or the client went away: both are the client's to handle
        finally:
            conn.open = False
            await self.on_close(conn)
            await self.notify()


# How a venue writes a figure where it is not a plain decimal string.
WRITTEN: dict[str, Callable[[Any], str]] = {
    "next_funding_ms": str,  # whole milliseconds
    "interval_h": lambda hours: f"{hours:g}",  # whole hours
}


@dataclass(frozen=True)
class TickerRows:
    """How a venue writes a symbol's ticker row: its recorded row, the field that names the
    symbol, and each figure's fields (`rate`, `mark`, `turnover`... as a test gives them)."""

    recorded: dict[str, Any]
    symbol_field: str
    fields_of: dict[str, tuple[str, ...]]

    def fields(self, **figures: float | None) -> dict[str, str]:
        """The given figures (None: not given) under the venue's field names, written as
        the venue writes them."""
        if unknown := figures.keys() - self.fields_of.keys():
            raise TypeError(f"figures the venue does not carry: {sorted(unknown)}")
        return {
            field: WRITTEN.get(figure, dec)(value)
            for figure, value in figures.items()
            if value is not None
            for field in self.fields_of[figure]
        }

    def row(self, symbol: str, **figures: float | None) -> dict[str, Any]:
        """The recorded row for `symbol`, with the given figures."""
        return {**self.recorded, self.symbol_field: symbol, **self.fields(**figures)}


class TickerFakeWs(FakeWs):
    """A venue whose pushes carry each symbol's ticker row (Bybit, Bitget, Gate): the fake
    keeps the whole row per symbol, starting from the venue's recorded one, and a test
    changes its figures (`set_quote`) and pushes them (`push_quote`)."""

    rows: ClassVar[TickerRows]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.tickers: dict[str, dict[str, Any]] = {}  # the whole row per symbol

    def set_quote(self, symbol: str, **figures: float | None) -> dict[str, Any]:
        """Change a symbol's row (figures as `rows` names them) without pushing; returns
        the fields that changed, i.e. the delta the venue would send."""
        changed = self.rows.fields(**figures)
        self.tickers.setdefault(symbol, self.rows.row(symbol)).update(changed)
        return changed

    async def push_quote(self, symbol: str, **figures: Any) -> int:
        """`set_quote`, then the venue's push of it to each connection subscribed to the
        symbol; how many it reached."""
        raise NotImplementedError

    async def push_rate(self, symbol: str, rate: float) -> int:
        return await self.push_quote(symbol, rate=rate)


def json_object(message: str | bytes) -> dict[str, Any] | None:
    """A client message as a JSON object, or None for anything else."""
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None

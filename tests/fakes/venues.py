"""A fake of every venue's public REST API, on 127.0.0.1, for tests, benchmarks and the demo.

One aiohttp server answers every venue under its own prefix
(`http://127.0.0.1:PORT/bybit/v5/market/tickers`), so a client is pointed at it
with `BYBIT_REST_URL=http://127.0.0.1:PORT/bybit`. Each venue's endpoints live in its
own `tests/venues/<name>/fake_rest.py` (`install(fake)` and `symbol(perp)`), installed
for every venue in `arb.venues.registry`; this module is the server, the market they
render and the faults.

Two ways to answer:
- `FakeVenues()` serves the recorded fixtures verbatim;
- `FakeVenues(market)` renders a controllable `FakeMarket` into the same wire
  shapes: each row is a fixture row with its numbers replaced, and the rows a
  scanner must skip (dated futures, inverse swaps, delisted coins) are kept.

Each market perpetual has an order book that moves with its price (`FakePerp.levels`,
shaped by a `BookShape` per perp or per venue), served by the book endpoints in each
venue's units, and a settled funding history too, served by the history
endpoints with the venues' own paging (`FakePerp.history`, or 30 days at its current
rate), so that a client's pagination is really exercised.

Faults are injected per venue and path (`fake.fail("okx", OKX_FUNDING, Fault.status(500))`)
and every request is recorded in `fake.requests` (counted at `GET /fake/hits` for a
client in another process). `Fault("empty")` answers the endpoint's own reply with no
rows; `Fault.huge(...)` streams a reply of any size, even without end, generating it
as it goes (`fake.streamed` counts the bytes it got to send).

Run standalone, it prints `PORT <n>` and serves until stdin closes (Ctrl-D):
`python -m tests.fakes.venues` serves the demo's moving market (tests/fakes/demo_market.py,
`--seed N`), whose next fundings lie ahead of the real clock; at a terminal it also prints the
variables that point `arb-bot` at it. `--perps 500` serves `synthetic_market(500)`, rendered
once (the benchmarks); `--fixtures` the recorded replies verbatim, a snapshot of the past
in which every countdown reads "due".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import import_module
from pathlib import Path
from typing import Any

from aiohttp import web

from arb.venues.registry import NAMES
from tests.fakes.local_server import LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
HOUR_MS = 3_600_000
HISTORY_DAYS = 30  # how far back a perp's default history goes
SEED = 7  # synthetic and demo markets' default seed

# Not a venue: request counts for a client in another process (`GET /fake/hits`).
FAKE_HITS = "/hits"


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


def by_symbol(quotes: list[Any]) -> dict[str, Any]:
    """Quotes by their symbol; a symbol that appears twice fails the test."""
    out = {q.symbol: q for q in quotes}
    assert len(out) == len(quotes), "a symbol appears twice"
    return out


def dec(x: float) -> str:
    """A number the way venues write it: a plain decimal string, never an exponent."""
    return format(Decimal(repr(float(x))), "f")


def scaled(x: float, times: float = 1, per: float = 1) -> str:
    """`x * times / per` in decimal, written as `dec` writes numbers: a per-coin price as
    a price per 1000 coins (times 1000), coins as contracts (per the contract size)."""
    d = Decimal(repr(float(x))) * Decimal(repr(float(times))) / Decimal(repr(float(per)))
    return format(d.normalize(), "f")


# --- the market state -------------------------------------------------------


@dataclass(frozen=True)
class BookShape:
    """How a fake perp's order book lies around its price: `FakePerp.levels`."""

    spread_bps: float = 2.0  # best ask over best bid, of the price
    step_bps: float = 1.0  # between neighbouring levels of a side
    depth_usd: float = 50_000.0  # at the best level; the k-th level holds k times as much
    levels: int = 20  # per side


@dataclass
class FakePerp:
    """One perpetual on one venue. `price` is per coin; `multiplier` names 1000PEPE/kPEPE."""

    asset: str
    rate: float  # per interval, as the venue publishes it
    interval_h: float = 8.0
    price: float = 100.0
    turnover: float = 50_000_000.0  # 24 h, quote currency
    open_interest: float = 10_000.0  # coins
    multiplier: int = 1
    settle: str = "USDT"
    ct_val: str = "1"  # OKX contract size, coins per contract (orders only)
    # Bybit's name when the multiplier is a suffix (SHIB1000USDT) rather than a prefix.
    bybit_symbol: str | None = None
    # Settled funding as (settlement ms, rate per interval); None: `FakeMarket.settled`.
    history: list[tuple[int, float]] | None = None
    # The order book: `book` everywhere, or a venue's own shape (a thin venue).
    book: BookShape = BookShape()
    venue_books: dict[str, BookShape] = field(default_factory=dict)
    lot: float = 0.001  # order size step, coins (a power of ten: Hyperliquid's szDecimals)
    min_qty: float = 0.001  # smallest order, coins

    def levels(self, venue: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """(bids, asks) best first, as (USD per coin, coins), around `price` as `venue`'s
        book shape says. Prices have 8 significant digits and sizes are whole lots, so
        every venue writes them exactly in its own units and a client reads them back."""
        shape = self.venue_books.get(venue, self.book)
        lot = Decimal(repr(self.lot))

        def side(sign: int) -> list[tuple[float, float]]:
            out = []
            for k in range(shape.levels):
                off = (shape.spread_bps / 2 + k * shape.step_bps) / 1e4
                price = float(f"{self.price * (1 + sign * off):.8g}")
                lots = int(Decimal(repr(shape.depth_usd * (k + 1) / price)) / lot)
                out.append((price, float(max(lots, 1) * lot)))
            return out

        return side(-1), side(+1)

    def wire_levels(
        self, venue: str, price_unit: float, size_unit: float
    ) -> tuple[list[list[str]], list[list[str]]]:
        """`levels(venue)` as the venue writes them, exact decimal strings: prices per
        `price_unit` coins (1000 for 1000PEPEUSDT), sizes in units of `size_unit` coins
        (the multiplier, or an OKX/Gate contract size)."""

        def side(levels: list[tuple[float, float]]) -> list[list[str]]:
            return [[scaled(px, price_unit), scaled(sz, per=size_unit)] for px, sz in levels]

        bids, asks = self.levels(venue)
        return side(bids), side(asks)


@dataclass
class FakeMarket:
    venues: dict[str, list[FakePerp]] = field(default_factory=dict)
    now_ms: int | None = None  # None: the real clock

    def now(self) -> int:
        return self.now_ms if self.now_ms is not None else int(time.time() * 1000)

    def next_settlement(self, interval_h: float) -> int:
        step = int(interval_h * HOUR_MS)
        return (self.now() // step + 1) * step

    def perps(self, venue: str) -> list[FakePerp]:
        return self.venues.get(venue, [])

    def settled(self, perp: FakePerp) -> list[tuple[int, float]]:
        """`perp`'s settlements, oldest first: its own `history`, or one every interval
        (aligned like `next_settlement`) over the last HISTORY_DAYS at its current rate."""
        if perp.history is not None:
            return sorted(perp.history)
        step = int(perp.interval_h * HOUR_MS)
        last = self.next_settlement(perp.interval_h) - step
        first = self.now() - HISTORY_DAYS * 24 * HOUR_MS
        return [(t, perp.rate) for t in range(last, first - 1, -step)][::-1]


@dataclass(frozen=True)
class HistoryFacts:
    """What the venue-agnostic contract tests (tests/venues/test_rest_contract.py) need to
    know of a venue's settled-funding endpoint; each fake declares its own as `HISTORY`."""

    path: str
    page: int  # the most rows one reply holds
    forward: bool  # it answers forward from a start time (else back from an end)
    recorded: tuple[str, str]  # the symbol its recorded reply belongs to, and that file
    unknown_symbol: tuple[str, Any]  # its answer to one: ("code", code) or ("status", HTTP)
    unit_ms: int = 1  # the unit of its times


class Clock:
    """A settable clock (seconds) for a client's caches."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def synthetic_market(perps_per_venue: int, seed: int = SEED) -> FakeMarket:
    """`n` perpetuals on every venue, mixed intervals and signs, deterministic."""
    rng = random.Random(seed)
    venues: dict[str, list[FakePerp]] = {v: [] for v in NAMES}
    for i in range(perps_per_venue):
        asset = f"C{i:04d}"
        price = 10 ** rng.uniform(-4, 4)
        for venue in NAMES:
            interval = 1.0 if venue == "hyperliquid" else rng.choice((8.0, 8.0, 4.0, 1.0))
            venues[venue].append(
                FakePerp(
                    asset=asset,
                    rate=round(rng.gauss(0.0001, 0.0003) * interval / 8, 8),
                    interval_h=interval,
                    price=price * (1 + rng.uniform(-0.001, 0.001)),
                    turnover=10 ** rng.uniform(5, 9),
                    open_interest=10 ** rng.uniform(3, 7) / price,
                )
            )
    return FakeMarket(venues)


# --- faults -----------------------------------------------------------------


@dataclass
class Fault:
    kind: str  # status | timeout | html | garbage | truncated | wrong_shape | body | empty | huge
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 5.0
    times: int | None = None  # None: every request until cleared
    size: int | None = None  # huge: bytes to send (None: without end)
    declared: bool = False  # huge: a Content-Length of `size` instead of chunked encoding
    hold: bool = False  # huge: the headers alone, then nothing for `delay_s`

    @classmethod
    def http(cls, status: int, retry_after: str | None = None, **kw: Any) -> Fault:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        body = json.dumps({"code": status, "msg": "fake error"}).encode()
        return cls("status", status=status, body=body, headers=headers, **kw)

    @classmethod
    def venue_error(cls, payload: Any, status: int = 200, **kw: Any) -> Fault:
        return cls("body", status=status, body=json.dumps(payload).encode(), **kw)

    @classmethod
    def huge(
        cls, size: int | None = None, *, declared: bool = False, hold: bool = False, **kw: Any
    ) -> Fault:
        """A JSON-looking reply of `size` bytes (None: without end), generated while it is
        sent, so the fake holds one chunk whatever the size. `declared`: say the size in
        Content-Length; `hold`: send the headers only and keep the connection open."""
        if (declared or hold) and size is None:
            raise ValueError("a declared Content-Length needs a size")
        return cls("huge", size=size, declared=declared or hold, hold=hold, **kw)


STREAM_CHUNK = b'{"symbol":"PADUSDT","fundingRate":"0.0001"},' * 1489  # about 64 KiB


def no_rows(payload: Any) -> Any:
    """The same reply listing nothing: every list emptied (Hyperliquid's `[meta, ctxs]`
    pair keeps its shape, with both halves empty)."""
    if isinstance(payload, dict):
        return {k: no_rows(v) for k, v in payload.items()}
    if isinstance(payload, list):
        if len(payload) == 2 and isinstance(payload[0], dict) and isinstance(payload[1], list):
            return [no_rows(payload[0]), []]
        return []
    return payload


HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body>cloudflare</body></html>"
)


# --- the server -------------------------------------------------------------


@dataclass
class Recorded:
    venue: str
    method: str
    path: str
    query: dict[str, str]
    at: float
    body: bytes = b""


class FakeVenues(LocalServer):
    def __init__(self, market: FakeMarket | None = None, *, frozen: bool = False) -> None:
        """`frozen`: the market never changes, so each reply is rendered once and its
        bytes served again (benchmarks measure the clients, not this server)."""
        super().__init__(handle_signals=False, shutdown_timeout=0.5)
        self.market = market
        self.frozen = frozen
        self._rendered: dict[tuple[str, str, str, tuple, bytes], bytes] = {}
        self.requests: list[Recorded] = []
        self.requested = asyncio.Event()  # set at the first request
        self.faults: dict[tuple[str, str], Fault] = {}
        self.streamed = 0  # bytes `Fault.huge` replies got to send
        self._routes: dict[tuple[str, str, str], Callable[[web.Request], Any]] = {
            ("fake", "GET", FAKE_HITS): self.fake_hits,
        }
        # How each venue names a market perpetual: its fake's `symbol`.
        self.symbols: dict[str, Callable[[FakePerp], str]] = {}
        for name in NAMES:
            venue = import_module(f"tests.venues.{name}.fake_rest")
            venue.install(self)
            self.symbols[name] = venue.symbol

    # lifecycle

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{venue}/{path:.*}", self._dispatch)
        return app

    def route(
        self, venue: str, method: str, path: str, handler: Callable[[web.Request], Any]
    ) -> None:
        """Serve one more endpoint (e.g. a venue's private API) from this server. The handler
        returns a JSON-able payload or a whole web.Response. A path ending in "/*" serves
        every path one segment below it (a path parameter: Gate's /orders/{order_id})."""
        self._routes[(venue, method, path)] = handler

    def url(self, venue: str) -> str:
        return f"http://127.0.0.1:{self.port}/{venue}"

    def env(self) -> dict[str, str]:
        return {f"{v.upper()}_REST_URL": self.url(v) for v in NAMES}

    # faults and records

    def fail(self, venue: str, path: str, fault: Fault) -> None:
        self.faults[(venue, path)] = fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def hits(self, venue: str, path: str | None = None) -> int:
        return sum(1 for r in self.requests if r.venue == venue and path in (None, r.path))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        venue = request.match_info["venue"]
        path = "/" + request.match_info["path"]
        body = await request.read()
        self.requests.append(
            Recorded(venue, request.method, path, dict(request.query), time.monotonic(), body)
        )
        self.requested.set()
        fault = self.faults.get((venue, path))
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[(venue, path)]
            return await self._faulty(fault, request)
        handler = self._routes.get((venue, request.method, path)) or self._routes.get(
            (venue, request.method, path.rpartition("/")[0] + "/*")
        )
        if handler is None:
            return web.json_response({"code": 404, "msg": f"no route {path}"}, status=404)
        key = (venue, request.method, path, tuple(sorted(request.query.items())), body)
        body = self._rendered.get(key) if self.frozen and venue != "fake" else None
        if body is None:
            payload = await handler(request)
            if isinstance(payload, web.StreamResponse):
                return payload
            body = json.dumps(payload).encode()
            if self.frozen:
                self._rendered[key] = body
        return web.Response(body=body, content_type="application/json")

    async def _faulty(self, fault: Fault, request: web.Request) -> web.StreamResponse:
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay_s)
            return web.json_response({})
        if fault.kind == "html":
            return web.Response(body=HTML_PAGE, status=fault.status, content_type="text/html")
        if fault.kind == "garbage":
            return web.Response(body=b"\x00\xffnot json{{", content_type="application/json")
        if fault.kind == "truncated":
            handler = self._routes[
                (request.match_info["venue"], request.method, "/" + request.match_info["path"])
            ]
            body = json.dumps(await handler(request)).encode()
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        if fault.kind == "wrong_shape":
            return web.json_response({"unexpected": True, "list": "nope"})
        if fault.kind == "empty":
            handler = self._routes[
                (request.match_info["venue"], request.method, "/" + request.match_info["path"])
            ]
            return web.json_response(no_rows(await handler(request)))
        if fault.kind == "huge":
            return await self._huge(fault, request)
        return web.Response(
            body=fault.body,
            status=fault.status,
            headers=fault.headers,
            content_type="application/json",
        )

    async def _huge(self, fault: Fault, request: web.Request) -> web.StreamResponse:
        """Stream `fault.size` bytes (or without end) a chunk at a time; each write waits
        for the client to take the last, so a client that stops reading stops the fake."""
        resp = web.StreamResponse(status=fault.status, headers=fault.headers)
        resp.content_type = "application/json"
        if fault.declared:
            resp.content_length = fault.size
        else:
            resp.enable_chunked_encoding()
        await resp.prepare(request)
        if fault.hold:
            await asyncio.sleep(fault.delay_s)
            return resp
        left = fault.size
        try:
            while left is None or left > 0:
                chunk = STREAM_CHUNK if left is None else STREAM_CHUNK[:left]
                await resp.write(chunk)
                self.streamed += len(chunk)
                if left is not None:
                    left -= len(chunk)
            await resp.write_eof()
        except ConnectionError:
            pass  # the client hung up: what a client that refuses the rest does
        return resp

    # rendering

    def rendered(
        self,
        venue: str,
        recorded: list[dict],
        row: Callable[[dict, FakePerp], dict | None],
        *,
        template: dict | None = None,
        keep: Callable[[dict], bool] = lambda r: False,
    ) -> list[dict]:
        """The recorded rows without a market; with one, `row(template, perp)` for each of
        the venue's perpetuals (None: the venue does not list it), on the first recorded row
        unless `template` is given, then the recorded rows `keep` picks: those a client must
        skip (dated futures, inverse swaps...)."""
        if self.market is None:
            return recorded
        template = recorded[0] if template is None else template
        rows = [row(template, p) for p in self.market.perps(venue)]
        return [r for r in rows if r is not None] + [r for r in recorded if keep(r)]

    def perp(self, venue: str, symbol: str) -> FakePerp | None:
        """The market perpetual `venue` names `symbol`; None if it lists none (or there is
        no market)."""
        if self.market is None:
            return None
        symbol_of = self.symbols[venue]
        return next((p for p in self.market.perps(venue) if symbol_of(p) == symbol), None)

    # history

    def settled_rows(
        self,
        venue: str,
        symbol: str,
        recorded: list[dict],
        keys: tuple[str, str],
        render: Callable[[dict, FakePerp, int, float], dict],
    ) -> list[tuple[int, dict]] | None:
        """`symbol`'s settlements as (ms, wire row), oldest first; None if it is not listed.

        `keys` names the rows' symbol and time fields. Without a market the recorded
        rows are the whole history of the one symbol they belong to.
        """
        symbol_key, time_key = keys
        if self.market is None:
            rows = [(int(r[time_key]), r) for r in recorded if r[symbol_key] == symbol]
            return sorted(rows, key=lambda row: row[0]) or None
        perp = self.perp(venue, symbol)
        if perp is None:
            return None
        return [(t, render(recorded[0], perp, t, rate)) for t, rate in self.market.settled(perp)]

    # --- the fake itself -----------------------------------------------------

    async def fake_hits(self, request: web.Request) -> Any:
        """Requests so far per venue and path, e.g. `{"okx": {"/api/v5/public/instruments": 2}}`."""
        hits: dict[str, dict[str, int]] = {}
        for r in self.requests:
            per_path = hits.setdefault(r.venue, {})
            per_path[r.path] = per_path.get(r.path, 0) + 1
        return hits


def query_ms(query: Any, name: str) -> int | None:
    value = query.get(name)
    return int(value) if value is not None else None


def is_ms(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def window(rows: list[tuple[int, dict]], start: int | None, end: int | None) -> list[dict]:
    """The rows with start <= time <= end (a missing bound is open), oldest first."""
    return [row for t, row in rows if (start is None or t >= start) and (end is None or t <= end)]


def _standalone_market(args: argparse.Namespace) -> tuple[FakeMarket | None, bool, str]:
    """What `python -m tests.fakes.venues` serves: (market, frozen, what it is)."""
    if args.fixtures:
        return None, True, "the recorded fixtures (a past snapshot: countdowns read 'due')"
    if args.perps:
        return synthetic_market(args.perps), True, f"{args.perps} synthetic perps a venue"
    from tests.fakes.demo_market import demo_market  # it builds on this module

    return demo_market(args.seed), False, f"the demo's moving market (seed {args.seed})"


def _how_to_use(fake: FakeVenues, what: str) -> str:
    exports = "".join(f"  export {k}={v}\n" for k, v in {**fake.env(), "ARB_FEEDS": "0"}.items())
    return (
        f"Serving {what}. Point arb-bot at it from another shell:\n{exports}"
        "then run e.g. `.venv/bin/arb-bot scan`. Ctrl-D stops it."
    )


async def _serve(args: argparse.Namespace) -> None:
    market, frozen, what = _standalone_market(args)
    async with FakeVenues(market, frozen=frozen) as fake:
        print(f"PORT {fake.port}", flush=True)
        if sys.stdin.isatty():  # a person, not a benchmark's pipe
            print(_how_to_use(fake, what), file=sys.stderr, flush=True)
        await _stdin_closed()


async def _stdin_closed() -> None:
    """Until stdin ends: the parent closes it, or Ctrl-D at a terminal. The read blocks in a
    daemon thread, so that Ctrl-C ends the process rather than waiting for it."""
    loop = asyncio.get_running_loop()
    closed = loop.create_future()

    def read() -> None:
        sys.stdin.read()
        with contextlib.suppress(RuntimeError):  # the loop is gone: Ctrl-C came first
            loop.call_soon_threadsafe(lambda: closed.done() or closed.set_result(None))

    threading.Thread(target=read, daemon=True).start()
    await closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    served = parser.add_mutually_exclusive_group()
    served.add_argument(
        "--perps", type=int, default=0, help="synthetic perps per venue, rendered once"
    )
    served.add_argument(
        "--fixtures", action="store_true", help="the recorded replies (a past snapshot)"
    )
    parser.add_argument("--seed", type=int, default=SEED, help="the demo market's seed")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()

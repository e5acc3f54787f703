"""A fake of the four venues' public REST APIs, on 127.0.0.1, for tests and benchmarks.

One aiohttp server answers every venue under its own prefix
(`http://127.0.0.1:PORT/bybit/v5/market/tickers`), so a client is pointed at it
with `BYBIT_REST_URL=http://127.0.0.1:PORT/bybit`.

Two ways to answer:
- `FakeVenues()` serves the recorded fixtures verbatim;
- `FakeVenues(market)` renders a controllable `FakeMarket` into the same wire
  shapes: each row is a fixture row with its numbers replaced, and the rows a
  scanner must skip (dated futures, inverse swaps, delisted coins) are kept.

Each market perpetual has a settled funding history too, served by the four history
endpoints with the venues' own paging (`FakePerp.history`, or 30 days at its current
rate), so that a client's pagination is really exercised.

Faults are injected per venue and path (`fake.fail("okx", OKX_FUNDING, Fault.status(500))`)
and every request is recorded in `fake.requests` (counted at `GET /fake/hits` for a
client in another process). `Fault("empty")` answers the endpoint's own reply with no
rows; `Fault.huge(...)` streams a reply of any size, even without end, generating it
as it goes (`fake.streamed` counts the bytes it got to send).

Run standalone for benchmarks: `python -m tests.fakes.venues --perps 500`
prints `PORT <n>` and serves until stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VENUES = ("bybit", "binance", "okx", "hyperliquid")
MORE_VENUES = ("bitget", "gate")  # served too, from tests/fakes/rest_bitget.py and rest_gate.py
HOUR_MS = 3_600_000
HISTORY_DAYS = 30  # how far back a perp's default history goes

BYBIT_TICKERS = "/v5/market/tickers"
BYBIT_INSTRUMENTS = "/v5/market/instruments-info"
BYBIT_FUNDING_HISTORY = "/v5/market/funding/history"
BINANCE_PREMIUM = "/fapi/v1/premiumIndex"
BINANCE_EXCHANGE_INFO = "/fapi/v1/exchangeInfo"
BINANCE_FUNDING_INFO = "/fapi/v1/fundingInfo"
BINANCE_TICKER = "/fapi/v1/ticker/24hr"
BINANCE_FUNDING_RATE = "/fapi/v1/fundingRate"
OKX_FUNDING = "/api/v5/public/funding-rate"
OKX_INSTRUMENTS = "/api/v5/public/instruments"
OKX_MARK = "/api/v5/public/mark-price"
OKX_TICKERS = "/api/v5/market/tickers"
OKX_FUNDING_HISTORY = "/api/v5/public/funding-rate-history"
HL_INFO = "/info"
# Hyperliquid asks for everything at one path: a fault here hits metaAndAssetCtxs too.
HL_FUNDING_HISTORY = HL_INFO
# Not a venue: request counts for a client in another process (`GET /fake/hits`).
FAKE_HITS = "/hits"


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text())


def dec(x: float) -> str:
    """A number the way venues write it: a plain decimal string, never an exponent."""
    return format(Decimal(repr(float(x))), "f")


# --- the market state -------------------------------------------------------


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


def synthetic_market(perps_per_venue: int, seed: int = 7) -> FakeMarket:
    """`n` perpetuals on every venue, mixed intervals and signs, deterministic."""
    rng = random.Random(seed)
    venues: dict[str, list[FakePerp]] = {v: [] for v in (*VENUES, *MORE_VENUES)}
    for i in range(perps_per_venue):
        asset = f"C{i:04d}"
        price = 10 ** rng.uniform(-4, 4)
        for venue in (*VENUES, *MORE_VENUES):
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


class FakeVenues:
    def __init__(self, market: FakeMarket | None = None, *, frozen: bool = False) -> None:
        """`frozen`: the market never changes, so each reply is rendered once and its
        bytes served again (benchmarks measure the clients, not this server)."""
        self.market = market
        self.frozen = frozen
        self._rendered: dict[tuple[str, str, str, tuple, bytes], bytes] = {}
        self.requests: list[Recorded] = []
        self.faults: dict[tuple[str, str], Fault] = {}
        self.streamed = 0  # bytes `Fault.huge` replies got to send
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._routes: dict[tuple[str, str, str], Callable[[web.Request], Any]] = {
            ("bybit", "GET", BYBIT_TICKERS): self.bybit_tickers,
            ("bybit", "GET", BYBIT_INSTRUMENTS): self.bybit_instruments,
            ("bybit", "GET", BYBIT_FUNDING_HISTORY): self.bybit_funding_history,
            ("binance", "GET", BINANCE_PREMIUM): self.binance_premium,
            ("binance", "GET", BINANCE_EXCHANGE_INFO): self.binance_exchange_info,
            ("binance", "GET", BINANCE_FUNDING_INFO): self.binance_funding_info,
            ("binance", "GET", BINANCE_TICKER): self.binance_ticker,
            ("binance", "GET", BINANCE_FUNDING_RATE): self.binance_funding_rate,
            ("okx", "GET", OKX_FUNDING): self.okx_funding,
            ("okx", "GET", OKX_INSTRUMENTS): self.okx_instruments,
            ("okx", "GET", OKX_MARK): self.okx_mark,
            ("okx", "GET", OKX_TICKERS): self.okx_tickers,
            ("okx", "GET", OKX_FUNDING_HISTORY): self.okx_funding_history,
            ("hyperliquid", "POST", HL_INFO): self.hl_info,
            ("fake", "GET", FAKE_HITS): self.fake_hits,
        }
        # Bitget and Gate render the same market from their own modules.
        from tests.venues.bitget import fake_rest as rest_bitget
        from tests.venues.gate import fake_rest as rest_gate

        rest_bitget.install(self)
        rest_gate.install(self)

    # lifecycle

    async def start(self) -> FakeVenues:
        app = web.Application()
        app.router.add_route("*", "/{venue}/{path:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVenues:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def route(
        self, venue: str, method: str, path: str, handler: Callable[[web.Request], Any]
    ) -> None:
        """Serve one more endpoint (e.g. a venue's private API) from this server. The handler
        returns a JSON-able payload or a whole web.Response."""
        self._routes[(venue, method, path)] = handler

    def url(self, venue: str) -> str:
        return f"http://127.0.0.1:{self.port}/{venue}"

    def env(self) -> dict[str, str]:
        return {f"{v.upper()}_REST_URL": self.url(v) for v in (*VENUES, *MORE_VENUES)}

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
        self.requests.append(
            Recorded(venue, request.method, path, dict(request.query), time.monotonic())
        )
        fault = self.faults.get((venue, path))
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[(venue, path)]
            return await self._faulty(fault, request)
        handler = self._routes.get((venue, request.method, path))
        if handler is None:
            return web.json_response({"code": 404, "msg": f"no route {path}"}, status=404)
        key = (venue, request.method, path, tuple(sorted(request.query.items())),
               await request.read())  # fmt: skip
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

    # history

    def _settled_rows(
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
        perp = next((p for p in self.market.perps(venue) if SYMBOL[venue](p) == symbol), None)
        if perp is None:
            return None
        return [(t, render(recorded[0], perp, t, rate)) for t, rate in self.market.settled(perp)]

    # --- Bybit ---------------------------------------------------------------

    async def bybit_tickers(self, request: web.Request) -> Any:
        if request.query.get("category") != "linear":
            return bybit_error(10001, "params error: category")
        doc = fixture("bybit/v5_market_tickers_linear.json")
        if self.market is None:
            return doc
        template = doc["result"]["list"][0]
        keep = [r for r in doc["result"]["list"] if "-" in r["symbol"]]  # dated futures
        rows = []
        for p in self.market.perps("bybit"):
            row = dict(template)
            mark = p.price * p.multiplier
            row.update(
                symbol=bybit_symbol(p),
                fundingRate=dec(p.rate),
                fundingIntervalHour=dec(p.interval_h).removesuffix(".0"),
                nextFundingTime=str(self.market.next_settlement(p.interval_h)),
                markPrice=dec(mark),
                lastPrice=dec(mark),
                indexPrice=dec(mark),
                turnover24h=dec(p.turnover),
                openInterest=dec(p.open_interest / p.multiplier),
                openInterestValue=dec(p.open_interest * p.price),
            )
            rows.append(row)
        doc["result"]["list"] = rows + keep
        doc["time"] = self.market.now()
        return doc

    async def bybit_instruments(self, request: web.Request) -> Any:
        doc = fixture("bybit/v5_market_instruments_info_linear.json")
        doc["result"]["nextPageCursor"] = ""
        if request.query.get("category") != "linear":
            doc["result"]["list"] = []
            doc["result"]["category"] = request.query.get("category", "")
            return doc
        if self.market is None:
            return doc
        template = doc["result"]["list"][0]
        rows = []
        for p in self.market.perps("bybit"):
            row = copy.deepcopy(template)
            row.update(
                symbol=bybit_symbol(p),
                baseCoin=f"{'1000' if p.multiplier == 1000 else ''}{p.asset}",
                quoteCoin=p.settle,
                settleCoin=p.settle,
                contractType="LinearPerpetual",
                fundingInterval=int(p.interval_h * 60),
            )
            rows.append(row)
        doc["result"]["list"] = rows
        return doc

    async def bybit_funding_history(self, request: web.Request) -> Any:
        """Newest first; endTime alone means the `limit` records up to it, and startTime
        without endTime is an error."""
        q = request.query
        if q.get("category") not in ("linear", "inverse"):
            return bybit_error(10001, "params error: category")
        if "startTime" in q and "endTime" not in q:
            return bybit_error(10001, "params error: endTime is required with startTime")
        limit = int(q.get("limit", "200"))
        if not 1 <= limit <= 200:
            return bybit_error(10001, "params error: limit")
        doc = fixture("bybit/v5_market_funding_history.json")
        rows = self._settled_rows(
            "bybit",
            q.get("symbol", ""),
            doc["result"]["list"],
            ("symbol", "fundingRateTimestamp"),
            lambda row, p, t, rate: dict(
                row, symbol=bybit_symbol(p), fundingRate=dec(rate), fundingRateTimestamp=str(t)
            ),
        )
        if rows is None:
            return bybit_error(10001, "params error: symbol invalid")
        picked = window(rows, query_ms(q, "startTime"), query_ms(q, "endTime"))
        doc["result"]["list"] = picked[::-1][:limit]
        if self.market is not None:
            doc["time"] = self.market.now()
        return doc

    # --- Binance -------------------------------------------------------------

    async def binance_premium(self, request: web.Request) -> Any:
        rows = fixture("binance/fapi_v1_premiumIndex.json")
        if self.market is not None:
            template = rows[0]
            keep = [r for r in rows if "_" in r["symbol"]]  # delivery contracts
            rows = []
            for p in self.market.perps("binance"):
                mark = p.price * p.multiplier
                rows.append(
                    dict(
                        template,
                        symbol=binance_symbol(p),
                        markPrice=dec(mark),
                        indexPrice=dec(mark),
                        estimatedSettlePrice=dec(mark),
                        lastFundingRate=dec(p.rate),
                        nextFundingTime=self.market.next_settlement(p.interval_h),
                        time=self.market.now(),
                    )
                )
            rows += keep
        symbol = request.query.get("symbol")
        if symbol is None:
            return rows
        match = [r for r in rows if r["symbol"] == symbol]
        if not match:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        return match[0]

    async def binance_exchange_info(self, request: web.Request) -> Any:
        doc = fixture("binance/fapi_v1_exchangeInfo.json")
        if self.market is None:
            return doc
        template = doc["symbols"][0]
        keep = [
            s
            for s in doc["symbols"]
            if s["contractType"] != "PERPETUAL" or s["status"] != "TRADING"
        ]
        symbols = []
        for p in self.market.perps("binance"):
            base = f"{'1000' if p.multiplier == 1000 else ''}{p.asset}"
            symbols.append(
                dict(
                    template,
                    symbol=binance_symbol(p),
                    pair=binance_symbol(p),
                    baseAsset=base,
                    quoteAsset=p.settle,
                    marginAsset=p.settle,
                )
            )
        doc["symbols"] = symbols + keep
        doc["serverTime"] = self.market.now()
        return doc

    async def binance_funding_info(self, request: web.Request) -> Any:
        rows = fixture("binance/fapi_v1_fundingInfo.json")
        if self.market is None:
            return rows
        template = rows[0]
        # Binance lists only symbols whose settings differ from the default 8 h.
        return [
            dict(template, symbol=binance_symbol(p), fundingIntervalHours=int(p.interval_h))
            for p in self.market.perps("binance")
            if p.interval_h != 8
        ]

    async def binance_ticker(self, request: web.Request) -> Any:
        rows = fixture("binance/fapi_v1_ticker_24hr.json")
        if self.market is None:
            return rows
        template = rows[0]
        return [
            dict(
                template,
                symbol=binance_symbol(p),
                lastPrice=dec(p.price * p.multiplier),
                quoteVolume=dec(p.turnover),
            )
            for p in self.market.perps("binance")
        ]

    async def binance_funding_rate(self, request: web.Request) -> Any:
        """Ascending; a range wider than `limit` gives its first `limit` rows, no range the
        last ones. (Binance also answers without `symbol`; clients always send one.)"""
        q = request.query
        limit = min(int(q.get("limit", "100")), 1000)
        rows = self._settled_rows(
            "binance",
            q.get("symbol", ""),
            fixture("binance/fapi_v1_fundingRate.json"),
            ("symbol", "fundingTime"),
            lambda row, p, t, rate: dict(
                row,
                symbol=binance_symbol(p),
                fundingRate=dec(rate),
                fundingTime=t,
                markPrice=dec(p.price * p.multiplier),
            ),
        )
        if rows is None:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        start = query_ms(q, "startTime")
        picked = window(rows, start, query_ms(q, "endTime"))
        return picked[:limit] if start is not None else picked[-limit:]

    # --- OKX -----------------------------------------------------------------

    def _okx(self, data: list[Any]) -> Any:
        return {"code": "0", "data": data, "msg": ""}

    async def okx_funding(self, request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_funding_rate_ANY.json")
        inst_id = request.query.get("instId")
        if inst_id is None:
            return {"code": "51000", "data": [], "msg": "Parameter instId error"}
        if self.market is not None:
            template = doc["data"][0]
            keep = [r for r in doc["data"] if "-USD-" in r["instId"]]  # inverse
            rows = []
            for p in self.market.perps("okx"):
                nxt = self.market.next_settlement(p.interval_h)
                rows.append(
                    dict(
                        template,
                        instId=okx_symbol(p),
                        fundingRate=dec(p.rate),
                        fundingTime=str(nxt),
                        nextFundingTime=str(nxt + int(p.interval_h * HOUR_MS)),
                        ts=str(self.market.now()),
                    )
                )
            doc["data"] = rows + keep
        if inst_id != "ANY":
            doc["data"] = [r for r in doc["data"] if r["instId"] == inst_id]
        return doc

    async def okx_instruments(self, request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_instruments_SWAP.json")
        if request.query.get("instType") != "SWAP":
            return self._okx([])
        if self.market is None:
            return doc
        template = next(i for i in doc["data"] if i["instId"] == "BTC-USDT-SWAP")
        keep = [i for i in doc["data"] if i["ctType"] == "inverse"]
        rows = []
        for p in self.market.perps("okx"):
            fam = f"{p.asset}-{p.settle}"
            rows.append(
                dict(
                    template,
                    instId=okx_symbol(p),
                    instFamily=fam,
                    uly=fam,
                    ctValCcy=p.asset,
                    ctVal=p.ct_val,
                    settleCcy=p.settle,
                    tickSz=dec(10 ** math.floor(math.log10(p.price) - 4)),
                )
            )
        doc["data"] = keep + rows
        return doc

    async def okx_mark(self, request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_mark_price_SWAP.json")
        if self.market is None:
            return doc
        template = doc["data"][0]
        return self._okx(
            [
                dict(template, instId=okx_symbol(p), markPx=dec(p.price), ts=str(self.market.now()))
                for p in self.market.perps("okx")
            ]
        )

    async def okx_tickers(self, request: web.Request) -> Any:
        doc = fixture("okx/api_v5_market_tickers_SWAP.json")
        if self.market is None:
            return doc
        template = doc["data"][0]
        return self._okx(
            [
                dict(
                    template,
                    instId=okx_symbol(p),
                    last=dec(p.price),
                    volCcy24h=dec(p.turnover / p.price),
                    ts=str(self.market.now()),
                )
                for p in self.market.perps("okx")
            ]
        )

    async def okx_funding_history(self, request: web.Request) -> Any:
        """Newest first. `after`: rows older than it; `before`: rows newer than it (the
        `limit` just above it when alone); both exclusive."""
        q = request.query
        if not q.get("instId"):
            return {"code": "51000", "data": [], "msg": "Parameter instId error"}
        limit = int(q.get("limit", "400"))
        if not 1 <= limit <= 400:
            return {"code": "51000", "data": [], "msg": "Parameter limit error"}
        doc = fixture("okx/api_v5_public_funding_rate_history.json")
        rows = self._settled_rows(
            "okx",
            q["instId"],
            doc["data"],
            ("instId", "fundingTime"),
            lambda row, p, t, rate: dict(
                row,
                instId=okx_symbol(p),
                fundingRate=dec(rate),
                realizedRate=dec(rate),
                fundingTime=str(t),
            ),
        )
        if rows is None:
            return {"code": "51001", "data": [], "msg": "Instrument ID does not exist"}
        after, before = query_ms(q, "after"), query_ms(q, "before")
        picked = window(
            rows,
            before + 1 if before is not None else None,
            after - 1 if after is not None else None,
        )
        page = picked[:limit] if before is not None and after is None else picked[-limit:]
        doc["data"] = page[::-1]
        return doc

    # --- Hyperliquid ---------------------------------------------------------

    async def hl_info(self, request: web.Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(None, status=422)
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "fundingHistory":
            return self.hl_funding_history(body)
        if kind != "metaAndAssetCtxs":
            return web.Response(text="Failed to deserialize the JSON body", status=422)
        doc = fixture("hyperliquid/info_metaAndAssetCtxs.json")
        if self.market is None:
            return doc
        meta, ctxs = doc
        u_template, c_template = meta["universe"][0], ctxs[0]
        pairs = [(u, c) for u, c in zip(meta["universe"], ctxs, strict=True) if u.get("isDelisted")]
        for p in self.market.perps("hyperliquid"):
            px = p.price * p.multiplier
            pairs.append(
                (
                    dict(u_template, name=hl_symbol(p)),
                    dict(
                        c_template,
                        funding=dec(p.rate),
                        markPx=dec(px),
                        oraclePx=dec(px),
                        midPx=dec(px),
                        dayNtlVlm=dec(p.turnover),
                        openInterest=dec(p.open_interest / p.multiplier),
                    ),
                )
            )
        meta["universe"] = [u for u, _ in pairs]
        return [meta, [c for _, c in pairs]]

    def hl_funding_history(self, body: dict[str, Any]) -> Any:
        """Ascending from startTime, 500 rows at most; a coin without funding is an HTTP 500."""
        coin, start, end = body.get("coin"), body.get("startTime"), body.get("endTime")
        if not isinstance(coin, str) or not is_ms(start) or not (end is None or is_ms(end)):
            return web.Response(text="Failed to deserialize the JSON body", status=422)
        rows = self._settled_rows(
            "hyperliquid",
            coin,
            fixture("hyperliquid/info_fundingHistory.json"),
            ("coin", "time"),
            lambda row, p, t, rate: dict(row, coin=hl_symbol(p), fundingRate=dec(rate), time=t),
        )
        if rows is None:
            return web.json_response(None, status=500)
        return window(rows, start, end)[:500]

    # --- the fake itself -----------------------------------------------------

    async def fake_hits(self, request: web.Request) -> Any:
        """Requests so far per venue and path, e.g. `{"okx": {"/api/v5/public/instruments": 2}}`."""
        hits: dict[str, dict[str, int]] = {}
        for r in self.requests:
            per_path = hits.setdefault(r.venue, {})
            per_path[r.path] = per_path.get(r.path, 0) + 1
        return hits


def bybit_error(code: int, message: str) -> Any:
    return {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": 0}


def query_ms(query: Any, name: str) -> int | None:
    value = query.get(name)
    return int(value) if value is not None else None


def is_ms(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def window(rows: list[tuple[int, dict]], start: int | None, end: int | None) -> list[dict]:
    """The rows with start <= time <= end (a missing bound is open), oldest first."""
    return [row for t, row in rows if (start is None or t >= start) and (end is None or t <= end)]


def bybit_symbol(p: FakePerp) -> str:
    if p.bybit_symbol:
        return p.bybit_symbol
    prefix = "1000" if p.multiplier == 1000 else ""
    return f"{p.asset}PERP" if p.settle == "USDC" else f"{prefix}{p.asset}USDT"


def binance_symbol(p: FakePerp) -> str:
    return f"{'1000' if p.multiplier == 1000 else ''}{p.asset}{p.settle}"


def okx_symbol(p: FakePerp) -> str:
    return f"{p.asset}-{p.settle}-SWAP"


def hl_symbol(p: FakePerp) -> str:
    return f"k{p.asset}" if p.multiplier == 1000 else p.asset


SYMBOL: dict[str, Callable[[FakePerp], str]] = {
    "bybit": bybit_symbol,
    "binance": binance_symbol,
    "okx": okx_symbol,
    "hyperliquid": hl_symbol,
}


async def _serve(perps: int) -> None:
    market = synthetic_market(perps) if perps else None
    async with FakeVenues(market, frozen=True) as fake:
        print(f"PORT {fake.port}", flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--perps", type=int, default=0, help="synthetic perps per venue (0: the fixtures)"
    )
    asyncio.run(_serve(parser.parse_args().perps))


if __name__ == "__main__":
    main()

"""A fake of OKX's public v5 REST market data, served by `FakeVenues` under `/okx`.

`install(fake)` adds funding-rate, instruments, mark-price, tickers, the funding-rate
history and the order book. Without a market they serve the recorded fixtures; with one,
`fake.market.venues["okx"]` is rendered into fixture rows with their numbers replaced
(inverse swaps kept, for a client to skip). History runs newest first, paged with
`after` and `before`, both exclusive. A book is `FakePerp.levels` in contracts of
`ct_val` coins, `sz` levels a side (1 by default, at most 400), and the instruments give
the perp's `lot` and `min_qty` in contracts too (`lotSz`, `minSz`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from tests.fakes.venues import (
    FakePerp,
    FakeVenues,
    HistoryFacts,
    dec,
    fixture,
    query_ms,
    scaled,
    window,
)

OKX_FUNDING = "/api/v5/public/funding-rate"
OKX_INSTRUMENTS = "/api/v5/public/instruments"
OKX_MARK = "/api/v5/public/mark-price"
OKX_TICKERS = "/api/v5/market/tickers"
OKX_FUNDING_HISTORY = "/api/v5/public/funding-rate-history"
OKX_BOOKS = "/api/v5/market/books"
BOOKS_FILE = "okx/api_v5_market_books_BTC-USDT-SWAP.json"
BOOK_MAX = 400

HISTORY = HistoryFacts(
    path=OKX_FUNDING_HISTORY,
    page=400,
    forward=False,
    recorded=("BTC-USDT-SWAP", "okx/api_v5_public_funding_rate_history.json"),
    unknown_symbol=("code", "51001"),
)
HOUR_MS = 3_600_000


def okx_symbol(p: FakePerp) -> str:
    return f"{p.asset}-{p.settle}-SWAP"


symbol = okx_symbol


def okx_ok(data: list[Any]) -> Any:
    return {"code": "0", "data": data, "msg": ""}


def okx_error(code: str, msg: str) -> Any:
    return {"code": code, "data": [], "msg": msg}


def history_reply(rows: list[tuple[Any, Any]]) -> bytes:
    """A settled-funding reply holding (time in ms, rate) rows as written, junk included."""
    rows = [{"instId": "X", "fundingTime": t, "realizedRate": r} for t, r in rows]
    return json.dumps({"code": "0", "msg": "", "data": rows}).encode()


def install(fake: FakeVenues) -> None:
    """Serve OKX's public market data from `fake`."""

    def funding_row(row: dict, p: FakePerp) -> dict:
        assert fake.market is not None
        nxt = fake.market.next_settlement(p.interval_h)
        return dict(
            row,
            instId=okx_symbol(p),
            fundingRate=dec(p.rate),
            fundingTime=str(nxt),
            nextFundingTime=str(nxt + int(p.interval_h * HOUR_MS)),
            ts=str(fake.market.now()),
        )

    async def funding(request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_funding_rate_ANY.json")
        inst_id = request.query.get("instId")
        if inst_id is None:
            return okx_error("51000", "Parameter instId error")
        rows = fake.rendered(
            "okx",
            doc["data"],
            funding_row,
            keep=lambda r: "-USD-" in r["instId"],  # inverse swaps
        )
        doc["data"] = rows if inst_id == "ANY" else [r for r in rows if r["instId"] == inst_id]
        return doc

    def instrument_row(row: dict, p: FakePerp) -> dict:
        family = f"{p.asset}-{p.settle}"
        return dict(
            row,
            instId=okx_symbol(p),
            instFamily=family,
            uly=family,
            ctValCcy=p.asset,
            ctVal=p.ct_val,
            ctMult="1",
            lotSz=scaled(p.lot, per=float(p.ct_val)),
            minSz=scaled(p.min_qty, per=float(p.ct_val)),
            settleCcy=p.settle,
            tickSz=dec(10 ** math.floor(math.log10(p.price) - 4)),
        )

    async def instruments(request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_instruments_SWAP.json")
        if request.query.get("instType") != "SWAP":
            return okx_ok([])
        btc = next(i for i in doc["data"] if i["instId"] == "BTC-USDT-SWAP")
        doc["data"] = fake.rendered(
            "okx",
            doc["data"],
            instrument_row,
            template=btc,
            keep=lambda i: i["ctType"] == "inverse",
        )
        return doc

    def now() -> str:
        assert fake.market is not None
        return str(fake.market.now())

    async def mark(request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_mark_price_SWAP.json")
        doc["data"] = fake.rendered(
            "okx",
            doc["data"],
            lambda row, p: dict(row, instId=okx_symbol(p), markPx=dec(p.price), ts=now()),
        )
        return doc

    async def tickers(request: web.Request) -> Any:
        doc = fixture("okx/api_v5_market_tickers_SWAP.json")
        doc["data"] = fake.rendered(
            "okx",
            doc["data"],
            lambda row, p: dict(
                row,
                instId=okx_symbol(p),
                last=dec(p.price),
                volCcy24h=dec(p.turnover / p.price),
                ts=now(),
            ),
        )
        return doc

    async def funding_history(request: web.Request) -> Any:
        """Newest first. `after`: rows older than it; `before`: rows newer than it (the
        `limit` just above it when alone); both exclusive."""
        q = request.query
        if not q.get("instId"):
            return okx_error("51000", "Parameter instId error")
        limit = int(q.get("limit", "400"))
        if not 1 <= limit <= 400:
            return okx_error("51000", "Parameter limit error")
        doc = fixture("okx/api_v5_public_funding_rate_history.json")
        rows = fake.settled_rows(
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
            return okx_error("51001", "Instrument ID does not exist")
        after, before = query_ms(q, "after"), query_ms(q, "before")
        picked = window(
            rows,
            before + 1 if before is not None else None,
            after - 1 if after is not None else None,
        )
        page = picked[:limit] if before is not None and after is None else picked[-limit:]
        doc["data"] = page[::-1]
        return doc

    async def books(request: web.Request) -> Any:
        """`sz` levels a side (1 when absent), each `[price, contracts, "0", orders]`."""
        q = request.query
        if not q.get("instId"):
            return okx_error("51000", "Parameter instId error")
        depth = q.get("sz", "1")
        if not depth.isdigit() or not 1 <= int(depth) <= BOOK_MAX:
            return okx_error("51000", "Parameter sz error")
        if fake.market is None:
            if q["instId"] != "BTC-USDT-SWAP":
                return okx_error("51001", "Instrument ID does not exist")
            return fixture(BOOKS_FILE)
        perp = fake.perp("okx", q["instId"])
        if perp is None:
            return okx_error("51001", "Instrument ID does not exist")
        bids, asks = perp.wire_levels("okx", 1, float(perp.ct_val))
        n = int(depth)
        return okx_ok(
            [
                {
                    "asks": [[*level, "0", "1"] for level in asks[:n]],
                    "bids": [[*level, "0", "1"] for level in bids[:n]],
                    "ts": now(),
                }
            ]
        )

    fake.route("okx", "GET", OKX_FUNDING, funding)
    fake.route("okx", "GET", OKX_INSTRUMENTS, instruments)
    fake.route("okx", "GET", OKX_MARK, mark)
    fake.route("okx", "GET", OKX_TICKERS, tickers)
    fake.route("okx", "GET", OKX_FUNDING_HISTORY, funding_history)
    fake.route("okx", "GET", OKX_BOOKS, books)

"""A fake of OKX's public v5 REST market data, served by `FakeVenues` under `/okx`.

`install(fake)` adds funding-rate, instruments, mark-price, tickers and the funding-rate
history. Without a market they serve the recorded fixtures; with one,
`fake.market.venues["okx"]` is rendered into fixture rows with their numbers replaced
(inverse swaps kept, for a client to skip). History runs newest first, paged with
`after` and `before`, both exclusive.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from tests.fakes.venues import FakePerp, FakeVenues, dec, fixture, query_ms, window

OKX_FUNDING = "/api/v5/public/funding-rate"
OKX_INSTRUMENTS = "/api/v5/public/instruments"
OKX_MARK = "/api/v5/public/mark-price"
OKX_TICKERS = "/api/v5/market/tickers"
OKX_FUNDING_HISTORY = "/api/v5/public/funding-rate-history"

# What the venue-agnostic contract tests (tests/venues/test_rest_contract.py) need to know
# of this venue's settled-funding endpoint: its path, the most rows a reply holds, whether
# it answers forward from a start time (else back from an end), the unit of its times,
# the recorded reply it serves without a market and the symbol that belongs to, and how
# it answers an unknown symbol (an error code, or an HTTP status).
HISTORY_PATH = OKX_FUNDING_HISTORY
HISTORY_PAGE = 400
HISTORY_FORWARD = False
HISTORY_UNIT_MS = 1
RECORDED_HISTORY = ("BTC-USDT-SWAP", "okx/api_v5_public_funding_rate_history.json")
UNKNOWN_SYMBOL = ("code", "51001")
HOUR_MS = 3_600_000


def okx_symbol(p: FakePerp) -> str:
    return f"{p.asset}-{p.settle}-SWAP"


symbol = okx_symbol


def okx_ok(data: list[Any]) -> Any:
    return {"code": "0", "data": data, "msg": ""}


def history_reply(rows: list[tuple[Any, Any]]) -> bytes:
    """A settled-funding reply holding (time in ms, rate) rows as written, junk included."""
    rows = [{"instId": "X", "fundingTime": t, "realizedRate": r} for t, r in rows]
    return json.dumps({"code": "0", "msg": "", "data": rows}).encode()


def install(fake: FakeVenues) -> None:
    """Serve OKX's public market data from `fake`."""

    async def funding(request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_funding_rate_ANY.json")
        inst_id = request.query.get("instId")
        if inst_id is None:
            return {"code": "51000", "data": [], "msg": "Parameter instId error"}
        if fake.market is not None:
            template = doc["data"][0]
            keep = [r for r in doc["data"] if "-USD-" in r["instId"]]  # inverse
            rows = []
            for p in fake.market.perps("okx"):
                nxt = fake.market.next_settlement(p.interval_h)
                rows.append(
                    dict(
                        template,
                        instId=okx_symbol(p),
                        fundingRate=dec(p.rate),
                        fundingTime=str(nxt),
                        nextFundingTime=str(nxt + int(p.interval_h * HOUR_MS)),
                        ts=str(fake.market.now()),
                    )
                )
            doc["data"] = rows + keep
        if inst_id != "ANY":
            doc["data"] = [r for r in doc["data"] if r["instId"] == inst_id]
        return doc

    async def instruments(request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_instruments_SWAP.json")
        if request.query.get("instType") != "SWAP":
            return okx_ok([])
        if fake.market is None:
            return doc
        template = next(i for i in doc["data"] if i["instId"] == "BTC-USDT-SWAP")
        keep = [i for i in doc["data"] if i["ctType"] == "inverse"]
        rows = []
        for p in fake.market.perps("okx"):
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

    async def mark(request: web.Request) -> Any:
        doc = fixture("okx/api_v5_public_mark_price_SWAP.json")
        if fake.market is None:
            return doc
        template = doc["data"][0]
        return okx_ok(
            [
                dict(template, instId=okx_symbol(p), markPx=dec(p.price), ts=str(fake.market.now()))
                for p in fake.market.perps("okx")
            ]
        )

    async def tickers(request: web.Request) -> Any:
        doc = fixture("okx/api_v5_market_tickers_SWAP.json")
        if fake.market is None:
            return doc
        template = doc["data"][0]
        return okx_ok(
            [
                dict(
                    template,
                    instId=okx_symbol(p),
                    last=dec(p.price),
                    volCcy24h=dec(p.turnover / p.price),
                    ts=str(fake.market.now()),
                )
                for p in fake.market.perps("okx")
            ]
        )

    async def funding_history(request: web.Request) -> Any:
        """Newest first. `after`: rows older than it; `before`: rows newer than it (the
        `limit` just above it when alone); both exclusive."""
        q = request.query
        if not q.get("instId"):
            return {"code": "51000", "data": [], "msg": "Parameter instId error"}
        limit = int(q.get("limit", "400"))
        if not 1 <= limit <= 400:
            return {"code": "51000", "data": [], "msg": "Parameter limit error"}
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

    fake.route("okx", "GET", OKX_FUNDING, funding)
    fake.route("okx", "GET", OKX_INSTRUMENTS, instruments)
    fake.route("okx", "GET", OKX_MARK, mark)
    fake.route("okx", "GET", OKX_TICKERS, tickers)
    fake.route("okx", "GET", OKX_FUNDING_HISTORY, funding_history)

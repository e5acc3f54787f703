"""A fake of Hyperliquid's public info API, served by `FakeVenues` under `/hyperliquid`.

`install(fake)` answers `POST /info` for `metaAndAssetCtxs`, `meta`, `l2Book` and
`fundingHistory`. Without a market it serves the recorded fixtures; with one,
`fake.market.venues["hyperliquid"]` is rendered into fixture rows with their numbers replaced
(delisted coins kept, for a client to skip). History runs forward from startTime, 500 rows at
most. Books are `FakePerp.levels`, at most 20 levels a side, per and in units of the name
(kPEPE: 1000 PEPE); a perp's lot is 10^-szDecimals of those units, so a power of ten.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakes.venues import FakePerp, FakeVenues, HistoryFacts, dec, fixture, is_ms, window

HL_INFO = "/info"
# Hyperliquid asks for everything at one path: a fault here hits metaAndAssetCtxs too.
HL_FUNDING_HISTORY = HL_INFO
# Coins with a recorded book (built from the docs' example): info_l2Book_<coin>.json.
BOOK_FIXTURES = ("BTC", "kPEPE")
BOOK_LEVELS = 20  # "at most 20 levels per side"

HISTORY = HistoryFacts(
    path=HL_FUNDING_HISTORY,
    page=500,
    forward=True,
    recorded=("BTC", "hyperliquid/info_fundingHistory.json"),
    unknown_symbol=("status", 500),
)


def hl_symbol(p: FakePerp) -> str:
    return f"k{p.asset}" if p.multiplier == 1000 else p.asset


symbol = hl_symbol


def history_reply(rows: list[tuple[Any, Any]]) -> bytes:
    """A settled-funding reply holding (time in ms, rate) rows as written, junk included."""
    return json.dumps([{"coin": "X", "time": t, "fundingRate": r} for t, r in rows]).encode()


def sz_decimals(p: FakePerp) -> int:
    """The szDecimals that make 10^-szDecimals units of the name `p.lot` coins, or the
    nearest lot Hyperliquid can state (10^-n units, n >= 0) when `p.lot` is not one."""
    step = Decimal(repr(p.lot)) / p.multiplier
    return max(0, round(-step.log10()))


def install(fake: FakeVenues) -> None:
    """Serve Hyperliquid's info endpoint from `fake`."""

    async def info(request: web.Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(None, status=422)
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "fundingHistory":
            return funding_history(body)
        if kind == "l2Book":
            return l2_book(body)
        if kind == "meta":
            return meta_and_ctxs()[0]
        if kind != "metaAndAssetCtxs":
            return web.Response(text="Failed to deserialize the JSON body", status=422)
        return meta_and_ctxs()

    def meta_and_ctxs() -> Any:
        doc = fixture("hyperliquid/info_metaAndAssetCtxs.json")
        if fake.market is None:
            return doc
        meta, ctxs = doc
        u_template, c_template = meta["universe"][0], ctxs[0]
        pairs = [(u, c) for u, c in zip(meta["universe"], ctxs, strict=True) if u.get("isDelisted")]
        for p in fake.market.perps("hyperliquid"):
            px = p.price * p.multiplier
            pairs.append(
                (
                    dict(u_template, name=hl_symbol(p), szDecimals=sz_decimals(p)),
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

    def l2_book(body: dict[str, Any]) -> Any:
        """A coin's book as `[bids, asks]` of `{px, sz, n}`; a coin without one is null."""
        coin = body.get("coin")
        if not isinstance(coin, str):
            return web.Response(text="Failed to deserialize the JSON body", status=422)
        if fake.market is None:
            recorded = coin in BOOK_FIXTURES
            return fixture(f"hyperliquid/info_l2Book_{coin}.json") if recorded else None
        perp = fake.perp("hyperliquid", coin)
        if perp is None:
            return None
        sides = perp.wire_levels("hyperliquid", perp.multiplier, perp.multiplier)
        levels = [[{"px": px, "sz": sz, "n": 1} for px, sz in side[:BOOK_LEVELS]] for side in sides]
        return {"coin": coin, "time": fake.market.now(), "levels": levels}

    def funding_history(body: dict[str, Any]) -> Any:
        """Ascending from startTime, 500 rows at most; a coin without funding is an HTTP 500."""
        coin, start, end = body.get("coin"), body.get("startTime"), body.get("endTime")
        if not isinstance(coin, str) or not is_ms(start) or not (end is None or is_ms(end)):
            return web.Response(text="Failed to deserialize the JSON body", status=422)
        rows = fake.settled_rows(
            "hyperliquid",
            coin,
            fixture("hyperliquid/info_fundingHistory.json"),
            ("coin", "time"),
            lambda row, p, t, rate: dict(row, coin=hl_symbol(p), fundingRate=dec(rate), time=t),
        )
        if rows is None:
            return web.json_response(None, status=500)
        return window(rows, start, end)[: HISTORY.page]

    fake.route("hyperliquid", "POST", HL_INFO, info)

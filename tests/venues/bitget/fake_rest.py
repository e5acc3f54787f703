"""A fake of Bitget's public v2 REST market data, served by `FakeVenues` under `/bitget`.

`install(fake)` adds the three endpoints the client reads. Without a market they
serve the recorded fixtures; with one, `fake.market.venues["bitget"]` is rendered
into Bitget's envelope (`{"code":"00000","msg":"success","requestTime":..,"data":[..]}`)
with each row a fixture row whose numbers are replaced:

- tickers: every USDT perpetual (mark and open interest per contract unit, so
  1000BONKUSDT is priced per 1000 coins), plus one dated future a client must skip;
- current-fund-rate: each perpetual's interval and upcoming settlement, all of them
  without `symbol` and that one row with it;
- history-fund-rate: a perpetual's settlements (`FakeMarket.settled`), newest first,
  `pageSize` rows (default 20, at most 100) on page `pageNo` (from 1);
- merge-depth: `FakePerp.levels` as numbers (as the futures docs write them), prices per
  contract unit and sizes in contract units, `limit` levels a side (1/5/15/50, `max`:
  all; 100 by default), unmerged whatever `precision` asks;
- contracts: each perpetual's order step and smallest order (`lot`, `min_qty`) in
  contract units and a price tick of about 1 bp (`pricePlace`, `priceEndStep` 1), all
  of them or the one `symbol` names.

Parameter errors are answered as Bitget does, HTTP 400 with its code: 40019 for a
missing parameter, 40034 for an unknown symbol or product type, 40017 for a page out
of range.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.venues import FakePerp, FakeVenues, HistoryFacts, dec, fixture, scaled

if TYPE_CHECKING:  # private_base imports the test configuration: pytest, hypothesis
    from tests.fakes.private_base import Handler

BITGET_TICKERS = "/api/v2/mix/market/tickers"
BITGET_CURRENT_FUNDING = "/api/v2/mix/market/current-fund-rate"
BITGET_FUNDING_HISTORY = "/api/v2/mix/market/history-fund-rate"
TICKERS_FILE = "bitget/api_v2_mix_market_tickers_USDT-FUTURES.json"
SCHEDULES_FILE = "bitget/api_v2_mix_market_current_fund_rate_USDT-FUTURES.json"
HISTORY_FILE = "bitget/api_v2_mix_market_history_fund_rate.json"
BITGET_DEPTH = "/api/v2/mix/market/merge-depth"
BITGET_CONTRACTS = "/api/v2/mix/market/contracts"
DEPTH_FILE = "bitget/api_v2_mix_market_merge_depth_BTCUSDT.json"
CONTRACTS_FILE = "bitget/api_v2_mix_market_contracts_USDT-FUTURES.json"
DEPTH_LIMITS = {"1": 1, "5": 5, "15": 15, "50": 50, "max": None}
DEPTH_DEFAULT = 100

PRODUCT_TYPE = "USDT-FUTURES"
HISTORY_PAGE_DEFAULT = 20
HISTORY_PAGE_MAX = 100
# A quarterly future in the USDT-FUTURES list, shaped like the docs' delivery example
# (`ETHUSD_231229`: a date suffix, `deliveryTime` set, a rate of "0").
DATED_SYMBOL = "BTCUSDT_260925"
DATED_DELIVERY_MS = 1790323200000  # 2026-09-25 08:00 UTC

HISTORY = HistoryFacts(
    path=BITGET_FUNDING_HISTORY,
    page=HISTORY_PAGE_MAX,
    forward=False,
    recorded=("BTCUSDT", HISTORY_FILE),
    unknown_symbol=("code", "40034"),
)


def bitget_symbol(p: FakePerp) -> str:
    return f"{'1000' if p.multiplier == 1000 else ''}{p.asset}USDT"


symbol = bitget_symbol


def ok(data: Any, now_ms: int) -> dict[str, Any]:
    return {"code": "00000", "msg": "success", "requestTime": now_ms, "data": data}


def bitget_error(code: str, message: str, now_ms: int) -> web.Response:
    body = {"code": code, "msg": message, "requestTime": now_ms, "data": None}
    return web.json_response(body, status=400)


def history_reply(rows: list[tuple[Any, Any]]) -> bytes:
    """A settled-funding reply holding (time in ms, rate) rows as written, junk included."""
    rows = [{"symbol": "X", "fundingTime": t, "fundingRate": r} for t, r in rows]
    return json.dumps(ok(rows, 0)).encode()


def install(fake: FakeVenues) -> None:
    """Serve Bitget's tickers, current-fund-rate and history-fund-rate from `fake`."""

    def now() -> int:
        return fake.market.now() if fake.market is not None else int(time.time() * 1000)

    def perps() -> list[FakePerp]:
        if fake.market is None:
            return []
        return [p for p in fake.market.perps("bitget") if p.settle == "USDT"]

    def product_error(query: Any) -> web.Response | None:
        """Bitget's docs write the product type in capitals and their examples in lower case."""
        product = query.get("productType")
        if product is None:
            return bitget_error("40019", "Parameter productType cannot be empty", now())
        if product.upper() != PRODUCT_TYPE:
            return bitget_error("40034", f"Parameter {product} does not exist", now())
        return None

    def symbol_error(query: Any) -> web.Response | None:
        """What Bitget answers a query without its product type or `symbol`, if anything."""
        error = product_error(query)
        if error is None and not query.get("symbol"):
            error = bitget_error("40019", "Parameter symbol cannot be empty", now())
        return error

    def for_symbol(rows: list[dict[str, Any]], symbol: str | None) -> Any:
        """All `rows`, or the one of `symbol` (40034 when there is none)."""
        if symbol is not None:
            rows = [r for r in rows if r["symbol"] == symbol]
            if not rows:
                return bitget_error("40034", f"Parameter {symbol} does not exist", now())
        return ok(rows, now())

    def perp_named(symbol: str) -> FakePerp | None:
        return next((p for p in perps() if bitget_symbol(p) == symbol), None)

    async def tickers(request: web.Request) -> Any:
        error = product_error(request.query)
        if error is not None:
            return error
        doc = fixture(TICKERS_FILE)
        if fake.market is None:
            return doc
        template = doc["data"][0]
        rows = [ticker_row(template, p, now()) for p in perps()]
        dated = dict(
            template,
            symbol=DATED_SYMBOL,
            fundingRate="0",
            deliveryStartTime=str(DATED_DELIVERY_MS - 90 * 24 * 3_600_000),
            deliveryTime=str(DATED_DELIVERY_MS),
            deliveryStatus="delivery_normal",
        )
        return ok([*rows, dated], now())

    def listing(file: str, row: Callable[[dict[str, Any], FakePerp], dict[str, Any]]) -> Handler:
        """A per-symbol list of the USDT-FUTURES product: the recorded rows, or `row` of
        its first for each perpetual of the market; all of them, or the query's `symbol`."""

        async def handler(request: web.Request) -> Any:
            error = product_error(request.query)
            if error is not None:
                return error
            rows = fixture(file)["data"]
            if fake.market is not None:
                rows = [row(rows[0], p) for p in perps()]
            return for_symbol(rows, request.query.get("symbol"))

        return handler

    def schedule_row(template: dict[str, Any], p: FakePerp) -> dict[str, Any]:
        assert fake.market is not None
        return dict(
            template,
            symbol=bitget_symbol(p),
            fundingRate=dec(p.rate),
            fundingRateInterval=dec(p.interval_h).removesuffix(".0"),
            nextUpdate=str(fake.market.next_settlement(p.interval_h)),
        )

    async def funding_history(request: web.Request) -> Any:
        q = request.query
        error = symbol_error(q)
        if error is not None:
            return error
        size = int(q.get("pageSize", str(HISTORY_PAGE_DEFAULT)))
        page_no = int(q.get("pageNo", "1"))
        if not 1 <= size <= HISTORY_PAGE_MAX or page_no < 1:
            return bitget_error("40017", "Parameter verification failed", now())
        rows = settled_rows(q["symbol"])
        if rows is None:
            return bitget_error("40034", f"Parameter {q['symbol']} does not exist", now())
        return ok(rows[(page_no - 1) * size : page_no * size], now())

    def settled_rows(symbol: str) -> list[dict[str, Any]] | None:
        """`symbol`'s settlements as wire rows, newest first; None if it is not listed.
        Without a market the recorded rows are the whole history of their one symbol."""
        recorded = fixture(HISTORY_FILE)["data"]
        if fake.market is None:
            rows = [r for r in recorded if r["symbol"] == symbol]
            return sorted(rows, key=lambda r: -int(r["fundingTime"])) or None
        perp = perp_named(symbol)
        if perp is None:
            return None
        return [
            dict(recorded[0], symbol=symbol, fundingRate=dec(rate), fundingTime=str(t))
            for t, rate in reversed(fake.market.settled(perp))
        ]

    async def depth(request: web.Request) -> Any:
        q = request.query
        error = symbol_error(q)
        if error is not None:
            return error
        limit = q.get("limit")
        if limit is not None and limit not in DEPTH_LIMITS:
            return bitget_error("40017", "Parameter verification failed", now())
        if fake.market is None:
            if q["symbol"] != "BTCUSDT":
                return bitget_error("40034", f"Parameter {q['symbol']} does not exist", now())
            return fixture(DEPTH_FILE)
        perp = perp_named(q["symbol"])
        if perp is None:
            return bitget_error("40034", f"Parameter {q['symbol']} does not exist", now())
        n = DEPTH_DEFAULT if limit is None else DEPTH_LIMITS[limit]
        bids, asks = perp.wire_levels("bitget", perp.multiplier, perp.multiplier)
        data = dict(
            fixture(DEPTH_FILE)["data"],
            asks=[[float(x) for x in level] for level in asks[:n]],
            bids=[[float(x) for x in level] for level in bids[:n]],
            ts=str(now()),
        )
        return ok(data, now())

    fake.route("bitget", "GET", BITGET_TICKERS, tickers)
    fake.route("bitget", "GET", BITGET_CURRENT_FUNDING, listing(SCHEDULES_FILE, schedule_row))
    fake.route("bitget", "GET", BITGET_FUNDING_HISTORY, funding_history)
    fake.route("bitget", "GET", BITGET_DEPTH, depth)
    fake.route("bitget", "GET", BITGET_CONTRACTS, listing(CONTRACTS_FILE, contract_row))


def contract_row(template: dict[str, Any], p: FakePerp) -> dict[str, Any]:
    """A perpetual's contract config: its order step and smallest order in contract units."""
    return dict(
        template,
        symbol=bitget_symbol(p),
        baseCoin=bitget_symbol(p).removesuffix("USDT"),
        sizeMultiplier=scaled(p.lot, per=p.multiplier),
        minTradeNum=scaled(p.min_qty, per=p.multiplier),
        # A tick of about 1 bp of the contract unit's price (the desk's orders need one).
        pricePlace=str(4 - math.floor(math.log10(p.price * p.multiplier))),
        priceEndStep="1",
        fundInterval=dec(p.interval_h).removesuffix(".0"),
    )


def ticker_row(template: dict[str, Any], p: FakePerp, now_ms: int) -> dict[str, Any]:
    """A perpetual's ticker: prices and open interest per contract unit, volume in
    contract units and in USDT."""
    mark = p.price * p.multiplier
    return dict(
        template,
        symbol=bitget_symbol(p),
        ts=str(now_ms),
        lastPr=dec(mark),
        askPr=dec(mark),
        bidPr=dec(mark),
        indexPrice=dec(mark),
        markPrice=dec(mark),
        fundingRate=dec(p.rate),
        holdingAmount=dec(p.open_interest / p.multiplier),
        baseVolume=dec(p.turnover / mark),
        quoteVolume=dec(p.turnover),
        usdtVolume=dec(p.turnover),
    )

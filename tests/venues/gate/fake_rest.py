"""A fake of Gate's v4 public futures REST API, served by a `FakeVenues` under `/gate`.

`install(fake)` adds the four endpoints `GateClient` calls. Without a market they
serve the recorded files in tests/fixtures/gate/ (the funding history is BTC_USDT's);
with one, `fake.market.venues["gate"]` is rendered into the same shapes: each row is
a fixture row with its numbers replaced, and the delisting MKR_USDT row a scanner must
skip is kept. Only USDT perpetuals are rendered: this is the `/futures/usdt` API.

How a `FakePerp` becomes a Gate contract: the name is `BONK_USDT`, or `1000BONK_USDT`
for a 1000x perp, whose base (and price) is 1000 coins; Gate trades whole contracts, so
the perp's `lot` is its contract (`quanto_multiplier`, in units of that base) and its
`min_qty` is `order_size_min` contracts, rounded up; `position_size` is open interest in
contracts, a decimal string as in the current docs (the fixture has the older integer).
A book is `FakePerp.levels` as `{"p", "s"}` rows: prices per unit of the base, sizes in
whole contracts written as strings, as replies do since 2025 (the fixture has integers).

Parameters are honoured as documented: contracts page with `limit` (1-1000, default
100) and `offset`; tickers take an optional `contract`; funding_rate needs `contract`
and answers the newest `limit` (default 100, at most 1000) settlements with
from <= t <= to (seconds, both optional and inclusive), newest first; order_book needs
`contract` and gives `limit` levels a side (default 10, at most 100 here). Errors are
Gate's: a 400 with `{"label","message"}`.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.fakes.venues import FakePerp, FakeVenues, HistoryFacts, dec, fixture, scaled

GATE_CONTRACTS = "/api/v4/futures/usdt/contracts"
GATE_TICKERS = "/api/v4/futures/usdt/tickers"
GATE_FUNDING_RATE = "/api/v4/futures/usdt/funding_rate"
GATE_ORDER_BOOK = "/api/v4/futures/usdt/order_book"
ORDER_BOOK_FILE = "gate/api_v4_futures_usdt_order_book_BTC_USDT.json"
BOOK_DEFAULT = 10
BOOK_MAX = 100

PAGE_MAX = 1000
PAGE_DEFAULT = 100
FIXTURE_HISTORY_CONTRACT = "BTC_USDT"  # the contract the recorded history belongs to

HISTORY = HistoryFacts(
    path=GATE_FUNDING_RATE,
    page=PAGE_MAX,
    forward=False,
    recorded=(FIXTURE_HISTORY_CONTRACT, "gate/api_v4_futures_usdt_funding_rate_BTC_USDT.json"),
    unknown_symbol=("code", "CONTRACT_NOT_FOUND"),
    unit_ms=1000,
)


def gate_symbol(p: FakePerp) -> str:
    return f"{p.multiplier if p.multiplier != 1 else ''}{p.asset}_{p.settle}"


symbol = gate_symbol


def gate_error(label: str, message: str, status: int = 400) -> web.Response:
    return web.json_response({"label": label, "message": message}, status=status)


def query_int(query: Any, name: str, default: int | None = None) -> int | None:
    """An integer parameter; `default` when absent, None when it is not an integer."""
    try:
        return int(query[name]) if name in query else default
    except ValueError:
        return None


def query_limit(query: Any) -> int | None:
    """`limit` as Gate reads it; None when it is out of range or not a number."""
    limit = query_int(query, "limit", PAGE_DEFAULT)
    return limit if limit is not None and 1 <= limit <= PAGE_MAX else None


def unit_price(p: FakePerp) -> float:
    """Price of one unit of the contract's base (1000 coins for a 1000x perp)."""
    return p.price * p.multiplier


def quanto(p: FakePerp) -> str:
    """`quanto_multiplier`: the perp's lot (one contract) in units of its base."""
    return scaled(p.lot, per=p.multiplier)


def order_size_min(p: FakePerp) -> int:
    """The perp's smallest order in whole contracts."""
    return max(1, math.ceil(Decimal(repr(p.min_qty)) / Decimal(repr(p.lot))))


def seconds(ms: Any) -> Any:
    """Gate writes times in seconds: ms as seconds, in the same type; junk as it is."""
    if isinstance(ms, int):
        return ms // 1000
    return str(int(ms) // 1000) if isinstance(ms, str) and ms.isdigit() else ms


def history_reply(rows: list[tuple[Any, Any]]) -> bytes:
    """A settled-funding reply holding (time in ms, rate) rows as written, junk included."""
    return json.dumps([{"t": seconds(t), "r": r} for t, r in rows]).encode()


def install(fake: FakeVenues) -> None:
    """Serve Gate's contracts, tickers and funding_rate from `fake` (see the module doc)."""

    def perps() -> list[FakePerp]:
        assert fake.market is not None
        return [p for p in fake.market.perps("gate") if p.settle == "USDT"]

    def render_contracts() -> list[dict]:
        rows = fixture("gate/api_v4_futures_usdt_contracts.json")
        if fake.market is None:
            return rows
        template = next(r for r in rows if r["name"] == "BTC_USDT")
        keep = [r for r in rows if r["in_delisting"]]
        out = []
        for p in perps():
            mark = dec(unit_price(p))
            out.append(
                dict(
                    template,
                    name=gate_symbol(p),
                    funding_rate=dec(p.rate),
                    funding_rate_indicative=dec(p.rate),
                    funding_interval=round(p.interval_h * 3600),
                    funding_next_apply=fake.market.next_settlement(p.interval_h) // 1000,
                    mark_price=mark,
                    index_price=mark,
                    last_price=mark,
                    quanto_multiplier=quanto(p),
                    order_size_min=order_size_min(p),
                    position_size=dec(p.open_interest / p.lot),
                )
            )
        return out + keep

    def render_tickers() -> list[dict]:
        rows = fixture("gate/api_v4_futures_usdt_tickers.json")
        if fake.market is None:
            return rows
        template = next(r for r in rows if r["contract"] == "BTC_USDT")
        keep = [r for r in rows if r["contract"] == "MKR_USDT"]  # the delisting contract
        out = []
        for p in perps():
            price, base = unit_price(p), p.turnover / unit_price(p)
            out.append(
                dict(
                    template,
                    contract=gate_symbol(p),
                    last=dec(price),
                    mark_price=dec(price),
                    index_price=dec(price),
                    funding_rate=dec(p.rate),
                    funding_rate_indicative=dec(p.rate),
                    volume_24h=dec(base * p.multiplier / p.lot),
                    volume_24h_base=dec(base),
                    volume_24h_quote=dec(p.turnover),
                    volume_24h_settle=dec(p.turnover),
                    volume_24h_usd=dec(p.turnover),
                    total_size=dec(p.open_interest / p.lot),
                )
            )
        return out + keep

    def settled(contract: str) -> list[dict] | None:
        """`contract`'s settlements as wire rows, oldest first; None if it is not listed.
        Gate's times are whole seconds: a market time's milliseconds are dropped."""
        if fake.market is None:
            if contract != FIXTURE_HISTORY_CONTRACT:
                return None
            rows = fixture("gate/api_v4_futures_usdt_funding_rate_BTC_USDT.json")
            return sorted(rows, key=lambda r: r["t"])
        perp = fake.perp("gate", contract)
        if perp is None:
            return None
        return [{"t": t // 1000, "r": dec(rate)} for t, rate in fake.market.settled(perp)]

    async def contracts(request: web.Request) -> Any:
        limit = query_limit(request.query)
        offset = query_int(request.query, "offset", 0)
        if limit is None or offset is None or offset < 0:
            return gate_error("INVALID_PARAM_VALUE", "invalid limit or offset")
        return render_contracts()[offset : offset + limit]

    async def tickers(request: web.Request) -> Any:
        rows = render_tickers()
        contract = request.query.get("contract")
        if contract is None:
            return rows
        match = [r for r in rows if r["contract"] == contract]
        return match or gate_error("CONTRACT_NOT_FOUND", f"contract {contract} not found")

    async def funding_rate(request: web.Request) -> Any:
        q = request.query
        contract, limit = q.get("contract"), query_limit(q)
        if not contract:
            return gate_error("MISSING_REQUIRED_PARAM", "contract is required")
        if limit is None:
            return gate_error("INVALID_PARAM_VALUE", "invalid limit")
        rows = settled(contract)
        if rows is None:
            return gate_error("CONTRACT_NOT_FOUND", f"contract {contract} not found")
        start, end = query_int(q, "from"), query_int(q, "to")
        if (start is None and "from" in q) or (end is None and "to" in q):
            return gate_error("INVALID_PARAM_VALUE", "invalid from or to")
        picked = [
            r for r in rows if (start is None or r["t"] >= start) and (end is None or r["t"] <= end)
        ]
        return picked[-limit:][::-1]

    async def order_book(request: web.Request) -> Any:
        q = request.query
        contract, limit = q.get("contract"), query_int(q, "limit", BOOK_DEFAULT)
        if not contract:
            return gate_error("MISSING_REQUIRED_PARAM", "contract is required")
        if limit is None or not 1 <= limit <= BOOK_MAX:
            return gate_error("INVALID_PARAM_VALUE", "invalid limit")
        if fake.market is None:
            if contract != FIXTURE_HISTORY_CONTRACT:
                return gate_error("CONTRACT_NOT_FOUND", f"contract {contract} not found")
            return fixture(ORDER_BOOK_FILE)
        perp = fake.perp("gate", contract)
        if perp is None:
            return gate_error("CONTRACT_NOT_FOUND", f"contract {contract} not found")
        bids, asks = perp.wire_levels("gate", perp.multiplier, perp.lot)
        now_s = fake.market.now() / 1000
        return {
            "current": now_s,
            "update": now_s,
            "asks": [{"p": p, "s": s} for p, s in asks[:limit]],
            "bids": [{"p": p, "s": s} for p, s in bids[:limit]],
        }

    fake.route("gate", "GET", GATE_CONTRACTS, contracts)
    fake.route("gate", "GET", GATE_TICKERS, tickers)
    fake.route("gate", "GET", GATE_FUNDING_RATE, funding_rate)
    fake.route("gate", "GET", GATE_ORDER_BOOK, order_book)

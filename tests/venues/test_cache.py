"""`Metadata`: a GET's cache declared once on a client class, owned by each client."""

from __future__ import annotations

from arb.venues.base import VenueClient
from arb.venues.cache import STALE_S, Metadata, TtlCache


class RecordingHttp:
    """Answers every GET with its path and a count, and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, object]] = []

    async def get(self, path, params=None, *, decode):
        self.asked.append((path, params))
        return decode(f"{path}#{len(self.asked)}".encode())


class Client(VenueClient):
    name = "test"
    table = Metadata("/table", bytes.decode, 10.0, {"kind": "all"})

    async def fetch_quotes(self):
        raise NotImplementedError

    async def funding_history(self, symbol, start_ms, end_ms):
        raise NotImplementedError

    async def order_book(self, symbol):
        raise NotImplementedError


async def test_each_client_gets_its_own_cache_of_the_get_on_its_own_clock():
    t = [0.0]
    a_http, b_http = RecordingHttp(), RecordingHttp()
    a, b = Client(a_http, clock=lambda: t[0]), Client(b_http)
    assert isinstance(Client.table, Metadata)
    assert isinstance(a.table, TtlCache) and a.table is a.table and a.table is not b.table
    assert (a.table.ttl_s, a.table.stale_s) == (10.0, STALE_S)

    assert await a.table.get() == "/table#1"
    t[0] = 9.0
    assert await a.table.get() == "/table#1"  # fresh: no second GET
    t[0] = 11.0
    assert await a.table.get() == "/table#2"  # a's clock says the TTL has passed
    assert a_http.asked == [("/table", {"kind": "all"})] * 2
    assert b_http.asked == []


async def test_a_key_missing_from_the_cached_mapping_reloads_it_once():
    listed = [{"BTC": 1}, {"BTC": 1, "ETH": 2}, {"BTC": 1, "ETH": 2}]
    loads = []

    async def load():
        loads.append(1)
        return listed[len(loads) - 1]

    cache = TtlCache(load, ttl_s=600.0, stale_s=1800.0, clock=lambda: 0.0)
    assert await cache.holding("BTC") == {"BTC": 1} and len(loads) == 1
    assert (await cache.holding("ETH"))["ETH"] == 2 and len(loads) == 2  # listed since
    assert "XRP" not in await cache.holding("XRP")  # reloaded once, still not listed
    assert len(loads) == 3
    assert await cache.holding("BTC", "ETH") == {"BTC": 1, "ETH": 2} and len(loads) == 3

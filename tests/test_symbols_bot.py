"""Asset names end to end: every venue's spelling reaches the same coin, and only ASCII
names are read (never upper-cased into another name)."""

from __future__ import annotations

import re

import pytest

from tests.bot_harness import running_bot
from tests.conftest import desk_market
from tests.fakes.venues import FakePerp, FakeVenues


@pytest.fixture
async def bot():
    market = desk_market()
    # Bybit prices SHIB1000USDT per 1000 SHIB (a suffix multiplier), Binance 1000SHIBUSDT
    # per 1000 too, OKX's SHIB-USDT-SWAP per coin: one asset, one price per coin.
    market.venues["bybit"].append(
        FakePerp("SHIB", 0.0001, 8, price=0.0000125, multiplier=1000, bybit_symbol="SHIB1000USDT")
    )
    market.venues["binance"].append(FakePerp("SHIB", 0.00002, 8, price=0.00001251, multiplier=1000))
    market.venues["okx"].append(FakePerp("SHIB", -0.00005, 8, price=0.0000125, ct_val="1000000"))
    async with FakeVenues(market) as venues, running_bot(venues) as running:
        yield running


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("/funding ß", "“ß” is not an asset name. Try /funding BTC"),  # upper() would be SS
        ("/funding ＢＴＣ", "“ＢＴＣ” is not an asset name. Try /funding BTC"),
        ("/funding ВТС", "“ВТС” is not an asset name. Try /funding BTC"),  # Cyrillic
        ("/history ß", "“ß” is not an asset name. Try /history BTC"),
        (
            "/subscribe 0.05% ß",
            "“ß” is not an asset name, e.g. /subscribe 0.05% or /subscribe 5bps BTC ETH or "
            "/subscribe 50% apr",
        ),
    ],
)
async def test_names_that_are_not_ascii_are_refused_in_one_line(bot, command, reply):
    assert (await bot.ask(command)).text == reply
    assert await bot.desk.store.subscriptions() == []


@pytest.mark.parametrize(
    "name", ["shib1000", "SHIB1000USDT", "1000SHIB", "kSHIB", "SHIB-USDT-SWAP", "shib"]
)
async def test_every_spelling_of_shib_shows_shib_on_every_venue(bot, name):
    reply = await bot.ask(f"/funding {name}")
    assert reply.text.startswith("<b>SHIB funding</b>")
    rows = re.search(r"<pre>(.*?)</pre>", reply.text, re.S).group(1).splitlines()
    assert sorted(r.split()[0] for r in rows[1:]) == ["binance", "bybit", "okx"]
    # Bybit's SHIB1000 pairs with OKX's SHIB, and prices compare per coin.
    assert "Best: long <b>okx</b>, short <b>bybit</b>" in reply.text
    basis = float(re.search(r"basis ([-+]?[0-9.]+)bp", reply.text).group(1))
    assert abs(basis) < 1


async def test_scan_pairs_bybit_shib1000_with_shib_elsewhere(bot):
    reply = await bot.ask("/scan 30")
    assert "SHIB1000" not in reply.text
    (line,) = [line for line in reply.text.split("\n") if "SHIB" in line]
    assert "okx" in line and "bybit" in line
    listed = await bot.ask("/subscribe 0.05% shib1000usdt", chat_id=1002)
    assert "no venue lists" not in listed.text and "on SHIB (gross" in listed.text

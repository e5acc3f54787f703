"""OKX: the parsers on the recorded replies and their quirks, and order books in contracts
of `ctVal` read as coins; what every venue's client promises is checked in
tests/venues/test_rest_contract.py (quotes, history) and test_book_contract.py (books)."""

from __future__ import annotations

import json

import msgspec
import pytest

from arb.depth import Level
from arb.http import ReplyError, ReplyShapeError, RetryPolicy, VenueError, VenueHttp
from arb.venues.base import FundingPoint, Sizing
from arb.venues.okx import rest as okx
from tests.conftest import T0, T0_MS, fixture_bytes
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues, by_symbol
from tests.venues.hand_fills import HandFill, RecordedBook
from tests.venues.okx.fake_rest import OKX_BOOKS


def okx_quotes():
    swaps = okx.parse_instruments(fixture_bytes("okx/api_v5_public_instruments_SWAP.json"))
    rows = okx.decode_funding(fixture_bytes("okx/api_v5_public_funding_rate_ANY.json"))
    marks = okx.parse_marks(fixture_bytes("okx/api_v5_public_mark_price_SWAP.json"))
    turnover = okx.parse_turnover(fixture_bytes("okx/api_v5_market_tickers_SWAP.json"))
    return by_symbol(okx.join_quotes(rows, swaps, marks, turnover, T0))


def test_okx_interval_is_the_gap_between_funding_times():
    quotes = okx_quotes()
    ape = quotes["APE-USDT-SWAP"]
    # fundingTime 1789027200000 is the upcoming settlement; next is 4 h later.
    assert ape.interval_h == (1789041600000 - 1789027200000) / 3_600_000 == 4.0
    assert ape.next_funding_time == 1789027200000
    assert ape.rate == 0.0005200929052275
    assert quotes["BTC-USDT-SWAP"].interval_h == 8.0


def test_okx_skips_inverse_and_keeps_usdc():
    quotes = okx_quotes()
    assert "BTC-USD-SWAP" not in quotes
    assert quotes["BTC-USDC-SWAP"].settle == "USDC"
    assert len(quotes) == 20


def test_okx_prices_are_per_coin_and_turnover_is_in_quote():
    quotes = okx_quotes()
    pepe = quotes["PEPE-USDT-SWAP"]
    assert (pepe.asset, pepe.multiplier, pepe.mark_price) == ("PEPE", 1.0, 0.0000036337)
    ape = quotes["APE-USDT-SWAP"]
    assert ape.mark_price == 0.1378
    assert ape.turnover_24h == pytest.approx(191519406 * 0.1379)


def test_okx_error_code_comes_with_http_200():
    with pytest.raises(ReplyError) as e:
        okx.decode_funding(fixture_bytes("okx/error_50011_rate_limit.json"))
    assert e.value.code == "50011" and e.value.retryable


def test_a_zero_rate_is_a_quote_not_a_gap():
    okx_body = (
        b'{"code":"0","msg":"","data":[{"instId":"Z-USDT-SWAP","fundingRate":"0",'
        b'"fundingTime":"1789027200000","nextFundingTime":"1789056000000"}]}'
    )
    rows = okx.decode_funding(okx_body)
    (o,) = okx.join_quotes(rows, {"Z-USDT-SWAP": okx.Swap("Z", "USDT")}, {}, {}, T0)
    assert (o.rate, o.interval_h) == (0.0, 8.0)


def test_wrong_shape_is_a_decode_error():
    with pytest.raises(msgspec.DecodeError):
        okx.decode_funding(b'{"code":"0","data":{}}')


def test_okx_charged_rate_is_realized_rate_when_present():
    rows = [
        {"fundingTime": "3600000", "fundingRate": "0.0002", "realizedRate": "0.00015"},
        {"fundingTime": "7200000", "fundingRate": "0.0003", "realizedRate": ""},
        {"fundingTime": "10800000", "fundingRate": "0.0004"},
    ]
    body = json.dumps({"code": "0", "msg": "", "data": rows}).encode()
    assert okx.decode_funding_history(body).points == [
        FundingPoint(3600000, 0.00015),
        FundingPoint(7200000, 0.0003),
        FundingPoint(10800000, 0.0004),
    ]


# --- order books ------------------------------------------------------------------------

INSTRUMENTS_FILE = "okx/api_v5_public_instruments_SWAP.json"
BOOK_FILE = "okx/api_v5_market_books_BTC-USDT-SWAP.json"


def instruments(*rows: dict) -> bytes:
    """An instruments reply of linear USDT swaps, each row's fields as given."""
    base = {"instType": "SWAP", "ctType": "linear", "settleCcy": "USDT", "state": "live"}
    return json.dumps({"code": "0", "msg": "", "data": [base | r for r in rows]}).encode()


def book_reply(asks: list[list[str]], bids: list[list[str]]) -> bytes:
    return json.dumps({"code": "0", "msg": "", "data": [{"asks": asks, "bids": bids}]}).encode()


def btc_book():
    sizing = okx.parse_sizing(fixture_bytes(INSTRUMENTS_FILE))["BTC-USDT-SWAP"]
    return okx.parse_book(fixture_bytes(BOOK_FILE), "BTC-USDT-SWAP", sizing, T0)


# By hand, mid (77624.4 + 77624.5) / 2 = 77624.45. ctVal 0.01 BTC: the best ask's 493 contracts are
# 4.93 BTC; lotSz = minSz = 0.01 contracts are 0.0001 BTC. Prices are per coin already.
#
# Buy $500,000: 4.93 BTC at 77624.5 (382,688.785) and 1.2 at 77624.8 (93,149.76) leave
# 24,161.455 = 0.311257... BTC at 77625.3; 6.441257... BTC is 6.4412 in lots of 0.0001.
# They cost 382,688.785 + 93,149.76 + 0.3112 x 77625.3 (24,156.99336) = 499,995.53836:
# vwap 499,995.53836 / 6.4412 = 77624.594541389803, slippage
# (77624.594541389803 - 77624.45) / 77624.45 x 1e4 = 0.018620600829139 bp.
#
# Sell $300,000: the best bid's 4.56 BTC are worth 353,967.264, so 300,000 / 77624.4 =
# 3.864764... BTC, 3.8647 in lots: 299,995.01868 at 77624.4, slippage
# (77624.45 - 77624.4) / 77624.45 x 1e4 = 0.0064412694711525 bp.
RECORDED = RecordedBook(
    "BTC-USDT-SWAP",
    bids=((77624.4, 4.56), (77624.0, 3.0), (77623.6, 0.95)),
    asks=((77624.5, 4.93), (77624.8, 1.2), (77625.3, 8.5)),
    lot=0.0001,
    min_qty=0.0001,
    fills=(
        HandFill("buy", 500_000, 6.4412, 499_995.53836, 77624.594541389803, 0.018620600829139),
        HandFill("sell", 300_000, 3.8647, 299_995.01868, 77624.4, 0.0064412694711525),
    ),
    levels=5,
    mid=77624.45,
)


def test_the_recorded_book_is_per_coin_in_coins_and_fills_as_worked_by_hand():
    book = btc_book()
    assert book.received_at == T0
    RECORDED.check(book, "okx")


def test_contract_sizes_multiply_ctval_by_ctmult_and_the_lots_with_them():
    sizings = okx.parse_sizing(
        instruments(
            {"instId": "PEPE-USDT-SWAP", "ctVal": "10000000", "ctMult": "1", "lotSz": "1",
             "minSz": "1"},
            {"instId": "X-USDT-SWAP", "ctVal": "0.1", "ctMult": "10", "lotSz": "0.1",
             "minSz": "2"},
            {"instId": "BTC-USD-SWAP", "ctType": "inverse", "ctVal": "100", "settleCcy": "BTC"},
            {"instId": "Y-USDT-SWAP", "ctVal": ""},
        )
    )  # fmt: skip
    assert sizings == {
        "PEPE-USDT-SWAP": Sizing(1.0, 10_000_000.0, 10_000_000.0, 10_000_000.0),
        "X-USDT-SWAP": Sizing(1.0, 0.1, 2.0, 1.0),  # 0.1 x 10: one coin a contract
    }
    body = book_reply([["0.0000036339", "3", "0", "1"]], [["0.0000036338", "2.5", "0", "2"]])
    pepe = okx.parse_book(body, "PEPE-USDT-SWAP", sizings["PEPE-USDT-SWAP"], T0)
    assert pepe.asks == (Level(0.0000036339, 30_000_000.0),)
    assert pepe.bids == (Level(0.0000036338, 25_000_000.0),)


def test_junk_levels_are_dropped_and_an_empty_reply_is_no_book():
    sizing = Sizing(1.0, 0.0, 0.0, 0.01)
    body = book_reply(
        [["77624.5", "10", "0", "1"], ["", "5", "0", "1"], ["77625", "0", "0", "0"], ["77626"]],
        [["77624.4", "abc", "0", "1"], ["77624", "7", "0", "2"]],
    )
    book = okx.parse_book(body, "BTC-USDT-SWAP", sizing, T0)
    assert book.asks == (Level(77624.5, 0.1),) and book.bids == (Level(77624.0, 0.07),)
    with pytest.raises(ReplyShapeError):
        okx.parse_book(b'{"code":"0","msg":"","data":[]}', "BTC-USDT-SWAP", sizing, T0)
    with pytest.raises(ReplyError) as e:
        okx.parse_book(fixture_bytes("okx/error_50011_rate_limit.json"), "X", sizing, T0)
    assert e.value.retryable


async def test_a_book_asks_for_the_400_levels_a_side_its_weight_allows_at_no_extra_cost():
    """The sizes and lots come back in coins of the fake's ten-million-PEPE contracts (the
    round trip itself, for every venue: tests/venues/test_book_contract.py)."""
    pepe = FakePerp("PEPE", 0.0001, price=0.0000036338, ct_val="10000000", lot=1e7, min_qty=1e8)
    async with FakeVenues(FakeMarket(now_ms=T0_MS, venues={"okx": [pepe]})) as fake:
        client = okx.OkxClient(VenueHttp("okx", fake.url("okx"), retry=RetryPolicy(attempts=1)))
        try:
            book = await client.order_book("PEPE-USDT-SWAP")
        finally:
            await client.close()
    (sent,) = [r.query for r in fake.requests if r.path == OKX_BOOKS]
    assert sent == {"instId": "PEPE-USDT-SWAP", "sz": "400"}
    assert (book.lot, book.min_qty, len(book.asks)) == (1e7, 1e8, 20)


@pytest.mark.parametrize("symbol", ["NOPE-USDT-SWAP", "BTC-USD-SWAP"])
async def test_a_swap_that_is_not_a_listed_linear_one_asks_for_no_book(symbol):
    async with FakeVenues() as fake:
        client = okx.OkxClient(VenueHttp("okx", fake.url("okx"), retry=RetryPolicy(attempts=1)))
        try:
            with pytest.raises(VenueError) as e:
                await client.order_book(symbol)
        finally:
            await client.close()
    assert type(e.value) is VenueError and e.value.endpoint == OKX_BOOKS
    assert symbol in str(e.value) and fake.hits("okx", OKX_BOOKS) == 0

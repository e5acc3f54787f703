"""Binance: the parsers on the recorded replies and their quirks; what every venue's
client promises is checked in tests/venues/test_rest_contract.py."""

from __future__ import annotations

import json

import msgspec
import pytest

from arb.http import ReplyError
from arb.venues.base import Sizing
from arb.venues.binance import rest as binance
from tests.conftest import T0, fixture_bytes
from tests.fakes.venues import by_symbol
from tests.venues.hand_fills import HandFill, RecordedBook


def binance_quotes():
    perps = binance.parse_exchange_info(fixture_bytes("binance/fapi_v1_exchangeInfo.json"))
    intervals = binance.parse_funding_info(fixture_bytes("binance/fapi_v1_fundingInfo.json"))
    turnover = binance.parse_ticker_24h(fixture_bytes("binance/fapi_v1_ticker_24hr.json"))
    rows = binance.decode_premium_index(fixture_bytes("binance/fapi_v1_premiumIndex.json"))
    return by_symbol(binance.join_quotes(rows, perps, intervals, turnover, T0))


def test_binance_exchange_info_keeps_trading_perpetuals_only():
    perps = binance.parse_exchange_info(fixture_bytes("binance/fapi_v1_exchangeInfo.json"))
    assert "BTCUSDT_260925" not in perps  # quarterly delivery
    assert "FTMUSDT" not in perps  # SETTLING
    assert perps["1000PEPEUSDT"] == binance.Perp("PEPE", 1000.0, "USDT")
    assert perps["BTCUSDC"].settle == "USDC"


def test_binance_intervals_default_to_8h_unless_listed():
    quotes = binance_quotes()
    assert quotes["APEUSDT"].interval_h == 1.0
    assert quotes["LDOUSDT"].interval_h == 4.0
    assert quotes["SOPHUSDT"].interval_h == 4.0
    assert quotes["BTCUSDT"].interval_h == 8.0  # not in fundingInfo at all
    assert "BTCUSDT_260925" not in quotes


def test_binance_values():
    quotes = binance_quotes()
    ape = quotes["APEUSDT"]
    assert (ape.rate, ape.mark_price, ape.next_funding_time) == (0.00028, 0.13787649, 1789016400000)
    assert ape.turnover_24h == 99213321.4313
    assert ape.open_interest_value is None  # not in the bulk endpoints: missing, not zero
    ldo = quotes["LDOUSDT"]
    assert ldo.rate == -0.0000552 and ldo.hourly == pytest.approx(-0.0000552 / 4)
    assert quotes["1000PEPEUSDT"].unit_price == pytest.approx(0.00363421 / 1000)
    assert quotes["BTCUSDC"].turnover_24h is None  # no ticker row: unknown


def test_binance_premium_index_object_or_array():
    one = binance.decode_premium_index(fixture_bytes("binance/fapi_v1_premiumIndex_BTCUSDT.json"))
    assert [r.symbol for r in one] == ["BTCUSDT"]


def test_wrong_shape_is_a_decode_error():
    with pytest.raises(msgspec.DecodeError):
        binance.decode_premium_index(b'{"code": 0}')


# --- order books ---------------------------------------------------------------------


def sizings() -> dict[str, Sizing]:
    return binance.parse_sizing(fixture_bytes("binance/fapi_v1_exchangeInfo.json"))


def book(symbol: str):
    body = fixture_bytes(f"binance/fapi_v1_depth_{symbol}.json")
    return binance.parse_book(body, symbol, sizings()[symbol], T0)


def test_binance_lot_and_minimum_come_from_exchange_info_in_coins():
    table = sizings()
    assert table["BTCUSDT"] == Sizing(1.0, 0.001, 0.001)
    assert table["1000PEPEUSDT"] == Sizing(1000.0, 1000.0, 1000.0)  # 1 x 1000 PEPE
    assert (
        table.keys()
        == binance.parse_exchange_info(fixture_bytes("binance/fapi_v1_exchangeInfo.json")).keys()
    )  # trading perpetuals only


def test_binance_a_market_order_steps_by_market_lot_size():
    row = {"symbol": "XUSDT", "contractType": "PERPETUAL", "status": "TRADING"}
    row |= {"baseAsset": "X", "quoteAsset": "USDT", "marginAsset": "USDT"}
    limit = {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001"}
    market = {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.01", "minQty": "0.05"}

    def sizing(*filters: dict) -> Sizing:
        body = json.dumps({"symbols": [dict(row, filters=list(filters))]}).encode()
        return binance.parse_sizing(body)["XUSDT"]

    assert sizing(limit, market) == sizing(market, limit) == Sizing(1.0, 0.01, 0.05)
    assert sizing(limit) == Sizing(1.0, 0.001, 0.001)
    assert sizing() == Sizing(1.0, 0.0, 0.0)  # no filter: any size


RECORDED = [
    RecordedBook(
        "BTCUSDT",
        bids=((77591.1, 2.104), (77591.0, 0.35)),
        asks=((77591.2, 0.611), (77591.5, 1.45)),
        lot=0.001,
        min_qty=0.001,
        fills=(
            # Buy $180,000; mid (77591.10 + 77591.20) / 2 = 77591.15.
            #   77591.20 x 0.611 = 47,408.2232   (132,591.7768 left)
            #   77591.50 x 1.450 = 112,507.675   (20,084.1018 left)
            #   77592.30: 20,084.1018 / 77592.3 = 0.2588 coins -> 2.3198 in all -> lot 0.001:
            #            2.319, so 0.258 here: 77592.30 x 0.258 = 20,018.8134
            #   filled 179,934.7116 for 2.319 -> vwap 77,591.509961190168...
            #   slippage (77,591.5099611902 - 77,591.15) / 77,591.15 x 1e4 = 0.046392042155 bp
            HandFill("buy", 180_000, 2.319, 179_934.7116, 77_591.50996119017, 0.0463920421553458),
        ),
    ),
    RecordedBook(
        "1000PEPEUSDT",
        # The venue writes 0.0036341 per 1000 PEPE for 1,250,000 x 1000 PEPE; stepSize and
        # minQty 1 x 1000 PEPE.
        bids=((0.0000036341, 1_250_000_000.0), (0.000003634, 980_000_000.0)),
        asks=((0.0000036342, 730_000_000.0), (0.0000036343, 2_200_000_000.0)),
        lot=1000.0,
        min_qty=1000.0,
        fills=(
            # Sell $7,500 (per PEPE); mid (0.0036341 + 0.0036342) / 2 / 1000.
            #   0.0000036341 x 1,250,000,000 = 4,542.625 (2,957.375 left)
            #   0.0000036340: 2,957.375 / 0.000003634 = 813,807,099.6 -> 2,063,807,099.6 in
            #            all -> lot 1,000: 2,063,807,000, so 813,807,000 here = 2,957.374638
            #   filled 7,499.999638 -> vwap 0.00000363406056767905...
            #   slippage (0.00000363415 - 0.0000036340605677) / 0.00000363415 x 1e4
            #            = 0.246088689098 bp
            HandFill(
                "sell",
                7_500,
                2_063_807_000,
                7_499.999638,
                3.6340605676790514e-06,
                0.246088689098182,
            ),
        ),
    ),
]


@pytest.mark.parametrize("recorded", RECORDED, ids=lambda r: r.symbol)
def test_binance_recorded_books_read_per_coin_in_coins_and_fill_as_worked_by_hand(recorded):
    recorded.check(book(recorded.symbol), "binance")


def test_binance_book_error_envelope_is_a_reply_error_and_another_shape_a_decode_error():
    sizing = sizings()["BTCUSDT"]
    with pytest.raises(ReplyError) as e:
        binance.parse_book(b'{"code":-1121,"msg":"Invalid symbol."}', "BTCUSDT", sizing, T0)
    assert e.value.code == "-1121"
    with pytest.raises(msgspec.ValidationError):
        binance.parse_book(b'{"lastUpdateId":1,"bids":[]}', "BTCUSDT", sizing, T0)

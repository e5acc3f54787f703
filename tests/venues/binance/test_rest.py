"""Binance: the parsers on the recorded replies and their quirks; what every venue's
client promises is checked in tests/venues/test_rest_contract.py."""

from __future__ import annotations

import msgspec
import pytest

from arb.venues.binance import rest as binance
from tests.conftest import T0, fixture_bytes
from tests.fakes.venues import by_symbol


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

"""Bybit: the parsers on the recorded replies and their quirks; what every venue's
client promises is checked in tests/venues/test_rest_contract.py."""

from __future__ import annotations

import msgspec
import pytest

from arb.http import ReplyError
from arb.venues.bybit import rest as bybit
from tests.conftest import T0, fixture_bytes
from tests.fakes.venues import by_symbol


def test_bybit_tickers_keep_perpetuals_with_their_own_interval():
    quotes = by_symbol(
        bybit.parse_tickers(fixture_bytes("bybit/v5_market_tickers_linear.json"), T0)
    )
    assert "BTCUSDT-11SEP26" not in quotes  # dated future, blank funding
    assert len(quotes) == 21
    ape = quotes["APEUSDT"]
    assert (ape.asset, ape.rate, ape.interval_h) == ("APE", 0.00031, 1.0)
    assert ape.hourly == pytest.approx(0.00031)
    assert ape.next_funding_time == 1789016400000
    assert ape.mark_price == 0.13791
    assert ape.turnover_24h == 34521286.6742
    assert ape.open_interest_value == 36274793.34
    soph = quotes["SOPHUSDT"]
    assert (soph.rate, soph.interval_h) == (-0.00102581, 4.0)
    assert soph.hourly == pytest.approx(-0.00102581 / 4)


def test_bybit_multiplier_and_usdc_perps():
    quotes = by_symbol(
        bybit.parse_tickers(fixture_bytes("bybit/v5_market_tickers_linear.json"), T0)
    )
    pepe = quotes["1000PEPEUSDT"]
    assert (pepe.asset, pepe.multiplier) == ("PEPE", 1000.0)
    assert pepe.unit_price == pytest.approx(0.0036339 / 1000)
    btc_usdc = quotes["BTCPERP"]
    assert (btc_usdc.asset, btc_usdc.settle, btc_usdc.rate) == ("BTC", "USDC", 0.0000354)


def test_bybit_blank_numbers_mean_missing_not_zero():
    body = (
        b'{"retCode":0,"retMsg":"OK","result":{"category":"linear","list":['
        b'{"symbol":"XUSDT","fundingRate":"0.0001","fundingIntervalHour":"8",'
        b'"nextFundingTime":"","markPrice":"","turnover24h":"","openInterestValue":"",'
        b'"deliveryTime":"0","curPreListingPhase":""},'
        b'{"symbol":"PREUSDT","fundingRate":"0.0001","fundingIntervalHour":"8",'
        b'"deliveryTime":"0","curPreListingPhase":"ContinuousTrading"},'
        b'{"symbol":"YUSDT","fundingRate":"","fundingIntervalHour":"8","deliveryTime":"0"}'
        b"]}}"
    )
    (x,) = bybit.parse_tickers(body, T0)
    assert x.symbol == "XUSDT"
    assert x.mark_price is None and x.turnover_24h is None and x.open_interest_value is None
    assert x.next_funding_time is None


def test_bybit_error_code_is_a_reply_error():
    with pytest.raises(ReplyError) as e:
        bybit.parse_tickers(fixture_bytes("bybit/error_10006_rate_limit.json"), T0)
    assert e.value.code == "10006" and e.value.retryable


def test_a_zero_rate_is_a_quote_not_a_gap():
    bybit_body = (
        b'{"retCode":0,"result":{"list":[{"symbol":"ZUSDT","fundingRate":"0",'
        b'"fundingIntervalHour":"8","nextFundingTime":"1789027200000","deliveryTime":"0"}]}}'
    )
    (b,) = bybit.parse_tickers(bybit_body, T0)
    assert b.rate == 0.0


def test_a_malformed_number_is_a_decode_error_not_a_crash():
    body = b'{"retCode":0,"result":{"list":[{"symbol":"XUSDT","fundingRate":"abc"}]}}'
    with pytest.raises(msgspec.ValidationError):
        bybit.parse_tickers(body, T0)


def test_wrong_shape_is_a_decode_error():
    with pytest.raises(msgspec.DecodeError):
        bybit.parse_tickers(b'{"retCode":0,"result":{"list":"x"}}', T0)

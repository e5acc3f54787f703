"""OKX: the parsers on the recorded replies and their quirks; what every venue's
client promises is checked in tests/venues/test_rest_contract.py."""

from __future__ import annotations

import json

import msgspec
import pytest

from arb.http import ReplyError
from arb.venues.base import FundingPoint
from arb.venues.okx import rest as okx
from tests.conftest import T0, fixture_bytes
from tests.fakes.venues import by_symbol


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

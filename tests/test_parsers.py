"""Each venue's parser on the recorded shapes, checked against values read off the files."""

from __future__ import annotations

import msgspec
import pytest

from arb.http import ReplyError, ReplyShapeError
from arb.venues.binance import rest as binance
from arb.venues.bybit import rest as bybit
from arb.venues.hyperliquid import rest as hyperliquid
from arb.venues.okx import rest as okx
from tests.conftest import T0, fixture_bytes


def by_symbol(quotes):
    out = {q.symbol: q for q in quotes}
    assert len(out) == len(quotes), "a symbol appears twice"
    return out


# --- Bybit -------------------------------------------------------------------


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


# --- Binance -----------------------------------------------------------------


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


# --- OKX ---------------------------------------------------------------------


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


# --- Hyperliquid -------------------------------------------------------------


def test_hyperliquid_pairs_meta_and_contexts_by_index():
    quotes = by_symbol(
        hyperliquid.parse_meta_and_ctxs(fixture_bytes("hyperliquid/info_metaAndAssetCtxs.json"), T0)
    )
    assert "MATIC" not in quotes and "RNDR" not in quotes  # delisted
    assert len(quotes) == 21
    btc = quotes["BTC"]
    assert (btc.rate, btc.interval_h, btc.mark_price) == (-0.0000015186, 1.0, 77562.0)
    assert btc.settle == "USDC"
    assert btc.open_interest_value == pytest.approx(27353.17682 * 77562.0)
    # Funding settles on the hour: T0 is 04:52:22Z, so the next is 05:00Z.
    assert btc.next_funding_time == 1789016400000
    pepe = quotes["kPEPE"]
    assert (pepe.asset, pepe.multiplier) == ("PEPE", 1000.0)
    assert pepe.unit_price == pytest.approx(0.003632 / 1000)


def test_hyperliquid_misaligned_reply_is_a_shape_error():
    body = b'[{"universe":[{"name":"BTC"},{"name":"ETH"}]},[{"funding":"0.0001"}]]'
    with pytest.raises(ReplyShapeError):
        hyperliquid.parse_meta_and_ctxs(body, T0)


@pytest.mark.parametrize(
    ("parse", "body"),
    [
        (lambda b: bybit.parse_tickers(b, T0), b'{"retCode":0,"result":{"list":"x"}}'),
        (binance.decode_premium_index, b'{"code": 0}'),
        (okx.decode_funding, b'{"code":"0","data":{}}'),
        (lambda b: hyperliquid.parse_meta_and_ctxs(b, T0), b'{"universe":[]}'),
    ],
)
def test_wrong_shape_is_a_decode_error(parse, body):
    with pytest.raises(msgspec.DecodeError):
        parse(body)


def test_a_zero_rate_is_a_quote_not_a_gap():
    bybit_body = (
        b'{"retCode":0,"result":{"list":[{"symbol":"ZUSDT","fundingRate":"0",'
        b'"fundingIntervalHour":"8","nextFundingTime":"1789027200000","deliveryTime":"0"}]}}'
    )
    (b,) = bybit.parse_tickers(bybit_body, T0)
    assert b.rate == 0.0
    okx_body = (
        b'{"code":"0","msg":"","data":[{"instId":"Z-USDT-SWAP","fundingRate":"0",'
        b'"fundingTime":"1789027200000","nextFundingTime":"1789056000000"}]}'
    )
    rows = okx.decode_funding(okx_body)
    (o,) = okx.join_quotes(rows, {"Z-USDT-SWAP": okx.Swap("Z", "USDT")}, {}, {}, T0)
    assert (o.rate, o.interval_h) == (0.0, 8.0)


def test_a_malformed_number_is_a_decode_error_not_a_crash():
    body = b'{"retCode":0,"result":{"list":[{"symbol":"XUSDT","fundingRate":"abc"}]}}'
    with pytest.raises(msgspec.ValidationError):
        bybit.parse_tickers(body, T0)

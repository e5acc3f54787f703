"""Bybit: the parsers on the recorded replies and their quirks; what every venue's
client promises is checked in tests/venues/test_rest_contract.py."""

from __future__ import annotations

import msgspec
import pytest

from arb.http import ReplyError
from arb.venues.base import Sizing
from arb.venues.bybit import rest as bybit
from tests.conftest import T0, fixture_bytes
from tests.fakes.venues import by_symbol
from tests.venues.hand_fills import HandFill, RecordedBook


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


# --- order books ---------------------------------------------------------------------


def sizings() -> dict[str, Sizing]:
    return bybit.parse_sizing(fixture_bytes("bybit/v5_market_instruments_info_linear.json"))


def book(symbol: str):
    body = fixture_bytes(f"bybit/v5_market_orderbook_{symbol}.json")
    return bybit.parse_book(body, symbol, sizings()[symbol], T0)


def test_bybit_lot_and_minimum_come_from_instruments_in_coins():
    table = sizings()
    assert table["BTCUSDT"] == Sizing(1.0, 0.001, 0.001)
    assert table["1000PEPEUSDT"] == Sizing(1000.0, 100_000.0, 100_000.0)  # 100 x 1000 PEPE
    assert table["BTCPERP"] == Sizing(1.0, 0.001, 0.001)
    assert "BTCUSDT-11SEP26" not in table  # a dated future


RECORDED = [
    RecordedBook(
        "BTCUSDT",
        bids=((77617.1, 1.218), (77616.8, 0.6)),
        asks=((77617.2, 0.845), (77617.5, 1.2)),
        lot=0.001,
        min_qty=0.001,
        fills=(
            # Buy $200,000; mid (77617.1 + 77617.2) / 2 = 77617.15.
            #   77617.2 x 0.845 = 65,586.534   (134,413.466 left)
            #   77617.5 x 1.2   = 93,141.0     (41,272.466 left)
            #   77618.0: 41,272.466 / 77618 = 0.5317 coins -> 2.5767 in all -> lot 0.001:
            #            2.576, so 0.531 here: 77618.0 x 0.531 = 41,215.158
            #   filled 199,942.692 for 2.576 -> vwap 77,617.504658385093...
            #   slippage (77,617.5046583851 - 77,617.15) / 77,617.15 x 1e4 = 0.045693301686 bp
            HandFill("buy", 200_000, 2.576, 199_942.692, 77_617.50465838509, 0.04569330168566711),
        ),
    ),
    RecordedBook(
        "1000PEPEUSDT",
        # The venue writes 0.0036337 per 1000 PEPE for 2,425,000 x 1000 PEPE; qtyStep and
        # minOrderQty 100 x 1000 PEPE.
        bids=((0.0000036337, 2_425_000_000.0), (0.0000036335, 1_800_000_000.0)),
        asks=((0.0000036338, 167_600_000.0), (0.000003634, 900_000_000.0)),
        lot=100_000.0,
        min_qty=100_000.0,
        fills=(
            # Sell $15,000 (per PEPE); mid (0.0036337 + 0.0036338) / 2 / 1000.
            #   0.0000036337 x 2,425,000,000 = 8,811.7225 (6,188.2775 left)
            #   0.0000036335: 6,188.2775 / 0.0000036335 = 1,703,117,517.5 -> 4,128,117,517.5
            #            in all -> lot 100,000: 4,128,100,000, so 1,703,100,000 here
            #            = 6,188.21385
            #   filled 14,999.93635 -> vwap 0.00000363361748746397...
            #   slippage (0.00000363375 - 0.0000036336174875) / 0.00000363375 x 1e4
            #            = 0.364671581792 bp
            HandFill(
                "sell", 15_000, 4_128_100_000, 14_999.93635, 3.633617487463966e-06, 0.36467158179161
            ),
        ),
    ),
]


@pytest.mark.parametrize("recorded", RECORDED, ids=lambda r: r.symbol)
def test_bybit_recorded_books_read_per_coin_in_coins_and_fill_as_worked_by_hand(recorded):
    recorded.check(book(recorded.symbol), "bybit")


def test_bybit_book_error_code_is_a_reply_error():
    sizing = sizings()["BTCUSDT"]
    with pytest.raises(ReplyError) as e:
        bybit.parse_book(fixture_bytes("bybit/error_10006_rate_limit.json"), "BTCUSDT", sizing, T0)
    assert e.value.code == "10006"

"""Hyperliquid: the parsers on the recorded replies and their quirks; what every venue's
client promises is checked in tests/venues/test_rest_contract.py."""

from __future__ import annotations

import json

import msgspec
import pytest

from arb.http import ReplyShapeError
from arb.venues.base import Sizing
from arb.venues.hyperliquid import rest as hyperliquid
from tests.conftest import T0, fixture_bytes
from tests.fakes.venues import by_symbol
from tests.venues.hand_fills import HandFill, RecordedBook


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


def test_wrong_shape_is_a_decode_error():
    with pytest.raises(msgspec.DecodeError):
        hyperliquid.parse_meta_and_ctxs(b'{"universe":[]}', T0)


# --- order books ---------------------------------------------------------------------


def sizings() -> dict[str, Sizing]:
    """From `{"type":"meta"}`, which answers the first half of metaAndAssetCtxs."""
    meta, _ = json.loads(fixture_bytes("hyperliquid/info_metaAndAssetCtxs.json"))
    return hyperliquid.parse_sizing(json.dumps(meta).encode())


def book(coin: str):
    body = fixture_bytes(f"hyperliquid/info_l2Book_{coin}.json")
    return hyperliquid.parse_book(body, coin, sizings()[coin], T0)


def test_hyperliquid_lot_is_ten_to_minus_sz_decimals_of_the_name_in_coins():
    table = sizings()
    assert table["BTC"] == Sizing(1.0, 0.00001, 0.0)  # szDecimals 5; the minimum is $10
    assert table["kPEPE"] == Sizing(1000.0, 1000.0, 0.0)  # szDecimals 0: 1 kPEPE
    assert table["DOGE"] == Sizing(1.0, 1.0, 0.0)
    assert "MATIC" not in table and "RNDR" not in table  # delisted


RECORDED = [
    RecordedBook(
        "BTC",
        # levels[0] is the bids, levels[1] the asks.
        bids=((77558.0, 0.5231), (77557.0, 1.2), (77556.0, 0.08541)),
        asks=((77559.0, 0.3105), (77560.0, 0.9)),
        lot=0.00001,  # szDecimals 5; the minimum is $10, not a size
        min_qty=0.0,
        fills=(
            # Buy $150,000; mid (77558 + 77559) / 2 = 77558.5.
            #   77559 x 0.3105 = 24,082.0695   (125,917.9305 left)
            #   77560 x 0.9    = 69,804.0      (56,113.9305 left)
            #   77561: 56,113.9305 / 77561 = 0.7234811 coins -> 1.9339811 in all -> lot
            #          0.00001: 1.93398, so 0.72348 here: 77561 x 0.72348 = 56,113.83228
            #   filled 149,999.90178 for 1.93398 -> vwap 77,560.213538919740...
            #   slippage (77,560.2135389197 - 77,558.5) / 77,558.5 x 1e4 = 0.220935025786 bp
            HandFill(
                "buy",
                150_000,
                1.93398,
                149_999.90178,
                77_560.21353891974,
                0.2209350257857796,
            ),
        ),
    ),
    RecordedBook(
        "kPEPE",
        # The venue writes 0.003631 per kPEPE (1000 PEPE) for 2,500,000 kPEPE; szDecimals 0:
        # whole kPEPE.
        bids=((0.000003631, 2_500_000_000.0), (0.00000363, 4_100_000_000.0)),
        asks=((0.000003632, 1_500_000_000.0), (0.000003633, 3_200_000_000.0)),
        lot=1000.0,
        min_qty=0.0,
        fills=(
            # Sell $12,000 (per PEPE); mid (0.003631 + 0.003632) / 2 / 1000.
            #   0.000003631 x 2,500,000,000 = 9,077.5 (2,922.5 left)
            #   0.00000363: 2,922.5 / 0.00000363 = 805,096,418.7 -> 3,305,096,418.7 in all
            #            -> lot 1,000: 3,305,096,000, so 805,096,000 here = 2,922.49848
            #   filled 11,999.99848 -> vwap 0.00000363075640768075...
            #   slippage (0.0000036315 - 0.0000036307564077) / 0.0000036315 x 1e4
            #            = 2.047617566446 bp
            HandFill(
                "sell",
                12_000,
                3_305_096_000,
                11_999.99848,
                3.630756407680745e-06,
                2.047617566446019,
            ),
        ),
    ),
]


@pytest.mark.parametrize("recorded", RECORDED, ids=lambda r: r.symbol)
def test_hyperliquid_recorded_books_read_per_coin_in_coins_and_fill_as_worked_by_hand(recorded):
    recorded.check(book(recorded.symbol), "hyperliquid")


def test_hyperliquid_no_book_or_another_coins_book_is_a_bad_reply():
    sizing = sizings()["BTC"]
    with pytest.raises(msgspec.ValidationError):
        hyperliquid.parse_book(b"null", "BTC", sizing, T0)  # a coin without a book
    pepe = fixture_bytes("hyperliquid/info_l2Book_kPEPE.json")
    with pytest.raises(ReplyShapeError):
        hyperliquid.parse_book(pepe, "BTC", sizing, T0)

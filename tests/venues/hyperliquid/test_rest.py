"""Hyperliquid: the parsers on the recorded replies and their quirks; what every venue's
client promises is checked in tests/venues/test_rest_contract.py."""

from __future__ import annotations

import msgspec
import pytest

from arb.http import ReplyShapeError
from arb.venues.hyperliquid import rest as hyperliquid
from tests.conftest import T0, fixture_bytes
from tests.fakes.venues import by_symbol


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

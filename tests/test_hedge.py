"""Positions matched into hedged books, funding totals, and how the bot shows them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.accounts.hedge import books, funding_totals
from arb.accounts.models import FundingPayment, Position
from bot.render_accounts import coins, positions_html
from tests.fakes.telegram import check_html

NOW = 1_789_015_200.0


def pos(venue: str, asset: str, side: str, size: float, mark: float = 100.0, upnl=0.0):
    return Position(venue, asset, f"{asset}-{venue}", side, size, mark, mark, upnl, 5.0,
                    mark * 0.5)  # fmt: skip


def test_legs_on_two_venues_make_a_hedged_book():
    (b,) = books(
        [pos("okx", "ETH", "short", 2.0, 3010.0), pos("bybit", "ETH", "long", 2.0, 3000.0)]
    )
    assert b.status == "hedged"
    assert [p.venue for p in b.legs] == ["bybit", "okx"]  # longs first
    assert (b.long_size, b.short_size, b.net_size) == (2.0, 2.0, 0.0)
    assert b.net_usd == pytest.approx(2 * 3000.0 - 2 * 3010.0)


def test_a_lone_leg_is_unhedged_and_a_lopsided_book_imbalanced():
    found = {b.asset: b for b in books([
        pos("bybit", "BTC", "long", 0.1, 90_000.0),
        pos("bybit", "SOL", "long", 10.0), pos("okx", "SOL", "short", 8.0),
        pos("binance", "SOL", "short", 1.9),  # 9.9 short against 10 long: within 2 %
        pos("okx", "APE", "short", 1000.0), pos("binance", "APE", "long", 900.0),
    ])}  # fmt: skip
    assert found["BTC"].status == "unhedged"
    assert found["SOL"].status == "hedged" and found["SOL"].net_size == pytest.approx(0.1)
    assert found["APE"].status == "imbalanced"
    assert list(found) == ["APE", "BTC", "SOL"]  # largest exposure first: $190K, $9K, $2K


@given(st.lists(st.tuples(st.sampled_from(["long", "short"]), st.floats(0.001, 1e6)), max_size=8))
def test_net_is_longs_minus_shorts_and_every_leg_is_kept(legs):
    positions = [pos(f"v{i}", "X", side, size) for i, (side, size) in enumerate(legs)]
    found = books(positions)
    assert sum(len(b.legs) for b in found) == len(positions)
    for b in found:
        longs = sum(s for side, s in legs if side == "long")
        shorts = sum(s for side, s in legs if side == "short")
        assert b.net_size == pytest.approx(longs - shorts)
        assert b.status == "unhedged" or (longs > 0 and shorts > 0)


def test_funding_totals_per_venue_and_asset():
    pays = [
        FundingPayment("okx", "ETH", "ETH-USDT-SWAP", 1.5, "USDT", 1),
        FundingPayment("okx", "ETH", "ETH-USDT-SWAP", -0.5, "USDT", 2),
        FundingPayment("okx", "BTC", "BTC-USDT-SWAP", 3.0, "USDT", 3),
        FundingPayment("bybit", "ETH", "ETHUSDT", -2.0, "USDT", 4),
    ]
    assert funding_totals(pays) == {"bybit": {"ETH": -2.0}, "okx": {"BTC": 3.0, "ETH": 1.0}}


def test_positions_reply_flags_the_unhedged_leg_and_is_valid_html():
    text = positions_html(
        {"bybit": [pos("bybit", "ETH", "long", 2.0, 3000.0, 12.5),
                   pos("bybit", "BTC", "long", 0.1)],
         "okx": [pos("okx", "ETH", "short", 2.0, 3000.0, -2.5)]},
        {"binance": "binance /fapi/v2/positionRisk: key refused: HTTP 401 <html>"},
        NOW,
    )  # fmt: skip
    check_html(text)
    assert "⚠ BTC: long 0.1 on bybit has no short leg" in text
    assert "<b>ETH</b> ✅ hedged · net +0 ETH (+$0) · uPnL +10.00" in text
    assert "bybit long 2 @ 3,000.00" in text
    assert "⚠ binance /fapi/v2/positionRisk: key refused: HTTP 401 &lt;html&gt;" in text


@pytest.mark.parametrize(
    ("x", "text"),
    [(2.0, "2"), (0.1234, "0.1234"), (12_000_000.0, "12,000,000"), (1.23456789, "1.23457"),
     (0.00012345678, "0.000123457")],
)  # fmt: skip
def test_coin_amounts_have_no_exponent_and_no_trailing_zeros(x, text):
    assert coins(x) == text

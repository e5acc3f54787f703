"""The carry math of the README's "The numbers": worked examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.models import Quote
from arb.spread import (
    DEFAULT_TAKER_FEES,
    ScanParams,
    apr_net,
    eligible,
    fees_round_trip,
    opportunity,
    scan,
)

NOW = 1_789_015_942.967
FEES = {"a": 0.0005, "b": 0.00055, "c": 0.0004}


def quote(venue="a", rate=0.0001, interval_h=8.0, asset="BTC", mark=100.0, **kw) -> Quote:
    fields = dict(
        venue=venue,
        asset=asset,
        symbol=f"{asset}-{venue}",
        rate=rate,
        interval_h=interval_h,
        next_funding_time=None,
        mark_price=mark,
        turnover_24h=1e9,
        open_interest_value=None,
        received_at=NOW,
    )
    fields.update(kw)
    return Quote(**fields)


def test_worked_example_mixed_intervals_and_signs():
    # Short leg: +0.0003 per 1 h. Long leg: -0.0004 per 4 h = -0.0001 per hour.
    short = quote("a", 0.0003, 1.0, mark=100.1)
    long = quote("b", -0.0004, 4.0, mark=100.0)
    o = opportunity(long, short, FEES, 168)
    assert (o.short.venue, o.long.venue) == ("a", "b")
    assert o.spread_hourly == pytest.approx(0.0004, abs=1e-15)
    assert o.spread_8h == pytest.approx(0.0032, abs=1e-15)
    assert o.apr_gross == pytest.approx(0.0004 * 8760, abs=1e-12)
    assert o.fees_round_trip == pytest.approx(2 * (0.00055 + 0.0005), abs=1e-15)
    assert o.breakeven_h == pytest.approx(0.0021 / 0.0004, abs=1e-9)
    assert o.apr_net == pytest.approx((0.0004 * 168 - 0.0021) / 168 * 8760, abs=1e-12)
    assert o.basis_bps == pytest.approx((100.1 - 100.0) / 100.0 * 1e4, abs=1e-9)


def test_basis_compares_unit_prices_across_multipliers():
    short = quote("a", 0.0002, mark=0.0036339, multiplier=1000.0)  # 1000PEPE contract
    long = quote("b", 0.0001, mark=0.0000036337)  # per coin
    o = opportunity(short, long, FEES, 168)
    assert o.basis_bps == pytest.approx((0.0000036339 - 0.0000036337) / 0.0000036337 * 1e4)


def test_missing_mark_means_no_basis_not_zero():
    o = opportunity(quote("a", mark=None), quote("b"), FEES, 168)
    assert o.basis_bps is None


def test_equal_rates_have_no_breakeven():
    o = opportunity(quote("a"), quote("b"), FEES, 168)
    assert o.spread_hourly == 0 and o.breakeven_h is None
    assert o.apr_net == pytest.approx(-o.fees_round_trip / 168 * 8760)


def test_unknown_venue_fee_is_an_error_not_zero():
    with pytest.raises(ValueError, match="no taker fee"):
        opportunity(quote("a"), quote("zzz"), FEES, 168)


def test_scan_ranks_by_net_then_gross_and_keeps_best_pair_per_asset():
    quotes = [
        quote("a", 0.0010, asset="HOT"),
        quote("b", 0.0000, asset="HOT"),
        quote("c", -0.0002, asset="HOT"),
        quote("a", 0.0002, asset="MILD"),
        quote("c", 0.0001, asset="MILD"),
    ]
    found = scan(quotes, ScanParams(taker_fees=FEES), NOW)
    assert [(o.asset, o.long_venue, o.short_venue) for o in found] == [
        ("HOT", "c", "a"),
        ("MILD", "c", "a"),
    ]
    every = scan(quotes, ScanParams(taker_fees=FEES, best_per_asset=False), NOW)
    assert len(every) == 4
    assert [o.apr_net for o in every] == sorted((o.apr_net for o in every), reverse=True)


def test_scan_never_pairs_a_venue_with_itself():
    quotes = [quote("a", 0.001, symbol="BTCUSDT"), quote("a", 0.0, symbol="BTCPERP")]
    assert scan(quotes, ScanParams(taker_fees=FEES), NOW) == []


def test_filters_turnover_age_and_min_apr():
    params = ScanParams(taker_fees=FEES, min_turnover_24h=1e6, max_quote_age_s=60)
    assert not eligible(quote(turnover_24h=999_999.0), params, NOW)
    assert eligible(quote(turnover_24h=None), params, NOW)  # unknown is not zero
    assert not eligible(quote(received_at=NOW - 61), params, NOW)
    assert eligible(quote(received_at=NOW - 59), params, NOW)
    quotes = [quote("a", 0.0010), quote("b", 0.0)]
    o = scan(quotes, params, NOW)[0]
    assert scan(quotes, ScanParams(taker_fees=FEES, min_apr=o.apr_net + 1e-9), NOW) == []
    assert scan(quotes, ScanParams(taker_fees=FEES, min_apr=o.apr_net - 1e-9), NOW) == [o]


def test_default_fees_cover_every_venue():
    assert set(DEFAULT_TAKER_FEES) >= {"bybit", "binance", "okx", "hyperliquid"}
    assert fees_round_trip(0.0005, 0.00055) == pytest.approx(0.0021)


# --- properties --------------------------------------------------------------

rates = st.floats(min_value=-0.03, max_value=0.03, allow_nan=False)
intervals = st.sampled_from([1.0, 2.0, 4.0, 8.0])
venues = st.sampled_from(sorted(FEES))
marks = st.one_of(st.none(), st.floats(min_value=1e-8, max_value=1e6))


@st.composite
def quote_pairs(draw):
    va, vb = draw(st.lists(venues, min_size=2, max_size=2, unique=True))
    a = quote(va, draw(rates), draw(intervals), mark=draw(marks))
    b = quote(vb, draw(rates), draw(intervals), mark=draw(marks))
    return a, b


@given(quote_pairs(), st.floats(min_value=1, max_value=8760))
def test_spread_is_never_negative(pair, horizon):
    o = opportunity(*pair, FEES, horizon)
    assert o.spread_hourly >= 0 and o.spread_8h >= 0 and o.apr_gross >= 0
    assert o.short.hourly >= o.long.hourly


@given(quote_pairs(), st.floats(min_value=1, max_value=8760))
def test_venue_order_does_not_matter(pair, horizon):
    a, b = pair
    assert opportunity(a, b, FEES, horizon) == opportunity(b, a, FEES, horizon)


@given(quote_pairs())
def test_scan_result_does_not_depend_on_input_order(pair):
    a, b = pair
    params = ScanParams(taker_fees=FEES)
    assert scan([a, b], params, NOW) == scan([b, a], params, NOW)


@given(rates, intervals, st.sampled_from([0.5, 2.0, 4.0, 8.0]))
def test_scaling_rate_and_interval_together_keeps_hourly(rate, interval, k):
    assert quote(rate=rate * k, interval_h=interval * k).hourly == pytest.approx(
        quote(rate=rate, interval_h=interval).hourly, rel=1e-12, abs=1e-18
    )


@given(rates)
def test_a_1h_quotes_apr_is_8x_an_8h_quotes_with_the_same_rate(rate):
    assert quote(rate=rate, interval_h=1.0).apr == pytest.approx(
        8 * quote(rate=rate, interval_h=8.0).apr, rel=1e-12, abs=1e-15
    )


@given(quote_pairs(), st.floats(min_value=1, max_value=8760))
def test_net_is_never_above_gross(pair, horizon):
    o = opportunity(*pair, FEES, horizon)
    assert o.apr_net <= o.apr_gross
    assert o.apr_net == pytest.approx(apr_net(o.spread_hourly, o.fees_round_trip, horizon))


@settings(max_examples=50)
@given(st.lists(quote_pairs(), min_size=1, max_size=6))
def test_scan_is_sorted_by_net_then_gross(pairs):
    quotes = [
        q
        for i, (a, b) in enumerate(pairs)
        for q in (
            quote(a.venue, a.rate, a.interval_h, asset=f"X{i}"),
            quote(b.venue, b.rate, b.interval_h, asset=f"X{i}"),
        )
    ]
    found = scan(quotes, ScanParams(taker_fees=FEES), NOW)
    keys = [(o.apr_net, o.apr_gross) for o in found]
    assert keys == sorted(keys, reverse=True)
    assert len({o.asset for o in found}) == len(found)

"""Funding history: step functions, pair figures by hand, storage and pruning, the chart."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.chart import png_size, render_chart
from arb.history import (
    HOUR_S,
    Point,
    apr_steps,
    from_quote,
    from_settlements,
    history_report,
    pair_stats,
    value_at,
)
from arb.models import Quote
from arb.venues.base import FundingPoint
from storage.db import Database
from storage.history import SCAN, SETTLED, HistoryRecorder, HistoryStore

NOW = 1_789_015_200.0  # a whole hour
H = HOUR_S
MS_H = 3_600_000


def hourly_points(start_h: int, rates: list[float]) -> list[Point]:
    """One point per hour from NOW + start_h hours, 1 h interval, the given hourly rates."""
    return [Point(NOW + (start_h + i) * H, r, 1.0) for i, r in enumerate(rates)]


# --- settled history ---------------------------------------------------------------


def test_settlements_sit_at_the_start_of_the_interval_they_paid_for():
    t = int(NOW * 1000)
    settled = [FundingPoint(t, 0.0001), FundingPoint(t + 8 * MS_H, 0.0002),
               FundingPoint(t + 12 * MS_H, 0.0004)]  # fmt: skip
    points = from_settlements(settled, fallback_interval_h=8.0)
    # first: the next gap says 8 h; the third: 4 h after the second, so a 4 h interval
    assert [(p.at - NOW) / H for p in points] == [-8.0, 0.0, 8.0]
    assert [p.interval_h for p in points] == [8.0, 8.0, 4.0]
    assert [p.hourly for p in points] == pytest.approx([0.0000125, 0.000025, 0.0001])


def test_hyperliquid_history_is_already_hourly():
    t = int(NOW * 1000)
    points = from_settlements([FundingPoint(t, 0.0000125)], 8.0, hourly_rates=True)
    assert points == [Point(NOW - H, 0.0000125, 1.0)]


def test_a_live_rate_sits_at_the_start_of_the_interval_it_will_pay_for():
    q = Quote("okx", "ETH", "ETH-USDT-SWAP", 0.0004, 4.0, int((NOW + 3 * H) * 1000), 2000.0,
              1e9, None, NOW)  # fmt: skip
    assert from_quote(q) == Point(NOW - H, 0.0001, 4.0)
    far = Quote("okx", "ETH", "ETH-USDT-SWAP", 0.0004, 4.0, int((NOW + 9 * H) * 1000), 2000.0,
                1e9, None, NOW)  # fmt: skip
    assert from_quote(far).at == NOW  # a next funding time that makes no sense is not used


def test_a_point_holds_for_its_interval_and_no_longer():
    series = [Point(NOW, 0.001, 8.0), Point(NOW + 2 * H, 0.002, 1.0)]
    assert value_at(series, NOW - 1) is None
    assert value_at(series, NOW + H) == 0.001
    assert value_at(series, NOW + 2.5 * H) == 0.002
    assert value_at(series, NOW + 3 * H) is None  # the 1 h point has run out: a gap


# --- pair figures, by hand -------------------------------------------------------------


def test_pair_stats_by_hand():
    # Over the last 24 h: long pays 0.001%/h throughout; short pays 0.005%/h for 12 h,
    # then 0.002%/h. Spread: 0.004%/h for 12 h, 0.001%/h for 12 h.
    #   average 0.0025%/h = 0.0200% per 8 h; minimum 0.001%/h = 0.0080% per 8 h;
    #   earned 0.004% x 12 + 0.001% x 12 = 0.0600% of notional;
    #   threshold 0.0100% per 8 h = 0.00125%/h: only the first 12 h are above, 50 %.
    history = {
        "okx": hourly_points(-24, [0.00001] * 24),
        "bybit": hourly_points(-24, [0.00005] * 12 + [0.00002] * 12),
    }
    s = pair_stats(history, "okx", "bybit", NOW, 24.0, threshold_8h=0.0001)
    assert s.covered_h == 24.0
    assert s.avg_spread_8h == pytest.approx(0.0002)
    assert s.min_spread_8h == pytest.approx(0.00008)
    assert s.earned == pytest.approx(0.0006)
    assert (s.share_above, s.share_positive) == (0.5, 1.0)


def test_pair_stats_skip_gaps_and_time_outside_the_window():
    # bybit has nothing for 6 h in the middle; the 7 d window holds only the last 24 h.
    rates = [0.00005] * 24
    history = {
        "okx": hourly_points(-24, [0.00001] * 24),
        "bybit": [p for i, p in enumerate(hourly_points(-24, rates)) if not 6 <= i < 12],
    }
    s = pair_stats(history, "okx", "bybit", NOW, 168.0, threshold_8h=1.0)
    assert s.covered_h == 18.0
    assert s.earned == pytest.approx(0.00004 * 18)
    assert s.avg_spread_8h == pytest.approx(0.00032)
    assert s.share_above == 0.0


def test_no_overlap_means_no_figures():
    s = pair_stats({"okx": hourly_points(-24, [0.0001])}, "okx", "bybit", NOW, 24.0, 0.0001)
    assert (s.covered_h, s.avg_spread_8h, s.share_above, s.earned) == (0.0, None, None, 0.0)


rate_lists = st.lists(st.floats(-0.001, 0.001, allow_nan=False), min_size=1, max_size=48)


@given(rate_lists, rate_lists, st.floats(-0.01, 0.01, allow_nan=False))
def test_pair_stats_are_consistent(long_rates, short_rates, threshold):
    history = {"a": hourly_points(-48, long_rates), "b": hourly_points(-48, short_rates)}
    s = pair_stats(history, "a", "b", NOW, 48.0, threshold)
    assert s.covered_h == pytest.approx(min(len(long_rates), len(short_rates)))
    assert 0 <= s.share_above <= 1 and 0 <= s.share_positive <= 1
    assert s.min_spread_8h <= s.avg_spread_8h + 1e-12
    assert s.earned == pytest.approx(s.avg_spread_8h / 8 * s.covered_h, abs=1e-12)


def test_apr_steps_break_the_line_at_a_gap():
    series = [Point(NOW, 0.0001, 1.0), Point(NOW + 3 * H, 0.0002, 1.0)]
    steps = apr_steps(series, NOW - H, NOW + 10 * H)
    assert steps == [
        (NOW, pytest.approx(0.876)), (NOW + H, pytest.approx(0.876)),
        (NOW + H, None),
        (NOW + 3 * H, pytest.approx(1.752)), (NOW + 4 * H, pytest.approx(1.752)),
    ]  # fmt: skip


def quote(venue: str, rate: float) -> Quote:
    return Quote(venue, "ETH", f"ETH-{venue}", rate, 8.0, None, 2000.0, 1e9, None, NOW)


def test_history_report_orients_pairs_as_now_and_puts_the_best_first():
    quotes = [quote("okx", 0.0001), quote("bybit", 0.0003), quote("binance", 0.0002)]
    history = {q.venue: hourly_points(-24, [q.hourly] * 24) for q in quotes}
    r = history_report("ETH", history, quotes, None, NOW, 0.0001)
    assert [(p.long, p.short) for p in r.pairs] == [
        ("okx", "bybit"), ("okx", "binance"), ("binance", "bybit"),
    ]  # fmt: skip
    assert r.pairs[0].windows["24h"].avg_spread_8h == pytest.approx(0.0002)


# --- storage and pruning ------------------------------------------------------------


@pytest.fixture
async def store(tmp_path):
    db = await Database.open(str(tmp_path / "h.db"))
    try:
        yield HistoryStore(db)
    finally:
        await db.close()


async def test_scans_are_kept_at_their_cadence_and_settled_rows_never_overwrite_them(store):
    rec = HistoryRecorder(store, every_s=900, keep_days=30)
    q = [quote("okx", 0.0001), quote("bybit", 0.0003)]
    assert await rec.record(q, NOW) == 2
    assert await rec.record(q, NOW + 60) == 0  # not due yet
    settled = [("ETH", "okx", Point(NOW, 0.5, 8.0)), ("ETH", "okx", Point(NOW - 8 * H, 0.1, 8.0))]
    await store.save(settled, SETTLED)
    got = await store.series("ETH", NOW - 24 * H, NOW)
    assert [(p.at, p.hourly) for p in got["okx"]] == [(NOW - 8 * H, 0.1), (NOW, 0.0001 / 8)]
    assert SCAN != SETTLED and await store.count() == 3


async def test_pruning_keeps_exactly_what_the_retention_promises(store):
    rows = [("ETH", "okx", Point(NOW - d * 86_400 - 1, 0.0001, 8.0)) for d in range(40)]
    rows.append(("ETH", "okx", Point(NOW - 30 * 86_400, 0.0001, 8.0)))  # exactly 30 days old
    await store.save(rows)
    rec = HistoryRecorder(store, every_s=0, keep_days=30)
    await rec.record([], NOW)
    kept = (await store.series("ETH", NOW - 60 * 86_400, NOW))["okx"]
    ages = sorted((NOW - p.at) / 86_400 for p in kept)
    assert ages[-1] == 30.0 and len(ages) == 31  # 0..29 days (+1 s) and the 30-day row
    await rec.record([], NOW + 3600)  # pruned once a day, not on every cycle
    assert await store.count() == 31


# --- the chart -----------------------------------------------------------------------------


async def test_chart_renders_stored_history_into_a_phone_sized_png(store, tmp_path):
    start = NOW - 7 * 24 * H
    rows = []
    for i in range(7 * 24 * 4):  # a snapshot every 15 minutes for 7 days
        t = start + i * 900
        wave = 0.00002 * ((i // 96) % 3)
        rows += [
            ("ETH", "okx", Point(t, 0.00001 + wave, 8.0)),
            ("ETH", "bybit", Point(t, 0.00004 + wave / 2, 8.0)),
            ("ETH", "hyperliquid", Point(t, 0.000005, 1.0)),
        ]
    await store.save(rows)
    history = await store.series("ETH", start, NOW)
    png = render_chart("ETH", history, start, NOW, "7d", ("okx", "bybit"), {"hyperliquid": "hl"})
    assert png_size(png) == (1280, 800)
    assert len(png) > 20_000
    (tmp_path / "eth.png").write_bytes(png)


def test_png_size_rejects_what_is_not_a_png():
    with pytest.raises(ValueError):
        png_size(b"GIF89a" + bytes(30))

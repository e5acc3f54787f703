"""Funding history: step functions, pair figures by hand, storage and pruning, the chart."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.chart import (
    FILL_ALPHA,
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    SHADE_ALPHA,
    png_size,
    render_chart,
)
from arb.history import (
    HOUR_S,
    Pending,
    Point,
    apr_steps,
    from_quote,
    from_quotes,
    from_settlements,
    history_report,
    live_point,
    pair_stats,
    pending_carry,
    recorded_points,
    value_at,
    with_live,
)
from arb.models import Opportunity, Quote
from arb.venues.base import FundingPoint
from bot.render_history import chart_caption, history_html
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


def test_a_stored_scan_sits_at_the_start_of_the_interval_it_will_pay_for():
    q = Quote("okx", "ETH", "ETH-USDT-SWAP", 0.0004, 4.0, int((NOW + 3 * H) * 1000), 2000.0,
              1e9, None, NOW)  # fmt: skip
    assert from_quote(q) == Point(NOW - H, 0.0001, 4.0)
    far = Quote("okx", "ETH", "ETH-USDT-SWAP", 0.0004, 4.0, int((NOW + 9 * H) * 1000), 2000.0,
                1e9, None, NOW)  # fmt: skip
    assert from_quote(far).at == NOW  # a next funding time that makes no sense is not used


def okx_quote(rate_8h: float, received_at: float, next_funding: float | None) -> Quote:
    next_ms = None if next_funding is None else int(next_funding * 1000)
    return Quote("okx", "ETH", "ETH-USDT-SWAP", rate_8h, 8.0, next_ms, 2000.0, 1e9, None,
                 received_at)  # fmt: skip


def test_a_live_rate_starts_when_it_was_seen_not_at_its_interval_start():
    # The record holds 0.00003/h for the 8 h interval from NOW (a scan's prediction). Three
    # hours in, the venue predicts 0.0008 per 8 h: 0.0001/h from then to the end of the
    # interval, and the three hours before keep what was recorded.
    stored = {"okx": [Point(NOW - 8 * H, 0.00002, 8.0), Point(NOW, 0.00003, 8.0)]}
    q = okx_quote(0.0008, NOW + 3 * H, NOW + 8 * H)
    assert live_point(q) == Point(NOW + 3 * H, 0.0001, 8.0, ends=NOW + 8 * H)
    assert from_quote(q) == Point(NOW, 0.0001, 8.0)  # where a scan stores it
    series = with_live(stored, [q])["okx"]
    assert series == [*stored["okx"], Point(NOW + 3 * H, 0.0001, 8.0, ends=NOW + 8 * H)]
    assert value_at(series, NOW + 2.9 * H) == 0.00003  # the past part is not rewritten
    assert value_at(series, NOW + 3 * H) == 0.0001
    assert value_at(series, NOW + 8 * H) is None  # the interval ended: the next is unknown
    assert apr_steps(series, NOW, NOW + 4 * H) == [
        (NOW, pytest.approx(0.2628)), (NOW + 3 * H, pytest.approx(0.2628)),
        (NOW + 3 * H, pytest.approx(0.876)), (NOW + 4 * H, pytest.approx(0.876)),
    ]  # fmt: skip
    # Without a usable next funding time it holds one interval from when it was seen.
    assert live_point(okx_quote(0.0008, NOW, None)).until == NOW + 8 * H
    assert live_point(okx_quote(0.0008, NOW, NOW + 9 * H)).until == NOW + 8 * H
    # Live points are not the record: a chart with nothing else has nothing to draw.
    assert recorded_points(with_live({}, [q]), NOW, NOW + 4 * H) == {"okx": 0}
    assert recorded_points({"okx": series}, NOW - 24 * H, NOW + 4 * H) == {"okx": 2}


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


# --- coverage, paid and expected carry ---------------------------------------------------

T8 = 1_788_998_400.0  # the start of an 8 h funding interval (a multiple of 8 h)


def in_progress_at_2h30():
    """Long okx (8 h intervals), short bybit (1 h), 2.5 h into the okx interval from T8.

    okx paid 0.00001/h for [T8-16h, T8-8h) and 0.00002/h for [T8-8h, T8); for the interval
    in progress a scan stored 0.00003/h, and the live rate, seen at T8+2h, is 0.0004 per
    8 h = 0.00005/h. bybit paid 0.0001/h every hour from T8-16h to T8+2h; its hour in
    progress was stored at 0.0001/h, and the live rate, seen at T8+2h15, is 0.00012/h.
    """
    okx = [Point(T8 - 16 * H, 0.00001, 8.0), Point(T8 - 8 * H, 0.00002, 8.0),
           Point(T8, 0.00003, 8.0)]  # fmt: skip
    bybit = [Point(T8 + (h - 16) * H, 0.0001, 1.0) for h in range(19)]
    live = [
        okx_quote(0.0004, T8 + 2 * H, T8 + 8 * H),
        Quote("bybit", "ETH", "ETHUSDT", 0.00012, 1.0, int((T8 + 3 * H) * 1000), 2000.0, 1e9,
              None, T8 + 2.25 * H),
    ]  # fmt: skip
    return with_live({"okx": okx, "bybit": bybit}, live)


def test_earned_counts_paid_funding_and_the_interval_in_progress_is_expected():
    now = T8 + 2.5 * H
    history = in_progress_at_2h30()
    s = pair_stats(history, "okx", "bybit", now, 24.0, threshold_8h=0.0)
    # Both legs known from T8-16h: 18.5 h of the 24 h window.
    assert s.covered_h == 18.5 and s.partial  # 77 % of the window
    # Paid on both legs up to T8 only (okx pays its interval at T8+8h):
    #   (0.0001 - 0.00001) x 8 + (0.0001 - 0.00002) x 8 = 0.00072 + 0.00064 = 0.00136
    assert s.settled_h == 16.0
    assert s.earned == pytest.approx(0.00136, abs=1e-15)
    # Expected, if the rates hold, from T8 to okx's funding at T8+8h: okx is charged its live
    # rate for the whole interval (0.00005/h); bybit paid 0.0001/h for two hours, then its
    # live 0.00012/h: 0.00005 x 2 + 0.00007 x 6 = 0.0001 + 0.00042 = 0.00052.
    p = pending_carry(history, "okx", "bybit", now)
    assert p == Pending(T8, T8 + 8 * H, pytest.approx(0.00052, abs=1e-15), 8.0)
    # Cash, leg by leg: bybit receives 2 x 0.0001 + 6 x 0.00012, okx pays 0.0004.
    assert p.carry == pytest.approx(0.0002 + 0.00072 - 0.0004)

    # Once okx's interval is paid at T8+8h (the rates held), that carry is earned.
    after = T8 + 8.5 * H
    paid = {
        "okx": [*history["okx"][:2], Point(T8, 0.00005, 8.0)],
        "bybit": [*history["bybit"][:18], *(Point(T8 + h * H, 0.00012, 1.0) for h in range(2, 8))],
    }
    later = with_live(paid, [okx_quote(0.0004, after, T8 + 16 * H)])
    s2 = pair_stats(later, "okx", "bybit", after, 24.0, threshold_8h=0.0)
    # okx's live rate holds until T8+16h, bybit's record ends at T8+8h: paid up to T8+8h.
    assert s2.settled_h == 24.0 - 0.5
    window_start = after - 24 * H  # T8-15.5h: half an hour of the first okx interval is out
    assert window_start == T8 - 15.5 * H
    assert s2.earned == pytest.approx(0.00009 * 7.5 + 0.00064 + 0.00052, abs=1e-15)
    assert pending_carry(later, "okx", "bybit", after) is None  # bybit: no hour in progress


def test_coverage_is_stated_and_a_short_record_is_partial_and_the_same_in_every_window():
    # 3.3 hours of both legs, ending now: every window rests on the same 3.3 hours.
    now = T8
    history = {
        v: [Point(now - 3.3 * H + i * 0.3 * H, r, 1.0) for i in range(11)]
        for v, r in (("okx", 0.00001), ("bybit", 0.00004))
    }
    w = [pair_stats(history, "okx", "bybit", now, hours, 0.0001) for hours in (24, 168, 720)]
    assert [s.covered_h for s in w] == pytest.approx([3.3, 3.3, 3.3])
    assert [s.partial for s in w] == [True, True, True]
    assert w[1].same_data(w[0]) and w[2].same_data(w[1])
    # A full day: the day is whole, the week and the month rest on it alone.
    day = {v: hourly_points(-24, [r] * 24) for v, r in (("okx", 0.00001), ("bybit", 0.00004))}
    d = [pair_stats(day, "okx", "bybit", NOW, hours, 0.0001) for hours in (24, 168, 720)]
    assert [(s.covered_h, s.partial) for s in d] == [(24, False), (24, True), (24, True)]
    assert not d[0].same_data(d[1]) and d[1].same_data(d[0])
    # 80 % is enough: 19.2 h of 24 is not partial, a second less is.
    for first, partial in ((NOW - 19.2 * H, False), (NOW - 19.2 * H + 1, True)):
        edge = {
            v: [Point(first, r, 8.0), Point(NOW - 11.2 * H, r, 8.0), Point(NOW - 3.2 * H, r, 8.0)]
            for v, r in (("okx", 0.0), ("bybit", 0.00001))
        }
        assert pair_stats(edge, "okx", "bybit", NOW, 24, 0.0).partial is partial


def opportunity(long: Quote, short: Quote, fees: float) -> Opportunity:
    spread = short.hourly - long.hourly
    return Opportunity(
        asset=long.asset, long=long, short=short, spread_hourly=spread, spread_8h=spread * 8,
        apr_gross=spread * 8760, fees_round_trip=fees, breakeven_h=fees / spread, apr_net=0.0,
        horizon_h=168.0, basis_bps=None,
    )  # fmt: skip


def test_three_hours_of_history_are_marked_not_shown_as_three_windows():
    """/history and the /chart caption from 3.3 hours of data (long okx 0.0001/h, short hl
    0.0004/h): every figure partial, the longer windows '=', the coverage stated."""
    now = T8 + 0.3 * H
    q = [Quote(v, "ETH", f"ETH-{v}", r, 1.0, int((T8 + H) * 1000), 2000.0, 1e9, None, now)
         for v, r in (("okx", 0.0001), ("hyperliquid", 0.0004))]  # fmt: skip
    stored = {x.venue: [Point(T8 + (h - 3) * H, x.hourly, 1.0) for h in range(4)] for x in q}
    history = with_live(stored, q)
    best = opportunity(q[0], q[1], fees=0.002)
    r = history_report("ETH", history, q, best, now, 0.002)
    html = history_html(r, own_threshold=True, errors=[])
    assert html.split("\n")[1:] == [
        "Average spread per 8h, each pair the way it would be entered now:",
        "<pre>long/short      24h 7d 30d",
        "okx/hl     0.2400%* =   =</pre>",
        "* partial: both legs known for under 80% of the window",
        "= same data as the column to its left: nothing older is known",
        "Best now, long okx / short hl: share of time at or above this chat's 0.2000% alert, "
        "and the carry it earned (paid funding only):",
        "<pre>             24h    7d   30d",
        "above      100%*    =     =",
        "earned    0.09%*    =     =",  # three paid hours of 0.0003/h
        "net fees -0.11%*    =     =",
        "covers     3.3h  3.3h  3.3h</pre>",
        "Not paid yet: 0.03% expected by 01:00 UTC if the rates hold (the funding in progress).",
    ]
    caption = chart_caption("ETH", "7d", best, r.pairs[0].windows["7d"], 0.002, [],
                            r.pairs[0].pending).split("\n")  # fmt: skip
    assert caption[2:] == [
        "7d*: avg 0.2400%/8h · ≥ 0.2000% 100% of the time",
        "Earned* 0.09% over 3.0h paid · 0.03% expected by 01:00 UTC",
        "* partial: covers 3.3h of 7d",
    ]


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
    assert await rec.record(from_quotes(q), NOW) == 2
    assert await rec.record(from_quotes(q), NOW + 60) == 0  # not due yet
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


def shade_pixels(png: bytes, color: str, alpha: float) -> int:
    """How many pixels have `color` at `alpha` over the white plot background."""
    import io

    import numpy as np
    from matplotlib.colors import to_rgb
    from matplotlib.image import imread

    img = imread(io.BytesIO(png), format="png")[..., :3]
    want = np.array([alpha * c + (1 - alpha) for c in to_rgb(color)])
    return int(np.all(np.abs(img - want) <= 1.5 / 255, axis=-1).sum())


def test_the_chart_shades_negative_carry_red_and_positive_green():
    # Short bybit pays more than long okx for 12 h, then less for 12 h.
    history = {
        "okx": hourly_points(-24, [0.00002] * 24),
        "bybit": hourly_points(-24, [0.00005] * 12 + [-0.00001] * 12),
        "hyperliquid": hourly_points(-24, [0.00001] * 24),
    }
    png = render_chart("ETH", history, NOW - 24 * H, NOW, "24h", ("okx", "bybit"))
    assert png_size(png) == (1280, 800)
    for alpha in (SHADE_ALPHA, FILL_ALPHA):  # between the legs, and under the spread line
        assert shade_pixels(png, NEGATIVE_COLOR, alpha) > 5_000
        assert shade_pixels(png, POSITIVE_COLOR, alpha) > 5_000
    always = {**history, "bybit": hourly_points(-24, [0.00005] * 24)}
    png = render_chart("ETH", always, NOW - 24 * H, NOW, "24h", ("okx", "bybit"))
    assert shade_pixels(png, NEGATIVE_COLOR, FILL_ALPHA) == 0
    assert shade_pixels(png, POSITIVE_COLOR, FILL_ALPHA) > 5_000


@pytest.mark.parametrize("days", [1, 7, 30])
def test_date_ticks_stay_few_enough_to_read_on_a_phone(days):
    from matplotlib.figure import Figure

    seen = {}

    def keep(self, *args, **kwargs):
        drawn = original(self, *args, **kwargs)
        seen["labels"] = [
            t.get_text() for ax in self.axes for t in ax.get_xticklabels() if t.get_text()
        ]
        return drawn

    original = Figure.savefig
    history = {
        "okx": hourly_points(-24 * days, [0.00001] * 24 * days),
        "bybit": hourly_points(-24 * days, [0.00003] * 24 * days),
    }
    try:
        Figure.savefig = keep
        render_chart("ETH", history, NOW - days * 24 * H, NOW, f"{days}d", ("okx", "bybit"))
    finally:
        Figure.savefig = original
    # Labelled once (under the spread panel), 4 to 8 of them, all different.
    assert 4 <= len(seen["labels"]) <= 8
    assert len(set(seen["labels"])) == len(seen["labels"])


def test_png_size_rejects_what_is_not_a_png():
    with pytest.raises(ValueError):
        png_size(b"GIF89a" + bytes(30))

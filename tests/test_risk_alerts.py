"""What the risk watch tells the desk (`arb.risk_alerts.plan_risk`): each key's crossing, its
re-arm and its gap worked read by read, what an alert says, and properties over random
sequences of reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arb.accounts.models import Position
from arb.market import MarketSnapshot
from arb.models import Quote
from arb.risk import RiskParams, RiskReport, assess
from arb.risk_alerts import RiskAlert, RiskKey, RiskState, plan_risk, scope_parts
from arb.venues.registry import NAMES

T0 = 1_789_015_200.0
V1, V2, V3 = NAMES[0], NAMES[1], NAMES[2]
FEES = {V1: 0.00055, V2: 0.0005, V3: 0.0005}
PARAMS = RiskParams(
    fees=FEES, horizon_h=168.0, liq_warn_pct=15.0, liq_crit_pct=7.0, exit_apr=0.05,
    max_drift_pct=5.0, unreadable_s=180.0, min_gap_s=900.0,
)  # fmt: skip
LONG = f"BTC {V1} BTC-{V1} long"  # the scope of BTC's long leg
SHORT = f"BTC {V2} BTC-{V2} short"


def leg(venue, side, size=1.0, distance=30.0, asset="BTC", mark=100.0, **kw) -> Position:
    """A leg `distance` % from liquidation: below the mark for a long, above for a short."""
    liq = mark * (1 - distance / 100) if side == "long" else mark * (1 + distance / 100)
    fields = dict(venue=venue, asset=asset, symbol=f"{asset}-{venue}", side=side, size=size,
                  entry_price=mark, mark_price=mark, unrealised_pnl=0.0, leverage=10.0,
                  liquidation_price=liq, margin_mode="cross")  # fmt: skip
    return Position(**{**fields, **kw})


def quote(venue, rate, asset="BTC") -> Quote:
    return Quote(venue, asset, f"{asset}-{venue}", rate, 1.0, None, 100.0, 1e9, None, T0)


def carry_quotes(held_apr: float) -> tuple[Quote, Quote]:
    """Quotes of BTC's legs (long V1, short V2, hourly rates) whose held carry nets
    `held_apr` after the exit fees.

    held_apr = (spread_h x 168 - exit fees) / 168 x 8760 with exit fees = 0.00055 + 0.0005 =
    0.00105, so spread_h = (held_apr + 0.00105 / 168 x 8760) / 8760 = (held_apr + 0.05475)
    / 8760.
    """
    return quote(V1, 0.0), quote(V2, (held_apr + 0.05475) / 8760)


def read(*legs: Position, errors=(), quotes=(), venues=(V1, V2, V3), now=T0) -> RiskReport:
    """A report of these legs with every venue in `venues` read, but those in `errors`."""
    positions = {v: [p for p in legs if p.venue == v] for v in venues if v not in errors}
    failed = {v: f"{v} /positions: HTTP 503" for v in errors}
    return assess(positions, {}, failed, MarketSnapshot(tuple(quotes), (), now), PARAMS, now)


@dataclass
class Watch:
    """The bot's side of it: the states kept between reads."""

    params: RiskParams = PARAMS
    states: dict[RiskKey, RiskState] = field(default_factory=dict)

    def read(self, report: RiskReport, now: float) -> list[RiskAlert]:
        alerts, changed = plan_risk(report, self.states, self.params, now)
        self.states.update(changed)
        return alerts

    def keys(self, report: RiskReport, now: float) -> list[tuple[str, str, str]]:
        return [(a.key.kind, a.key.scope, a.level) for a in self.read(report, now)]


def hedged(long_distance=30.0, short_distance=30.0, short_size=1.0, **kw) -> list[Position]:
    return [leg(V1, "long", 1.0, long_distance, **kw), leg(V2, "short", short_size,
                                                           short_distance, **kw)]  # fmt: skip


# --- liquidation --------------------------------------------------------------------------


def test_liquidation_warns_goes_critical_and_re_arms_past_the_margin():
    w = Watch()
    at = lambda d, t: w.keys(read(*hedged(long_distance=d), now=T0 + t), T0 + t)  # noqa: E731
    assert at(20, 0) == []  # 20 % away: nothing; no state for a key that never crossed
    assert RiskKey("liq_warn", LONG) not in w.states
    assert at(14, 60) == [("liq_warn", LONG, "warning")]  # 14 < 15
    assert at(13, 120) == []  # still under: no repeat
    assert at(6.5, 1000) == [("liq_crit", LONG, "critical")]  # 6.5 < 7
    assert at(8.3, 1060) == []  # 8.3 < 7 x 1.2 = 8.4: the critical key holds
    assert w.states[RiskKey("liq_crit", LONG)].active
    assert at(8.5, 1120) == []  # >= 8.4: re-armed, silently
    assert not w.states[RiskKey("liq_crit", LONG)].active
    assert at(6.0, 1200) == []  # crossed again 200 s after the last alert: waits for the gap
    assert at(6.0, 1900) == [("liq_crit", LONG, "critical")]  # 1900 - 1000 = 900 s: told
    assert at(17.9, 2000) == []  # the warning holds under 15 x 1.2 = 18
    assert at(18.5, 2100) == []  # re-armed
    assert not w.states[RiskKey("liq_warn", LONG)].active
    assert at(14, 3100) == [("liq_warn", LONG, "warning")]  # a new crossing, gap passed


def test_straight_to_critical_is_one_alert_that_says_the_warning_too():
    w = Watch()
    assert w.keys(read(*hedged(long_distance=5.0)), T0) == [("liq_crit", LONG, "critical")]
    warn = w.states[RiskKey("liq_warn", LONG)]
    assert warn.active and warn.last_sent_at is None  # counted, never sent
    # Back to 10 %: the critical re-arms (>= 8.4), the warning holds (< 18): nothing to say.
    assert w.keys(read(*hedged(long_distance=10.0), now=T0 + 60), T0 + 60) == []


def test_a_liquidation_alert_gives_the_figures_and_the_next_step():
    w = Watch()
    short = leg(V2, "short", 0.5, 6.2, mark=100_000.0, leverage=10.0, adl_rank=2)
    long = leg(V1, "long", 0.5, 19.5, mark=100_000.0, leverage=5.0, margin_mode="isolated")
    (alert,) = w.read(read(long, short), T0)
    assert (alert.key, alert.level) == (RiskKey("liq_crit", SHORT), "critical")
    # |100,000 - 106,200| / 100,000 = 6.2 %
    assert alert.lines == (
        f"BTC short on {V2} is 6.2% from liquidation (under 7%).",
        f"{V2} BTC-{V2} short 0.5 BTC: mark 100,000.0, liquidation 106,200.0, 10x cross, "
        "ADL rank 2/5.",
        f"Other side: long 0.5 BTC on {V1}, 19.5% from liquidation.",
    )
    assert alert.next_step == f"Add margin on {V2} or cut both legs of BTC by the same size."


def test_a_lone_leg_near_liquidation_is_told_to_add_margin_or_reduce_it():
    w = Watch()
    alerts = w.read(read(leg(V3, "short", 2.0, 12.0, asset="ETH")), T0)
    liq = [a for a in alerts if a.key.kind == "liq_warn"]
    assert len(liq) == 1
    assert liq[0].next_step == f"Add margin on {V3} or reduce the ETH short there."


# --- carry and drift ----------------------------------------------------------------------


def test_carry_under_the_exit_alerts_and_re_arms_two_points_above():
    w = Watch()
    at = lambda apr, t: w.keys(read(*hedged(), quotes=carry_quotes(apr), now=T0 + t), T0 + t)  # noqa: E731
    assert at(0.06, 0) == []  # 6 % >= the 5 % exit
    assert at(0.04, 60) == [("carry", "BTC", "warning")]
    assert w.states[RiskKey("carry", "BTC")].value == pytest.approx(0.04)
    assert at(0.06, 120) == []  # 6 % < 5 % + 2: holds
    assert at(0.08, 180) == []  # >= 7 %: re-armed
    assert not w.states[RiskKey("carry", "BTC")].active
    assert at(0.03, 240) == []  # within 900 s of the last alert: waits
    assert at(0.03, 960) == [("carry", "BTC", "warning")]


def test_a_carry_alert_gives_its_apr_and_next_settlement():
    w = Watch()
    (alert,) = w.read(read(*hedged(short_size=0.99), quotes=carry_quotes(-0.1)), T0)
    # The short V2 earns (-0.1 + 0.05475) / 8760 an hour = -0.0000051655 per 1 h interval
    # (gross -4.5 % APR): next settlement = -(-0.99 x 100) x -0.0000051655 + -(1 x 100) x 0
    # = -$0.00051, which rounds to $0.00
    assert alert.lines[0] == (
        f"BTC carry nets -10.0% APR after the exit fees, under the exit 5.0%: long {V1} / "
        f"short {V2}."
    )
    assert alert.lines[1] == (
        f"Funding now: long {V1} 0.0000% per 1h, short {V2} -0.0005% per 1h; gross -4.5% APR, "
        "exit fees 0.105% over 168 h."
    )
    assert alert.lines[2].startswith("Next settlement: $0.00")
    assert alert.next_step.startswith("Close both legs of BTC by the same size")


def test_drift_over_the_maximum_alerts_and_re_arms_at_four_fifths():
    w = Watch()
    at = lambda short, t: w.keys(read(*hedged(short_size=short), now=T0 + t), T0 + t)  # noqa: E731
    assert at(0.96, 0) == []  # (1 - 0.96) / 1 = 4 %
    assert at(0.94, 60) == [("drift", "BTC", "warning")]  # 6 % > 5 %
    assert at(0.955, 120) == []  # 4.5 % > 5 % x 0.8 = 4 %: holds
    assert at(0.97, 180) == []  # 3 %: re-armed
    assert at(0.9, 1000) == [("drift", "BTC", "warning")]


def test_a_drift_alert_gives_coins_usd_and_percent():
    w = Watch()
    (alert,) = w.read(read(*hedged(short_size=0.9)), T0)
    # 1.0 long - 0.9 short = +0.1 BTC x 100 = +$10.00; 0.1 / 1.0 = 10 %
    assert alert.lines[0] == (
        "BTC book drifts 10.0% of its larger side (max 5%): net long 0.1 BTC (+$10.00)."
    )
    assert alert.next_step == f"Cut 0.1 BTC from the long on {V1} or add it to the short on {V2}."


# --- legs that disappear, venues that cannot be read --------------------------------------


def test_a_leg_gone_while_its_book_is_open_is_critical_and_told_once():
    w = Watch()
    assert w.read(read(*hedged()), T0) == []
    alerts = w.read(read(leg(V1, "long")), T0 + 60)  # the short on V2 is gone, V2 was read
    assert [(a.key, a.level) for a in alerts] == [(RiskKey("leg_gone", SHORT), "critical")]
    # The book is now 100 % long: that drift is what the leg_gone alert says, not twice.
    assert w.states[RiskKey("drift", "BTC")].active
    assert alerts[0].lines == (
        f"BTC short on {V2} (BTC-{V2}) is gone: 1 BTC at the last read.",
        f"Still open: long 1 BTC on {V1}, 30.0% from liquidation.",
        "The book is now net long 1 BTC (+$100.00).",
    )
    assert alerts[0].next_step == (
        f"Check {V2} for a liquidation or ADL, then re-hedge or close the rest of BTC on {V1}."
    )
    assert w.read(read(leg(V1, "long")), T0 + 120) == []
    # The short back: leg_gone and drift re-arm.
    assert w.read(read(*hedged()), T0 + 180) == []
    assert not w.states[RiskKey("leg_gone", SHORT)].active
    assert not w.states[RiskKey("drift", "BTC")].active


def test_a_book_closed_whole_is_not_an_alert_and_re_arms_its_keys():
    w = Watch()
    assert [a.key.kind for a in w.read(read(*hedged(long_distance=10.0, short_size=0.9)), T0)] \
        == ["liq_warn", "drift"]  # fmt: skip
    assert w.read(read(), T0 + 60) == []  # both legs closed, both venues read
    for key in (RiskKey("leg", LONG), RiskKey("leg", SHORT), RiskKey("liq_warn", LONG),
                RiskKey("drift", "BTC")):  # fmt: skip
        assert not w.states[key].active, key


def test_an_unreadable_venue_neither_alerts_nor_re_arms_and_is_told_after_a_while():
    w = Watch()
    assert w.keys(read(*hedged(long_distance=10.0)), T0) == [("liq_warn", LONG, "warning")]
    before = dict(w.states)
    # V1 cannot be read: its long is not in the report. No leg_gone, no drift on half a
    # book, no re-arm of the long's warning; V1's failure starts its clock.
    assert w.read(read(leg(V2, "short"), errors=(V1,), now=T0 + 60), T0 + 60) == []
    for key in (RiskKey("leg", LONG), RiskKey("liq_warn", LONG)):
        assert w.states[key] == before[key]
    assert RiskKey("drift", "BTC") not in w.states and RiskKey("leg_gone", LONG) not in w.states
    unreadable = RiskKey("unreadable", V1)
    assert w.states[unreadable].active and w.states[unreadable].since == T0 + 60
    assert w.read(read(leg(V2, "short"), errors=(V1,), now=T0 + 200), T0 + 200) == []  # 140 s
    (alert,) = w.read(read(leg(V2, "short"), errors=(V1,), now=T0 + 240), T0 + 240)  # 180 s
    assert (alert.key, alert.level) == (unreadable, "warning")
    assert alert.lines == (
        f"{V1} account unreadable for 3m, since 2026-09-10 04:41:00 UTC: its legs are not watched.",
        f"Error: {V1} /positions: HTTP 503",
    )
    assert alert.next_step.startswith(f"Check {V1}'s status and its API key")
    assert w.read(read(leg(V2, "short"), errors=(V1,), now=T0 + 600), T0 + 600) == []
    # Read again, the long back where it was: re-armed, and nothing else to say.
    assert w.read(read(*hedged(long_distance=10.0), now=T0 + 660), T0 + 660) == []
    assert not w.states[unreadable].active


def test_a_venue_read_for_positions_but_failing_elsewhere_is_not_judged():
    w = Watch()
    w.read(read(*hedged()), T0)
    report = assess(
        {V1: [leg(V1, "long")], V2: [leg(V2, "short", distance=3.0)]}, {},
        {V2: f"{V2} /balance: HTTP 503"}, MarketSnapshot((), (), T0), PARAMS, T0 + 60,
    )  # fmt: skip
    alerts, changed = plan_risk(report, w.states, PARAMS, T0 + 60)
    assert alerts == []  # 3 % away, but V2 is not read whole now
    assert set(changed) == {RiskKey("unreadable", V2)}
    # Nor at the very first read: its book's drift (10 %) and carry wait for a whole read.
    first = assess(
        {V1: [leg(V1, "long")], V2: [leg(V2, "short", 0.9)]}, {}, {V2: "down"},
        MarketSnapshot(carry_quotes(-0.2), (), T0), PARAMS, T0,
    )  # fmt: skip
    alerts, changed = plan_risk(first, {}, PARAMS, T0)
    assert alerts == [] and set(changed) == {RiskKey("leg", LONG), RiskKey("unreadable", V2)}


def test_a_venue_without_keys_any_more_leaves_its_legs_keys_alone():
    w = Watch()
    w.read(read(*hedged()), T0)
    before = dict(w.states)
    assert w.read(read(leg(V1, "long"), venues=(V1, V3)), T0 + 60) == []
    assert w.states == before


# --- properties over random reads -----------------------------------------------------------

ERROR_SETS = st.frozensets(st.sampled_from([V1, V2, V3]), max_size=2)
step = st.fixed_dictionaries({
    "dt": st.sampled_from([30.0, 60.0, 200.0, 600.0, 1000.0]),
    "errors": st.one_of(st.just(frozenset()), ERROR_SETS),
    "open": st.tuples(st.booleans(), st.booleans(), st.booleans()),
    "distance": st.tuples(*[st.sampled_from([3.0, 6.0, 8.0, 10.0, 14.0, 17.0, 30.0])] * 3),
    "short_size": st.sampled_from([1.0, 0.97, 0.955, 0.9]),
    "apr": st.sampled_from([-0.2, 0.04, 0.06, 0.08]),
})  # fmt: skip


def report_of(s: dict, now: float) -> RiskReport:
    (long_open, short_open, eth_open), (d1, d2, d3) = s["open"], s["distance"]
    legs = [
        *([leg(V1, "long", 1.0, d1)] if long_open else []),
        *([leg(V2, "short", s["short_size"], d2)] if short_open else []),
        *([leg(V3, "long", 2.0, d3, asset="ETH")] if eth_open else []),
    ]
    return read(*legs, errors=s["errors"], quotes=carry_quotes(s["apr"]), now=now)


def venue_of(key: RiskKey) -> str | None:
    return scope_parts(key.scope)[1] if key.kind in ("liq_warn", "liq_crit", "leg",
                                                      "leg_gone") else None  # fmt: skip


def frozen_assets(states: dict[RiskKey, RiskState], errors: frozenset[str]) -> set[str]:
    return {
        scope_parts(k.scope)[0]
        for k, s in states.items()
        if k.kind == "leg" and s.active and scope_parts(k.scope)[1] in errors
    }


@settings(max_examples=300)
@given(st.lists(step, min_size=1, max_size=25))
def test_every_key_alerts_once_per_crossing_never_within_the_gap_and_leaves_the_unread_alone(
    steps,
):
    states: dict[RiskKey, RiskState] = {}
    armed: dict[RiskKey, bool] = {}
    last_alert: dict[RiskKey, float] = {}
    now = T0
    for s in steps:
        now += s["dt"]
        report = report_of(s, now)
        alerts, changed = plan_risk(report, states, PARAMS, now)
        # Only the states that changed come back.
        assert all(changed[k] != states.get(k) for k in changed)
        assert all(k == state.key for k, state in changed.items())
        # Unreadable venues: their legs' keys, and their books' keys, stay as they were.
        errors = s["errors"]
        frozen = frozen_assets(states, errors)
        touched = set(changed) | {a.key for a in alerts}
        for key in touched:
            assert venue_of(key) not in errors, key
            assert key.kind not in ("carry", "drift") or key.scope not in frozen, key
        # One alert per crossing: a key alerts only once re-armed since its last alert,
        # and never within the gap of it.
        assert len({a.key for a in alerts}) == len(alerts)
        for a in alerts:
            assert armed.get(a.key, True), a.key
            if a.key in last_alert:
                assert now - last_alert[a.key] >= PARAMS.min_gap_s
            armed[a.key], last_alert[a.key] = False, now
        for key, new in changed.items():
            old = states.get(key)
            if old is not None and old.active and not new.active:
                armed[key] = True
        states = {**states, **changed}
        # A second look at the same instant has nothing to add.
        assert plan_risk(report, states, PARAMS, now) == ([], {})


@given(st.lists(step, min_size=2, max_size=12))
def test_a_critical_crossing_is_never_told_with_its_warning(steps):
    states: dict[RiskKey, RiskState] = {}
    now = T0
    for s in steps:
        now += s["dt"]
        alerts, changed = plan_risk(report_of(s, now), states, PARAMS, now)
        crit = {a.key.scope for a in alerts if a.key.kind == "liq_crit"}
        warn = {a.key.scope for a in alerts if a.key.kind == "liq_warn"}
        assert not crit & warn
        states = {**states, **changed}

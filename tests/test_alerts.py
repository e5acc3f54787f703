"""Thresholds, matching and hysteresis as pure functions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.alerts import (
    AlertKey,
    AlertState,
    Subscription,
    ThresholdError,
    ThresholdIndex,
    apr_to_8h,
    crosses,
    decide,
    match,
    pair_of,
    parse_subscribe,
    plan,
    rearm_candidates,
    thin_out,
    threshold_to_apr,
    watch_levels,
)
from arb.depth import SizedCarry
from arb.models import Opportunity, Quote


@pytest.mark.parametrize(
    ("args", "threshold", "assets"),
    [
        (["0.05%"], 0.0005, set()),
        (["5bps"], 0.0005, set()),
        (["5", "bps"], 0.0005, set()),  # "5 bps" arrives as two words
        (["5bp"], 0.0005, set()),
        (["0.0005"], 0.0005, set()),
        (["50%", "apr"], 0.5 / 8760 * 8, set()),
        (["apr", "50%"], 0.5 / 8760 * 8, set()),
        (["50%APR"], 0.5 / 8760 * 8, set()),
        (["0.05%", "btc", "ETHUSDT", "1000PEPE"], 0.0005, {"BTC", "ETH", "PEPE"}),
        (["50%", "apr", "sol"], 0.5 / 8760 * 8, {"SOL"}),
    ],
)
def test_subscribe_grammar(args, threshold, assets):
    if threshold is None:
        with pytest.raises(ThresholdError):
            parse_subscribe(args)
        return
    got, got_assets = parse_subscribe(args)
    assert got == pytest.approx(threshold, rel=1e-12)
    assert got_assets == assets


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Give a threshold"),
        (["lots"], "“lots” is not a threshold"),
        (
            ["0.05"],
            "out of range: use 0.001% to 2% per 8h (0.05 is a decimal: did you mean 0.05%?)",
        ),
        (["0%"], "out of range"),
        (["-1%"], "is not a threshold"),
        (["0.05%", "<b>"], "“<b>” is not an asset name"),
    ],
)
def test_bad_thresholds_get_one_line_and_an_example(args, message):
    with pytest.raises(ThresholdError) as e:
        parse_subscribe(args)
    assert message in str(e.value)
    assert "e.g. /subscribe 0.05%" in str(e.value) and "\n" not in str(e.value)


@given(st.floats(min_value=0.001, max_value=100))
def test_apr_and_8h_convert_both_ways(apr):
    assert threshold_to_apr(apr_to_8h(apr)) == pytest.approx(apr)


def quote(venue, asset, hourly):
    return Quote(venue, asset, asset, hourly, 1.0, None, 1.0, None, None, 0.0)


def opp(asset, spread_8h, long="a", short="b"):
    q_long, q_short = quote(long, asset, 0.0), quote(short, asset, spread_8h / 8)
    h = spread_8h / 8
    return Opportunity(asset, q_long, q_short, h, spread_8h, h * 8760, 0.002, None, 0.0, 168, None)


def sub(id, threshold, assets=(), chat=1, thread=None):
    return Subscription(id, chat, thread, threshold, frozenset(assets))


def test_match_catch_all_and_asset_specific_overrides():
    opps = [opp("BTC", 0.0010), opp("ETH", 0.0004), opp("SOL", 0.0007)]
    subs = [
        sub(1, 0.0005),  # everything at 0.05 %
        sub(2, 0.0012, ["BTC"]),  # but BTC only at 0.12 % in this chat
        sub(3, 0.0003, ["ETH"], chat=2),
    ]
    got = {(s.id, o.asset) for s, o in match(subs, opps)}
    assert got == {(1, "SOL"), (3, "ETH")}


def test_match_is_exact_at_the_threshold():
    assert [o.asset for _, o in match([sub(1, 0.0005)], [opp("X", 0.0005)])] == ["X"]
    assert match([sub(1, 0.00050001)], [opp("X", 0.0005)]) == []


KEY = AlertKey(1, None, "BTC", "a", "b")


def run(spreads, threshold=0.001, cooldown=3600, step=600):
    """Feed spreads one cycle apart; returns the reasons sent."""
    state, sent = None, []
    for i, spread in enumerate(spreads):
        reason, state = decide(state, KEY, spread, threshold, i * step, cooldown)
        sent.append(reason)
    return sent


def test_crossing_alerts_once_then_waits_for_a_rearm():
    assert run([0.0005, 0.0011, 0.0012, 0.0011, 0.00085, 0.0011]) == [
        None,
        "crossed",
        None,
        None,
        None,
        None,  # 0.00085 is above 0.8 x threshold: no rearm
    ]
    assert run([0.0011, 0.0007, 0.0011]) == ["crossed", None, "crossed"]


def test_growth_by_half_re_alerts_only_after_the_cooldown():
    # sent at 0.0011; 0.0017 >= 1.5 x 0.0011 but only 600 s later; then 3600 s later.
    assert run([0.0011, 0.0017, 0.0017, 0.0017, 0.0017, 0.0017, 0.0017, 0.0017]) == [
        "crossed",
        None,
        None,
        None,
        None,
        None,
        "grew",
        None,
    ]


@given(st.lists(st.floats(min_value=0, max_value=0.01), min_size=1, max_size=40))
def test_never_two_alerts_without_a_rearm_or_growth(spreads):
    threshold, state, last_sent = 0.001, None, None
    for i, spread in enumerate(spreads):
        before = state
        reason, state = decide(state, KEY, spread, threshold, i * 600.0, 3600)
        if reason == "crossed":
            assert before is None or not before.above
        if reason == "grew":
            assert spread >= 1.5 * last_sent
        if reason:
            assert spread >= threshold
            last_sent = spread


def test_a_spread_flapping_around_its_threshold_alerts_once_within_the_gap():
    """Above, below the re-arm level, above again, every second for 20 s: one alert."""
    state, sent = None, []
    for second in range(20):
        spread = 0.0012 if second % 2 == 0 else 0.0005
        reason, state = decide(state, KEY, spread, 0.001, 1000.0 + second, 3600, 900)
        sent.append(reason)
    assert sent.count("crossed") == 1 and sent[0] == "crossed"
    # Still above once the gap has passed: it alerts again then, and only then.
    reason, state = decide(state, KEY, 0.0012, 0.001, 1000.0 + 899, 3600, 900)
    assert reason is None and not state.above
    reason, _ = decide(state, KEY, 0.0012, 0.001, 1000.0 + 900, 3600, 900)
    assert reason == "crossed"


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=0.01), st.floats(min_value=0, max_value=2000)),
        min_size=1,
        max_size=60,
    ),
    st.floats(min_value=0, max_value=1800),
)
def test_two_alerts_of_a_key_are_never_closer_than_the_min_gap(steps, min_gap):
    state, now, sent_at = None, 0.0, []
    for spread, wait in steps:
        now += wait
        reason, state = decide(state, KEY, spread, 0.001, now, 600.0, min_gap)
        if reason:
            sent_at.append(now)
    assert all(b - a >= min_gap for a, b in itertools.pairwise(sent_at))


def planned(subs, states, pairs, now=10_000.0):
    return plan(subs, states, pairs, now, cooldown_s=3600, min_gap_s=900)


def test_plan_sends_one_message_per_chat_topic_with_the_asset_override():
    pairs = [opp("BTC", 0.0010), opp("SOL", 0.0007), opp("ETH", 0.0004)]
    subs = [sub(1, 0.0005), sub(2, 0.0012, ["BTC"]), sub(3, 0.0003, chat=2, thread=7)]
    result = planned(subs, {}, pairs)
    assert {t: [c.key.asset for c, _ in items] for t, items in result.outbox.items()} == {
        (1, None): ["SOL"],  # BTC only at 0.12 % in chat 1: its own threshold wins
        (2, 7): ["BTC", "SOL", "ETH"],
    }
    (c, state), *_ = result.outbox[(1, None)]
    assert c.threshold_8h == 0.0005 and state.above and state.last_sent_at == 10_000.0
    assert (result.subscriptions, result.matches) == (3, 4)


def test_plan_rearms_a_pair_whose_legs_swapped():
    """Alerted long a / short b; now b pays less than a: the same key is far below."""
    key = AlertKey(1, None, "BTC", "a", "b")
    states = {key: AlertState(key, True, 0.0011, 0.0011, 1000.0)}
    swapped = [opp("BTC", 0.0006, long="b", short="a")]
    result = planned([sub(1, 0.001)], states, swapped)
    assert result.outbox == {}
    (rearmed,) = result.quiet
    assert rearmed.key == key and not rearmed.above and rearmed.last_spread == -0.0006
    # When it swaps back, it alerts again (the gap has long passed).
    states = {key: rearmed}
    again = planned([sub(1, 0.001)], states, [opp("BTC", 0.0011)])
    assert [c.reason for c, _ in again.outbox[(1, None)]] == ["crossed"]


def test_plan_leaves_keys_of_other_assets_alone():
    key = AlertKey(1, None, "ETH", "a", "b")
    states = {key: AlertState(key, True, 0.002, 0.002, 1000.0)}
    result = planned([sub(1, 0.001)], states, [opp("BTC", 0.0002)])
    assert result.outbox == {} and result.quiet == []


# --- one threshold index: which threshold applies to (chat, topic, asset) ----------------


def test_the_index_says_the_assets_own_overrides_the_topics_catch_all():
    subs = [
        sub(1, 0.0005),  # topic (1, None): every asset at 0.05 %
        sub(2, 0.001, ["BTC"]),  # BTC at 0.1 % in the same topic
        sub(3, 0.0003, ["BTC"], thread=7),  # another topic of the same chat
        sub(4, 0.0002, chat=2),
    ]
    index = ThresholdIndex(subs)
    assert index.threshold(1, None, "BTC") == 0.001
    assert index.threshold(1, None, "ETH") == 0.0005
    assert index.threshold(1, 7, "BTC") == 0.0003
    assert index.threshold(1, 7, "ETH") is None  # topic 7 has no catch-all
    assert index.threshold(2, None, "BTC") == 0.0002
    assert index.threshold(3, None, "BTC") is None
    assert index.applying(1, None, "BTC") is subs[1]
    (overlap,) = index.overlaps(1, None)
    assert (overlap.asset, overlap.applies, overlap.catch_all, overlap.older) == (
        "BTC", subs[1], subs[0], (),
    )  # fmt: skip
    assert index.overlaps(1, 7) == [] and index.overlaps(2, None) == []


def test_the_newest_subscription_naming_an_asset_applies():
    older, newer = sub(1, 0.002, ["BTC", "ETH"]), sub(5, 0.001, ["BTC"])
    for order in ([older, newer], [newer, older]):  # whatever order storage gives
        index = ThresholdIndex(order)
        assert index.threshold(1, None, "BTC") == 0.001
        assert index.threshold(1, None, "ETH") == 0.002
        (overlap,) = index.overlaps(1, None)
        assert (overlap.asset, overlap.applies, overlap.catch_all, overlap.older) == (
            "BTC", newer, None, (older,),
        )  # fmt: skip
        # Matching agrees: BTC at 0.15 % is under the 0.2 % it no longer has.
        got = {(s.id, o.asset) for s, o in match(index, [opp("BTC", 0.0015), opp("ETH", 0.0015)])}
        assert got == {(5, "BTC")}


def test_plan_the_asset_override_alerts_and_rearms_against_the_same_threshold():
    """A catch-all 0.05 % and 0.1 % BTC in one topic: BTC at 0.07 % does not alert, ETH at
    0.07 % does; BTC's key, alerted before, re-arms below 0.1 % x 0.8 = 0.08 % (under the
    catch-all it would wait for 0.05 % x 0.8 = 0.04 %)."""
    subs = [sub(1, 0.0005), sub(2, 0.001, ["BTC"])]
    btc = AlertKey(1, None, "BTC", "a", "b")
    states = {btc: AlertState(btc, True, 0.0012, 0.0012, 1000.0)}
    result = planned(subs, states, [opp("BTC", 0.0007), opp("ETH", 0.0007)])
    assert {t: [c.key.asset for c, _ in items] for t, items in result.outbox.items()} == {
        (1, None): ["ETH"]
    }
    ((crossing, _),) = result.outbox[(1, None)]
    assert crossing.threshold_8h == 0.0005
    (rearmed,) = result.quiet
    assert rearmed.key == btc and not rearmed.above and rearmed.last_spread == 0.0007
    # At 0.085 % BTC is above 0.08 %: still armed-off, no alert, no change.
    result = planned(subs, states, [opp("BTC", 0.00085)])
    assert result.outbox == {} and result.quiet == []
    # The same check alone, as the index answers it.
    index = ThresholdIndex(subs)
    spreads = {("BTC", "a", "b"): 0.0007}
    assert [s.key for s in rearm_candidates(states.values(), index, spreads)] == [btc]


def test_plan_rearms_a_swapped_pair_against_its_own_threshold_not_the_catch_all():
    """Alerted long a / short b under BTC's own 0.1 %; the legs swap (the pair's carry is
    now negative): re-armed, and it alerts again only at 0.1 %, not at the catch-all's."""
    subs = [sub(1, 0.0005), sub(2, 0.001, ["BTC"])]
    key = AlertKey(1, None, "BTC", "a", "b")
    states = {key: AlertState(key, True, 0.0011, 0.0011, 1000.0)}
    swapped = planned(subs, states, [opp("BTC", 0.0006, long="b", short="a")])
    assert swapped.outbox == {}
    (rearmed,) = swapped.quiet
    assert rearmed.key == key and not rearmed.above and rearmed.last_spread == -0.0006
    states = {key: rearmed}
    assert planned(subs, states, [opp("BTC", 0.0007)]).outbox == {}  # over 0.05 %, under 0.1 %
    again = planned(subs, states, [opp("BTC", 0.001)])
    ((crossing, _),) = again.outbox[(1, None)]
    assert (crossing.reason, crossing.threshold_8h) == ("crossed", 0.001)


def test_watch_levels_leave_out_a_catch_all_every_topic_overrides_for_the_asset():
    subs = [sub(1, 0.0005), sub(2, 0.001, ["BTC"])]
    assert sorted(watch_levels(subs).for_asset("BTC")) == pytest.approx([0.0008, 0.001])
    assert sorted(watch_levels(subs).for_asset("ETH")) == pytest.approx([0.0004, 0.0005])
    # Another chat's catch-all at 0.05 % still applies to BTC there.
    subs.append(sub(3, 0.0005, chat=2))
    assert sorted(watch_levels(subs).for_asset("BTC")) == pytest.approx(
        [0.0004, 0.0005, 0.0008, 0.001]
    )
    # A superseded subscription naming BTC has no level.
    subs.append(sub(4, 0.002, ["BTC"]))
    assert 0.001 not in watch_levels(subs).for_asset("BTC")


_subs = st.lists(
    st.builds(
        lambda t, assets, chat, thread: (t, frozenset(assets), chat, thread),
        st.sampled_from([0.0003, 0.0005, 0.001]),
        st.lists(st.sampled_from(["BTC", "ETH", "SOL"]), max_size=2),
        st.sampled_from([1, 2]),
        st.sampled_from([None, 7]),
    ),
    max_size=8,
)


@given(_subs, st.lists(st.floats(min_value=0, max_value=0.002), min_size=3, max_size=3))
def test_matching_alerts_exactly_where_the_index_threshold_is_reached(rows, spreads):
    """One truth: every (topic, asset) alerts iff its spread reaches the threshold the
    index says applies, and with that very threshold."""
    subs = [Subscription(i, c, th, t, a) for i, (t, a, c, th) in enumerate(rows)]
    opps = [opp(a, s) for a, s in zip(["BTC", "ETH", "SOL"], spreads, strict=True)]
    index = ThresholdIndex(subs)
    got = {(s.chat_id, s.thread_id, o.asset): s.threshold_8h for s, o in match(subs, opps)}
    want = {}
    for chat, thread in {(s.chat_id, s.thread_id) for s in subs}:
        for o in opps:
            threshold = index.threshold(chat, thread, o.asset)
            if threshold is not None and o.spread_8h >= threshold:
                want[(chat, thread, o.asset)] = threshold
    assert got == want
    assert len(match(subs, opps)) == len(got)  # never two thresholds for one key
    levels = watch_levels(subs)
    for (_, _, asset), threshold in want.items():
        assert threshold in levels.for_asset(asset)


# --- which live changes can alert ------------------------------------------------------


def test_watch_levels_are_thresholds_and_rearm_levels_per_asset_and_for_all():
    subs = [
        Subscription(1, 10, None, 0.0005, frozenset()),
        Subscription(2, 11, None, 0.001, frozenset({"BTC"})),
    ]
    levels = watch_levels(subs)
    assert sorted(levels.for_asset("ETH")) == pytest.approx([0.0004, 0.0005])
    assert sorted(levels.for_asset("BTC")) == pytest.approx([0.0004, 0.0005, 0.0008, 0.001])
    assert not watch_levels([]).for_asset("BTC")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (0.0004, 0.0006, True),  # up through 0.0005
        (0.0006, 0.00035, True),  # down through the re-arm level 0.0004
        (0.00045, 0.00049, False),  # between levels
        (0.0005, 0.0007, False),  # already at the threshold: no new crossing
        (None, 0.0001, True),  # a pair appeared
        (0.0001, None, True),  # it vanished
        (None, None, False),
    ],
)
def test_a_change_alerts_only_when_it_passes_a_level(old, new, expected):
    assert crosses(old, new, {0.0005, 0.0004}) is expected


# --- the capacity floor (ARB_MIN_CAPACITY_USD) ----------------------------------------------


def sized_at(o, capacity_usd):
    """`o` sized on books whose capacity within 10 bp is `capacity_usd` per leg."""
    return SizedCarry(o, 10_000.0, *([None] * 4), 0.002, None, None, 0.0, None, None, None,
                      capacity_usd, 10.0)  # fmt: skip


def test_thin_out_leaves_out_a_thin_carry_keeps_an_unsized_one_and_sizes_the_rest():
    btc, sol, eth = opp("BTC", 0.0010), opp("SOL", 0.0007), opp("ETH", 0.0006)
    result = planned([sub(1, 0.0005), sub(2, 0.0005, chat=2)], {}, [btc, sol, eth])
    sized = {pair_of(btc): sized_at(btc, 250_000.0), pair_of(sol): sized_at(sol, 40_000.0),
             pair_of(eth): None}  # fmt: skip  # ETH: a leg's book failed
    kept, skipped = thin_out(result.outbox, sized, 50_000.0)
    assert sorted(c.key.asset for c in skipped) == ["SOL", "SOL"]
    for target in ((1, None), (2, None)):
        got = {c.key.asset: c.sized for c, _ in kept[target]}
        assert got == {"BTC": sized[pair_of(btc)], "ETH": None}
        # What goes out keeps the state plan gave it; a skipped key has none to commit.
        assert [s for _, s in kept[target]] == [
            s for c, s in result.outbox[target] if c.key.asset != "SOL"
        ]
    # At the floor exactly, a carry goes out; a topic left with nothing has no message.
    assert thin_out(result.outbox, sized, 40_000.0)[1] == []
    only_sol = {t: [x for x in items if x[0].key.asset == "SOL"] for t, items in
                result.outbox.items()}  # fmt: skip
    assert thin_out(only_sol, sized, 50_000.0)[0] == {}

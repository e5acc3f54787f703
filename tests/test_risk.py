"""The risk watch's figures (`arb.risk.assess`, `arb.spread.directed`) and their text: worked
examples with the arithmetic in comments, and properties."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.accounts.models import Balance, Position
from arb.market import MarketSnapshot
from arb.models import Quote
from arb.render import risk_account_line, risk_book_lines, risk_text
from arb.report import dumps, risk_json
from arb.risk import AccountRisk, RiskParams, assess, liq_distance_pct
from arb.spread import DEFAULT_TAKER_FEES, directed, opportunity
from arb.venues.registry import NAMES

NOW = 1_789_015_200.0
V1, V2, V3 = NAMES[0], NAMES[1], NAMES[2]  # registry order: V1 before V2 before V3
FEES = {V1: 0.00055, V2: 0.0005, V3: 0.0005}
PARAMS = RiskParams(fees=FEES, horizon_h=168.0)


def pos(venue, side, size, mark=100.0, liq=None, asset="BTC", **kw) -> Position:
    fields = dict(
        venue=venue,
        asset=asset,
        symbol=f"{asset}-{venue}",
        side=side,
        size=size,
        entry_price=mark,
        mark_price=mark,
        unrealised_pnl=0.0,
        leverage=10.0,
        liquidation_price=liq,
    )
    return Position(**{**fields, **kw})


def quote(venue, rate, asset="BTC", interval_h=8.0, mark=100.0) -> Quote:
    return Quote(venue, asset, f"{asset}-{venue}", rate, interval_h, int(NOW * 1000) + 3_600_000,
                 mark, 1e9, None, NOW)  # fmt: skip


def snapshot(*quotes: Quote) -> MarketSnapshot:
    return MarketSnapshot(tuple(quotes), (), NOW)


def by_venue(*positions: Position) -> dict[str, list[Position]]:
    out: dict[str, list[Position]] = {}
    for p in positions:
        out.setdefault(p.venue, []).append(p)
    return out


# --- spread.directed ----------------------------------------------------------------------


def test_directed_keeps_the_legs_as_given_even_when_the_long_earns_more():
    # Long V1 at +0.0003 per 8 h, short V2 at +0.0001 per 8 h: the desk pays the spread.
    # hourly: long 0.0000375, short 0.0000125; spread = 0.0000125 - 0.0000375 = -0.000025
    # fees = 2 x (0.00055 + 0.0005) = 0.0021
    # apr_net = (-0.000025 x 168 - 0.0021) / 168 x 8760 = (-0.0042 - 0.0021) / 168 x 8760
    #         = -0.0063 / 168 x 8760 = -0.3285
    long, short = quote(V1, 0.0003), quote(V2, 0.0001)
    o = directed(long, short, FEES, 168.0)
    assert (o.long_venue, o.short_venue) == (V1, V2)
    assert o.spread_hourly == pytest.approx(-0.000025, abs=1e-15)
    assert o.spread_8h == pytest.approx(-0.0002, abs=1e-15)
    assert o.fees_round_trip == pytest.approx(0.0021, abs=1e-15)
    assert o.apr_net == pytest.approx(-0.3285, abs=1e-12)
    assert o.breakeven_h is None  # never breaks even while the spread is against it
    # `opportunity` orders the pair the other way round, as before.
    assert (opportunity(long, short, FEES, 168.0).long_venue) == V2


def test_directed_refuses_two_assets():
    with pytest.raises(ValueError):
        directed(quote(V1, 0.0), quote(V2, 0.0, asset="ETH"), FEES, 168.0)


rates = st.floats(-0.003, 0.003, allow_nan=False)


@given(rates, rates, st.sampled_from([1.0, 4.0, 8.0]), st.sampled_from([1.0, 8.0]))
def test_opportunity_is_directed_after_ordering(a_rate, b_rate, a_h, b_h):
    a, b = quote(V1, a_rate, interval_h=a_h), quote(V2, b_rate, interval_h=b_h)
    o = opportunity(a, b, FEES, 168.0)
    assert o == directed(o.long, o.short, FEES, 168.0)
    assert o.spread_hourly >= 0  # ordered: the short earns at least the long's rate


# --- assess: a worked book ----------------------------------------------------------------


def desk():
    """A hedged BTC book (long V2, short V1), a lone ETH long on V3, V2's balance unread."""
    positions = by_venue(
        pos(V1, "short", 0.5, 100_000.0, 106_200.0, margin_mode="cross", adl_rank=2),
        pos(V2, "long", 0.5, 100_020.0, 80_500.0, leverage=5.0, margin_mode="isolated"),
        pos(V3, "long", 4.0, 3_050.0, 2_100.0, asset="ETH", leverage=3.0, margin_mode="cross"),
    )
    balances = {
        V1: [Balance(V1, "USDC", 1_000.0, None), Balance(V1, "USDT", 20_000.0, 5_000.0,
                                                          margin_ratio=0.123)],
        V3: [Balance(V3, "USDT", 30_000.0, 12_000.0)],
    }  # fmt: skip
    quotes = snapshot(
        quote(V1, 0.0001, mark=100_000.0),
        quote(V2, 0.00002, mark=100_020.0),
        quote(V3, 0.00005, asset="ETH", mark=3_050.0),
    )
    errors = {V2: f"{V2} /balance: HTTP 503"}
    return assess(positions, balances, errors, quotes, PARAMS, NOW)


def test_a_hedged_book_and_a_lone_leg_worked_by_hand():
    r = desk()
    btc, eth = r.books  # worst first: BTC's short is 6.2 % away, ETH's long 31.1 %
    assert (btc.asset, btc.status, eth.asset, eth.status) == ("BTC", "hedged", "ETH", "unhedged")
    long, short = btc.legs  # longs first
    # short V1: |100,000 - 106,200| / 100,000 x 100 = 6.2
    assert short.liq_distance_pct == pytest.approx(6.2)
    # long V2: |100,020 - 80,500| / 100,020 x 100 = 19,520 / 100,020 x 100 = 19.51609...
    assert long.liq_distance_pct == pytest.approx(19_520 / 100_020 * 100)
    assert btc.worst_liq_pct == pytest.approx(6.2)
    # Next payments, -signed notional x rate: the short receives, the long pays.
    # short: -(-0.5 x 100,000) x 0.0001 = +5.0; long: -(0.5 x 100,020) x 0.00002 = -1.0002
    assert short.next_payment_usd == pytest.approx(5.0)
    assert long.next_payment_usd == pytest.approx(-1.0002)
    assert btc.next_settlement_usd == pytest.approx(3.9998)
    # Drift: 0.5 - 0.5 = 0 coins, so 0 USD and 0 %.
    assert (btc.drift_coins, btc.drift_usd, btc.drift_pct) == (0.0, 0.0, 0.0)
    # Carry: long V2 (0.00002 / 8 h), short V1 (0.0001 / 8 h):
    # spread = (0.0001 - 0.00002) / 8 = 0.00001 per hour; fees 2 x (0.0005 + 0.00055) = 0.0021
    # apr_net = (0.00001 x 168 - 0.0021) / 168 x 8760 = (0.00168 - 0.0021) / 168 x 8760
    #         = -0.00042 / 168 x 8760 = -0.0219
    assert btc.carry is not None
    assert (btc.carry.long_venue, btc.carry.short_venue) == (V2, V1)
    assert btc.carry.apr_net == pytest.approx(-0.0219, abs=1e-12)
    # Held, the entry's fees are paid: (0.00168 - 0.00105) / 168 x 8760 = 0.03285.
    assert btc.carry_apr == pytest.approx(0.03285, abs=1e-12)
    assert btc.carry.apr_gross == pytest.approx(0.0876, abs=1e-12)
    # The lone ETH long: 4 coins, all drift; no carry; it pays 4 x 3,050 x 0.00005 = 0.61.
    assert (eth.drift_coins, eth.drift_pct, eth.carry) == (4.0, 100.0, None)
    assert eth.drift_usd == pytest.approx(12_200.0)
    assert eth.next_settlement_usd == pytest.approx(-0.61)
    assert eth.legs[0].liq_distance_pct == pytest.approx(950 / 3050 * 100)


def test_accounts_in_registry_order_with_their_margin_ratio_and_errors():
    r = desk()
    assert [a.venue for a in r.accounts] == [V1, V2, V3]
    a1, a2, a3 = r.accounts
    assert a1 == AccountRisk(V1, 21_000.0, 0.123, None)  # equity summed; the ratio given
    assert a2 == AccountRisk(V2, None, None, f"{V2} /balance: HTTP 503")
    assert a3 == AccountRisk(V3, 30_000.0, None, None)
    assert r.taken_at == NOW


def test_an_imbalanced_book_drifts_at_the_legs_mark_and_earns_its_largest_legs_carry():
    legs = by_venue(
        pos(V1, "long", 1.0, 100.0), pos(V3, "long", 0.2, 101.0),
        pos(V2, "short", 1.3, 102.0),
    )  # fmt: skip
    quotes = snapshot(quote(V1, 0.0001), quote(V2, 0.0004), quote(V3, 0.0009))
    (b,) = assess(legs, {}, {}, quotes, PARAMS, NOW).books
    assert b.status == "imbalanced"
    # coins: 1.2 - 1.3 = -0.1; mark = (1.0 x 100 + 0.2 x 101 + 1.3 x 102) / 2.5
    #      = (100 + 20.2 + 132.6) / 2.5 = 101.12; USD = -0.1 x 101.12 = -10.112
    # % of the larger side: 0.1 / 1.3 x 100 = 7.6923
    assert b.drift_coins == pytest.approx(-0.1)
    assert b.drift_usd == pytest.approx(-10.112)
    assert b.drift_pct == pytest.approx(0.1 / 1.3 * 100)
    # The carry is V1's long (the larger long, 1.0 against 0.2) against V2's short.
    assert b.carry == directed(quotes.quotes[0], quotes.quotes[1], FEES, 168.0)


def test_a_leg_without_a_quote_has_no_carry_and_no_next_payment():
    legs = by_venue(pos(V1, "long", 1.0), pos(V2, "short", 1.0))
    (b,) = assess(legs, {}, {}, snapshot(quote(V1, 0.0001)), PARAMS, NOW).books
    assert b.carry is None and b.legs[1].quote is None
    assert b.legs[1].next_payment_usd is None and b.next_settlement_usd is None
    assert b.legs[0].next_payment_usd == pytest.approx(-0.01)  # -(1 x 100) x 0.0001


def test_a_leg_without_a_mark_or_liquidation_price_has_no_distance():
    assert liq_distance_pct(None, 90.0) is None
    assert liq_distance_pct(100.0, None) is None
    legs = by_venue(pos(V1, "long", 1.0, liq=None), pos(V2, "short", 1.0, mark_price=None))
    (b,) = assess(legs, {}, {}, snapshot(), PARAMS, NOW).books
    assert [x.liq_distance_pct for x in b.legs] == [None, None]
    assert b.worst_liq_pct is None
    assert b.drift_usd == 0.0  # the one marked leg prices it: 0 coins x 100
    assert b.legs[1].next_payment_usd is None


def test_fees_not_configured_fall_back_to_the_registry_defaults():
    legs = by_venue(pos(V1, "long", 1.0), pos(V2, "short", 1.0))
    quotes = snapshot(quote(V1, 0.0001), quote(V2, 0.0003))
    (b,) = assess(legs, {}, {}, quotes, RiskParams(), NOW).books
    assert b.carry == directed(quotes.quotes[0], quotes.quotes[1], DEFAULT_TAKER_FEES, 168.0)


def test_books_worst_first_liquidation_then_drift_then_carry():
    legs = by_venue(
        # A: 10 % from liquidation, hedged. B: 10 %, drifting 20 %. C: 30 %, carry -x.
        # D: 30 %, carry +x. E: no liquidation price at all. F: a lone leg 5 % away.
        pos(V1, "long", 1.0, liq=90.0, asset="A"), pos(V2, "short", 1.0, asset="A"),
        pos(V1, "long", 1.0, liq=90.0, asset="B"), pos(V2, "short", 0.8, asset="B"),
        pos(V1, "long", 1.0, liq=70.0, asset="C"), pos(V2, "short", 1.0, asset="C"),
        pos(V1, "long", 1.0, liq=70.0, asset="D"), pos(V2, "short", 1.0, asset="D"),
        pos(V1, "long", 1.0, asset="E"), pos(V2, "short", 1.0, asset="E"),
        pos(V3, "short", 1.0, liq=105.0, asset="F"),
    )  # fmt: skip
    quotes = snapshot(
        quote(V1, 0.001, asset="C"), quote(V2, 0.0, asset="C"),
        quote(V1, 0.0, asset="D"), quote(V2, 0.001, asset="D"),
    )  # fmt: skip
    r = assess(legs, {}, {}, quotes, PARAMS, NOW)
    assert [b.asset for b in r.books] == ["F", "B", "A", "C", "D", "E"]


# --- properties ---------------------------------------------------------------------------

marks = st.floats(0.0001, 1e6, allow_nan=False)
shares = st.floats(0.0, 0.99, allow_nan=False)


@given(marks, shares)
def test_distance_is_the_same_for_a_long_and_a_short_the_same_way_off(mark, share):
    # A long liquidates below its mark, a short above: the same share away is the same
    # distance, |mark - liquidation| / mark.
    long = pos(V1, "long", 1.0, mark, mark * (1 - share))
    short = pos(V2, "short", 1.0, mark, mark * (1 + share))
    (b,) = assess(by_venue(long, short), {}, {}, snapshot(), PARAMS, NOW).books
    distances = [x.liq_distance_pct for x in b.legs]
    assert distances[0] == pytest.approx(distances[1], rel=1e-9, abs=1e-9)
    assert distances[0] == pytest.approx(share * 100, rel=1e-9, abs=1e-9)
    for x in b.legs:
        p = x.position
        assert x.liq_distance_pct == abs(p.mark_price - p.liquidation_price) / p.mark_price * 100


sizes = st.floats(0.001, 1e4, allow_nan=False)
leg_sets = st.lists(
    st.tuples(st.sampled_from([V1, V2, V3]), st.sampled_from(["long", "short"]), sizes, marks),
    min_size=1,
    max_size=3,
    unique_by=lambda t: (t[0], t[1]),
)


@given(leg_sets)
def test_drift_follows_the_net(legs):
    (b,) = assess(
        by_venue(*(pos(v, side, size, mark) for v, side, size, mark in legs)),
        {}, {}, snapshot(), PARAMS, NOW,
    ).books  # fmt: skip
    longs = sum(size for _, side, size, _ in legs if side == "long")
    shorts = sum(size for _, side, size, _ in legs if side == "short")
    assert b.drift_coins == pytest.approx(longs - shorts)
    assert b.drift_usd is not None and b.drift_pct is not None
    sign = (b.drift_coins > 0) - (b.drift_coins < 0)
    assert (b.drift_usd > 0) - (b.drift_usd < 0) == sign
    assert 0.0 <= b.drift_pct <= 100.0
    assert (b.drift_pct == 100.0) == (longs == 0 or shorts == 0)  # a one-sided book: all drift


@given(leg_sets, st.lists(rates, min_size=3, max_size=3))
def test_a_books_carry_is_directed_on_its_largest_legs_quotes(legs, venue_rates):
    quotes = {v: quote(v, r) for v, r in zip((V1, V2, V3), venue_rates, strict=True)}
    (b,) = assess(
        by_venue(*(pos(v, side, size, mark) for v, side, size, mark in legs)),
        {}, {}, snapshot(*quotes.values()), PARAMS, NOW,
    ).books  # fmt: skip
    largest = {
        side: max((t for t in legs if t[1] == side), key=lambda t: (t[2], t[0]), default=None)
        for side in ("long", "short")
    }
    if largest["long"] is None or largest["short"] is None:
        assert b.carry is None
    else:
        long_q, short_q = quotes[largest["long"][0]], quotes[largest["short"][0]]
        assert b.carry == directed(long_q, short_q, FEES, PARAMS.horizon_h)


# --- the text and the JSON ----------------------------------------------------------------


def test_a_book_in_text_says_every_figure_a_desk_acts_on():
    btc, eth = desk().books
    head, long, short = risk_book_lines(btc)
    assert head == (
        f"BTC hedged · drift 0 BTC ($0.00, 0.0%) · carry long {V2} / short {V1}, net 3.3% APR"
        " after exit fees, next settlement +$4.00"
    )
    assert long == (
        f"  {V2} BTC-{V2} long 0.5 BTC · mark 100,020.0 · liq 80,500.0 (19.5%) · 5x isolated"
        " · next -$1.00"
    )
    assert short == (
        f"  {V1} BTC-{V1} short 0.5 BTC · mark 100,000.0 · liq 106,200.0 (6.2%) · 10x cross"
        " · ADL 2/5 · next +$5.00"
    )
    assert risk_book_lines(eth)[0] == (
        "ETH unhedged · drift +4 ETH (+$12,200.00, 100.0%) · carry - (one side only)"
    )


def test_account_lines_and_the_whole_report():
    r = desk()
    assert risk_account_line(r.accounts[0]) == (
        f"{V1}: equity 21,000.00, margin ratio 12.3% (100% liquidates)"
    )
    assert risk_account_line(r.accounts[1]) == f"{V2}: unreadable (/balance: HTTP 503)"
    assert risk_account_line(r.accounts[2]) == f"{V3}: equity 30,000.00, margin ratio not given"
    text = risk_text(r)
    assert text.splitlines()[0] == "Risk at 2026-09-10 04:40:00 UTC: 2 books, worst first"
    assert text.index("BTC hedged") < text.index("ETH unhedged") < text.index("Accounts:")


def test_no_book_says_why():
    read = assess({V1: []}, {}, {}, snapshot(), PARAMS, NOW)
    assert risk_text(read).splitlines()[1] == "No open positions."
    unread = assess({}, {}, {V1: "down"}, snapshot(), PARAMS, NOW)
    assert risk_text(unread).splitlines()[1] == "No account could be read."


def test_risk_json_in_plain_decimals():
    r = desk()
    text = dumps(risk_json(r))
    assert "e-" not in text  # 0.00002 stays a plain decimal
    data = json.loads(text)
    btc = data["books"][0]
    assert (btc["asset"], btc["status"]) == ("BTC", "hedged")
    assert btc["worst_liq_pct"] == pytest.approx(6.2)
    assert btc["carry"]["long_venue"] == V2 and btc["carry"]["apr_net"] == pytest.approx(-0.0219)
    assert btc["carry_apr"] == pytest.approx(0.03285)
    short = btc["legs"][1]
    assert short["side"] == "short" and short["margin_mode"] == "cross"
    assert short["adl_rank"] == 2 and short["next_payment_usd"] == pytest.approx(5.0)
    assert short["funding"]["rate"] == 0.0001
    assert data["books"][1]["carry"] is None
    assert data["accounts"][1] == {
        "venue": V2, "equity": None, "margin_ratio": None, "error": f"{V2} /balance: HTTP 503",
    }  # fmt: skip
    assert data["taken_at"] == NOW

"""Bot rendering and argument parsing, without Telegram."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.alerts import AlertKey, Crossing
from arb.formats import ago
from arb.models import Quote
from arb.signaler import Facts, Signal, Verdict
from arb.spread import DEFAULT_TAKER_FEES, opportunity
from bot.handlers import SCAN_DEFAULT_N, ScanArgsError, parse_scan_args
from bot.render import esc, shown, split_message, utf16_len
from bot.render_alerts import alert_html
from bot.render_signals import alert_note, signal_html
from tests.fakes.telegram import check_html


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], (SCAN_DEFAULT_N, None)),
        (["5"], (5, None)),
        (["5", "20"], (5, 0.20)),
        (["20%"], (SCAN_DEFAULT_N, 0.20)),
        (["5", "12.5%"], (5, 0.125)),
        (["2.5"], (SCAN_DEFAULT_N, 0.025)),  # not a whole number: an APR
        (["5", "-10"], (5, -0.10)),
    ],
)
def test_scan_args(args, expected):
    n, apr = parse_scan_args(args)
    assert n == expected[0]
    assert apr == pytest.approx(expected[1]) if expected[1] is not None else apr is None


@pytest.mark.parametrize(
    "args", [["0"], ["31"], ["x"], ["nan"], ["inf%"], ["5", "6", "7"], ["5", "1e9"], ["10%", "5%"]]
)
def test_bad_scan_args(args):
    with pytest.raises(ScanArgsError):
        parse_scan_args(args)


def test_shown_cuts_and_escapes():
    assert shown("<b>&") == "&lt;b&gt;&amp;"
    assert len(shown("x" * 1000)) == 40
    assert shown("a\x00b\nc") == "a?b?c"


def test_ago():
    assert [ago(None), ago(5), ago(65), ago(3 * 3600 + 125), ago(2 * 86400 + 3600)] == [
        "never",
        "5s",
        "1m",
        "3h02m",
        "2d1h",
    ]


def test_esc_leaves_no_markup():
    assert esc("<pre>&amp;</pre>") == "&lt;pre&gt;&amp;amp;&lt;/pre&gt;"


def test_short_messages_are_not_split():
    assert split_message("a\nb") == ["a\nb"]


def test_long_pre_block_is_closed_and_reopened_across_parts():
    lines = [f"row {i:04d} " + "x" * 60 for i in range(200)]
    text = "<b>title</b>\n<pre>" + "\n".join(lines) + "</pre>\nfooter"
    parts = split_message(text)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part) <= 4096
        assert part.count("<pre>") == part.count("</pre>")
    joined = "\n".join(parts).replace("</pre>\n<pre>", "\n")
    assert joined == text


@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\n<>&"), max_size=300), max_size=80
    ),
    st.integers(min_value=200, max_value=4096),
)
def test_split_keeps_every_line_and_respects_the_limit(lines, limit):
    text = "<pre>" + esc("\n".join(lines)) + "</pre>"
    parts = split_message(text, limit)
    assert all(utf16_len(p) <= limit for p in parts)
    assert all(p.count("<pre>") == p.count("</pre>") for p in parts)


# --- every rendered message is valid Telegram HTML ------------------------------------

NOW_S = 1_789_015_942.0
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


def _opportunity(next_long_s: float, next_short_s: float):
    def q(venue: str, rate: float, next_s: float) -> Quote:
        return Quote(venue, "A<&>", f"A-{venue}", rate, 8.0, int((NOW_S + next_s) * 1000),
                     1.0, 1e6, None, NOW_S)  # fmt: skip

    return opportunity(
        q("okx", 0.0001, next_long_s), q("bybit", 0.0009, next_short_s), DEFAULT_TAKER_FEES, 168
    )


@given(st.floats(-60, 90_000), st.floats(-60, 90_000), texts, st.lists(texts, max_size=5))
def test_alerts_and_signals_are_valid_html_whatever_the_times_and_texts(a, b, text, risks):
    o = _opportunity(a, b)
    key = AlertKey(1, None, o.asset, o.long_venue, o.short_venue)
    check_html(alert_html([Crossing(key, o, 0.0005, "crossed")], NOW_S)[0])
    verdict = Verdict("watch", 50, text, tuple(risks))
    for s in (
        Signal(Facts(o, NOW_S), verdict, "model", model=text[:40]),
        Signal(Facts(o, NOW_S), verdict, "rules", fallback=text),
    ):
        check_html(signal_html(s))
        check_html(alert_note(s))


def test_a_hot_market_alert_is_one_message_with_whole_blocks_and_the_rest_counted():
    from bot.render import MAX_MESSAGE
    from tests.test_alerts import opp

    crossings = [
        Crossing(AlertKey(1, None, f"A{i:02d}", "a", "b"), opp(f"A{i:02d}", 0.001 + i / 1e5),
                 0.0005, "crossed")
        for i in range(40)
    ]  # fmt: skip
    text, shown = alert_html(crossings, 0.0)
    assert utf16_len(text) <= MAX_MESSAGE - 150  # room left for a "sent again" line
    assert [c.opportunity.asset for c in shown] == [f"A{i:02d}" for i in range(39, 29, -1)]
    blocks = [line for line in text.split("\n") if line.startswith("<b>A")]
    assert len(blocks) == len(shown)  # no block is cut in the middle
    more = text.split("\n")[-1]
    assert more.startswith("… and 30 more (A29, A28, A27, ")
    assert more.endswith(", …): /scan shows them all") and len(more) < 160
    check_html(text)
    one, shown_one = alert_html(crossings[:1], 0.0)
    assert "more" not in one and len(shown_one) == 1

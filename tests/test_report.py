"""Number formats, countdowns and the plain-decimal JSON writer."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.formats import apr_pct, countdown, interval, money, pct, price, table
from arb.report import dumps

NOW = 1789015942.967  # 04:52:22.967Z (the fixture README says 04:12, a typo)


@pytest.mark.parametrize(
    ("next_ms", "text"),
    [
        (1789016400000, "7m"),  # 05:00Z
        (1789027200000, "3h07m"),  # 08:00Z
        (1789015990000, "<1m"),
        (1789015942000, "due"),
        (None, "-"),
    ],
)
def test_countdown(next_ms, text):
    assert countdown(next_ms, NOW) == text


def test_formats():
    assert pct(0.0001) == "0.0100%" and pct(-0.00102581) == "-0.1026%" and pct(None) == "-"
    assert apr_pct(1.2346) == "123.5%"
    assert interval(8.0) == "8h" and interval(0.5) == "30m"
    assert money(4310241429.576) == "4.31B" and money(165152384.9) == "165M"
    assert money(12345.0) == "12.3K" and money(None) == "-"
    assert price(77607.4) == "77,607.4" and price(0.0000036337) == "0.00000363370"


def test_table_aligns_text_left_and_numbers_right():
    out = table(["Venue", "Rate"], [["okx", "0.0100%"], ["hyperliquid", "-0.0012%"]])
    assert out.splitlines() == [
        "Venue            Rate",
        "okx           0.0100%",
        "hyperliquid  -0.0012%",
    ]


def test_dumps_writes_plain_decimals_that_read_back_exactly():
    doc = {
        "rate": 0.0000036337,
        "big": 1e20,
        "neg": -1.5e-12,
        "n": 3,
        "none": None,
        "s": "<b>",
        "nan": float("nan"),
        "items": [1.0, True],
    }
    text = dumps(doc)
    assert "e-" not in text and "e+" not in text
    back = json.loads(text)
    assert back["rate"] == 0.0000036337 and back["big"] == 1e20 and back["neg"] == -1.5e-12
    assert back["nan"] is None and back["items"] == [1.0, True] and back["s"] == "<b>"
    assert json.loads(dumps(doc, indent=None)) == back


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_round_trips_through_dumps(x):
    text = dumps({"x": x}, indent=None)
    assert "e" not in text.lower()
    assert json.loads(text)["x"] == x

"""`arb.report.dumps` (msgspec over pre-formatted floats) writes byte for byte what the
pure-Python writer it replaced wrote: the reference below is that writer, kept verbatim."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb import commands
from arb.report import dumps, funding_json, scan_json
from bot.cli import open_market
from tests.conftest import desk_market, settings_for
from tests.fakes.venues import FakeVenues, synthetic_market


def reference_dumps(obj: Any, indent: int | None = 2) -> str:
    return _dump(obj, indent, 0)


def _number(x: float) -> str:
    if not math.isfinite(x):
        return "null"
    text = format(Decimal(repr(x)), "f")
    return text if "." in text else text + ".0"


def _dump(obj: Any, indent: int | None, level: int) -> str:
    if obj is None or isinstance(obj, bool | str):
        return json.dumps(obj, ensure_ascii=False)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return _number(obj)
    pad, sep = ("", ",") if indent is None else ("\n" + " " * indent * (level + 1), ",")
    end = "" if indent is None else "\n" + " " * indent * level
    colon = ":" if indent is None else ": "
    if isinstance(obj, Mapping):
        if not obj:
            return "{}"
        items = (
            f"{pad}{json.dumps(str(k))}{colon}{_dump(v, indent, level + 1)}" for k, v in obj.items()
        )
        return "{" + sep.join(items) + end + "}"
    if isinstance(obj, Sequence):
        if not obj:
            return "[]"
        return "[" + sep.join(f"{pad}{_dump(v, indent, level + 1)}" for v in obj) + end + "]"
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


class Side(StrEnum):
    LONG = "long"


class Count(IntEnum):
    TWO = 2


floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-3, max_value=1e-3),  # the tiny rates exponents would spell
    st.sampled_from([0.0, -0.0, 1.0, 1e16, 1e-5, 1e-4, 123456789.0, 5e-324, 1e308]),
    st.integers(-(10**20), 10**20).map(float),  # integral
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**80), 2**80),
    floats,
    st.text(),  # control characters, quotes, backslashes, non-ASCII
    st.sampled_from([Side.LONG, Count.TWO]),
)
keys = st.one_of(st.text(), st.integers(), st.sampled_from([True, None, 1.5]))
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=5),
    ),
    max_leaves=40,
)


@given(trees, st.sampled_from([2, None, 4, 1, 0]))
def test_dumps_is_byte_identical_to_the_reference_writer(tree, indent):
    assert dumps(tree, indent) == reference_dumps(tree, indent)


@given(st.lists(floats, max_size=50))
def test_floats_are_byte_identical(xs):
    assert dumps(xs) == reference_dumps(xs)
    assert dumps({"x": xs}, None) == reference_dumps({"x": xs}, None)


def test_what_it_cannot_write_is_a_type_error_as_before():
    for bad in ({"a": {1, 2}}, [object()]):
        with pytest.raises(TypeError, match="cannot write"):
            dumps(bad)


@pytest.mark.parametrize("perps", [0, 300])
async def test_real_scan_and_funding_reports_are_byte_identical(perps):
    market = synthetic_market(perps) if perps else desk_market()
    async with FakeVenues(market, frozen=True) as fake:
        settings = settings_for(fake)
        async with open_market(settings, None) as m:
            scan = await commands.scan(m, settings.scan_params(), None)
            asset = "C0007" if perps else "BTC"
            funding = await commands.funding(m, asset, settings.scan_params())
    assert scan.opportunities
    for doc in (scan_json(scan), funding_json(funding)):
        assert dumps(doc) == reference_dumps(doc)

"""Shared test helpers: fixture files, the fake venues, settings pointed at them."""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis
import pytest

from arb.http import aiohttp_wire, stream_wire, wired
from arb.settings import Settings, parse_settings
from arb.venues.registry import env_prefixes
from tests.fakes.venues import FakeMarket, FakePerp, FakeVenues

FIXTURES = Path(__file__).parent / "fixtures"
T0_MS = 1789015942967  # the instant the fixture snapshot was taken
T0 = T0_MS / 1000

# The suite runs in parallel workers (make test), more of them than cores: none keeps
# Hypothesis's example database (no two write one directory), and an example's time on a
# loaded machine is not a failure.
hypothesis.settings.register_profile(
    "suite",
    database=None,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("suite")


def fixture_bytes(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


WIRES = {"aiohttp": aiohttp_wire, "streams": stream_wire}


@pytest.fixture(params=sorted(WIRES))
def each_wire(request):
    """Runs the test once over each of VenueHttp's wires (arb.wire): the same contract."""
    with wired(WIRES[request.param]):
        yield request.param


@pytest.fixture
async def fake_venues():
    """The four venues, answering with the recorded fixtures."""
    async with FakeVenues() as fake:
        yield fake


@pytest.fixture
async def venues():
    """The four venues, answering from desk_market(): the bot tests' market."""
    async with FakeVenues(desk_market()) as fake:
        yield fake


@pytest.fixture
def market() -> FakeMarket:
    return FakeMarket()


@pytest.fixture
async def fake_market(market: FakeMarket):
    """The four venues, answering from the `market` fixture's state."""
    async with FakeVenues(market) as fake:
        yield fake


def clean_environ(**extra: str) -> dict[str, str]:
    """This process's environment without any of the app's own settings, plus `extra`:
    for subprocesses that must not pick up a developer's configuration. No metadata is
    kept on disk (ARB_CACHE_DIR=off) unless `extra` says where: one fake's replies must
    never answer for another's that reuses its port, nor land in the home directory."""
    prefixes = ("ARB_", "TELEGRAM_", "LLM_", *env_prefixes())
    kept = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**kept, "ARB_CACHE_DIR": "off", **extra}


# Tests scan the four venues their figures were worked for; Bitget and Gate tests opt in.
CORE_VENUES = "bybit,binance,okx,hyperliquid"


def settings_for(fake: FakeVenues, **env: str) -> Settings:
    base = {
        **fake.env(),
        "ARB_HTTP_TIMEOUT_S": "2",
        "ARB_HTTP_RETRIES": "0",
        "ARB_VENUES": CORE_VENUES,
    }
    return parse_settings({**base, **env})


def desk_market(now_ms: int | None = None) -> FakeMarket:
    """A small market mixing 1, 2, 4 and 8 h intervals, negative rates, 1000x contracts
    and a thin leg the turnover filter drops. tests/test_cli.py works its figures by hand."""
    P = FakePerp
    return FakeMarket(
        now_ms=now_ms,
        venues={
            "bybit": [
                P("APE", 0.00031, 1, price=0.13791),
                P("SOPH", -0.00102581, 4, price=0.004136),
                P("PEPE", 0.0001, 8, price=0.0000036339, multiplier=1000),
                P("BTC", 0.0001, 8, price=77607.4),
            ],
            "binance": [
                P("APE", 0.00028, 1, price=0.13787649),
                P("SOPH", -0.0006, 4, price=0.00414),
                P("LDO", -0.0000552, 4, price=0.34988277),
                # Far above everything, but too thin to trade: the turnover filter drops it.
                P("BTC", 0.01, 8, price=77591.2, turnover=1000.0),
            ],
            "okx": [
                P("APE", 0.00052, 4, price=0.1378, ct_val="0.1"),
                P("SOPH", -0.00048, 8, price=0.004149, ct_val="100"),
                P("PEPE", 0.0003, 8, price=0.0000036337, ct_val="10000000"),
                P("LDO", 0.0001, 2, price=0.35),
            ],
            "hyperliquid": [
                P("APE", 0.0000125, 1, price=0.13799),
                P("PEPE", -0.00002, 1, price=0.000003632, multiplier=1000),
                P("LDO", 0.00001, 1, price=0.3499),
                P("BTC", -0.0000015, 1, price=77562.0),
            ],
        },
    )

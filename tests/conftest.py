"""Shared test helpers: fixture files, the fake venues, settings pointed at them."""

from __future__ import annotations

from pathlib import Path

import pytest

from arb.settings import Settings, parse_settings
from tests.fakes.venues import FakeMarket, FakeVenues

FIXTURES = Path(__file__).parent / "fixtures"
T0_MS = 1789015942967  # the instant the fixture snapshot was taken
T0 = T0_MS / 1000


def fixture_bytes(path: str) -> bytes:
    return (FIXTURES / path).read_bytes()


@pytest.fixture
async def fake_venues():
    """The four venues, answering with the recorded fixtures."""
    async with FakeVenues() as fake:
        yield fake


@pytest.fixture
def market() -> FakeMarket:
    return FakeMarket()


@pytest.fixture
async def fake_market(market: FakeMarket):
    """The four venues, answering from the `market` fixture's state."""
    async with FakeVenues(market) as fake:
        yield fake


def settings_for(fake: FakeVenues, **env: str) -> Settings:
    base = {**fake.env(), "ARB_HTTP_TIMEOUT_S": "2", "ARB_HTTP_RETRIES": "0"}
    return parse_settings({**base, **env})

"""The account tests' desk: the fake account of the test module's venue (the name of its
folder) on a running FakeVenues, with that venue's signed clients against it."""

from __future__ import annotations

import pytest

from tests.fakes.private_base import fake_desk


@pytest.fixture
async def desk(request):
    async with fake_desk(request.path.parent.name) as desk:
        yield desk

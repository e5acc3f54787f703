"""What every signed client shares: the server clock, one retry after a timestamp error,
refused keys as AuthError, and keys blanked from whatever a venue echoes back."""

from __future__ import annotations

import asyncio

import pytest

from arb.accounts.base import AuthError, Credentials, PrivateClient, ServerClock
from arb.http import VenueAPIError, VenueHttp, VenueHTTPError

KEY, SECRET = "key-5e1f0c2b", "secret-9a8d7e6f"


class Fake(PrivateClient):
    name = "fakevenue"
    timestamp_codes = frozenset({"10002"})
    auth_codes = frozenset({"10004"})

    def __init__(self, server_ms: list[int]) -> None:
        super().__init__(VenueHttp("fakevenue", "http://127.0.0.1:9"), Credentials(KEY, SECRET))
        self.server_ms = server_ms
        self.time_calls = 0

    async def server_time_ms(self) -> int:
        self.time_calls += 1
        return self.server_ms[0]

    def sign(self, timestamp_ms, path, params):
        return params, {}

    async def balances(self):
        return []

    async def positions(self):
        return []

    async def funding(self, start_ms, end_ms):
        return []


async def test_clock_offset_is_measured_and_applied():
    t = [1000.0]
    clock = ServerClock(lambda: _value(1_003_500), clock=lambda: t[0])
    assert await clock.sync() == 3500
    t[0] += 1
    assert clock.now_ms() == 1_004_500


async def _value(x):
    return x


async def test_a_timestamp_error_resyncs_and_retries_once():
    client = Fake([0])
    sent: list[int] = []

    async def send(ts: int) -> str:
        sent.append(ts)
        if len(sent) == 1:
            raise VenueAPIError("fakevenue", "/x", "10002", "timestamp out of window", False)
        return "ok"

    try:
        client.server_ms[0] = 10**13
        assert await client.signed(send) == "ok"
    finally:
        await client.close()
    assert client.time_calls == 2 and len(sent) == 2


async def test_refused_keys_become_auth_errors_without_the_key():
    client = Fake([10**12])

    async def send(ts: int) -> None:
        raise VenueAPIError("fakevenue", "/x", "10004", f"error sign! origin_string[{KEY}]", False)

    try:
        with pytest.raises(AuthError) as e:
            await client.signed(send)
    finally:
        await client.close()
    assert KEY not in str(e.value) and "***" in str(e.value)
    assert str(e.value).startswith("fakevenue /x: key refused")


async def test_an_echoed_secret_in_any_error_is_blanked():
    client = Fake([10**12])

    async def send(ts: int) -> None:
        raise VenueHTTPError("fakevenue", "/x", 400, f"HTTP 400 (bad {SECRET} / {KEY})")

    try:
        with pytest.raises(Exception) as e:
            await client.signed(send)
    finally:
        await client.close()
    assert SECRET not in str(e.value) and KEY not in str(e.value)


async def test_concurrent_first_requests_measure_the_clock_once():
    calls: list[int] = []
    release = asyncio.Event()

    async def server_ms() -> int:
        calls.append(1)
        await release.wait()
        return 1_003_500

    clock = ServerClock(server_ms, clock=lambda: 1000.0)
    waiting = [asyncio.create_task(clock.ensure()) for _ in range(3)]
    await asyncio.sleep(0)  # every task is past its freshness check, one holds the lock
    release.set()
    await asyncio.gather(*waiting)
    assert calls == [1] and clock.offset_ms == 3_500

"""One test per fault kind, through the real clients against the fake venues."""

from __future__ import annotations

import asyncio
import email.utils
import tracemalloc

import pytest

from arb.accounts.service import private_clients
from arb.http import (
    RetryPolicy,
    VenueAPIError,
    VenueBadResponse,
    VenueBanned,
    VenueHttp,
    VenueHTTPError,
    VenueRateLimited,
    VenueReplyTooLarge,
    VenueTimeout,
)
from arb.market import make_clients
from arb.venues.binance.rest import BinanceClient
from arb.venues.bybit.rest import BybitClient
from arb.venues.hyperliquid.rest import HyperliquidClient
from arb.venues.okx.rest import OkxClient
from arb.wire import READ_CHUNK
from arb.wire.aio import AiohttpWire
from arb.wire.streams import StreamWire
from tests.conftest import settings_for
from tests.fakes.venues import Fault
from tests.venues.binance.fake_rest import BINANCE_PREMIUM
from tests.venues.bybit.fake_rest import BYBIT_TICKERS
from tests.venues.hyperliquid.fake_rest import HL_INFO
from tests.venues.okx.fake_rest import OKX_FUNDING

pytestmark = pytest.mark.usefixtures("each_wire")  # each test over each wire


class Sleeps:
    """Stands in for asyncio.sleep: records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def http_for(fake, venue, sleeps, attempts=3, timeout_s=2.0, **kw):
    return VenueHttp(
        venue,
        fake.url(venue),
        timeout_s=timeout_s,
        retry=RetryPolicy(attempts=attempts),
        sleep=sleeps,
        **kw,
    )


async def fetch(client):
    try:
        return await client.fetch_quotes()
    finally:
        await client.close()


async def test_500_is_retried_with_backoff_then_succeeds(fake_venues):
    sleeps = Sleeps()
    fake_venues.fail("bybit", BYBIT_TICKERS, Fault.http(500, times=2))
    got = await fetch(BybitClient(http_for(fake_venues, "bybit", sleeps)))
    assert len(got.quotes) == 21
    assert fake_venues.hits("bybit", BYBIT_TICKERS) == 3
    assert len(sleeps.waits) == 2
    assert all(0 < w <= 4.25 for w in sleeps.waits)  # exponential, capped, with jitter


async def test_500_every_time_fails_with_status_and_endpoint(fake_venues):
    sleeps = Sleeps()
    fake_venues.fail("bybit", BYBIT_TICKERS, Fault.http(503))
    with pytest.raises(VenueHTTPError) as e:
        await fetch(BybitClient(http_for(fake_venues, "bybit", sleeps)))
    assert e.value.status == 503 and e.value.venue == "bybit"
    assert str(e.value).startswith("bybit /v5/market/tickers: HTTP 503")
    assert "category" not in str(e.value)  # the query string stays out of messages
    assert fake_venues.hits("bybit") == 3


async def test_timeout_is_retried_then_reported(fake_venues):
    sleeps = Sleeps()
    fake_venues.fail("hyperliquid", HL_INFO, Fault("timeout", delay_s=5))
    with pytest.raises(VenueTimeout, match=r"hyperliquid /info: no answer within 0.2 s"):
        await fetch(HyperliquidClient(http_for(fake_venues, "hyperliquid", sleeps, 2, 0.2)))
    assert fake_venues.hits("hyperliquid") == 2


async def test_html_page_is_a_clear_error_and_not_retried(fake_venues):
    sleeps = Sleeps()
    fake_venues.fail("okx", OKX_FUNDING, Fault("html"))
    with pytest.raises(VenueBadResponse, match="HTML page instead of JSON"):
        await fetch(OkxClient(http_for(fake_venues, "okx", sleeps)))
    assert fake_venues.hits("okx", OKX_FUNDING) == 1 and sleeps.waits == []


async def test_html_error_page_with_5xx_says_so(fake_venues):
    fake_venues.fail("bybit", BYBIT_TICKERS, Fault("html", status=502))
    with pytest.raises(VenueHTTPError, match=r"HTTP 502 \(HTML error page\)"):
        await fetch(BybitClient(http_for(fake_venues, "bybit", Sleeps(), attempts=1)))


@pytest.mark.parametrize(
    ("kind", "message"),
    [("garbage", "bad JSON"), ("truncated", "bad JSON"), ("wrong_shape", "wrong-shaped JSON")],
)
async def test_broken_json_is_a_clear_error(fake_venues, kind, message):
    fake_venues.fail("binance", BINANCE_PREMIUM, Fault(kind))
    with pytest.raises(VenueBadResponse, match=f"binance /fapi/v1/premiumIndex: {message}"):
        await fetch(BinanceClient(http_for(fake_venues, "binance", Sleeps())))
    assert fake_venues.hits("binance", BINANCE_PREMIUM) == 1


async def test_venue_error_code_with_http_200_is_typed(fake_venues):
    fake_venues.fail(
        "bybit",
        BYBIT_TICKERS,
        Fault.venue_error({"retCode": 10001, "retMsg": "params error", "result": {}}),
    )
    with pytest.raises(VenueAPIError) as e:
        await fetch(BybitClient(http_for(fake_venues, "bybit", Sleeps())))
    assert e.value.code == "10001"
    assert str(e.value) == "bybit /v5/market/tickers: venue error 10001: params error"
    assert fake_venues.hits("bybit") == 1  # a parameter error does not get better by retrying


async def test_retryable_venue_code_is_retried(fake_venues):
    sleeps = Sleeps()
    fake_venues.fail(
        "okx",
        OKX_FUNDING,
        Fault.venue_error({"code": "50011", "msg": "Too Many Requests", "data": []}, times=1),
    )
    got = await fetch(OkxClient(http_for(fake_venues, "okx", sleeps)))
    assert len(got.quotes) == 20 and len(sleeps.waits) == 1


async def test_429_waits_what_retry_after_says(fake_venues):
    sleeps = Sleeps()
    fake_venues.fail("binance", BINANCE_PREMIUM, Fault.http(429, retry_after="3", times=1))
    got = await fetch(BinanceClient(http_for(fake_venues, "binance", sleeps)))
    assert len(got.quotes) == 8
    assert sleeps.waits == [3.0]


async def test_429_retry_after_as_http_date(fake_venues):
    sleeps = Sleeps()
    now = 1_800_000_000.0
    when = email.utils.formatdate(now + 7, usegmt=True)
    fake_venues.fail("binance", BINANCE_PREMIUM, Fault.http(429, retry_after=when, times=1))
    http = http_for(fake_venues, "binance", sleeps, clock=lambda: now)
    await fetch(BinanceClient(http, clock=lambda: now))
    assert sleeps.waits == [7.0]


async def test_429_with_a_long_retry_after_cools_down_instead_of_waiting(fake_venues):
    sleeps = Sleeps()
    fake_venues.fail("bybit", BYBIT_TICKERS, Fault.http(429, retry_after="120"))
    client = BybitClient(http_for(fake_venues, "bybit", sleeps))
    with pytest.raises(VenueRateLimited, match="Retry-After 120 s"):
        await client.fetch_quotes()
    with pytest.raises(VenueBanned, match="cooling down"):
        await fetch(client)
    assert fake_venues.hits("bybit") == 1 and sleeps.waits == []


@pytest.mark.parametrize("status", [403, 418])
async def test_ip_ban_leaves_the_venue_alone_for_the_ban_period(fake_venues, status):
    t = [1_800_000_000.0]
    fake_venues.fail("bybit", BYBIT_TICKERS, Fault.http(status))
    client = BybitClient(http_for(fake_venues, "bybit", Sleeps(), clock=lambda: t[0], ban_s=600))
    with pytest.raises(VenueBanned, match=f"HTTP {status}"):
        await client.fetch_quotes()
    fake_venues.clear_faults()
    t[0] += 599
    with pytest.raises(VenueBanned, match="1 s left"):
        await client.fetch_quotes()
    assert fake_venues.hits("bybit") == 1  # nothing sent during the ban
    t[0] += 2
    assert len((await fetch(client)).quotes) == 21


async def test_client_error_is_not_retried(fake_venues):
    fake_venues.fail("binance", BINANCE_PREMIUM, Fault.http(400))
    with pytest.raises(VenueHTTPError, match="HTTP 400"):
        await fetch(BinanceClient(http_for(fake_venues, "binance", Sleeps())))
    assert fake_venues.hits("binance", BINANCE_PREMIUM) == 1


async def test_unreachable_venue_is_typed():
    from arb.http import VenueUnreachable

    http = VenueHttp("okx", "http://127.0.0.1:9", retry=RetryPolicy(attempts=1))
    with pytest.raises(VenueUnreachable, match="okx /api/v5/public/funding-rate: connection"):
        await fetch(OkxClient(http))


async def test_one_wire_is_reused_across_calls(fake_venues, each_wire):
    http = http_for(fake_venues, "bybit", Sleeps())
    client = BybitClient(http)
    await client.fetch_quotes()
    wire = http.wire
    assert type(wire) is {"aiohttp": AiohttpWire, "streams": StreamWire}[each_wire]
    await client.fetch_quotes()
    assert http.wire is wire
    await client.close()
    assert wire.closed


# --- bounds: reply size and cool-down ---------------------------------------------

MiB = 1024 * 1024


async def test_a_content_length_over_the_cap_is_refused_without_reading_the_body(fake_venues):
    # The fake sends the headers of a 1 GiB reply and then nothing: a client that waited
    # for the body would time out instead.
    fake_venues.fail("bybit", BYBIT_TICKERS, Fault.huge(1 << 30, hold=True, delay_s=30))
    http = http_for(fake_venues, "bybit", Sleeps(), timeout_s=2.0, max_reply_bytes=MiB)
    started = asyncio.get_running_loop().time()
    with pytest.raises(VenueReplyTooLarge) as e:
        await fetch(BybitClient(http))
    assert asyncio.get_running_loop().time() - started < 1.0
    assert str(e.value) == "bybit /v5/market/tickers: reply too large: more than 1 MiB"
    assert fake_venues.hits("bybit") == 1  # not retried: it would be as large again


async def test_a_chunked_reply_without_end_is_abandoned_at_the_cap(fake_venues):
    fake_venues.fail("binance", BINANCE_PREMIUM, Fault.huge())  # streams until the client goes
    http = http_for(fake_venues, "binance", Sleeps(), timeout_s=5.0, max_reply_bytes=MiB)
    started = asyncio.get_running_loop().time()
    tracemalloc.start()
    try:
        with pytest.raises(VenueReplyTooLarge, match="reply too large: more than 1 MiB"):
            await fetch(BinanceClient(http))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert asyncio.get_running_loop().time() - started < 2.0
    assert MiB < fake_venues.streamed
    # The cap plus one chunk, and the transports' own buffers (this process serves it too).
    assert peak < MiB + READ_CHUNK + 2 * MiB, peak
    assert fake_venues.hits("binance", BINANCE_PREMIUM) == 1


async def test_a_reply_at_the_cap_is_read_whole(fake_venues):
    okx = http_for(fake_venues, "okx", Sleeps(), max_reply_bytes=MiB)
    fake_venues.fail("okx", OKX_FUNDING, Fault.huge(MiB, times=1))
    assert len(await okx.get(OKX_FUNDING, decode=bytes)) == MiB
    fake_venues.fail("okx", OKX_FUNDING, Fault.huge(MiB + 1, declared=True, times=1))
    with pytest.raises(VenueReplyTooLarge):
        await okx.get(OKX_FUNDING, decode=bytes)
    await okx.close()


async def test_a_long_retry_after_is_capped_and_the_message_says_both(fake_venues):
    t = [1_800_000_000.0]
    sleeps = Sleeps()
    fake_venues.fail("bybit", BYBIT_TICKERS, Fault.http(429, retry_after="3600"))
    http = http_for(fake_venues, "bybit", sleeps, clock=lambda: t[0], max_cooldown_s=600)
    client = BybitClient(http)
    with pytest.raises(VenueRateLimited, match="Retry-After 3600 s, pausing 600 s"):
        await client.fetch_quotes()
    assert http.banned_until == t[0] + 600
    fake_venues.clear_faults()
    t[0] += 599
    with pytest.raises(VenueBanned, match="1 s left"):
        await client.fetch_quotes()
    t[0] += 2
    assert len((await fetch(client)).quotes) == 21
    assert fake_venues.hits("bybit") == 2 and sleeps.waits == []


async def test_a_short_retry_after_is_waited_but_never_past_the_cap(fake_venues):
    sleeps = Sleeps()
    fake_venues.fail("binance", BINANCE_PREMIUM, Fault.http(429, retry_after="20", times=1))
    http = http_for(fake_venues, "binance", sleeps, max_cooldown_s=5)
    assert len((await fetch(BinanceClient(http))).quotes) == 8
    assert sleeps.waits == [5.0]


@pytest.mark.parametrize(
    ("status", "retry_after", "cap", "pause", "message"),
    [
        (403, None, 600, 600, "leaving bybit alone for 600 s"),  # the default ban, capped
        (403, None, 120, 120, "leaving bybit alone for 120 s"),
        (418, "3600", 600, 600, "Retry-After 3600 s, leaving bybit alone for 600 s"),
        (418, "60", 600, 60, "leaving bybit alone for 60 s"),
    ],
)
async def test_a_ban_never_lasts_longer_than_the_cap(
    fake_venues, status, retry_after, cap, pause, message
):
    t = 1_800_000_000.0
    fake_venues.fail("bybit", BYBIT_TICKERS, Fault.http(status, retry_after=retry_after))
    http = http_for(fake_venues, "bybit", Sleeps(), clock=lambda: t, ban_s=3600, max_cooldown_s=cap)
    with pytest.raises(VenueBanned) as e:
        await fetch(BybitClient(http))
    assert http.banned_until == t + pause
    assert str(e.value).endswith(message)


async def test_the_bounds_reach_every_client_built_from_settings(fake_venues):
    env = {"ARB_MAX_REPLY_MB": "2", "ARB_MAX_COOLDOWN_S": "90", "BYBIT_API_KEY": "k",
           "BYBIT_API_SECRET": "s"}  # fmt: skip
    settings = settings_for(fake_venues, **env)
    https = [c.http for c in make_clients(settings)]
    https += [c.http for c in private_clients(settings).values()]
    assert len(https) == 5
    assert {(h.max_reply_bytes, h.max_cooldown_s) for h in https} == {(2 * MiB, 90.0)}

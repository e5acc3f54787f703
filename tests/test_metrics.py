"""The ops metrics end to end: the real bot with ARB_METRICS_PORT set, scraped over HTTP and
read with prometheus_client's own parser, while the fakes make venues fail, Telegram answer
429 and storage refuse writes.

The desk market's best spreads per 8 h: APE 0.238 %, SOPH 0.157 % (tests/conftest.py), so a
0.1 % subscription has two crossings, in one message per chat.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

import arb.http
from arb.book import MarketBook
from arb.http import VenueBanned, VenueHttp, VenueHTTPError, VenueTimeout, VenueUnreachable
from arb.market import VenueHealth
from arb.models import Quote, QuoteUpdate
from arb.settings import SettingsError, parse_settings
from bot import metrics as metrics_module
from bot.metrics import PATH, error_kind
from tests.bot_harness import running_bot
from tests.conftest import CORE_VENUES, desk_market
from tests.fakes.venues import FakeVenues, Fault
from tests.venues.bybit.fake_rest import BYBIT_TICKERS
from tests.venues.bybit.fake_stream import FakeBybitWs
from tests.venues.okx.fake_rest import OKX_FUNDING

VENUES = CORE_VENUES.split(",")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Scrape:
    """One scrape of /metrics, parsed by prometheus_client."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.types: dict[str, str] = {}
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def has(self, name: str) -> bool:
        return any(n == name for n, _ in self.samples)


async def scrape(port: int) -> Scrape:
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"http://127.0.0.1:{port}{PATH}") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return Scrape(await resp.text())


async def scrape_until(port: int, probe: Callable[[Scrape], bool], timeout: float = 5.0) -> Scrape:
    """Scrape until `probe` holds (a feed's state moves in its own task); fails on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = await scrape(port)
        if probe(got):
            return got
        assert time.monotonic() < deadline, got.text
        await asyncio.sleep(0.05)


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


# --- settings -------------------------------------------------------------------------


def test_metrics_are_off_by_default_and_listen_on_this_machine_only():
    default = parse_settings({})
    assert default.metrics_port is None and default.metrics_host == "127.0.0.1"
    assert parse_settings({"ARB_METRICS_PORT": "0"}).metrics_port is None
    on = parse_settings({"ARB_METRICS_PORT": "9477", "ARB_METRICS_HOST": "0.0.0.0"})
    assert (on.metrics_port, on.metrics_host) == (9477, "0.0.0.0")
    for bad in ("70000", "-1", "http"):
        with pytest.raises(SettingsError, match="ARB_METRICS_PORT must be a TCP port"):
            parse_settings({"ARB_METRICS_PORT": bad})


# --- the pieces -------------------------------------------------------------------------


def test_error_kinds_are_fixed_words_never_the_error_text():
    assert error_kind(VenueTimeout("okx", "/x", "no answer"), sent=True) == "timeout"
    assert error_kind(VenueUnreachable("okx", "/x", "refused"), sent=True) == "unreachable"
    assert error_kind(VenueHTTPError("okx", "/x", 502, "HTTP 502"), sent=True) == "http_5xx"
    assert error_kind(VenueHTTPError("okx", "/x", 404, "HTTP 404"), sent=True) == "http_4xx"
    assert error_kind(VenueBanned("okx", "/x", "HTTP 418", 0.0), sent=True) == "banned"
    assert error_kind(VenueBanned("okx", "/x", "cooling", 0.0), sent=False) == "cooling_down"


def test_book_age_counts_from_the_last_good_fetch_or_live_update_per_venue():
    now = [1000.0]
    book = MarketBook(["bybit", "okx"], clock=lambda: now[0])
    assert book.data_at("bybit") is None
    ape = Quote("bybit", "APE", "APEUSDT", 0.0003, 1.0, None, 0.14, 1e7, 1e7, 1000.0)
    book.replace([ape], VenueHealth("bybit", last_ok_at=1000.0, quote_count=1))
    now[0] = 1010.0
    book.replace([], VenueHealth("okx", last_error="HTTP 500", last_error_at=1010.0))
    assert (book.data_at("bybit"), book.data_at("okx")) == (1000.0, None)  # a failure is not
    now[0] = 1020.0
    assert book.apply([QuoteUpdate("bybit", "NOPEUSDT", 1020.0, rate=0.001)]) == set()
    assert book.data_at("bybit") == 1000.0  # an update that changed nothing is not news
    assert book.apply([QuoteUpdate("bybit", "APEUSDT", 1020.0, rate=0.0004)]) == {"APE"}
    assert book.data_at("bybit") == 1020.0


async def test_a_failing_observer_never_fails_a_request(venues, caplog):
    def broken(venue: str, seconds: float | None, error: object) -> None:
        raise RuntimeError("observer bug")

    undo = arb.http.observe_requests(broken)
    http = VenueHttp("bybit", venues.url("bybit"), timeout_s=2)
    try:
        body = await http.get(BYBIT_TICKERS, {"category": "linear"}, decode=bytes)
    finally:
        undo()
        await http.close()
    assert body.startswith(b"{")
    assert "request observer failed" in caplog.text
    assert broken not in arb.http._observers


# --- the running bot ------------------------------------------------------------------


async def test_off_nothing_listens_and_nothing_observes(venues, monkeypatch):
    served: list[tuple[str, int]] = []

    async def serve(self, host: str, port: int) -> None:
        served.append((host, port))

    monkeypatch.setattr(metrics_module.Metrics, "serve", serve)
    for env in ({}, {"ARB_METRICS_PORT": "0"}):
        async with running_bot(venues, ARB_SCAN_INTERVAL_S="3600", **env) as bot:
            await bot.cycle()
            assert arb.http._observers == []
    assert served == []


async def test_the_endpoint_counts_requests_alerts_faults_and_waits(venues):
    port = free_port()
    env = dict(ARB_METRICS_PORT=str(port), ARB_SCAN_INTERVAL_S="3600", ARB_ALERT_MIN_GAP_S="0")
    async with running_bot(venues, **env) as bot:
        first = await scrape(port)
        # The start's cycle fetched every venue once, and each answered.
        for venue in VENUES:
            assert first.value("arb_venue_request_seconds_count", venue=venue) >= 1
            assert 0 <= first.value("arb_book_age_seconds", venue=venue) < 60
            assert first.value("arb_venue_rest_ok", venue=venue) == 1
            assert first.value("arb_venue_quotes", venue=venue) > 0
            assert first.value("arb_feed_state", venue=venue, state="off") == 1  # ARB_FEEDS=0
            assert first.value("arb_feed_state", venue=venue, state="live") == 0
        assert first.types["arb_venue_request_seconds"] == "histogram"
        assert first.types["arb_alerts"] == "counter"
        assert first.value("arb_alerts_total", outcome="sent") == 0
        assert first.value("arb_telegram_retry_after_total", lane="alert") == 0
        assert first.value("arb_storage_errors_total") == 0
        assert first.value("arb_storage_failing") == 0
        assert first.value("arb_build_info", version=bot.desk.version) == 1
        assert first.has("process_resident_memory_bytes") and first.has("python_info")
        assert "_created" not in first.text  # half the lines, and nothing reads them
        runs = first.value("arb_alert_runs_total")

        # A subscription, and Telegram answers its first alert with 429 retry after 1 s.
        await bot.ask("/subscribe 0.1%", chat_id=3101)
        bot.tg.fail_next("sendMessage", 429, retry_after=1)
        report = await bot.cycle()
        assert report.sent == 1
        sent = await scrape(port)
        assert sent.value("arb_alerts_total", outcome="sent") == 1
        assert sent.value("arb_alert_runs_total") == runs + 1
        assert sent.value("arb_telegram_retry_after_total", lane="alert") == 1
        assert sent.value("arb_telegram_retry_after_seconds_total", lane="alert") == 1.0
        assert sent.value("arb_telegram_retry_after_total", lane="reply") == 0

        # OKX's funding endpoint fails: its error is counted by kind, its data ages.
        okx_requests = sent.value("arb_venue_request_seconds_count", venue="okx")
        bot.venues.fail("okx", OKX_FUNDING, Fault.http(500))
        await bot.desk.service.refresh()
        faulty = await scrape(port)
        assert faulty.value("arb_venue_request_errors_total", venue="okx", kind="http_5xx") >= 1
        assert faulty.value("arb_venue_request_seconds_count", venue="okx") > okx_requests
        assert faulty.value("arb_venue_rest_ok", venue="okx") == 0
        assert faulty.value("arb_venue_rest_ok", venue="bybit") == 1
        assert ("arb_venue_request_errors_total", frozenset({("venue", "bybit"),
                ("kind", "http_5xx")})) not in faulty.samples  # fmt: skip
        bot.venues.clear_faults()

        # Telegram refuses the next alert outright: failed.
        bot.desk.alerts.states.clear()  # the crossings alert again
        bot.tg.fail_next("sendMessage", 400, "Bad Request: message is too long")
        assert (await bot.cycle()).failed == 1
        assert (await scrape(port)).value("arb_alerts_total", outcome="failed") == 1


async def test_storage_errors_and_held_alerts(venues):
    port = free_port()
    async with running_bot(venues, ARB_METRICS_PORT=str(port), ARB_SCAN_INTERVAL_S="3600") as bot:
        await bot.ask("/subscribe 0.1%", chat_id=3201)
        await bot.desk.store.db.conn.execute("PRAGMA query_only = ON")  # writes refused
        assert (await bot.cycle()).held == 2
        failing = await scrape(port)
        assert failing.value("arb_storage_errors_total") >= 1
        assert failing.value("arb_storage_failing") == 1
        assert failing.value("arb_alerts_held") == 2
        assert failing.value("arb_alerts_total", outcome="held") == 1  # one message, deferred
        await bot.desk.store.db.conn.execute("PRAGMA query_only = OFF")
        assert (await bot.cycle()).sent == 1
        back = await scrape(port)
        assert back.value("arb_storage_failing") == 0 and back.value("arb_alerts_held") == 0
        assert back.value("arb_alerts_total", outcome="sent") == 1
        assert back.value("arb_storage_errors_total") == failing.value("arb_storage_errors_total")


async def test_feed_state_per_venue_live_and_reconnecting(tmp_path):
    port, nowhere = free_port(), free_port()
    async with FakeVenues(desk_market()) as venues, FakeBybitWs() as bybit:
        env = {
            "ARB_METRICS_PORT": str(port),
            "ARB_FEEDS": "1",
            "ARB_VENUES": "bybit,okx",
            "BYBIT_WS_URL": bybit.url,
            "OKX_WS_URL": f"ws://127.0.0.1:{nowhere}/ws",  # nothing listens there
            "ARB_SCAN_INTERVAL_S": "3600",
        }
        async with running_bot(venues, **env):
            await bybit.wait_subscribed(1, ["APEUSDT"])
            await bybit.push_quote("APEUSDT", rate=0.0004)
            got = await scrape_until(
                port,
                lambda s: (
                    s.value("arb_feed_state", venue="bybit", state="live") == 1
                    and s.value("arb_feed_reconnects_total", venue="okx") >= 1
                ),
            )
            assert got.value("arb_feed_state", venue="okx", state="reconnecting") == 1
            assert got.value("arb_feed_state", venue="okx", state="live") == 0
            assert got.value("arb_feed_reconnects_total", venue="bybit") == 0
            assert got.value("arb_book_age_seconds", venue="bybit") < 60


async def test_a_port_in_use_is_an_error_line_and_the_bot_runs_on(venues, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        caplog.set_level(logging.ERROR, logger="bot.metrics")
        async with running_bot(venues, ARB_METRICS_PORT=str(port)) as bot:
            reply = await bot.ask("/status")
            assert "bybit" in reply.plain
            assert arb.http._observers == []
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bot.metrics"]
    assert line.startswith(f"ARB_METRICS_PORT={port}: cannot listen on 127.0.0.1")
    assert line.endswith("running without metrics")


async def test_stopping_the_bot_closes_the_port_and_drops_the_observer(venues):
    port = free_port()
    async with running_bot(venues, ARB_METRICS_PORT=str(port)):
        assert len(arb.http._observers) == 1
        assert not await refused(port)
    assert await refused(port)
    assert arb.http._observers == []

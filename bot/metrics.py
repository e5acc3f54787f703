"""Metrics for ops: the Prometheus text format at /metrics on ARB_METRICS_PORT (off by default).

Served by an aiohttp route in the bot's own event loop rather than prometheus_client's
server thread: a scrape reads the desk's state (books, feeds, alert outcomes, the rate
limiter, storage health) on the loop that changes it, so no lock is needed and no read
can catch a dict mid-change; the server starts and stops with the bot. It listens on
ARB_METRICS_HOST, 127.0.0.1 unless set, so that nothing is exposed by accident.

Two sources. Venue requests are events: `arb.http` tells every attempt to its request
observers, and one of them feeds the latency histogram and the error counter, so `arb`
needs no metrics library. Everything else is read at scrape time from what the desk
already counts (`DeskCollector`). Labels are venues, lanes, outcomes and kinds: a small,
fixed set; never a chat, an asset or anything secret. Each app has its own registry with
the process, platform and GC collectors, so two bots in one process (tests) never share
a series.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from telegram.ext import Application

from arb.http import (
    VenueAPIError,
    VenueBadResponse,
    VenueBanned,
    VenueError,
    VenueHTTPError,
    VenueRateLimited,
    VenueReplyTooLarge,
    VenueTimeout,
    VenueUnreachable,
    observe_requests,
)
from arb.settings import Settings
from bot.desk import DESK_KEY, Desk
from bot.ratelimit import LANE_NAMES

log = logging.getLogger(__name__)

PATH = "/metrics"
# A venue request's seconds: most answer in tens of milliseconds to a second; a timeout
# lands at ARB_HTTP_TIMEOUT_S (10 s by default).
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ERROR_KINDS: tuple[tuple[type[VenueError], str], ...] = (
    (VenueTimeout, "timeout"),
    (VenueUnreachable, "unreachable"),
    (VenueRateLimited, "rate_limited"),
    (VenueBanned, "banned"),
    (VenueReplyTooLarge, "too_large"),
    (VenueBadResponse, "bad_response"),
    (VenueAPIError, "venue_error"),
)
FEED_STATES = ("live", "connected", "reconnecting", "off")
# Every result Alerts records, so each series exists (at 0) from the first scrape.
ALERT_OUTCOMES = ("sent", "migrated", "failed", "unknown", "held", "deactivated", "interrupted")


def error_kind(error: VenueError, sent: bool) -> str:
    """The kind label of a failed attempt: a fixed word, never the error's text."""
    if not sent:
        return "cooling_down"  # refused here: the venue banned us or asked us to wait
    if isinstance(error, VenueHTTPError):
        return "http_5xx" if error.status >= 500 else "http_4xx"
    return next((kind for cls, kind in ERROR_KINDS if isinstance(error, cls)), "other")


def feed_state(desk: Desk, venue: str) -> str:
    """live: open and talking; connected: open but quiet past its allowance (or nothing
    heard yet); reconnecting: down, retrying; off: no feed (ARB_FEEDS=0 or none)."""
    feed = desk.service.book.health_of(venue).feed
    if feed is None:
        return "off"
    if not feed.connected:
        return "reconnecting"
    return "live" if desk.service.feed_live(venue) else "connected"


class DeskCollector:
    """What the desk counts, read at scrape time."""

    def __init__(self, app: Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        desk: Desk | None = self.app.bot_data.get(DESK_KEY)
        if desk is None:
            return
        yield from self._venues(desk)
        yield from self._alerts(desk)
        yield from self._telegram()
        yield from self._storage(desk)
        info = GaugeMetricFamily("arb_build_info", "The running build.", labels=["version"])
        info.add_metric([desk.version], 1)
        yield info

    def _venues(self, desk: Desk) -> Iterator[Metric]:
        service = desk.service
        now = service.clock()
        age = GaugeMetricFamily(
            "arb_book_age_seconds",
            "Seconds since the venue's data last came good (a whole REST fetch or a live "
            "update); +Inf before any.",
            labels=["venue"],
        )
        quotes = GaugeMetricFamily(
            "arb_venue_quotes", "Quotes held for the venue, fresh or not.", labels=["venue"]
        )
        rest_ok = GaugeMetricFamily(
            "arb_venue_rest_ok", "1 if the venue's latest REST fetch gave quotes.",
            labels=["venue"],
        )  # fmt: skip
        state = GaugeMetricFamily(
            "arb_feed_state",
            "The venue's live feed: 1 for its state (live, connected but quiet, "
            "reconnecting, off), 0 for the others.",
            labels=["venue", "state"],
        )
        reconnects = CounterMetricFamily(
            "arb_feed_reconnects", "Times the venue's live feed reconnected.", labels=["venue"]
        )
        for h in service.health():
            at = service.book.data_at(h.venue)
            age.add_metric([h.venue], math.inf if at is None else max(0.0, now - at))
            quotes.add_metric([h.venue], h.quote_count)
            rest_ok.add_metric([h.venue], int(h.ok))
            current = feed_state(desk, h.venue)
            for s in FEED_STATES:
                state.add_metric([h.venue, s], int(s == current))
            if h.feed is not None:
                reconnects.add_metric([h.venue], h.feed.reconnects)
        yield from (age, quotes, rest_ok, state, reconnects)
        yield CounterMetricFamily(
            "arb_market_refreshes", "REST refreshes of the market.", value=service.refreshes
        )

    def _alerts(self, desk: Desk) -> Iterator[Metric]:
        alerts = desk.alerts
        outcomes = CounterMetricFamily(
            "arb_alerts",
            "Alert messages by outcome (market and risk alerts): sent, migrated (sent to the "
            "group's new supergroup), failed (Telegram refused), unknown (may have landed; "
            "resent once marked), held (deferred while storage failed; counted again when it "
            "goes), deactivated (chat gone), interrupted (left for the next start).",
            labels=["outcome"],
        )
        for outcome in dict.fromkeys((*ALERT_OUTCOMES, *alerts.outcomes)):
            outcomes.add_metric([outcome], alerts.outcomes[outcome])
        yield outcomes
        yield GaugeMetricFamily(
            "arb_alerts_held", "Crossings held in memory while storage refuses writes.",
            value=alerts.held_crossings,
        )  # fmt: skip
        yield CounterMetricFamily("arb_alert_runs", "Alert runs.", value=alerts.cycles)

    def _telegram(self) -> Iterator[Metric]:
        limiter = self.app.bot.rate_limiter
        counts = getattr(limiter, "retry_afters", None)
        if counts is None:
            return
        waits = limiter.retry_after_waits_s  # type: ignore[union-attr]
        retries = CounterMetricFamily(
            "arb_telegram_retry_after",
            "Telegram RetryAfter (429) answers to message requests, by lane (reply, alert).",
            labels=["lane"],
        )
        waited = CounterMetricFamily(
            "arb_telegram_retry_after_seconds",
            "Seconds paused for Telegram RetryAfter answers, by lane.",
            labels=["lane"],
        )
        for lane in LANE_NAMES:
            retries.add_metric([lane], counts[lane])
            waited.add_metric([lane], waits[lane])
        yield retries
        yield waited
        yield GaugeMetricFamily(
            "arb_telegram_waiting", "Message requests waiting for their turn (rate limiter).",
            value=limiter.waiting,  # type: ignore[union-attr]
        )  # fmt: skip

    def _storage(self, desk: Desk) -> Iterator[Metric]:
        health = desk.store.db.health
        yield CounterMetricFamily(
            "arb_storage_errors", "Database operations that failed.", value=health.errors
        )
        yield GaugeMetricFamily(
            "arb_storage_failing", "1 while the database refuses writes.", value=int(health.failing)
        )


class Metrics:
    """The registry of one running bot and the server that exposes it."""

    def __init__(self, app: Application) -> None:
        # A _created series per counter and histogram doubles a scrape, and Prometheus reads
        # none of them from the text format (a process-wide switch: this process is the bot).
        disable_created_metrics()
        registry = self.registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.latency = Histogram(
            "arb_venue_request_seconds",
            "Venue REST request attempts (retries each count), by venue, answered or not.",
            ["venue"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "arb_venue_request_errors",
            "Failed venue REST attempts by kind: timeout, unreachable, http_4xx, http_5xx, "
            "rate_limited, banned, cooling_down (not sent), too_large, bad_response, "
            "venue_error, other.",
            ["venue", "kind"],
            registry=registry,
        )
        desk: Desk = app.bot_data[DESK_KEY]
        for venue in desk.service.venues:  # each venue's series from the first scrape
            self.latency.labels(venue)
        registry.register(DeskCollector(app))
        self._undo: Callable[[], None] | None = observe_requests(self.on_request)
        self._runner: web.AppRunner | None = None

    def on_request(self, venue: str, seconds: float | None, error: VenueError | None) -> None:
        if seconds is not None:
            self.latency.labels(venue).observe(seconds)
        if error is not None:
            self.errors.labels(venue, error_kind(error, sent=seconds is not None)).inc()

    async def scrape(self, request: web.Request) -> web.Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self.registry), headers={"Content-Type": content_type})

    async def serve(self, host: str, port: int) -> None:
        server = web.Application()
        server.router.add_get(PATH, self.scrape)
        runner = web.AppRunner(server, access_log=None)  # a scrape every 15 s is no news
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def close(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def start_metrics(settings: Settings, app: Application) -> Metrics | None:
    """The metrics server, if ARB_METRICS_PORT is set. A port it cannot listen on is an
    ERROR line and no metrics: the bot's alerts matter more than its graphs."""
    if settings.metrics_port is None:
        return None
    host, port = settings.metrics_host, settings.metrics_port
    metrics = Metrics(app)
    try:
        await metrics.serve(host, port)
    except OSError as e:
        await metrics.close()
        log.error("ARB_METRICS_PORT=%d: cannot listen on %s (%s); running without metrics",
                  port, host, e.strerror or e)  # fmt: skip
        return None
    log.info("metrics at http://%s:%d%s", f"[{host}]" if ":" in host else host, port, PATH)
    return metrics

"""One venue's live WebSocket feed: connect, subscribe, heartbeat, read, reconnect.

A `Dialect` is what differs per venue (URL, subscribe messages and their
batching, the heartbeat, parsing frames into `QuoteUpdate`s, delta state); `Feed`
is what every venue shares: the connection loop. It reconnects with
exponential backoff and jitter after any failure, treats a connection that
has been silent for the dialect's `silence_s` as dead, re-seeds the book from
REST (through `on_connect`) and resubscribes after every reconnect, and keeps
a `FeedState` for /status, which calls an open connection silent once no frame
has come for the dialect's `quiet_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from arb.models import QuoteUpdate

log = logging.getLogger(__name__)


STABLE_S = 30.0  # a session that lasted this long resets the backoff
# The largest frame a venue sends is Binance's all-market mark prices, about 150 bytes a
# symbol (~100 KiB); websockets buffers up to MAX_QUEUE frames before it stops reading,
# so a hostile or broken server holds at most MAX_QUEUE x MAX_FRAME_BYTES of ours.
MAX_FRAME_BYTES = 2**20
MAX_QUEUE = 16


class FeedError(Exception):
    """The venue refused a subscription or sent something the dialect cannot accept."""


class Dialect(ABC):
    """One venue's WebSocket protocol. Instances may keep per-connection state."""

    venue: ClassVar[str]
    ping_every_s: ClassVar[float] = 20.0  # an app-level ping this often (if `ping()` gives one)
    silence_s: ClassVar[float] = 30.0  # no frame at all for this long: the connection is dead
    protocol_pings: ClassVar[bool] = False  # send WebSocket ping frames instead

    @abstractmethod
    def url(self, base_url: str) -> str:
        """The URL to connect to, from the configured <VENUE>_WS_URL."""

    @abstractmethod
    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        """Subscribe messages for these venue symbols, batched within the venue's limits
        (empty when the URL itself subscribes, as Binance's all-market stream does)."""

    def ping(self) -> str | None:
        """The app-level ping frame, or None when the venue needs none."""
        return None

    @property
    def quiet_s(self) -> float:
        """No frame for longer than this and an open connection is shown as silent.

        The venue answers every app-level ping, so a healthy connection hears something
        at least every `ping_every_s`: silent is halfway from that to the `silence_s` cut.
        A dialect without pings (a stream that pushes every second): half of `silence_s`.
        """
        if self.ping() is None:
            return self.silence_s / 2
        return min(self.silence_s, (self.ping_every_s + self.silence_s) / 2)

    @abstractmethod
    def parse(self, frame: str | bytes, received_at: float) -> list[QuoteUpdate]:
        """Updates in one frame; [] for acks and pongs. Raise FeedError when the venue
        refused a subscription."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget per-connection state (delta bases) before a reconnect."""


@dataclass
class FeedState:
    venue: str
    quiet_s: float = 30.0  # no message for longer than this: the connection is silent
    connected: bool = False
    connected_at: float | None = None
    last_message_at: float | None = None
    disconnected_at: float | None = None
    reconnects: int = 0
    messages: int = 0
    last_error: str | None = None

    def live(self, now: float, max_silence_s: float) -> bool:
        return (
            self.connected
            and self.last_message_at is not None
            and now - self.last_message_at <= max_silence_s
        )

    @property
    def heard_since_connect(self) -> bool:
        """Whether a message has come on the open connection (not only on an earlier one)."""
        return (
            self.connected
            and self.last_message_at is not None
            and (self.connected_at is None or self.last_message_at >= self.connected_at)
        )

    def silent_for(self, now: float) -> float | None:
        """Seconds an open connection has gone without a message (since it opened, if none
        came on it yet), once that is past `quiet_s`; None while it talks or when it is down."""
        if not self.connected:
            return None
        heard = self.last_message_at if self.heard_since_connect else self.connected_at
        if heard is None or now - heard <= self.quiet_s:
            return None
        return now - heard


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.3  # +- this share of the delay

    def delay(self, failures: int, rng: random.Random) -> float:
        base = min(self.max_s, self.initial_s * 2 ** max(0, failures - 1))
        return base * (1 + rng.uniform(-self.jitter, self.jitter))


class Feed:
    def __init__(
        self,
        dialect: Dialect,
        base_url: str,
        symbols: Callable[[], Awaitable[Sequence[str]]],
        on_updates: Callable[[list[QuoteUpdate]], None],
        *,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        """`symbols()` seeds the book from REST and returns what to subscribe to; it runs
        before every (re)connect, so the book is whole again when updates resume."""
        self.dialect = dialect
        self.url = dialect.url(base_url)
        self._symbols = symbols
        self._on_updates = on_updates
        self.backoff = backoff or Backoff()
        self.clock = clock
        self._rng = rng or random.Random()
        self.state = FeedState(dialect.venue, quiet_s=dialect.quiet_s)

    async def run(self) -> None:
        """Until cancelled: stay connected, or keep trying to."""
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await self._session()
                # A server that closes cleanly right away is failing too: back off from it.
                failures = 0 if time.monotonic() - started > STABLE_S else failures + 1
            except asyncio.CancelledError:
                raise
            except (OSError, WebSocketException, TimeoutError, FeedError, ValueError) as e:
                failures = 1 if time.monotonic() - started > STABLE_S else failures + 1
                self.state.last_error = f"{type(e).__name__}: {e}"[:200]
                log.warning("%s feed: %s", self.dialect.venue, self.state.last_error)
            finally:
                if self.state.connected:
                    self.state.connected = False
                    self.state.disconnected_at = self.clock()
                self.dialect.reset()
            delay = self.backoff.delay(failures, self._rng) if failures else 0.05
            self.state.reconnects += 1
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        # Seed first: a venue may drop a connection that has not subscribed within seconds
        # (OKX: 30 s), and a REST seed can take that long on a bad day.
        symbols = await self._symbols()
        async with connect(
            self.url,
            ping_interval=20.0 if self.dialect.protocol_pings else None,
            open_timeout=10.0,
            close_timeout=2.0,
            max_size=MAX_FRAME_BYTES,
            max_queue=MAX_QUEUE,
        ) as ws:
            for message in self.dialect.subscribe(symbols):
                await ws.send(message)
            now = self.clock()
            self.state.connected, self.state.connected_at = True, now
            log.info("%s feed connected, %d symbols", self.dialect.venue, len(symbols))
            pinger = asyncio.create_task(self._ping(ws))
            try:
                await self._read(ws)
            finally:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinger

    async def _read(self, ws: ClientConnection) -> None:
        while True:
            try:
                async with asyncio.timeout(self.dialect.silence_s):
                    frame = await ws.recv()
            except TimeoutError:
                raise TimeoutError(f"silent for {self.dialect.silence_s:g} s") from None
            received_at = self.clock()
            self.state.last_message_at = received_at
            self.state.messages += 1
            updates = self.dialect.parse(frame, received_at)
            self.state.last_error = None  # the venue talks and accepted what we sent
            if updates:
                self._on_updates(updates)

    async def _ping(self, ws: ClientConnection) -> None:
        frame = self.dialect.ping()
        if frame is None:
            return
        while True:
            await asyncio.sleep(self.dialect.ping_every_s)
            await ws.send(frame)

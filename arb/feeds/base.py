"""One venue's live WebSocket feed: connect, subscribe, heartbeat, read, reconnect.

A `Dialect` is what differs per venue (URL, subscribe messages and their
batching, the heartbeat, parsing frames into `QuoteUpdate`s, delta state); `Feed`
is what every venue shares: the connection loop. It reconnects with
exponential backoff and jitter after any failure, treats a connection that
has been silent for the dialect's `silence_s` as dead, re-seeds the book from
REST (through `on_connect`) and resubscribes after every reconnect, and keeps
a `FeedState` for /status, which calls an open connection silent once no frame
has come for the dialect's `quiet_s`.

A symbol the venue refuses (`SymbolsRefused`, raised by the dialect when the refusal
names it) costs only itself: the feed logs it once, stops subscribing it, resends what
the refusal took down with it, and keeps the connection. Every frame we send goes
through one queue, paced under the dialect's `max_messages_per_s` where it has one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from arb.models import QuoteUpdate
from arb.network import host_of, network_cause

log = logging.getLogger(__name__)


STABLE_S = 30.0  # a session that lasted this long resets the backoff
# The largest frame a venue sends is an all-market mark-price push, about 150 bytes a
# symbol (~100 KiB); websockets buffers up to MAX_QUEUE frames before it stops reading,
# so a hostile or broken server holds at most MAX_QUEUE x MAX_FRAME_BYTES of ours.
MAX_FRAME_BYTES = 2**20
MAX_QUEUE = 16


T = TypeVar("T")


class FeedError(Exception):
    """The venue refused a subscription or sent something the dialect cannot accept."""


class SymbolsRefused(FeedError):
    """The venue refused to stream these symbols, and said which: the feed drops them and
    keeps the connection. `resend` are symbols of the same request that the venue turned
    away with them (it refuses whole requests) and that should be asked for again."""

    def __init__(self, message: str, symbols: Iterable[str], resend: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.symbols = frozenset(symbols)
        self.resend = tuple(resend)


def with_default_path(base_url: str, default_path: str) -> str:
    """The configured URL without a trailing slash; a bare host gets `default_path`."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") or default_path))


def decode_or_skip(decode: Callable[[str | bytes], T], frame: str | bytes, venue: str) -> T | None:
    """A frame of ours, or None for JSON of another shape (skipped, logged at debug level:
    a venue pushing many frames a second in a changed format would flood the log).
    Raises ValueError for a frame that is not JSON at all: the loop reconnects."""
    try:
        return decode(frame)
    except msgspec.ValidationError as e:
        log.debug("%s feed: skipped a frame: %s", venue, e)
        return None
    except msgspec.DecodeError as e:
        raise ValueError(f"not JSON: {e}") from None


def row_updates(
    rows: Iterable[msgspec.Raw],
    decode: Callable[[msgspec.Raw], T],
    to_update: Callable[[T, float], QuoteUpdate | None],
    received_at: float,
    venue: str,
) -> list[QuoteUpdate]:
    """One update per readable row of a push; a junk row is skipped, the others count."""
    updates: list[QuoteUpdate] = []
    for raw in rows:
        try:
            update = to_update(decode(raw), received_at)
        except msgspec.ValidationError as e:
            log.debug("%s feed: skipped a row: %s", venue, e)
            continue
        if update is not None:
            updates.append(update)
    return updates


class Dialect(ABC):
    """One venue's WebSocket protocol. Instances may keep per-connection state."""

    venue: ClassVar[str]
    ping_every_s: ClassVar[float] = 20.0  # an app-level ping this often (if `ping()` gives one)
    silence_s: ClassVar[float] = 30.0  # no frame at all for this long: the connection is dead
    protocol_pings: ClassVar[bool] = False  # send WebSocket ping frames instead
    default_path: ClassVar[str]  # the stream's path on the venue's host
    # At most this many frames a second leave a connection (subscribes and pings alike);
    # None: the venue sets no limit we could reach.
    max_messages_per_s: ClassVar[float | None] = None

    def url(self, base_url: str) -> str:
        """The URL to connect to, from the configured <VENUE>_WS_URL: that URL, or, for a
        bare host (which serves no stream), the host with the venue's `default_path`."""
        return with_default_path(base_url, self.default_path)

    @abstractmethod
    def subscribe(self, symbols: Sequence[str]) -> list[str]:
        """Subscribe messages for these venue symbols, batched within the venue's limits
        (empty when the URL itself subscribes, as an all-market stream's does)."""

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
        """Updates in one frame; [] for acks and pongs. Raise SymbolsRefused when the venue
        refused some symbols and named them, FeedError for any other refusal."""

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
    unreachable: str | None = None  # the network kind (arb.network) of a failed connect

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
        pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`symbols()` seeds the book from REST and returns what to subscribe to; it runs
        before every (re)connect, so the book is whole again when updates resume.
        `pause(s)` spaces the frames of a dialect with a message rate."""
        self.dialect = dialect
        self.url = dialect.url(base_url)
        self._symbols = symbols
        self._on_updates = on_updates
        self.backoff = backoff or Backoff()
        self.clock = clock
        self._rng = rng or random.Random()
        self._pause = pause
        self.state = FeedState(dialect.venue, quiet_s=dialect.quiet_s)
        self.refused: set[str] = set()  # symbols the venue would not stream: never asked again

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
                self._failed(e)
                log.warning("%s feed: %s", self.dialect.venue, self.state.last_error)
            finally:
                if self.state.connected:
                    self.state.connected = False
                    self.state.disconnected_at = self.clock()
                self.dialect.reset()
            delay = self.backoff.delay(failures, self._rng) if failures else 0.05
            self.state.reconnects += 1
            await asyncio.sleep(delay)

    def _failed(self, e: BaseException) -> None:
        """Keep why the connection failed: the host and the cause in words when it never
        opened for a network reason (DNS, refused, timed out, TLS), else the error."""
        cause = None if self.state.connected else network_cause(e, host_of(self.url))
        self.state.unreachable = cause.kind if cause is not None else None
        text = cause.text if cause is not None else f"{type(e).__name__}: {e}"
        self.state.last_error = text[:200]

    async def _session(self) -> None:
        # Seed first: a venue may drop a connection that has not subscribed within seconds
        # (30 s on one), and a REST seed can take that long on a bad day.
        symbols = [s for s in await self._symbols() if s not in self.refused]
        async with connect(
            self.url,
            ping_interval=20.0 if self.dialect.protocol_pings else None,
            open_timeout=10.0,
            close_timeout=2.0,
            max_size=MAX_FRAME_BYTES,
            max_queue=MAX_QUEUE,
        ) as ws:
            outbox: asyncio.Queue[str] = asyncio.Queue()
            for message in self.dialect.subscribe(symbols):
                outbox.put_nowait(message)
            now = self.clock()
            self.state.connected, self.state.connected_at = True, now
            log.info("%s feed connected, %d symbols", self.dialect.venue, len(symbols))
            helpers = [
                asyncio.create_task(self._send(ws, outbox)),
                asyncio.create_task(self._ping(outbox)),
            ]
            try:
                await self._read(ws, outbox)
            finally:
                for task in helpers:
                    task.cancel()
                for task in helpers:
                    # A send on a closed connection fails there too: the reader reports it.
                    with contextlib.suppress(asyncio.CancelledError, WebSocketException):
                        await task

    async def _read(self, ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        while True:
            try:
                async with asyncio.timeout(self.dialect.silence_s):
                    frame = await ws.recv()
            except TimeoutError:
                raise TimeoutError(f"silent for {self.dialect.silence_s:g} s") from None
            received_at = self.clock()
            self.state.last_message_at = received_at
            self.state.messages += 1
            try:
                updates = self.dialect.parse(frame, received_at)
            except SymbolsRefused as refusal:
                self._drop(refusal, outbox)
                updates = []
            self.state.last_error = None  # the venue talks and accepted what we sent
            self.state.unreachable = None
            if updates:
                self._on_updates(updates)

    def _drop(self, refusal: SymbolsRefused, outbox: asyncio.Queue[str]) -> None:
        """Stop asking for what the venue refused (said once, not at every reconnect) and
        ask again for what it turned away with it."""
        new = refusal.symbols - self.refused
        self.refused |= refusal.symbols
        if new:
            log.warning(
                "%s feed: %s refused, not subscribed again (they keep their REST quotes): %s",
                self.dialect.venue,
                ", ".join(sorted(new)),
                refusal,
            )
        resend = [s for s in refusal.resend if s not in self.refused]
        for message in self.dialect.subscribe(resend) if resend else ():
            outbox.put_nowait(message)

    async def _send(self, ws: ClientConnection, outbox: asyncio.Queue[str]) -> None:
        """Every frame we send, in order, at most `max_messages_per_s` of them a second."""
        rate = self.dialect.max_messages_per_s
        while True:
            await ws.send(await outbox.get())
            if rate:
                await self._pause(1 / rate)

    async def _ping(self, outbox: asyncio.Queue[str]) -> None:
        frame = self.dialect.ping()
        if frame is None:
            return
        while True:
            await asyncio.sleep(self.dialect.ping_every_s)
            outbox.put_nowait(frame)

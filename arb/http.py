"""The one HTTP layer every venue client shares.

One reused connection pool per venue, a timeout on every request, retries with
exponential backoff and jitter where a retry can help (timeouts, connection
errors, 5xx, 429 and venue rate-limit codes), Retry-After honoured, and a venue
that answers 403/418 (an IP ban) left alone for the ban period. No cool-down,
asked or assumed, lasts longer than `max_cooldown_s`, and no reply is read past
`max_reply_bytes`. Every failure becomes a `VenueError` naming the venue and
the endpoint; query strings are never part of the name, so nothing signed ever
reaches a message or a log. Each attempt is told to the request observers
(`observe_requests`): how ops metrics see every venue without arb knowing of them.

Only the wire is pluggable (`Wire`: one request in, status, headers and body out, or a
`WireError`); everything above stays here. The bot's wire is aiohttp's (arb.wire.aio);
the one-shot CLI's is h11 over asyncio's streams (arb.wire.streams, chosen with `wired`),
which spares a process that makes a handful of requests the import of aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from arb.network import host_of, network_cause
from arb.wire import Wire, WireCutOff, WireTooLarge, WireUnreachable

log = logging.getLogger(__name__)

T = TypeVar("T")


class VenueError(Exception):
    """A venue call failed. `str()` is one line a desk can read."""

    retryable = False

    def __init__(self, venue: str, endpoint: str, reason: str) -> None:
        super().__init__(f"{venue} {endpoint}: {reason}")
        self.venue = venue
        self.endpoint = endpoint
        self.reason = reason


class VenueTimeout(VenueError):
    retryable = True


class VenueUnreachable(VenueError):
    retryable = True


class VenueHTTPError(VenueError):
    def __init__(
        self, venue: str, endpoint: str, status: int, reason: str, code: str | None = None
    ) -> None:
        super().__init__(venue, endpoint, reason)
        self.status = status
        self.code = code  # the venue's own error code from the body, when it sent one
        self.retryable = status >= 500


class VenueRateLimited(VenueError):
    def __init__(
        self, venue: str, endpoint: str, reason: str, retry_after: float | None, retryable: bool
    ) -> None:
        super().__init__(venue, endpoint, reason)
        self.retry_after = retry_after
        self.retryable = retryable


class VenueBanned(VenueError):
    """The venue banned our IP (403/418) or asked us to stay away: no request is sent."""

    def __init__(self, venue: str, endpoint: str, reason: str, until: float) -> None:
        super().__init__(venue, endpoint, reason)
        self.until = until


class VenueReplyTooLarge(VenueError):
    """The reply is larger than the cap: refused on its Content-Length, or abandoned
    while streaming as soon as it passes the cap. Not retried: it would be as large again."""


class VenueBadResponse(VenueError):
    """HTML instead of JSON, truncated or garbage JSON, or JSON of the wrong shape."""


class VenueAPIError(VenueError):
    """The venue answered with a non-zero code of its own (retCode, code, label)."""

    def __init__(self, venue: str, endpoint: str, code: str, message: str, retryable: bool) -> None:
        super().__init__(venue, endpoint, f"venue error {code}: {message}")
        self.code = code
        self.retryable = retryable


class ReplyError(Exception):
    """Raised by a venue's decoder for a well-formed reply that carries an error code."""

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable


class ReplyShapeError(Exception):
    """Raised by a venue's decoder when a reply parses but does not hold what it must."""


# Called after every attempt with the venue, its seconds (None: not sent, the venue is
# cooling down after a ban) and its error (None: it succeeded). An attempt cancelled by a
# deadline is not told: it has no outcome.
RequestObserver = Callable[[str, float | None, VenueError | None], None]
_observers: list[RequestObserver] = []


def observe_requests(observer: RequestObserver) -> Callable[[], None]:
    """Have `observer` told of every request attempt of every venue; returns its undo."""
    _observers.append(observer)

    def undo() -> None:
        with contextlib.suppress(ValueError):
            _observers.remove(observer)

    return undo


def _tell(venue: str, seconds: float | None, error: VenueError | None) -> None:
    for observer in list(_observers):
        try:
            observer(venue, seconds, error)
        except Exception:  # an observer's bug must never fail a request
            log.exception("request observer failed")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 4.0
    jitter_s: float = 0.25
    # A Retry-After longer than this is not waited out inside one call: the
    # venue is put in cool-down instead and the call fails at once.
    max_retry_after_s: float = 30.0


DEFAULT_BAN_S = 600.0  # a venue's 403/418 ban: venues ask for 10 minutes or more
DEFAULT_MAX_COOLDOWN_S = 600.0  # no Retry-After or ban benches a venue longer than this
DEFAULT_MAX_REPLY_BYTES = 32 * 1024 * 1024
_MAX_REASON = 160


# --- the wire (arb.wire) ---------------------------------------------------------------


WireFactory = Callable[[Mapping[str, str]], Wire]  # given the headers of every request


def aiohttp_wire(headers: Mapping[str, str]) -> Wire:
    """aiohttp's pooled session: the bot's wire, and the default."""
    from arb.wire.aio import AiohttpWire

    return AiohttpWire(headers)


def stream_wire(headers: Mapping[str, str]) -> Wire:
    """h11 over asyncio's streams, no aiohttp: the one-shot CLI's wire."""
    from arb.wire.streams import StreamWire

    return StreamWire(headers)


_default_wire: WireFactory = aiohttp_wire


@contextlib.contextmanager
def wired(factory: WireFactory) -> Iterator[None]:
    """Every VenueHttp made inside uses `factory`'s wire unless given its own."""
    global _default_wire
    before, _default_wire = _default_wire, factory
    try:
        yield
    finally:
        _default_wire = before


class VenueHttp:
    """HTTP for one venue: one wire (its connections), timeouts, retries, bans, typed errors."""

    def __init__(
        self,
        venue: str,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        ban_s: float = DEFAULT_BAN_S,
        max_cooldown_s: float = DEFAULT_MAX_COOLDOWN_S,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        user_agent: str = "arb-bot",
        wire: WireFactory | None = None,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.ban_s = ban_s
        self.max_cooldown_s = max_cooldown_s
        self.max_reply_bytes = max_reply_bytes
        self.banned_until = 0.0
        self._sleep = sleep
        self._clock = clock
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        self._make_wire = wire or _default_wire
        self._wire: Wire | None = None

    @property
    def wire(self) -> Wire:
        """Made at the first request (the aiohttp wire imports aiohttp then), kept until
        `close`."""
        if self._wire is None:
            self._wire = self._make_wire(self._headers)
        return self._wire

    async def close(self) -> None:
        wire, self._wire = self._wire, None
        if wire is not None:
            await wire.close()

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        decode: Callable[[bytes], T],
    ) -> T:
        return await self.request("GET", path, params=params, decode=decode)

    async def post_json(self, path: str, body: Any, *, decode: Callable[[bytes], T]) -> T:
        data = json.dumps(body, separators=(",", ":")).encode()
        return await self.request("POST", path, data=data, decode=decode)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        decode: Callable[[bytes], T],
        once: bool = False,
    ) -> T:
        """`once`: never retried, whatever the error (an order: a second try could
        place a second order; the caller looks it up instead)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(1 if once else self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, VenueError) and e.retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                result = await self._attempt(method, path, params, data, headers, decode)
        return result

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        decode: Callable[[bytes], T],
    ) -> T:
        """One try, told to the request observers."""
        sent = self._clock() >= self.banned_until
        started = time.monotonic()
        try:
            result = await self._once(method, path, params, data, headers, decode)
        except VenueError as e:
            _tell(self.venue, time.monotonic() - started if sent else None, e)
            raise
        _tell(self.venue, time.monotonic() - started, None)
        return result

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        decode: Callable[[bytes], T],
    ) -> T:
        now = self._clock()
        if now < self.banned_until:
            left = self.banned_until - now
            raise VenueBanned(
                self.venue, path, f"cooling down after a ban, {left:.0f} s left", self.banned_until
            )
        started = time.monotonic()
        send_headers = dict(headers or {})
        if data is not None:
            send_headers.setdefault("Content-Type", "application/json")
        try:
            reply = await self.wire.fetch(
                method,
                self.base_url + path,
                params,
                data,
                send_headers,
                self.timeout_s,
                self.max_reply_bytes,
            )
        except TimeoutError:
            raise VenueTimeout(self.venue, path, f"no answer within {self.timeout_s:g} s") from None
        except WireTooLarge:
            raise VenueReplyTooLarge(
                self.venue, path, f"reply too large: more than {size(self.max_reply_bytes)}"
            ) from None
        except WireCutOff as e:
            raise VenueBadResponse(self.venue, path, f"reply cut off: {_short(e)}") from None
        except WireUnreachable as e:
            cause = network_cause(e, host_of(self.base_url))
            why = cause.text if cause is not None else _short(e)
            raise VenueUnreachable(self.venue, path, f"connection failed: {why}") from None
        status, body = reply.status, reply.body
        content_type = reply.headers.get("content-type", "")
        retry_after = parse_retry_after(reply.headers.get("retry-after"), now)
        # `arb-bot -v` shows every request; the path never holds a query, nor a signature.
        log.debug(
            "%s %s %s: HTTP %d, %s bytes in %.2f s",
            self.venue, method, path, status, f"{len(body):,}", time.monotonic() - started,
        )  # fmt: skip

        if status in (403, 418):
            ban = min(retry_after if retry_after is not None else self.ban_s, self.max_cooldown_s)
            self.banned_until = now + ban
            why = "IP ban" if status == 418 else "IP ban, rate-limit ban or geo-block"
            asked = (
                f"Retry-After {retry_after:.0f} s, "
                if retry_after is not None and retry_after > ban
                else ""
            )
            raise VenueBanned(
                self.venue,
                path,
                f"HTTP {status} ({why}); {asked}leaving {self.venue} alone for {ban:.0f} s",
                self.banned_until,
            )
        if status == 429:
            detail = _error_detail(body)
            if retry_after is not None and retry_after > self.retry.max_retry_after_s:
                pause = min(retry_after, self.max_cooldown_s)
                self.banned_until = now + pause
                raise VenueRateLimited(
                    self.venue,
                    path,
                    f"HTTP 429 rate limited{detail}; "
                    f"Retry-After {retry_after:.0f} s, pausing {pause:.0f} s",
                    retry_after,
                    retryable=False,
                )
            raise VenueRateLimited(
                self.venue, path, f"HTTP 429 rate limited{detail}", retry_after, retryable=True
            )
        if status >= 400:
            reason = f"HTTP {status}{_error_detail(body) or _html_hint(body, content_type)}"
            raise VenueHTTPError(self.venue, path, status, reason, _error_code(body))
        if _looks_like_html(body, content_type):
            raise VenueBadResponse(self.venue, path, f"HTML page instead of JSON (HTTP {status})")
        try:
            return decode(body)
        except ReplyError as e:
            raise VenueAPIError(self.venue, path, e.code, _short(e.message), e.retryable) from None
        except msgspec.DecodeError as e:
            kind = "wrong-shaped JSON" if isinstance(e, msgspec.ValidationError) else "bad JSON"
            raise VenueBadResponse(self.venue, path, f"{kind}: {_short(e)}") from None
        except (ReplyShapeError, ValueError, TypeError) as e:
            raise VenueBadResponse(self.venue, path, f"unexpected reply: {_short(e)}") from None

    def _wait(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self.max_cooldown_s)
        # Exponential backoff, capped, plus jitter so that clients do not retry in step.
        backoff = self.retry.backoff_initial_s * 2 ** (state.attempt_number - 1)
        return min(self.retry.backoff_max_s, backoff) + random.uniform(0, self.retry.jitter_s)

    def _log_retry(self, state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying %s after attempt %d: %s (waiting %.2f s)",
            self.venue,
            state.attempt_number,
            exc,
            state.next_action.sleep if state.next_action else 0.0,
        )


def size(n: int) -> str:
    """32 MiB, 64 KiB, 1000 bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After is seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _looks_like_html(body: bytes, content_type: str) -> bool:
    if "html" in content_type.lower():
        return True
    return body[:64].lstrip()[:1] == b"<"


def _html_hint(body: bytes, content_type: str) -> str:
    return " (HTML error page)" if _looks_like_html(body, content_type) else ""


def _error_code(body: bytes) -> str | None:
    """The venue's own error code in an error body (retCode, code, label), as text."""
    try:
        obj = json.loads(body[:4096])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    code = next((obj[k] for k in ("retCode", "code", "label") if k in obj), None)
    return None if code is None else str(code)


def _error_detail(body: bytes) -> str:
    """The venue's own code and message from an error body, if it is JSON."""
    try:
        obj = json.loads(body[:4096])
    except ValueError:
        return ""
    if not isinstance(obj, dict):
        return ""
    code = next((obj[k] for k in ("retCode", "code", "label") if k in obj), None)
    msg = next((obj[k] for k in ("retMsg", "msg", "message") if k in obj), None)
    if code is None and msg is None:
        return ""
    return " (" + _short(f"venue error {code}: {msg}" if code is not None else msg) + ")"


def _short(value: object) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"

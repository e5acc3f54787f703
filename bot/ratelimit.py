"""Pacing the bot's messages under Telegram's flood limits: `DeskRateLimiter`.

Telegram lets a bot send about 30 messages a second overall, 20 a minute to one group, and
about one a second to one chat (short bursts pass). PTB's AIORateLimiter is a leaky bucket
that lets 30 through and then drips 30/s, so a burst reached 60 in one second, and a
RetryAfter on any request paused them all, replies to people included.

Only requests that produce a message (MESSAGE_ENDPOINTS) are paced; everything else
(getUpdates, answerCallbackQuery, sendChatAction, getChatMember, setMyCommands, ...) passes
straight through. The limits, all strict:

- overall: at most 30 in any 1 s window;
- per group, supergroup or channel (a negative chat id or an @username): at most 20 in any
  60 s window;
- per chat, groups included: one request at a time, and a token bucket of 3 refilled at one
  a second, so a reply in three parts goes at once and anything longer goes at one a second.

A request holds its place in a window from its grant until one window after its answer (or
error): Telegram counts it when it arrives, somewhere in between, so no network jitter can
put 31 in Telegram's second. Likewise the per-chat bucket is charged at the answer. The
price is that a request that hangs keeps its place until it times out.

Two lanes. Requests made with `rate_limit_args=ALERT` (or an `AlertSend`) are the alert
fan-out; any other is a reply to a person and is granted before every waiting alert.
`AlertSend(before_send=hook)` awaits the hook once the request's turn has come, right before
each time it is sent (a write-ahead "sending" mark); if the hook raises, the request is not
sent, its place is given back and the error reaches the caller. A RetryAfter on an alert pauses
the alert lane (capped at `max_retry_after` seconds), never the replies; on a reply it pauses
that chat only. The refused request is sent again after the pause (Telegram refused it, so
this cannot duplicate it), at most `max_retries` times; then the RetryAfter reaches the
caller. Nothing else is retried: a send that timed out may have landed, and only the caller
can decide what to do about that.

One dispatcher grants the waiters' futures, replies first, then alerts, each in arrival order
over the chats that may send now; a chat that must wait is parked on a timer heap, so a
backlog of thousands costs O(log n) a grant rather than a rescan on every wake-up. A waiter
that is cancelled, before or after its grant, gives its place back.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from telegram.error import RetryAfter, TelegramError
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

log = logging.getLogger(__name__)

ALERT = "alert"  # rate_limit_args of an alert send; any other send is a reply to a person

OVERALL = (30, 1.0)  # messages per seconds, all chats together
PER_GROUP = (20, 60.0)  # per group, supergroup or channel
CHAT_BURST = 3  # per chat: this many at once (a reply in up to three parts) ...
CHAT_INTERVAL_S = 1.0  # ... then one per this many seconds
MAX_RETRIES = 3  # sends after a RetryAfter, then it is raised to the caller
MAX_RETRY_AFTER_S = 60.0  # longest pause taken for one RetryAfter

MESSAGE_ENDPOINTS = frozenset({
    "sendMessage", "sendPhoto", "sendAudio", "sendDocument", "sendVideo", "sendAnimation",
    "sendVoice", "sendVideoNote", "sendPaidMedia", "sendMediaGroup", "sendLocation",
    "sendVenue", "sendContact", "sendPoll", "sendChecklist", "sendDice", "sendSticker",
    "sendInvoice", "sendGame", "copyMessage", "copyMessages", "forwardMessage",
    "forwardMessages", "editMessageText", "editMessageCaption", "editMessageMedia",
    "editMessageReplyMarkup", "editMessageLiveLocation", "stopMessageLiveLocation",
    "editMessageChecklist", "stopPoll",
})  # fmt: skip

_REPLY, _ALERT = 0, 1  # lanes, in the order they are served
_LANES = (_REPLY, _ALERT)
LANE_NAMES = ("reply", "alert")  # by lane

Callback = Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]]
ChatKey = int | str | None


@dataclass(frozen=True, slots=True)
class AlertSend:
    """rate_limit_args of an alert send (like ALERT) with a hook awaited when its turn has
    come, right before each time it is sent; if the hook raises, it is not sent."""

    before_send: Callable[[], Awaitable[None]] | None = None


RateLimitArgs = str | AlertSend


class RateLimiterClosed(TelegramError):
    """The limiter was shut down before this request could be sent: it was not sent."""


class _Window:
    """At most `limit` requests in any `period`; a request counts from its grant until
    `period` after its answer."""

    __slots__ = ("done", "in_flight", "limit", "period")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.in_flight = 0
        self.done: deque[float] = deque()  # answer times, oldest first

    def free_at(self, now: float, weight: int) -> float:
        """When a request of `weight` may start: `now`, a later time, or inf (only once an
        in-flight request is answered)."""
        done = self.done
        while done and done[0] + self.period <= now:
            done.popleft()
        excess = self.in_flight + len(done) + min(weight, self.limit) - self.limit
        if excess <= 0:
            return now
        if excess > len(done):
            return math.inf
        return done[excess - 1] + self.period

    def take(self, weight: int) -> None:
        self.in_flight += weight

    def finish(self, weight: int, now: float, sent: bool) -> None:
        self.in_flight -= weight
        if sent:
            self.done.extend([now] * weight)

    def idle(self, now: float) -> bool:
        self.free_at(now, 1)  # drops the answers that left the window
        return self.in_flight == 0 and not self.done


class _Bucket:
    """One request at a time, and a token bucket of `burst` refilled one per `interval`
    (GCRA: `tat` is when the bucket is full again), charged at each answer."""

    __slots__ = ("burst", "busy", "interval", "tat")

    def __init__(self, burst: int, interval: float) -> None:
        self.burst = burst
        self.interval = interval
        self.tat = -math.inf
        self.busy = False

    def free_at(self, weight: int) -> float:
        if self.busy:
            return math.inf
        return self.tat - (self.burst - min(weight, self.burst)) * self.interval

    def finish(self, weight: int, now: float, sent: bool) -> None:
        self.busy = False
        if sent:
            self.tat = max(self.tat, now) + weight * self.interval


class _Waiter:
    __slots__ = ("future", "granted", "weight")

    def __init__(self, future: asyncio.Future[None], weight: int) -> None:
        self.future = future
        self.weight = weight
        self.granted = False


class _Chat:
    """One chat's limits and its waiting requests, a queue per lane."""

    __slots__ = ("bucket", "group", "key", "parked_at", "paused_until", "queues", "ready")

    def __init__(self, key: ChatKey, bucket: _Bucket | None, group: _Window | None) -> None:
        self.key = key
        self.bucket = bucket
        self.group = group
        self.paused_until = -math.inf  # a RetryAfter on a reply to this chat
        self.queues: tuple[deque[_Waiter], deque[_Waiter]] = (deque(), deque())
        self.ready = [False, False]  # in the dispatcher's ready queue of that lane
        self.parked_at: float | None = None  # its live entry on the timer heap

    def free_at(self, now: float, weight: int) -> float:
        at = self.paused_until
        if self.bucket is not None:
            at = max(at, self.bucket.free_at(weight))
        if self.group is not None:
            at = max(at, self.group.free_at(now, weight))
        return at

    def head(self, lane: int) -> _Waiter | None:
        """The first waiter still waiting (cancelled ones are dropped here)."""
        queue = self.queues[lane]
        while queue and queue[0].future.done():
            queue.popleft()
        return queue[0] if queue else None

    def take(self, weight: int) -> None:
        if self.bucket is not None:
            self.bucket.busy = True
        if self.group is not None:
            self.group.take(weight)

    def finish(self, weight: int, now: float, sent: bool) -> None:
        if self.bucket is not None:
            self.bucket.finish(weight, now, sent)
        if self.group is not None:
            self.group.finish(weight, now, sent)

    def idle(self, now: float) -> bool:
        """Nothing waiting or in flight, and its limits back to full: safe to forget."""
        return (
            self.head(_REPLY) is None
            and self.head(_ALERT) is None
            and self.paused_until <= now
            and (self.bucket is None or (not self.bucket.busy and self.bucket.tat <= now))
            and (self.group is None or self.group.idle(now))
        )


class DeskRateLimiter(BaseRateLimiter[RateLimitArgs]):
    """Telegram's flood limits as strict sliding windows, with replies ahead of alerts.

    Limits and the clock (monotonic seconds) are parameters so that tests can use short
    windows; the defaults are Telegram's numbers. See the module docstring."""

    def __init__(
        self,
        *,
        overall: tuple[int, float] = OVERALL,
        per_group: tuple[int, float] = PER_GROUP,
        chat_burst: int = CHAT_BURST,
        chat_interval: float = CHAT_INTERVAL_S,
        max_retries: int = MAX_RETRIES,
        max_retry_after: float = MAX_RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._overall = _Window(*overall)
        self._per_group = per_group
        self._chat_burst = chat_burst
        self._chat_interval = chat_interval
        self._max_retries = max_retries
        self._max_retry_after = max_retry_after
        self._clock = clock
        self._chats: dict[ChatKey, _Chat] = {}
        self._sweep_at = 1024
        self._ready: tuple[deque[_Chat], deque[_Chat]] = (deque(), deque())
        self._parked: list[tuple[float, int, _Chat]] = []
        self._order = itertools.count()
        self._alerts_paused_until = -math.inf
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._waiting = 0
        self._closed = False
        # Telegram's RetryAfter answers so far, and the seconds paused for them, per lane
        # ("reply", "alert"): the ops metrics read them.
        self.retry_afters = dict.fromkeys(LANE_NAMES, 0)
        self.retry_after_waits_s = dict.fromkeys(LANE_NAMES, 0.0)

    # ----------------------------------------------------------------- PTB's interface

    async def initialize(self) -> None:
        self._closed = False

    async def shutdown(self) -> None:
        """Fails every waiting request with RateLimiterClosed (none of them was sent) and
        refuses new ones until initialize(); requests already sent finish normally."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        for chat in self._chats.values():
            for queue in chat.queues:
                for waiter in queue:
                    if not waiter.future.done():
                        waiter.future.set_exception(RateLimiterClosed("Rate limiter shut down"))
                queue.clear()
            chat.ready = [False, False]
            chat.parked_at = None
        for ready in self._ready:
            ready.clear()
        self._parked.clear()
        self._waiting = 0

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: RateLimitArgs | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint not in MESSAGE_ENDPOINTS:
            return await callback(*args, **kwargs)
        lane = _lane(rate_limit_args)
        before_send = getattr(rate_limit_args, "before_send", None)
        key = chat_key(data)
        weight = _weight(data)
        for attempt in itertools.count():
            chat = self._chat(key)
            await self._acquire(chat, lane, weight, first=attempt > 0)
            if before_send is not None:
                try:
                    await before_send()
                except BaseException:
                    self._finish(chat, weight, sent=False)
                    raise
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as e:
                wait = min(max(retry_after_s(e), 0.0), self._max_retry_after)
                self._pause(chat, lane, wait)
                self.retry_afters[LANE_NAMES[lane]] += 1
                self.retry_after_waits_s[LANE_NAMES[lane]] += wait
                if attempt >= self._max_retries:
                    log.warning(
                        "%s to %s: still rate limited after %d retries", endpoint, key, attempt
                    )
                    raise
                log.info(
                    "%s to %s: RetryAfter, %s paused %.1f s",
                    endpoint, key, "alerts" if lane == _ALERT else "this chat", wait,
                )  # fmt: skip
            finally:
                self._finish(chat, weight, sent=True)
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- diagnostics

    @property
    def waiting(self) -> int:
        """Requests waiting for their turn."""
        return self._waiting

    @property
    def in_flight(self) -> int:
        """Message requests granted and not yet answered."""
        return self._overall.in_flight

    # ----------------------------------------------------------------- waiting

    def _chat(self, key: ChatKey) -> _Chat:
        chat = self._chats.get(key)
        if chat is None:
            if len(self._chats) >= self._sweep_at:
                self._sweep()
            bucket = _Bucket(self._chat_burst, self._chat_interval) if key is not None else None
            group = _Window(*self._per_group) if is_group(key) else None
            chat = self._chats[key] = _Chat(key, bucket, group)
        return chat

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, chat in self._chats.items() if chat.idle(now)]:
            del self._chats[key]
        self._sweep_at = max(1024, 2 * len(self._chats))

    async def _acquire(self, chat: _Chat, lane: int, weight: int, *, first: bool) -> None:
        """Waits for this request's turn. `first`: ahead of the chat's other waiters (a
        retry keeps its place)."""
        if self._closed:
            raise RateLimiterClosed("Rate limiter shut down")
        waiter = _Waiter(asyncio.get_running_loop().create_future(), weight)
        queue = chat.queues[lane]
        queue.appendleft(waiter) if first else queue.append(waiter)
        self._waiting += 1
        self._place(chat, self._clock())
        self._pump()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.granted:  # granted, but the caller went away before sending
                self._finish(chat, weight, sent=False)
            elif not self._closed:
                self._waiting -= 1
            raise

    def _grant(self, chat: _Chat, lane: int, waiter: _Waiter) -> None:
        chat.queues[lane].popleft()
        waiter.granted = True
        self._waiting -= 1
        self._overall.take(waiter.weight)
        chat.take(waiter.weight)
        waiter.future.set_result(None)

    def _finish(self, chat: _Chat, weight: int, *, sent: bool) -> None:
        """A granted request was answered (sent) or given up unsent: free its places."""
        now = self._clock()
        self._overall.finish(weight, now, sent)
        chat.finish(weight, now, sent)
        self._place(chat, now)
        self._pump()

    def _pause(self, chat: _Chat, lane: int, seconds: float) -> None:
        until = self._clock() + seconds
        if lane == _ALERT:
            self._alerts_paused_until = max(self._alerts_paused_until, until)
        else:
            chat.paused_until = max(chat.paused_until, until)

    # ----------------------------------------------------------------- the dispatcher

    def _place(self, chat: _Chat, now: float) -> None:
        """Queues `chat` as ready in each lane it has a waiter that may go now, else parks
        it until its limits allow one. A chat waiting on its own in-flight request is in
        neither: its answer places it again."""
        if self._closed:
            return
        wake = math.inf
        for lane in _LANES:
            head = chat.head(lane)
            if head is None or chat.ready[lane]:
                continue
            at = chat.free_at(now, head.weight)
            if at <= now:
                self._ready[lane].append(chat)
                chat.ready[lane] = True
            else:
                wake = min(wake, at)
        if wake < math.inf and (chat.parked_at is None or wake < chat.parked_at):
            chat.parked_at = wake
            heapq.heappush(self._parked, (wake, next(self._order), chat))

    def _pump(self) -> None:
        """Grants every request that may go now, replies first; then sets the timer."""
        if self._closed:
            return
        now = self._clock()
        parked = self._parked
        while parked and parked[0][0] <= now:
            at, _, chat = heapq.heappop(parked)
            if chat.parked_at == at:  # else a stale entry: the chat was parked again
                chat.parked_at = None
                self._place(chat, now)
        wake = math.inf
        for lane in _LANES:
            if lane == _ALERT and now < self._alerts_paused_until:
                if self._ready[_ALERT]:
                    wake = min(wake, self._alerts_paused_until)
                break
            blocked_at = self._serve(lane, now)
            if blocked_at is not None:  # the overall window is full: nothing else goes
                wake = min(wake, blocked_at)
                break
        if parked:
            wake = min(wake, parked[0][0])
        self._arm(wake)

    def _serve(self, lane: int, now: float) -> float | None:
        """Grants the lane's ready chats in order; returns when the overall window frees
        if it stopped them (inf: when an answer comes), else None."""
        ready = self._ready[lane]
        while ready:
            chat = ready[0]
            head = chat.head(lane)
            if head is None or chat.free_at(now, head.weight) > now:
                ready.popleft()
                chat.ready[lane] = False
                self._place(chat, now)
                continue
            at = self._overall.free_at(now, head.weight)
            if at > now:
                return at
            ready.popleft()
            chat.ready[lane] = False
            self._grant(chat, lane, head)
            self._place(chat, now)
        return None

    def _arm(self, wake: float) -> None:
        if wake == math.inf or (self._timer is not None and self._timer_at <= wake):
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, wake - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)
        self._timer_at = wake

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, math.inf
        self._pump()


def chat_key(data: dict[str, Any]) -> ChatKey:
    """The chat a request goes to: an int id, an "@username", or None (inline messages)."""
    chat_id = data.get("chat_id")
    if chat_id is None or chat_id == "":
        return None
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return str(chat_id)


def is_group(key: ChatKey) -> bool:
    """Groups, supergroups and channels have negative ids; only channels and public
    supergroups have @usernames."""
    return isinstance(key, str) or (isinstance(key, int) and key < 0)


def retry_after_s(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that it becomes a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    total = getattr(value, "total_seconds", None)
    return float(total() if callable(total) else value)


def _lane(rate_limit_args: object) -> int:
    if rate_limit_args is None:
        return _REPLY
    if rate_limit_args == ALERT or isinstance(rate_limit_args, AlertSend):
        return _ALERT
    raise ValueError(f"rate_limit_args is None, {ALERT!r} or an AlertSend, not {rate_limit_args!r}")


def _weight(data: dict[str, Any]) -> int:
    """An album or a batch of forwarded messages counts once per message."""
    for many in ("media", "message_ids"):
        items = data.get(many)
        if isinstance(items, list | tuple):
            return max(1, len(items))
    return 1

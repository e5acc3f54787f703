"""The alert pipeline: plan in memory, queue durably, send each message once, say so
when storage fails.

Each cycle (JobQueue, every ARB_SCAN_INTERVAL_S; never two at once) refreshes
the market with a deadline of half the interval, so a slow venue cannot hold
the others' alerts. Live feed updates run the same path for the assets they
changed (bot.live_alerts). A run plans from the subscriptions and alert state
held in memory (`arb.alerts.plan`), so it needs no read from storage, and gives
each chat topic at most one message.

Delivery, as the README promises it:
- Every message is queued in the outbox, with its text and the alert state to
  commit, before anything is sent; it is marked "sending" only when the rate
  limiter lets its request leave. Sent, the state is committed with the record.
- A send Telegram refused (or that never left) is not a delivery: the keys'
  state goes back and the next run tries again. A send whose outcome is
  unknown (no answer in TELEGRAM_TIMEOUT_S, a connection dropped after the
  request was written, a crash) is resent once, marked "may repeat", and
  never silently. At start, queued rows are sent as they are and rows left
  "sending" are resent marked.
- Outcomes are kept in memory first, so a failing write never makes a
  message go out twice. While storage refuses writes, new crossings are held
  in memory and go out when it takes writes again; the admins are told once
  when it starts failing and once when it recovers.
- The risk watch (bot.risk) queues its own rows and sends them through
  `Alerts.deliver_queued`: the same outbox, pacing and outcomes.

With ARB_MIN_CAPACITY_USD set, a run sizes the crossings it planned (and only those: two
books each, cached seconds, never every asset every cycle) and leaves out a carry the
books could not take at that size; the alert shows the capacity line of those it sends.

A chat that blocked or removed the bot has its subscriptions ended; a deleted
forum topic, that topic's; a group that became a supergroup moves to the new id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message

from arb.alerts import (
    AlertKey,
    AlertState,
    Crossing,
    PairKey,
    Target,
    ThresholdIndex,
    pair_of,
    plan,
    thin_out,
)
from arb.books import OrderBooks, SizeParams
from arb.commands import size_opportunity
from arb.depth import SizedCarry
from arb.history import from_quotes
from arb.market import MarketSnapshot
from arb.ranking import ranked
from arb.service import MarketService
from arb.settings import Settings
from arb.signaler import Signaler
from arb.spread import ScanParams
from bot import render, render_alerts
from bot.delivery import STORAGE_ERRORS, Fate, Outcome, send_alert
from bot.live_alerts import LiveTrigger
from bot.notes import NoteTasks, annotate_alert
from bot.ratelimit import AlertSend
from bot.send import send_html
from storage.history import HistoryRecorder
from storage.store import OpenDelivery, QueuedAlert, Store

log = logging.getLogger(__name__)

NOT_SENT_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 15.0)  # waits before retrying a send that never left
MIGRATIONS = 2  # a group followed to its supergroup at most this often per message
PRUNE_EVERY_S = 86_400.0
RESENT_AFTER_RESTART = (
    "↻ <i>Resent after a restart: this alert from {at} may have reached you already.</i>"
)
RESENT_AFTER_TIMEOUT = (
    "↻ <i>Sent again: Telegram did not confirm the first try, so it may have reached "
    "you already.</i>"
)
HELD_NOTE = "⏸ <i>Held while the bot's storage was failing; crossed at {at}.</i>"


@dataclass
class Delivery:
    """One alert message to one chat topic, while it is on its way."""

    target: Target
    crossings: list[Crossing]
    text: str
    assets: tuple[str, ...]
    states: tuple[AlertState, ...]  # committed once it is sent
    prior: dict[AlertKey, AlertState | None]  # what the keys go back to if it is not sent
    created_at: float
    id: int | None = None  # its outbox row; None while storage refuses writes
    mark: str | None = None  # the line a resend carries


@dataclass
class CycleReport:
    started: float
    subscriptions: int = 0
    matches: int = 0
    crossings: int = 0
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    held: int = 0
    deactivated: int = 0
    migrated: int = 0
    thin: int = 0  # crossings left out: capacity under ARB_MIN_CAPACITY_USD
    resent: int = 0  # deliveries a previous run left open, sent at start
    finished: float = 0.0
    results: dict[Target, str] = field(default_factory=dict)


class Alerts:
    def __init__(
        self,
        settings: Settings,
        service: MarketService,
        params: ScanParams,
        store: Store,
        recorder: HistoryRecorder,
        signaler: Signaler,
        snapshot: Callable[[], Awaitable[MarketSnapshot]],
        books: OrderBooks | None = None,
        sizes: SizeParams | None = None,
    ) -> None:
        self.settings = settings
        self.books = books  # for ARB_MIN_CAPACITY_USD: the crossings' legs
        self.sizes = sizes or SizeParams()
        self.service = service
        self.params = params
        self.store = store
        self.recorder = recorder
        self.signaler = signaler
        self.snapshot = snapshot  # the commands' shared snapshot, for live runs
        self.lock = asyncio.Lock()
        self.last: CycleReport | None = None
        self.cycles = 0
        self.cycled = asyncio.Event()  # set once the first cycle has run
        self.notes = NoteTasks()
        self.index = ThresholdIndex()  # which threshold applies: the subscriptions, in memory
        self._subs_loaded = False
        self.states: dict[AlertKey, AlertState] = {}
        self.seen_spread: dict[str, float] = {}  # asset -> best spread at its last run
        self.live = LiveTrigger(
            service.book.quotes_for,
            params,
            lambda: self.index.levels,
            self.seen_spread,
            lambda bot, assets: self.cycle(bot, refresh=False, assets=assets, wait=False),
            clock=service.clock,
        )
        self.dirty: dict[AlertKey, AlertState] = {}  # state changes storage has not taken
        self.unsaved: dict[int, tuple[Delivery, Outcome | None, str]] = {}  # outcomes likewise
        self.held: list[Delivery] = []  # crossings storage could not queue
        # Each message's result (sent, failed, unknown, held, ...) since the start, risk
        # alerts included: the ops metrics read it. A held message counts again when it goes.
        self.outcomes: Counter[str] = Counter()
        self.storage_told: str | None = None  # the failure the admins were told about
        self.last_pruned = float("-inf")
        self._started = False
        self._stopping = False
        self._inflight: set[asyncio.Task[Any]] = set()  # deliveries on their way
        # Deliveries past the rate limiter: the request is out, or its outcome is being saved.
        self._landing: set[asyncio.Task[Any]] = set()

    # --- subscriptions and state in memory ------------------------------------------

    async def reload_subscriptions(self) -> None:
        """Subscriptions changed: the next run, the live trigger, /history and /chart use
        the new set, through one threshold index."""
        self.index = ThresholdIndex(await self.store.subscriptions())
        self._subs_loaded = True

    @property
    def held_crossings(self) -> int:
        """Crossings held while storage refuses writes (/status says how many)."""
        return sum(len(d.crossings) for d in self.held)

    async def threshold_index(self) -> ThresholdIndex:
        """Which threshold applies to (chat, topic, asset), as alerting uses it; loaded
        from storage only before the first run or change."""
        if not self._subs_loaded:
            await self.reload_subscriptions()
        return self.index

    async def _start_once(self) -> list[Delivery]:
        """Load subscriptions and alert state; take over what a previous run left open."""
        if self._started:
            return []
        store = self.store
        await self.reload_subscriptions()
        self.states = await store.alert_states()
        reopened = [self._reopen(row) for row in await store.open_deliveries()]
        self._started = True
        if reopened:
            log.info("resending %d alert(s) a previous run left open", len(reopened))
        return reopened

    def _reopen(self, row: OpenDelivery) -> Delivery:
        prior = {s.key: self.states.get(s.key) for s in row.states}
        for s in row.states:
            self.states[s.key] = s
        mark = None
        if row.status == "sending":  # its request may have left before the stop
            mark = RESENT_AFTER_RESTART.format(at=render.clock(row.created_at))
        return Delivery(
            (row.chat_id, row.thread_id), [], row.text, row.assets, row.states, prior,
            row.created_at, id=row.id, mark=mark,
        )  # fmt: skip

    # --- one run --------------------------------------------------------------------

    async def drain(self, grace_s: float) -> None:
        """At shutdown: no new runs; messages on their way get `grace_s` to finish, then
        those still waiting for their turn are cancelled, their outbox rows left open for
        the next start to send. A message already sent, or being sent, is never cut off
        before its outcome is saved (that would make the next start repeat it): it gets
        the Bot API's own request timeout more."""
        self._stopping = True
        await self.live.close()
        tasks = list(self._inflight)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        landing = [t for t in pending if t in self._landing]
        if landing:
            await asyncio.wait(landing, timeout=self.settings.telegram_timeout_s + 1.0)
            pending = {t for t in pending if not t.done()}
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if pending:
            log.warning("stopped with %d alert(s) on their way: the next start sends them",
                        len(pending))  # fmt: skip

    async def close(self) -> None:
        await self.live.close()
        await self.notes.close()

    async def cycle(
        self,
        bot: Bot,
        refresh: bool = True,
        assets: set[str] | None = None,
        wait: bool = True,
    ) -> CycleReport:
        """One run: plan and queue under the lock (never two at once), then deliver.

        `refresh` polls the venues without a live feed first; `assets` limits the run to
        those assets (a live update's), leaving every other key's state alone. `wait`:
        return once the messages are delivered (else at once, delivering in the
        background: a live run must not wait for a chat the rate limiter is pacing).
        """
        report = CycleReport(started=time.monotonic())
        if self._stopping:
            return report
        async with self.lock:
            reopened = await self._start_once()
            report.resent = len(reopened)
            if refresh:
                deadline = min(self.settings.venue_deadline_s, self.settings.scan_interval_s / 2)
                snapshot = await self.service.refresh_polled(deadline_s=deadline)
            else:
                snapshot = await self.snapshot()
            now = self.service.clock()
            released = await self._recover(now)
            planned = await self._plan(snapshot, assets, now, report)
            await self._save_states()
            queued = await self._queue(planned + released)
            if assets is None:
                await self._housekeeping(snapshot, now)
        delivering = self._deliver_all(bot, reopened + queued, report)
        if wait:
            await delivering
        else:
            task = asyncio.create_task(delivering, name="alert-delivery")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        self.cycles += 1
        self.cycled.set()
        return report

    async def deliver_queued(
        self, bot: Bot, queue: Callable[[], Awaitable[list[tuple[int, QueuedAlert]]]]
    ) -> list[str]:
        """Deliver the outbox rows another job writes (the risk watch's) the way alerts go:
        paced by the rate limiter, an unknown outcome resent once marked, outcomes kept in
        memory while storage refuses them, covered by `drain`. Each row's result, in order.

        `queue` writes the rows and returns them with their ids. It runs only once this
        pipeline has taken over what a previous run left open (those rows are sent here if
        this is the first run), so no row is sent twice; what it raises is raised here.
        Once stopping, `queue` is not called: nothing is written, nothing sent."""
        if self._stopping:
            return []
        reopened = []
        if not self._started:
            async with self.lock:
                reopened = await self._start_once()
        try:
            rows = await queue()
        except Exception:
            if reopened:  # never lost to a failing `queue`
                await self._deliver_each(bot, reopened)
            raise
        deliveries = [
            Delivery((r.chat_id, r.thread_id), [], r.text, r.assets, r.states, {}, r.created_at,
                     id=delivery_id)
            for delivery_id, r in rows
        ]  # fmt: skip
        results = await self._deliver_each(bot, reopened + deliveries)
        return results[len(reopened) :]

    async def _deliver_each(self, bot: Bot, deliveries: list[Delivery]) -> list[str]:
        """Each message at once (the rate limiter paces them); each one's result."""
        targets = [d.target for d in deliveries]  # as planned: a migration moves a delivery
        tasks = [asyncio.create_task(self._deliver(bot, d)) for d in deliveries]
        self._inflight.update(tasks)
        try:
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._inflight.difference_update(tasks)
        out = []
        for target, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, asyncio.CancelledError):
                    log.error("alert delivery to %s failed", target, exc_info=result)
                result = "interrupted"  # its row stays open: the next start sends it
            out.append(result)
        self.outcomes.update(out)
        return out

    async def _deliver_all(self, bot: Bot, deliveries: list[Delivery], report: CycleReport) -> None:
        """Each message at once (the rate limiter paces them), then the run's tally."""
        targets = [d.target for d in deliveries]  # as planned: a migration moves a delivery
        results = await self._deliver_each(bot, deliveries)
        for target, result in zip(targets, results, strict=True):
            report.results[target] = result
        report.held = self.held_crossings
        for result in report.results.values():
            report.sent += result in ("sent", "migrated")
            report.failed += result == "failed"
            report.unknown += result == "unknown"
            report.deactivated += result == "deactivated"
            report.migrated += result == "migrated"
        report.finished = time.monotonic()
        await self.tell_admins_about_storage(bot)
        if report.crossings or report.failed or report.unknown or report.resent:
            log.info(
                "alert run: %d subscriptions, %d crossings, %d sent, %d failed, %d unknown,"
                " %d held, %.2f s",
                report.subscriptions, report.crossings, report.sent, report.failed,
                report.unknown, report.held, report.finished - report.started,
            )  # fmt: skip
        self.last = report

    async def _plan(
        self, snapshot: MarketSnapshot, assets: set[str] | None, now: float, report: CycleReport
    ) -> list[Delivery]:
        # Every pair (re-arming needs the others), through scan's filters and ranking: an
        # asset's first pair is its `arb.carry.best_carry`, the pair /funding and /scan name.
        # From the book's warm ranking (`arb.ranking`): only the assets that changed rank again.
        every_pair = replace(self.params, min_apr=None, best_per_asset=False)
        pairs = ranked(snapshot, every_pair, assets, now)
        best: dict[str, float] = {}
        for o in pairs:  # ranked best first: an asset's first pair is its best
            best.setdefault(o.asset, o.spread_8h)
        self.seen_spread.update(best)
        result = plan(
            self.index, self.states, pairs, now,
            cooldown_s=self.settings.alert_cooldown_s, min_gap_s=self.settings.alert_min_gap_s,
        )  # fmt: skip
        report.subscriptions, report.matches = result.subscriptions, result.matches
        for s in result.quiet:
            self.states[s.key] = s
            self.dirty[s.key] = s
        outbox = await self._thin_out(result.outbox, report)
        out = []
        for target, items in outbox.items():
            report.crossings += len(items)
            out.append(self._compose(target, [c for c, _ in items], [s for _, s in items], now))
        return out

    async def _thin_out(
        self, outbox: dict[Target, list[tuple[Crossing, AlertState]]], report: CycleReport
    ) -> dict[Target, list[tuple[Crossing, AlertState]]]:
        """With ARB_MIN_CAPACITY_USD: the crossings sized on their books, less the thin.

        A leg whose book fetch fails leaves its carry unsized: the alert goes out without
        the capacity line rather than being dropped (a venue's depth endpoint failing is
        no reason to miss a crossing)."""
        floor = self.sizes.min_capacity_usd
        if floor is None or self.books is None or not outbox:
            return outbox
        books = self.books
        pairs = {pair_of(c.opportunity): c.opportunity for items in outbox.values()
                 for c, _ in items}  # fmt: skip
        sizings = await asyncio.gather(
            *(size_opportunity(books, o, self.sizes) for o in pairs.values())
        )
        sized: dict[PairKey, SizedCarry | None] = {
            key: z.sized for key, z in zip(pairs, sizings, strict=True)
        }
        kept, skipped = thin_out(outbox, sized, floor)
        report.thin += len(skipped)
        if skipped:  # debug: a thin carry above its threshold is planned again every run
            assets = sorted({c.opportunity.asset for c in skipped})
            log.debug("%d crossing(s) under ARB_MIN_CAPACITY_USD=%g left out: %s",
                      len(skipped), floor, ", ".join(assets))  # fmt: skip
        return kept

    def _compose(
        self,
        target: Target,
        crossings: list[Crossing],
        states: list[AlertState],
        now: float,
        note: str | None = None,
        prior: dict[AlertKey, AlertState | None] | None = None,
    ) -> Delivery:
        """The message for one chat topic; its keys' state moves on in memory at once, so
        no later run plans them again while it is on its way."""
        text, shown = render_alerts.alert_html(crossings, now, note)
        if prior is None:
            prior = {s.key: self.states.get(s.key) for s in states}
        for s in states:
            self.states[s.key] = s
            self.dirty.pop(s.key, None)
        assets = tuple(dict.fromkeys(c.opportunity.asset for c in shown))
        return Delivery(target, crossings, text, assets, tuple(states), prior, now)

    async def _queue(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Write the new deliveries to the outbox; those storage refuses are held."""
        fresh = [d for d in deliveries if d.id is None]
        if not fresh:
            return deliveries
        rows = [
            QueuedAlert(d.target[0], d.target[1], d.text, d.assets, d.states, d.created_at)
            for d in fresh
        ]
        try:
            ids = await self.store.queue_alerts(rows)
        except STORAGE_ERRORS as e:
            log.error("storage refused the alert outbox (%s): holding %d message(s)", e, len(rows))
            self.held += fresh
            self.outcomes["held"] += len(fresh)
            return [d for d in deliveries if d.id is not None]
        for d, delivery_id in zip(fresh, ids, strict=True):
            d.id = delivery_id
        return deliveries

    # --- delivering one message -----------------------------------------------------

    async def _deliver(self, bot: Bot, d: Delivery) -> str:
        """Send `d` once; resend it only marked when its first outcome is unknown. The
        rate limiter paces every waiting message, however many there are."""
        store = self.store
        delivery_id = d.id
        assert delivery_id is not None
        chat_id, thread_id = d.target
        keyboard = details_keyboard(d.assets) if d.assets else None  # a risk alert has none
        ambiguous = False  # an earlier try may have been delivered
        task = asyncio.current_task()
        not_sent = migrations = 0
        while True:
            text = d.text if d.mark is None else f"{d.mark}\n{d.text}"

            async def sending(chat_id: int = chat_id) -> None:
                await store.delivery_sending(delivery_id, chat_id)
                self._landing.add(task)

            outcome = await send_alert(
                bot, chat_id, thread_id, text, keyboard, AlertSend(before_send=sending)
            )
            fate = outcome.fate
            if fate is Fate.SENT:
                try:
                    await self._record(d, outcome, "sent")
                finally:
                    self._landing.discard(task)
                assert outcome.message is not None
                self._annotate(outcome.message, text, keyboard, d)
                return "migrated" if migrations else "sent"
            self._landing.discard(task)
            if fate is Fate.HELD:
                log.error("chat %s: storage refused the send mark; holding the alert", chat_id)
                self.held.append(d)
                return "held"
            if fate is Fate.MIGRATED and outcome.new_chat_id and migrations < MIGRATIONS:
                log.info("chat %s became %s; moving its subscriptions", chat_id,
                         outcome.new_chat_id)  # fmt: skip
                await self._migrate(chat_id, outcome.new_chat_id)
                chat_id, migrations = outcome.new_chat_id, migrations + 1
                d.target = (chat_id, thread_id)
                moved = [replace(s.key, chat_id=chat_id) for s in d.states]
                d.states = tuple(
                    self.states.get(k) or replace(s, key=k)
                    for s, k in zip(d.states, moved, strict=True)
                )
                continue
            if fate is Fate.UNKNOWN and not ambiguous:
                log.warning("alert to chat %s: outcome unknown (%s); resending marked",
                            chat_id, outcome.error)  # fmt: skip
                ambiguous, d.mark = True, d.mark or RESENT_AFTER_TIMEOUT
                await asyncio.sleep(NOT_SENT_BACKOFF_S[0])
                continue
            if fate is Fate.NOT_SENT and not_sent < len(NOT_SENT_BACKOFF_S):
                wait = max(outcome.retry_after_s, NOT_SENT_BACKOFF_S[not_sent])
                wait = min(wait, self.settings.max_cooldown_s)
                not_sent += 1
                log.warning("alert to chat %s not sent (%s); retrying in %.1f s",
                            chat_id, outcome.error, wait)  # fmt: skip
                await asyncio.sleep(wait)
                continue
            if fate in (Fate.CHAT_GONE, Fate.TOPIC_GONE):
                await self._gone(d, chat_id, thread_id if fate is Fate.TOPIC_GONE else None,
                                 outcome.error)  # fmt: skip
                return "deactivated"
            if ambiguous or fate is Fate.UNKNOWN:
                # One try may have landed: count it as delivered, never resend it again.
                log.warning("alert to chat %s: delivery unknown (%s)", chat_id, outcome.error)
                await self._record(d, outcome, "unknown")
                return "unknown"
            log.warning("alert to chat %s failed: %s", chat_id, outcome.error)
            self._revert(d)
            await self._record(d, outcome, "failed")
            return "failed"

    async def _record(self, d: Delivery, outcome: Outcome | None, status: str) -> None:
        """The outcome, with the keys' state when it went out; kept in memory until storage
        takes it, so a failing write can never send the message again."""
        assert d.id is not None
        store = self.store
        message_id = outcome.message.message_id if outcome and outcome.message else None
        error = outcome.error if outcome else ""
        try:
            if status == "failed":
                await store.delivery_failed(d.id, error)
            else:
                await store.delivery_sent(d.id, message_id, d.states, status, error or None)
        except STORAGE_ERRORS as e:
            log.error("storage refused the outcome of delivery %s (%s); kept in memory", d.id, e)
            self.unsaved[d.id] = (d, outcome, status)
        else:
            self.unsaved.pop(d.id, None)

    def _revert(self, d: Delivery) -> None:
        """Not delivered: its keys go back to what they were, unless a later run moved them."""
        for s in d.states:
            if self.states.get(s.key) is s:
                before = d.prior.get(s.key)
                if before is None:
                    self.states.pop(s.key, None)
                else:
                    self.states[s.key] = before

    async def _migrate(self, old: int, new: int) -> None:
        await self.store.migrate_chat(old, new)
        for key in [k for k in self.states if k.chat_id == old]:
            s = self.states.pop(key)
            moved = replace(key, chat_id=new)
            self.states[moved] = replace(s, key=moved)
        await self.reload_subscriptions()

    async def _gone(self, d: Delivery, chat_id: int, thread_id: int | None, why: str) -> None:
        store = self.store
        if thread_id is None:
            ended = await store.deactivate_chat(chat_id, why)
        else:
            ended = await store.end_topic(chat_id, thread_id, why)
        await self._record(d, Outcome(Fate.CHAT_GONE, error=why), "failed")
        await self.reload_subscriptions()
        where = f"chat {chat_id}" + (f" topic {thread_id}" if thread_id is not None else "")
        log.info("%s unreachable (%s): %d subscriptions ended", where, why, ended)

    def _annotate(
        self, message: Message, text: str, keyboard: InlineKeyboardMarkup | None, d: Delivery
    ) -> None:
        if self.settings.llm_alert_notes and self.signaler.client is not None and d.crossings:
            opps = [c.opportunity for c in d.crossings if c.opportunity.asset in d.assets]
            self.notes.spawn(
                annotate_alert(self.signaler, message, text, keyboard, opps, d.created_at)
            )

    # --- storage failing and recovering ------------------------------------------------

    async def _recover(self, now: float) -> list[Delivery]:
        """When storage has been failing: does it take writes again? Then save what was
        kept in memory and release the held crossings (one message per chat topic)."""
        health = self.store.db.health
        if not (health.failing or self.dirty or self.unsaved or self.held):
            return []
        store = self.store
        try:
            if health.failing:
                await store.probe()
        except STORAGE_ERRORS:
            return []
        if not await self._save_states():
            return []
        for d, outcome, status in list(self.unsaved.values()):
            await self._record(d, outcome, status)
        held, self.held = self.held, []
        if held:
            log.info("storage takes writes again: releasing %d held message(s)", len(held))
        return self._merge_held(held, now)

    async def _save_states(self) -> bool:
        """Write the state changes made without an alert (re-arms); kept while storage fails."""
        if not self.dirty:
            return True
        changed = list(self.dirty.values())
        try:
            await self.store.save_states(changed)
        except STORAGE_ERRORS as e:
            log.error("storage refused %d alert state change(s) (%s); kept in memory",
                      len(changed), e)  # fmt: skip
            return False
        for s in changed:
            if self.dirty.get(s.key) is s:
                del self.dirty[s.key]
        return True

    def _merge_held(self, held: list[Delivery], now: float) -> list[Delivery]:
        """Held messages that were queued go as they are; the others, one per chat topic."""
        out = [d for d in held if d.id is not None]
        by_target: dict[Target, list[Delivery]] = defaultdict(list)
        for d in held:
            if d.id is None:
                by_target[d.target].append(d)
        for target, group in by_target.items():
            latest: dict[AlertKey, tuple[Crossing, AlertState]] = {}
            prior: dict[AlertKey, AlertState | None] = {}
            for d in group:
                for k, before in d.prior.items():
                    prior.setdefault(k, before)
                by_key = {s.key: s for s in d.states}
                for c in d.crossings:
                    latest[c.key] = (c, by_key[c.key])
            note = HELD_NOTE.format(at=render.clock(group[0].created_at))
            crossings = [c for c, _ in latest.values()]
            states = [s for _, s in latest.values()]
            out.append(self._compose(target, crossings, states, now, note, prior))
        return out

    async def tell_admins_about_storage(self, bot: Bot) -> None:
        """One message to each admin when storage starts failing, one when it recovers."""
        health = self.store.db.health
        settings = self.settings
        if health.failing and self.storage_told is None:
            self.storage_told = health.cause or "unknown error"
            text = (
                f"⚠️ <b>Storage is failing</b>: ARB_DB={render.esc(settings.db_path)}: "
                f"{render.esc(self.storage_told)}\nAlerts are held in memory and go out when "
                "it takes writes again. /status shows it."
            )
        elif not health.failing and self.storage_told is not None and not self.held:
            self.storage_told = None
            text = (
                f"✅ <b>Storage is back</b>: ARB_DB={render.esc(settings.db_path)} takes writes "
                "again; held alerts have gone out."
            )
        else:
            return
        for admin in sorted(settings.admins):
            try:
                await send_html(bot, admin, text)
            except Exception as e:  # the admin's chat is not the alerts' business
                log.warning("could not tell admin %s about storage: %s", admin, e)

    # --- upkeep ------------------------------------------------------------------------

    async def _housekeeping(self, snapshot: MarketSnapshot, now: float) -> None:
        """Funding history every ARB_HISTORY_EVERY_S; old records dropped once a day."""
        try:
            await self.recorder.record(from_quotes(snapshot.quotes), now)
            if now - self.last_pruned >= PRUNE_EVERY_S:
                counts = await self.store.prune(before=now - self.settings.retention_days * 86_400)
                self.last_pruned = now
                if any(counts.values()):
                    log.info("pruned old records: %s", counts)
        except STORAGE_ERRORS as e:  # worth less than the alerts: they go on
            log.error("could not store history or prune: %s", e)


def details_keyboard(assets: tuple[str, ...] | list[str]) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(f"🔎 {a}", callback_data=f"f:{a}"[:64]) for a in assets]
    return InlineKeyboardMarkup([buttons[i : i + 3] for i in range(0, len(buttons), 3)])

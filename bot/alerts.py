"""The alert cycle: refresh once, match every subscription in one pass, send, remember.

Each cycle (JobQueue, every ARB_SCAN_INTERVAL_S; never two at once) refreshes
the market with a deadline of half the interval, so a slow venue cannot hold
the others' alerts, computes the opportunities once, matches all
subscriptions against them, applies the stored hysteresis, and sends one
message per chat topic gathering its new crossings. A key's new state is
committed together with the delivery record right after Telegram accepts the
message, so a restart neither repeats what was sent nor forgets a crossing.
Once the alerts are out, the quotes go to the funding history (kept every
ARB_HISTORY_EVERY_S). With live feeds, the scheduled cycle polls only the
venues whose feed is down, and live updates also run the alert path for the
assets they changed (bot.live_alerts).

Delivery faults: a chat that blocked or removed the bot (Forbidden) has its
subscriptions ended; a group that became a supergroup (ChatMigrated) moves
to the new id and the message is sent there; rate limits are waited out by
PTB's AIORateLimiter (30 messages/s overall, 20 per minute per group) and a
RetryAfter that outlasts its retries is waited here; other failures retry
with backoff, then are recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.ext import ContextTypes

from arb.alerts import (
    NO_LEVELS,
    AlertKey,
    AlertState,
    Crossing,
    Subscription,
    WatchLevels,
    decide,
    key_of,
    match,
    rearm_candidates,
    watch_levels,
)
from arb.market import MarketSnapshot
from arb.models import Opportunity
from arb.spread import scan
from bot import render
from bot.desk import Desk, desk_of
from bot.live_alerts import LiveTrigger
from bot.send import send_html
from bot.signals import NoteTasks, annotate_alert

log = logging.getLogger(__name__)

ATTEMPTS = 4  # sends of one alert message: migrations and long RetryAfters
MAX_PARALLEL_SENDS = 64  # the rate limiter paces them; this bounds open requests
GONE = ("chat not found", "bot was kicked", "user is deactivated", "have no rights to send")

Target = tuple[int, int | None]  # chat, forum topic


@dataclass
class CycleReport:
    started: float
    subscriptions: int = 0
    matches: int = 0
    crossings: int = 0
    sent: int = 0
    failed: int = 0
    deactivated: int = 0
    migrated: int = 0
    finished: float = 0.0
    results: dict[Target, str] = field(default_factory=dict)


class Alerts:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.lock = asyncio.Lock()
        self.last: CycleReport | None = None
        self.cycles = 0
        self.cycled = asyncio.Event()  # set once the first cycle has run
        self.notes = NoteTasks()
        self.levels: WatchLevels = NO_LEVELS  # from the last run's subscriptions
        self.seen_spread: dict[str, float] = {}  # asset -> best spread at its last run
        self.live = LiveTrigger(self)

    async def reload_levels(self) -> None:
        """Subscriptions changed: live updates must know which levels matter now."""
        self.levels = watch_levels(await self.desk.store.subscriptions())

    async def close(self) -> None:
        await self.live.close()
        await self.notes.close()

    async def cycle(
        self, bot: Bot, refresh: bool = True, assets: set[str] | None = None
    ) -> CycleReport:
        """One cycle; waits for a running one to finish instead of overlapping it.

        `refresh` polls the venues without a live feed first; `assets` limits the run to
        those assets (a live update's), leaving every other key's state alone.
        """
        async with self.lock:
            desk = self.desk
            if refresh:
                deadline = min(desk.settings.venue_deadline_s, desk.settings.scan_interval_s / 2)
                snapshot = await desk.service.refresh_polled(deadline_s=deadline)
            else:
                snapshot = await desk.snapshot()
            report = await self._run(bot, snapshot, assets)
            if assets is None:
                try:
                    await desk.recorder.record(snapshot.quotes, desk.service.clock())
                except Exception:  # history is worth less than the alerts: log and go on
                    log.exception("could not store the funding history")
            self.last = report
            self.cycles += 1
            self.cycled.set()
            return report

    async def _run(
        self, bot: Bot, snapshot: MarketSnapshot, assets: set[str] | None = None
    ) -> CycleReport:
        desk, store = self.desk, self.desk.store
        now = time.time()
        report = CycleReport(started=time.monotonic())
        quotes = (
            snapshot.quotes
            if assets is None
            else [q for a in assets for q in snapshot.for_asset(a)]
        )
        pairs = scan(quotes, replace(desk.params, best_per_asset=False), now)
        best = best_per_asset(pairs)
        subs = await store.subscriptions()
        states = await store.alert_states()
        self.levels = watch_levels(subs)
        for o in best:
            self.seen_spread[o.asset] = o.spread_8h
        matched = match(subs, best)
        report.subscriptions, report.matches = len(subs), len(matched)

        outbox: dict[Target, list[tuple[Crossing, AlertState]]] = defaultdict(list)
        quiet: list[AlertState] = []
        seen: set[AlertKey] = set()
        cooldown = desk.settings.alert_cooldown_s
        for sub, opp in matched:
            key = key_of(sub, opp)
            if key in seen:
                continue
            seen.add(key)
            reason, state = decide(states.get(key), key, opp.spread_8h, sub.threshold_8h, now,
                                   cooldown)  # fmt: skip
            if reason is not None:
                crossing = Crossing(key, opp, sub.threshold_8h, reason)
                outbox[(sub.chat_id, sub.thread_id)].append((crossing, state))
            elif state != states.get(key):
                quiet.append(state)
        spreads = {(o.asset, o.long_venue, o.short_venue): o.spread_8h for o in pairs}
        # A pair whose legs swapped since its alert is below its threshold: negative carry.
        spreads |= {(o.asset, o.short_venue, o.long_venue): -o.spread_8h for o in pairs}
        quiet += rearm_candidates(
            (s for k, s in states.items() if k not in seen), thresholds(subs, states), spreads
        )
        await store.save_states(quiet)

        report.crossings = sum(len(v) for v in outbox.values())
        gate = asyncio.Semaphore(MAX_PARALLEL_SENDS)

        async def send(target: Target, items: list[tuple[Crossing, AlertState]]) -> None:
            async with gate:
                report.results[target] = await self.deliver(bot, target, items, now)

        await asyncio.gather(*(send(t, items) for t, items in outbox.items()))
        for result in report.results.values():
            report.sent += result == "sent"
            report.failed += result == "failed"
            report.deactivated += result == "deactivated"
            report.migrated += result == "migrated"
        report.finished = time.monotonic()
        if report.crossings or report.failed:
            log.info(
                "alert cycle: %d subscriptions, %d crossings, %d sent, %d failed, %.2f s",
                report.subscriptions, report.crossings, report.sent, report.failed,
                report.finished - report.started,
            )  # fmt: skip
        return report

    async def deliver(
        self, bot: Bot, target: Target, items: list[tuple[Crossing, AlertState]], now: float
    ) -> str:
        store = self.desk.store
        chat_id, thread_id = target
        text = render.alert_html([c for c, _ in items], now)
        keyboard = details_keyboard([c.opportunity for c, _ in items])
        delivery = await store.delivery_started(chat_id, thread_id, len(items))
        states = [s for _, s in items]
        migrated = False
        # Network failures are retried inside send_html; this loop follows a group to its
        # new supergroup and outlasts a RetryAfter the rate limiter gave up on.
        for attempt in range(1, ATTEMPTS + 1):
            try:
                sent = await send_html(
                    bot, chat_id, text, thread_id=thread_id, reply_markup=keyboard
                )
            except Forbidden as e:
                return await self._gone(chat_id, delivery, attempt, e.message)
            except ChatMigrated as e:
                log.info("chat %s became %s; moving its subscriptions", chat_id, e.new_chat_id)
                await store.migrate_chat(chat_id, e.new_chat_id)
                chat_id, migrated = e.new_chat_id, True
                states = [replace(s, key=replace(s.key, chat_id=chat_id)) for s in states]
                continue
            except RetryAfter as e:
                wait = _seconds(e.retry_after)
                log.warning("chat %s: still rate limited, waiting %.0f s", chat_id, wait)
                await asyncio.sleep(wait)
                continue
            except BadRequest as e:
                if any(g in e.message.lower() for g in GONE):
                    return await self._gone(chat_id, delivery, attempt, e.message)
                await store.delivery_failed(delivery, attempt, f"BadRequest: {e.message}")
                log.warning("alert to chat %s refused: %s", chat_id, e.message)
                return "failed"
            except NetworkError as e:
                await store.delivery_failed(delivery, attempt, f"{type(e).__name__}: {e}")
                log.warning("alert to chat %s failed after retries: %s", chat_id, e)
                return "failed"
            await store.delivery_sent(delivery, sent.message_id, attempt, states)
            if self.desk.settings.llm_alert_notes and self.desk.signaler.client is not None:
                opps = [c.opportunity for c, _ in items]
                self.notes.spawn(annotate_alert(self.desk, sent, text, keyboard, opps, now))
            return "migrated" if migrated else "sent"
        await store.delivery_failed(delivery, ATTEMPTS, "gave up")
        return "failed"

    async def _gone(self, chat_id: int, delivery: int, attempts: int, why: str) -> str:
        ended = await self.desk.store.deactivate_chat(chat_id, why)
        await self.desk.store.delivery_failed(delivery, attempts, why)
        log.info("chat %s unreachable (%s): %d subscriptions ended", chat_id, why, ended)
        return "deactivated"


def best_per_asset(pairs: list[Opportunity]) -> list[Opportunity]:
    """`pairs` come ranked best first: keep each asset's first."""
    seen: set[str] = set()
    out = []
    for o in pairs:
        if o.asset not in seen:
            seen.add(o.asset)
            out.append(o)
    return out


def thresholds(
    subs: list[Subscription], states: dict[AlertKey, AlertState]
) -> dict[tuple[int, int | None, str], float]:
    """The threshold in force for each stored key: the asset's own, else the catch-all."""
    catch_all: dict[Target, float] = {}
    own: dict[tuple[int, int | None, str], float] = {}
    for s in subs:
        if s.assets:
            for a in s.assets:
                own[(s.chat_id, s.thread_id, a)] = s.threshold_8h
        else:
            catch_all[(s.chat_id, s.thread_id)] = s.threshold_8h
    out = {}
    for k in states:
        t = own.get((k.chat_id, k.thread_id, k.asset), catch_all.get((k.chat_id, k.thread_id)))
        if t is not None:
            out[(k.chat_id, k.thread_id, k.asset)] = t
    return out


def details_keyboard(opps: list[Opportunity]) -> InlineKeyboardMarkup:
    assets = list(dict.fromkeys(o.asset for o in opps))[:12]
    buttons = [InlineKeyboardButton(f"🔎 {a}", callback_data=f"f:{a}"[:64]) for a in assets]
    return InlineKeyboardMarkup([buttons[i : i + 3] for i in range(0, len(buttons), 3)])


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total() if callable(total) else value)  # type: ignore[arg-type]


async def cycle_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    desk = desk_of(context)
    await desk.alerts.cycle(context.bot)

"""The risk watch: with keys set, every ARB_RISK_INTERVAL_S the desk's accounts are read,
judged (`arb.risk.assess`) and what needs attention is told (`arb.risk_alerts.plan_risk`)
to every ARB_ADMINS id (a user's id is their private chat) and every ARB_RISK_CHATS id.

One message per alert per chat, critical first: each names one condition and its next
step, so a phone's notification says what happened, and a later alert never buries an
earlier one.

Delivery has the market alerts' guarantees (bot.alerts). The messages and the keys' new
state are written in one transaction (`Store.queue_risk`), then sent through
`Alerts.deliver_queued`: paced by the rate limiter, an unknown outcome resent once marked,
outcomes kept in memory while storage refuses them. A crash before the write plans the same
alerts at the next read; after it, the next start sends whatever was left in the outbox.

While storage refuses writes, the alerts still go out at once, unqueued (a liquidation
warning cannot wait for a disk), and the keys' new state is kept in memory until a write
succeeds: a restart before that may repeat an alert, never lose one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from telegram import Bot

from arb import commands
from arb.accounts.service import AccountService
from arb.commands import MarketView
from arb.risk import RiskReport
from arb.risk_alerts import RiskAlert, RiskKey, RiskState, plan_risk
from arb.settings import Settings
from bot.alerts import Alerts
from bot.delivery import STORAGE_ERRORS, Fate, send_alert
from bot.ratelimit import ALERT
from bot.render import esc
from storage.store import QueuedAlert, Store

log = logging.getLogger(__name__)

MARKS = {"critical": "🔴", "warning": "🟠"}
# Results of a message that went out, may have, or will once storage takes writes again.
DELIVERED = frozenset({"sent", "migrated", "unknown", "held"})


def alert_html(alert: RiskAlert) -> str:
    """A risk alert as one Telegram message: marker and level, the headline in bold, the
    figures, then the next step in italics. Every text escaped."""
    head, *rest = alert.lines or ("",)
    lines = [
        f"{MARKS.get(alert.level, '⚠️')} <b>Risk · {esc(alert.level)}</b>",
        f"<b>{esc(head)}</b>",
        *(esc(line) for line in rest),
        f"<i>Next: {esc(alert.next_step)}</i>",
    ]
    return "\n".join(lines)


@dataclass
class RiskRun:
    """What one read found and what became of its messages."""

    report: RiskReport
    alerts: list[RiskAlert]
    results: list[str] = field(default_factory=list)  # per message: sent, failed, unknown...
    queued: bool = True  # False: storage refused, sent unqueued


class RiskWatch:
    def __init__(
        self,
        settings: Settings,
        accounts: AccountService,
        market: MarketView,
        store: Store,
        alerts: Alerts,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts = accounts
        self.market = market  # the desk: its clock and shared snapshot
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.params = settings.risk_params()
        self.chats = sorted(settings.admins | settings.risk_chats)
        self.states: dict[RiskKey, RiskState] | None = None  # loaded at the first read
        self.dirty: dict[RiskKey, RiskState] = {}  # state storage has not taken yet
        self.lock = asyncio.Lock()
        self.last: RiskRun | None = None
        self.runs = 0
        self.stopping = False
        self._reading: asyncio.Task[RiskReport] | None = None
        if self.enabled and not self.chats:
            log.warning("risk alerts have nobody to go to: set ARB_ADMINS or ARB_RISK_CHATS")

    @property
    def enabled(self) -> bool:
        """Whether there is anything to watch: a venue with keys."""
        return bool(self.accounts.venues)

    async def run(self, bot: Bot, wait: bool = True) -> RiskRun | None:
        """One read, judged and told; None when none was made. Never two at once: with
        `wait` False (the job) a read still on its way skips this one. A bug is logged,
        never raised: the next read runs as usual."""
        if self.stopping or not self.enabled or (not wait and self.lock.locked()):
            return None
        async with self.lock:
            if self.stopping:
                return None
            try:
                run = await self._run(bot)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self.stopping and task is not None and not task.cancelling():
                    return None  # stop() cut the accounts' read short: nothing was written
                raise
            except Exception:
                log.exception("risk watch: this read failed; the next one runs as usual")
                run = None
        self.runs += 1
        self.last = run
        return run

    async def stop(self) -> None:
        """At shutdown: no new reads, and one still reading the accounts is cut short (it
        has written nothing: the next start reads again). Messages already queued are
        the alerts' to drain."""
        self.stopping = True
        reading = self._reading
        if reading is not None and not reading.done():
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    async def _run(self, bot: Bot) -> RiskRun:
        now = self.clock()
        self._reading = asyncio.create_task(
            commands.risk(self.accounts, self.market, self.params, now), name="risk-read"
        )
        try:
            report = await self._reading
        finally:
            self._reading = None
        states = await self._states()
        alerts, changed = plan_risk(report, states, self.params, now)
        prior = {k: states.get(k) for k in changed}
        states.update(changed)  # at once: no later read plans them again
        alerts.sort(key=lambda a: a.level != "critical")  # stable: critical first
        texts = [alert_html(a) for a in alerts]
        messages = [QueuedAlert(chat, None, t, (), (), now) for t in texts for chat in self.chats]
        run = RiskRun(report, alerts)
        await self._tell(bot, messages, changed, run)
        self._take_back(states, alerts, prior, run.results, now)
        if alerts:
            log.info("risk watch: %d alert(s) to %d chat(s): %s", len(alerts), len(self.chats),
                     ", ".join(f"{a.key.kind} {a.key.scope}" for a in alerts))  # fmt: skip
        return run

    def _take_back(
        self,
        states: dict[RiskKey, RiskState],
        alerts: list[RiskAlert],
        prior: dict[RiskKey, RiskState | None],
        results: list[str],
        now: float,
    ) -> None:
        """An alert that reached nobody (Telegram refused it, or it never left) is not
        told: its key goes back to what it was, so the next read plans it again, as a market
        alert's does. The change is written with the next read's."""
        n = len(self.chats)
        for i, alert in enumerate(alerts):
            if not n or any(r in DELIVERED for r in results[i * n : (i + 1) * n]):
                continue
            key = alert.key
            before = prior.get(key) or RiskState(key, False, now, None, None)
            states[key] = self.dirty[key] = before
            log.warning("risk alert %s %s reached nobody: planned again at the next read",
                        key.kind, key.scope)  # fmt: skip

    async def _states(self) -> dict[RiskKey, RiskState]:
        """The keys' state: read once, then kept in memory. While storage cannot be read,
        a read judges from what this run has told since it started."""
        if self.states is None:
            try:
                loaded = await self.store.risk_states()
            except STORAGE_ERRORS as e:
                log.error("could not read the risk watch's state (%s): judging without it", e)
                return dict(self.dirty)
            self.states = {**loaded, **self.dirty}
        return self.states

    async def _tell(
        self,
        bot: Bot,
        messages: list[QueuedAlert],
        changed: dict[RiskKey, RiskState],
        run: RiskRun,
    ) -> None:
        """Queue the messages with the keys' new state, then deliver them; unqueued when
        storage refuses the write."""
        pending = {**self.dirty, **changed}
        if not messages and not pending:
            return
        written = False

        async def queue() -> list[tuple[int, QueuedAlert]]:
            nonlocal written
            ids = await self.store.queue_risk(messages, pending.values())
            written = True
            return list(zip(ids, messages, strict=True))

        try:
            run.results = await self.alerts.deliver_queued(bot, queue)
        except STORAGE_ERRORS as e:
            self.dirty = pending
            log.error("storage refused the risk watch's write (%s): %d message(s) sent "
                      "unqueued, %d state change(s) kept in memory", e, len(messages),
                      len(pending))  # fmt: skip
            run.queued = False
            run.results = await self._send_unqueued(bot, messages)
            return
        if written:
            self.dirty = {}

    async def _send_unqueued(self, bot: Bot, messages: list[QueuedAlert]) -> list[str]:
        """Each message once, paced like every alert; nothing recorded."""
        outcomes = await asyncio.gather(
            *(send_alert(bot, m.chat_id, m.thread_id, m.text, None, ALERT) for m in messages)
        )
        for m, outcome in zip(messages, outcomes, strict=True):
            if outcome.fate is not Fate.SENT:
                log.warning("risk alert to chat %s not sent: %s", m.chat_id, outcome.error)
        return [outcome.fate.value for outcome in outcomes]

"""The risk watch end to end: the real PTB client, the fake Bot API, the public fake market
and the signature-checking fake accounts of Bybit and OKX.

The desk holds an APE carry: short 10,000 on bybit (mark 0.13791, liquidation 0.2: 45.0 %
away), long 10,000 on okx (mark 0.1378, liquidation 0.09: 34.7 % away). The public market
quotes APE at 0.031 % an hour on bybit and 0.052 % per 4 h on okx, so the book earns
(0.00031 - 0.00013) x 8760 = 157.7 % a year before fees, well over ARB_EXIT_APR = 20 %.

Each read is driven by hand (`RiskWatch.run`, as the job runs it) on a clock the test moves,
so the minimum gap (ARB_ALERT_MIN_GAP_S, 900 s) and ARB_RISK_UNREADABLE_S (180 s) need no
waiting. Every alert must reach the admin's private chat and the ARB_RISK_CHATS group alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from arb.models import RiskKey
from bot import risk as risk_module
from bot.app import RISK_JOB
from bot.risk import RiskRun
from storage.db import Database
from storage.store import QueuedAlert, Store
from tests.bot_harness import RunningBot, running_bot
from tests.conftest import desk_market
from tests.fakes.venues import FakeVenues, Fault
from tests.venues.bybit.fake_account import FakeBybitPrivate
from tests.venues.okx.fake_account import OKX_POSITIONS, FakeOkxPrivate

ADMIN, GROUP = 5, -100777
GAP_S = 900.0  # ARB_ALERT_MIN_GAP_S's default
ENV = {
    "ARB_SCAN_INTERVAL_S": "3600",
    "ARB_RISK_INTERVAL_S": "3600",  # the tests run each read themselves
    "ARB_ADMINS": str(ADMIN),
    "ARB_RISK_CHATS": str(GROUP),
    "ARB_EXIT_APR": "20",
}


@dataclass
class Desk:
    """The fakes behind the bot, the book they hold, and the risk watch's clock."""

    venues: FakeVenues
    bybit: FakeBybitPrivate
    okx: FakeOkxPrivate
    db: Path
    b: RunningBot | None = None
    now: float = field(default_factory=time.time)
    texts: list[str] = field(default_factory=list)  # every message of every bot run

    @property
    def secrets(self) -> list[str]:
        return [*self.bybit.env().values(), *self.okx.env().values()]

    def short_bybit(self, mark: float = 0.13791, liq: float = 0.2, size: float = 10_000) -> None:
        self.bybit.positions = [self.bybit.position_row("APEUSDT", "short", size, 0.1379, mark,
                                                        0.0, 5, liq=liq)]  # fmt: skip

    def long_okx(self, size: float | None = 10_000, mark: float = 0.1378) -> None:
        self.okx.positions = (
            []
            if size is None
            else [
                self.okx.position_row("APE-USDT-SWAP", "long", size, 0.1377, mark, 0.0, 5, liq=0.09)
            ]
        )

    @contextlib.asynccontextmanager
    async def bot(self, **env: str):
        keys = {**self.bybit.env(), **self.okx.env()}
        async with running_bot(self.venues, ARB_DB=str(self.db), **ENV, **keys, **env) as b:
            self.b = b
            b.desk.risk.clock = lambda: self.now
            try:
                yield b
            finally:
                self.texts += [m.text or "" for m in b.tg.sent]

    async def read(self, after_s: float = 60.0) -> list[str]:
        """One read `after_s` seconds after the last: the risk alerts it sent the admin,
        checked to be exactly those the risk group got."""
        assert self.b is not None
        self.now += after_s
        mark = len(self.b.tg.sent)
        run = await self.b.desk.risk.run(self.b.app.bot)
        assert isinstance(run, RiskRun), "the read failed (see the log)"
        new = self.b.tg.sent[mark:]
        admin = [m.text for m in new if m.chat_id == ADMIN]
        group = [m.text for m in new if m.chat_id == GROUP]
        assert admin == group
        assert len(new) == 2 * len(admin) == 2 * len(run.alerts)
        return admin

    async def refresh_market(self) -> None:
        assert self.b is not None
        await self.b.cycle()  # the market cycle refreshes the shared snapshot

    def assert_no_secret(self, caplog) -> None:
        texts = [*self.texts, caplog.text]
        stored = b"".join(p.read_bytes() for p in self.db.parent.glob(self.db.name + "*"))
        for s in self.secrets:
            assert all(s not in t for t in texts), f"{s[:6]}… leaked into a message or a log"
            assert s.encode() not in stored


@pytest.fixture
async def desk(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with FakeVenues(desk_market()) as venues:
        bybit = FakeBybitPrivate().install(venues)
        okx = FakeOkxPrivate().install(venues)
        bybit.set_balance(100_000, 80_000)
        okx.set_balance(50_000, 40_000)
        d = Desk(venues, bybit, okx, tmp_path / "a.db")
        d.short_bybit()
        d.long_okx()
        yield d
        d.assert_no_secret(caplog)


def bybit_ape(venues: FakeVenues):
    return next(p for p in venues.market.venues["bybit"] if p.asset == "APE")


def lines(text: str) -> list[str]:
    return text.split("\n")


# --- all well ---------------------------------------------------------------------------


async def test_a_healthy_book_tells_nobody_and_the_job_reads_every_interval(desk):
    async with desk.bot() as b:
        assert await desk.read() == []
        run = b.desk.risk.last
        assert run is not None and not run.alerts
        (book,) = run.report.books
        assert book.asset == "APE" and book.status == "hedged"
        assert [round(x.liq_distance_pct, 1) for x in book.legs] == [34.7, 45.0]
        assert book.carry_apr is not None and book.carry_apr > 0.2
        (job,) = b.app.job_queue.get_jobs_by_name(RISK_JOB)
        assert job.trigger.interval.total_seconds() == 3600
        assert desk.venues.hits("okx", OKX_POSITIONS) == 1
        await job.run(b.app)  # as the JobQueue runs it
        assert desk.venues.hits("okx", OKX_POSITIONS) == 2
        assert b.desk.risk.runs == 2
        assert [m for m in b.tg.sent if m.chat_id in (ADMIN, GROUP)] == []


async def test_without_keys_there_is_no_risk_job(tmp_path):
    async with (
        FakeVenues(desk_market()) as venues,
        running_bot(venues, ARB_DB=str(tmp_path / "a.db"), **ENV) as b,
    ):
        assert b.app.job_queue.get_jobs_by_name(RISK_JOB) == ()
        assert not b.desk.risk.enabled
        assert await b.desk.risk.run(b.app.bot) is None


# --- liquidation --------------------------------------------------------------------------


async def test_liquidation_warning_critical_and_their_re_arm(desk):
    async with desk.bot():
        assert await desk.read() == []
        desk.short_bybit(mark=0.18)  # |0.18 - 0.2| / 0.18 = 11.1 %
        (warning,) = await desk.read()
        assert lines(warning) == [
            "🟠 <b>Risk · warning</b>",
            "<b>APE short on bybit is 11.1% from liquidation (under 15%).</b>",
            "bybit APEUSDT short 10,000 APE: mark 0.180000, liquidation 0.200000, 5x cross.",
            "Other side: long 10,000 APE on okx, 34.7% from liquidation.",
            "<i>Next: Add margin on bybit or cut both legs of APE by the same size.</i>",
        ]
        assert await desk.read() == []  # still under: told once

        desk.short_bybit(mark=0.188)  # 6.4 %
        (critical,) = await desk.read()
        assert lines(critical)[:2] == [
            "🔴 <b>Risk · critical</b>",
            "<b>APE short on bybit is 6.4% from liquidation (under 7%).</b>",
        ]
        assert await desk.read() == []

        desk.short_bybit(mark=0.175)  # 14.3 %: out of critical's re-arm (8.4 %), warning holds
        assert await desk.read() == []
        desk.short_bybit(mark=0.188)  # critical again: its key re-armed, but within the gap
        assert await desk.read() == []
        crossed_again = await desk.read(after_s=GAP_S)  # still under after the gap: told
        assert [lines(t)[0] for t in crossed_again] == ["🔴 <b>Risk · critical</b>"]

        desk.short_bybit(mark=0.17)  # 17.6 %: over 15 % but not the 18 % re-arm margin
        assert await desk.read() == []
        desk.short_bybit(mark=0.18)
        assert await desk.read(after_s=GAP_S) == []  # never re-armed: nothing new

        desk.short_bybit(mark=0.165)  # 21.2 %: re-armed
        assert await desk.read() == []
        desk.short_bybit(mark=0.18)  # under again, long after the first warning: told
        (again,) = await desk.read()
        assert lines(again)[:2] == lines(warning)[:2]


async def test_a_re_armed_warning_within_the_gap_waits_for_it(desk):
    async with desk.bot():
        desk.short_bybit(mark=0.18)
        (first,) = await desk.read()
        assert "11.1% from liquidation" in first
        desk.short_bybit(mark=0.165)  # 21.2 %: re-armed
        assert await desk.read() == []
        desk.short_bybit(mark=0.18)  # under again 120 s after the alert: within the gap
        assert await desk.read() == []
        assert await desk.read(after_s=GAP_S - 240) == []  # 780 s after it: still within
        (again,) = await desk.read(after_s=GAP_S)
        assert lines(again)[1] == "<b>APE short on bybit is 11.1% from liquidation (under 15%).</b>"


async def test_a_lone_leg_warns_of_its_liquidation(desk):
    async with desk.bot():
        assert await desk.read() == []
        lone = desk.bybit.position_row("BTCUSDT", "long", 0.5, 80_000, 77_607.4, -1196.3, 10,
                                       liq=71_000)  # fmt: skip  # 8.5 % away
        desk.bybit.positions.append(lone)
        liq, drift = await desk.read()  # a lone leg is also a book 100 % adrift
        assert lines(liq)[:3] == [
            "🟠 <b>Risk · warning</b>",
            "<b>BTC long on bybit is 8.5% from liquidation (under 15%).</b>",
            "bybit BTCUSDT long 0.5 BTC: mark 77,607.4, liquidation 71,000.0, 10x cross.",
        ]
        assert lines(liq)[-1] == "<i>Next: Add margin on bybit or reduce the BTC long there.</i>"
        assert lines(drift)[1:] == [
            "<b>BTC book drifts 100.0% of its larger side (max 5%): net long 0.5 BTC "
            "(+$38,803.70).</b>",
            "Legs: long 0.5 BTC on bybit, 8.5% from liquidation.",
            "<i>Next: Open the short leg of BTC or close the long on bybit.</i>",
        ]
        texts = [liq, drift]
        assert all("APE" not in t for t in texts)


# --- the carry ----------------------------------------------------------------------------


async def test_the_carry_under_the_exit_apr_then_negative(desk):
    async with desk.bot() as b:
        assert await desk.read() == []
        # (0.00015 - 0.00013) x 8760 = 17.5 % gross, less the exit's fees (bybit 0.055 % and
        # okx 0.05 %, over the 168 h horizon: 5.5 %) = 12.0 %: under 20 %, still positive
        bybit_ape(desk.venues).rate = 0.00015
        await desk.refresh_market()
        (under,) = await desk.read()
        assert b.desk.risk.last.report.books[0].carry_apr == pytest.approx(0.12045)
        assert lines(under)[0] == "🟠 <b>Risk · warning</b>"
        assert lines(under)[1].startswith("<b>APE carry nets ")
        assert "12.0%" in lines(under)[1] and "20.0%" in lines(under)[1]
        assert lines(under)[-1] == (
            "<i>Next: Close both legs of APE by the same size, unless you expect funding to "
            "turn.</i>"
        )
        assert await desk.read() == []

        bybit_ape(desk.venues).rate = 0.00031  # back to 157.7 % gross: re-armed
        await desk.refresh_market()
        assert await desk.read() == []
        bybit_ape(desk.venues).rate = -0.0001  # the short now pays: the carry is negative
        await desk.refresh_market()
        (negative,) = await desk.read(after_s=GAP_S)
        assert b.desk.risk.last.report.books[0].carry_apr < 0
        assert "APE carry nets -" in negative


# --- the book's shape ---------------------------------------------------------------------


async def test_drift_then_a_leg_disappearing(desk):
    async with desk.bot():
        assert await desk.read() == []
        desk.long_okx(size=9_000)  # net short 1,000 APE: 10 % of the larger side
        (drift,) = await desk.read()
        assert lines(drift)[:2] == [
            "🟠 <b>Risk · warning</b>",
            "<b>APE book drifts 10.0% of its larger side (max 5%): net short 1,000 APE "
            "(-$137.86).</b>",
        ]
        assert lines(drift)[-1] == (
            "<i>Next: Cut 1,000 APE from the short on bybit or add it to the long on okx.</i>"
        )
        desk.long_okx()  # back in line: re-armed
        assert await desk.read() == []

        desk.long_okx(size=None)  # the okx leg is gone (liquidated, say)
        (gone,) = await desk.read()  # told once, as a gone leg, not also as a drift
        assert lines(gone)[:2] == [
            "🔴 <b>Risk · critical</b>",
            "<b>APE long on okx (APE-USDT-SWAP) is gone: 10,000 APE at the last read.</b>",
        ]
        assert lines(gone)[-1] == (
            "<i>Next: Check okx for a liquidation or ADL, then re-hedge or close the rest of "
            "APE on bybit.</i>"
        )
        assert await desk.read(after_s=GAP_S) == []


# --- a venue down -------------------------------------------------------------------------


async def test_one_account_failing_hides_nothing_else_and_is_told_after_the_grace(desk):
    async with desk.bot():
        assert await desk.read() == []
        desk.venues.fail("okx", OKX_POSITIONS, Fault.http(500))
        desk.short_bybit(mark=0.18)  # while okx cannot be read
        (warning,) = await desk.read()  # bybit's alert comes; no drift nor gone leg for APE
        assert "APE short on bybit is 11.1% from liquidation" in warning
        assert await desk.read(after_s=100) == []  # okx down 100 s: under the 180 s grace
        (down,) = await desk.read(after_s=100)
        assert lines(down)[0] == "🟠 <b>Risk · warning</b>"
        assert lines(down)[1].startswith("<b>okx account unreadable for 3")
        assert lines(down)[1].endswith("its legs are not watched.</b>")
        assert lines(down)[2].startswith("Error: okx")
        assert lines(down)[-1] == (
            "<i>Next: Check okx's status and its API key; its positions go unwatched until it "
            "answers.</i>"
        )
        assert await desk.read(after_s=GAP_S) == []  # told once per outage
        desk.venues.clear_faults()
        assert await desk.read() == []  # back: re-armed, the book whole again, all well


async def test_a_refused_signature_is_told_without_the_key(desk):
    async with desk.bot():
        assert await desk.read() == []
        desk.bybit.secret = "not-the-desk-secret"  # bybit now refuses our signatures (10004)
        assert await desk.read() == []
        (down,) = await desk.read(after_s=200)
        assert lines(down)[1].startswith("<b>bybit account unreadable for")
        assert desk.bybit.refused >= 2
        desk.bybit.secret = FakeBybitPrivate.keys[1]
    # the fixture then checks no key, secret or passphrase in any message, log or the database


# --- storage, restarts and Telegram -------------------------------------------------------


async def test_a_restart_repeats_nothing(desk):
    async with desk.bot() as b:
        desk.short_bybit(mark=0.18)
        assert len(await desk.read()) == 1
        assert (await b.desk.store.risk_states())[
            RiskKey("liq_warn", "APE bybit APEUSDT short")
        ].active
    async with desk.bot() as b:
        assert b.to_chat(ADMIN) == b.to_chat(GROUP) == []  # the outbox held nothing open
        assert await desk.read() == []  # same book, same state: nothing new
        assert await desk.read(after_s=GAP_S) == []
        desk.short_bybit(mark=0.188)  # and the watch goes on from where it was
        (critical,) = await desk.read()
        assert "6.4% from liquidation" in critical
        assert all(r["status"] == "sent" for r in await b.desk.store.deliveries())


async def test_risk_messages_left_in_the_outbox_are_sent_at_the_next_start(desk, tmp_path):
    db = await Database.open(str(desk.db))
    store = Store(db)
    text = "🔴 <b>Risk · critical</b>\n<b>left queued by a crash</b>"
    await store.queue_risk([QueuedAlert(ADMIN, None, text, (), (), desk.now)], [])
    await db.close()
    async with desk.bot() as b:
        assert [m.text for m in b.to_chat(ADMIN)] == [text]


async def test_storage_refusing_writes_still_sends_and_remembers(desk):
    async with desk.bot() as b:
        assert await desk.read() == []
        await b.desk.store.db.conn.execute("PRAGMA query_only = ON")
        desk.short_bybit(mark=0.18)
        (warning,) = await desk.read()  # sent at once, unqueued
        assert "11.1% from liquidation" in warning
        assert b.desk.risk.last.queued is False
        assert await desk.read() == []  # the new state is kept in memory: no repeat
        await b.desk.store.db.conn.execute("PRAGMA query_only = OFF")
        assert await desk.read() == []
        assert b.desk.risk.dirty == {}  # written with the first read storage took
        state = (await b.desk.store.risk_states())[RiskKey("liq_warn", "APE bybit APEUSDT short")]
        assert state.active and state.last_sent_at is not None


async def test_an_unconfirmed_send_is_resent_once_marked(desk):
    async with desk.bot(TELEGRAM_TIMEOUT_S="1") as b:
        b.tg.delay("sendMessage", 2.5, times=1)  # lands, but answers after the timeout
        desk.short_bybit(mark=0.18)
        desk.now += 60
        mark = len(b.tg.sent)
        await b.desk.risk.run(b.app.bot)
        texts = [m.text for m in b.tg.sent[mark:]]
        marked = [t for t in texts if t.startswith("↻")]
        assert len(texts) == 3 and len(marked) == 1
        assert marked[0].startswith("↻ <i>Sent again: Telegram did not confirm the first try")
        rows = await b.desk.store.deliveries()
        assert sorted(r["status"] for r in rows) == ["sent", "sent"]


async def test_stopping_cuts_a_slow_read_short_and_writes_nothing(desk):
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request):
        arrived.set()
        await asyncio.wait_for(release.wait(), timeout=15)
        return {}

    async with desk.bot() as b:
        desk.venues.route("okx", "GET", OKX_POSITIONS, slow)
        desk.short_bybit(mark=0.18)
        desk.now += 60
        reading = asyncio.create_task(b.desk.risk.run(b.app.bot))
        await asyncio.wait_for(arrived.wait(), timeout=10)
        assert await b.desk.risk.run(b.app.bot, wait=False) is None  # the job: never two at once
        assert desk.venues.hits("okx", OKX_POSITIONS) == 1
        started = time.monotonic()
        assert await b.shutdown() == 0
        assert time.monotonic() - started < 5  # not the accounts' 20 s deadline
        assert await asyncio.wait_for(reading, timeout=5) is None
        release.set()
    db = await Database.open(str(desk.db))
    try:
        store = Store(db)
        assert await store.deliveries() == [] and await store.risk_states() == {}
    finally:
        await db.close()


async def test_an_alert_telegram_refused_everywhere_is_planned_again(desk):
    async with desk.bot() as b:
        desk.short_bybit(mark=0.18)
        b.tg.fail_next("sendMessage", 400, "Bad Request: message is too long", times=2)
        desk.now += 60
        run = await b.desk.risk.run(b.app.bot)
        assert run.results == ["failed", "failed"] and b.to_chat(ADMIN) == []
        (warning,) = await desk.read()  # the next read tells it, the gap never started
        assert "11.1% from liquidation" in warning
        assert await desk.read() == []
        b.tg.fail_next("sendMessage", 400, "Bad Request: message is too long", times=1)
        desk.short_bybit(mark=0.188)
        (critical,) = await _one_read(desk)  # one of the two chats refused it
        assert "6.4% from liquidation" in critical.text
        assert await desk.read() == []  # the other one has it: not planned again


async def _one_read(desk: Desk):
    desk.now += 60
    mark = len(desk.b.tg.sent)
    await desk.b.desk.risk.run(desk.b.app.bot)
    return desk.b.tg.sent[mark:]


async def test_a_bug_is_logged_and_the_next_read_runs(desk, monkeypatch, caplog):
    real = risk_module.plan_risk
    calls = []

    def broken(*args):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("a bug in the plan")
        return real(*args)

    monkeypatch.setattr(risk_module, "plan_risk", broken)
    async with desk.bot() as b:
        desk.short_bybit(mark=0.18)
        (job,) = b.app.job_queue.get_jobs_by_name(RISK_JOB)
        await job.run(b.app)
        assert b.desk.risk.last is None and b.to_chat(ADMIN) == []
        assert "risk watch: this read failed" in caplog.text and "a bug in the plan" in caplog.text
        (warning,) = await desk.read()
        assert "11.1% from liquidation" in warning

"""`arb-bot run`: the python-telegram-bot Application and its lifecycle.

Long polling by default, webhook mode when TELEGRAM_WEBHOOK_URL is set. The
JobQueue refreshes the shared market snapshot every ARB_SCAN_INTERVAL_S and,
with account keys set, runs the risk watch every ARB_RISK_INTERVAL_S (bot.risk).
Start-up retries with backoff while Telegram is unreachable (PTB does not
retry getMe); SIGTERM and SIGINT stop cleanly with exit status 0. While updates flow it
keeps a heartbeat beside ARB_DB (bot.heartbeat) for `arb-bot health`.

`arb-bot run` enters through bot.launch, which checks the token and ARB_DB and starts
the first venue poll before this module (and Telegram's library) is imported; the first
cycle uses that poll. Metrics (prometheus_client) and live feeds (websockets) are
imported only when their settings turn them on.

Exit status: 0 stopped cleanly, 2 no, malformed or rejected TELEGRAM_BOT_TOKEN, 3 storage
unusable: ARB_DB cannot be opened, read or written (a bad path, not a database,
damaged, read-only, disk full, written by a newer build), said in one ERROR line
`ARB_DB=<path>: <cause>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from telegram import BotCommand, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from arb.accounts.service import AccountService, private_clients
from arb.network import host_of, network_cause
from arb.service import MarketService
from arb.settings import Settings
from arb.signaler import signaler_from_settings
from bot import accounts, charts, handlers, heartbeat, signals, subscriptions, trading
from bot.access import admit
from bot.desk import DESK_KEY, Desk, desk_of
from bot.errors import on_error
from bot.launch import Started, begin, stop_first_fetch
from bot.ratelimit import DeskRateLimiter
from storage.db import close_all
from storage.history import HistoryRecorder, HistoryStore
from storage.store import Store

if TYPE_CHECKING:
    from bot.metrics import Metrics

log = logging.getLogger(__name__)

CYCLE_JOB = "market-cycle"
RISK_JOB = "risk-watch"
KEY_CHECK_TASK = "key-check"
TRADING_TASK = "trading-start"  # reconciles unfinished trades, then trading opens
SET_COMMANDS_TASK = "set-commands"
SHUTDOWN_GRACE_S = 10.0  # alerts on their way when told to stop
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
TELEGRAM_CONNECT_TIMEOUT_S = 10.0
TELEGRAM_POOL_TIMEOUT_S = 5.0  # waiting for one of the pool's 256 connections
BAD_TOKEN = "Telegram rejected TELEGRAM_BOT_TOKEN. Check it with @BotFather."


async def cycle_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The market cycle: refresh the polled venues, run the alerts, keep the history."""
    desk = desk_of(context)
    first_fetch, desk.first_fetch = desk.first_fetch, None
    if first_fetch is not None:
        # The first cycle: the start's own fetch (bot.launch) is its refresh.
        await first_fetch
        await desk.alerts.cycle(context.bot, refresh=False)
        return
    await desk.alerts.cycle(context.bot)


async def risk_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The risk watch: read the accounts, judge the books, tell the admins and risk chats."""
    await desk_of(context).risk.run(context.bot, wait=False)


def file_url(base_url: str) -> str:
    """PTB's base_file_url for a base_url: .../bot -> .../file/bot."""
    head, _, _ = base_url.rpartition("/bot")
    return f"{head}/file/bot" if base_url.endswith("/bot") else base_url + "/file"


def build_application(
    settings: Settings,
    service: MarketService,
    store: Store,
    rate_limiter: DeskRateLimiter | None = None,
) -> Application:
    assert settings.telegram_bot_token
    app = (
        Application.builder()
        .token(settings.telegram_bot_token)
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url(settings.telegram_api_base_url))
        .rate_limiter(rate_limiter or DeskRateLimiter())
        # Every Bot API call but getUpdates, which has its own request and timeouts (its
        # read timeout is the poll's plus PTB's 5 s).
        .read_timeout(settings.telegram_timeout_s)
        .write_timeout(settings.telegram_timeout_s)
        .media_write_timeout(settings.telegram_timeout_s)
        .connect_timeout(TELEGRAM_CONNECT_TIMEOUT_S)
        .pool_timeout(TELEGRAM_POOL_TIMEOUT_S)
        .concurrent_updates(True)
        .build()
    )
    signaler = signaler_from_settings(settings, record=store.record_llm_call)
    history = HistoryStore(store.db)
    recorder = HistoryRecorder(history, settings.history_every_s, settings.history_days)
    account_service = AccountService(
        private_clients(settings), deadline_s=settings.venue_deadline_s
    )
    desk = Desk(
        settings, service, settings.scan_params(), store, signaler, history, recorder,
        account_service,
    )  # fmt: skip
    app.bot_data[DESK_KEY] = desk
    app.add_handler(TypeHandler(Update, admit), group=-1)  # access and spam, before the rest
    app.add_handlers(
        [
            CommandHandler(["start", "help"], handlers.help_command),
            CommandHandler("funding", handlers.funding),
            CommandHandler("scan", handlers.scan),
            CommandHandler("size", handlers.size_command),
            CommandHandler("signal", signals.signal_command),
            CommandHandler("chart", charts.chart_command),
            CommandHandler("history", charts.history_command),
            CommandHandler("subscribe", subscriptions.subscribe),
            CommandHandler("unsubscribe", subscriptions.unsubscribe),
            CommandHandler("subscriptions", subscriptions.subscriptions),
            CommandHandler("status", handlers.status),
            # admins
            CommandHandler("refresh", handlers.refresh_command),
            CommandHandler("usage", signals.usage_command),
            CommandHandler("balance", accounts.balance),
            CommandHandler("positions", accounts.positions),
            CommandHandler("pnl", accounts.pnl),
            CommandHandler("risk", accounts.risk),
            CommandHandler("open", trading.open_command),
            CommandHandler("close", trading.close_command),
            CommandHandler("halt", trading.halt_command),
            CommandHandler("resume", trading.resume_command),
            CommandHandler("trades", trading.trades_command),
            CallbackQueryHandler(trading.on_button, pattern=r"^[to]:"),
            # the rest
            CallbackQueryHandler(handlers.on_button),
            MessageHandler(filters.COMMAND, handlers.unknown_command),
            MessageHandler(
                filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, handlers.plain_text
            ),
        ]
    )
    app.add_error_handler(on_error)
    assert app.job_queue is not None, "install python-telegram-bot[job-queue]"
    # One job refreshes the market and runs the alerts. serve() also runs it once
    # at start-up, so a crossing that happened while the bot was down is alerted at once.
    app.job_queue.run_repeating(
        cycle_job,
        interval=settings.scan_interval_s,
        name=CYCLE_JOB,
        job_kwargs={"max_instances": 1, "coalesce": True},
    )
    # The risk watch reads the accounts, with keys set; its first read comes one interval
    # after the start (the start itself reads each key's permissions).
    if desk.risk.enabled:
        app.job_queue.run_repeating(
            risk_job,
            interval=settings.risk_interval_s,
            name=RISK_JOB,
            job_kwargs={"max_instances": 1, "coalesce": True},
        )
    return app


async def initialize(app: Application, stop: asyncio.Event, backoff: tuple[float, float]) -> bool:
    """Initialize (getMe) until Telegram answers. False if told to stop first."""
    delay, cap = backoff
    while True:
        try:
            await app.initialize()
            return True
        except InvalidToken:
            raise
        except (NetworkError, TelegramError) as e:
            host = host_of(app.bot.base_url)
            log.warning("Telegram unreachable at %s: %s; retrying in %.1f s",
                        host, telegram_cause(e, host), delay)  # fmt: skip
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
            return False
        delay = min(cap, delay * 2)


async def set_commands(app: Application) -> None:
    """The command menu users see (setMyCommands); a failure is a warning, not a stop."""
    try:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in handlers.COMMANDS])
    except TelegramError as e:
        log.warning("setMyCommands failed: %s", e)


def telegram_cause(e: TelegramError, host: str) -> str:
    """Why the Bot API could not be asked, in words (PTB's NetworkError wraps httpx's)."""
    cause = network_cause(e, host)
    return cause.text if cause is not None else f"{type(e).__name__}: {e}"


async def serve(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    startup_backoff: tuple[float, float] = (1.0, 60.0),
    handle_signals: bool = True,
    ready: asyncio.Future[Application] | None = None,
    rate_limiter: DeskRateLimiter | None = None,
    started: Started | None = None,
) -> int:
    """Run the bot until `stop` is set (or SIGTERM/SIGINT). Returns the exit status.

    `ready`, if given, receives the running Application once updates flow; `rate_limiter`
    replaces the one pacing sends at Telegram's limits (tests pace a chat faster);
    `started`, what `bot.launch.begin` already opened (else it is called here).
    """
    if started is None:
        begun = await begin(settings)
        if isinstance(begun, int):
            return begun
        started = begun
    db, service = started.db, started.service
    beat_path = heartbeat.heartbeat_path(settings.db_path)
    beating: asyncio.Task[None] | None = None
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        app = build_application(settings, service, Store(db), rate_limiter)
    except BaseException:
        await started.close()
        raise
    app.bot_data[DESK_KEY].first_fetch = started.first_fetch
    metrics = await start_metrics(settings, app)  # ARB_METRICS_PORT, even while Telegram is away
    try:
        try:
            if not await initialize(app, stop, startup_backoff):
                return 0
        except InvalidToken:
            log.error(BAD_TOKEN)
            return 2
        log.info("connected to Telegram as @%s", app.bot.username)
        await app.start()
        # The command menu is set beside the start: listening to users never waits for it.
        app.create_task(set_commands(app), name=SET_COMMANDS_TASK)
        desk: Desk = app.bot_data[DESK_KEY]
        if settings.feeds:
            from arb.feeds.manager import Feeds  # websockets only with feeds on

            desk.feeds = Feeds(service, settings)
            service.book.subscribe(lambda assets: desk.alerts.live.poke(app.bot, assets))
            desk.feeds.start()
        # Keys are for reading: what each one may do, read beside the start, never delaying it.
        key_check = app.create_task(accounts.check_keys(app.bot, desk), name=KEY_CHECK_TASK)
        # Trading opens once the trades a crash left working are reconciled (and, live, once
        # the keys' permissions are known).
        await trading.build(desk)
        app.create_task(trading.start(app.bot, desk, key_check), name=TRADING_TASK)
        # APScheduler cannot start an interval job "now": run the first cycle by hand.
        for job in app.job_queue.get_jobs_by_name(CYCLE_JOB) if app.job_queue else ():
            app.create_task(job.run(app), name="first-cycle")
        await start_updates(app, settings)
        beating = heartbeat.start_beating(
            beat_path, lambda: app.running and app.updater is not None and app.updater.running
        )
        if ready is not None and not ready.done():
            ready.set_result(app)
        await stop.wait()
        log.info("stopping")
        return 0
    finally:
        await heartbeat.stop_beating(beating, beat_path)
        if metrics is not None:
            await metrics.close()
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        # No new risk read; alerts on their way get a moment to land; the rest stay in the
        # outbox.
        await app.bot_data[DESK_KEY].risk.stop()
        await app.bot_data[DESK_KEY].alerts.drain(SHUTDOWN_GRACE_S)
        if app.running:
            await app.stop()
        with contextlib.suppress(TelegramError, RuntimeError):
            await app.shutdown()
        desk = app.bot_data[DESK_KEY]
        if desk.feeds is not None:
            await desk.feeds.stop()
        await desk.alerts.close()
        await desk.signaler.close()
        await desk.accounts.close()
        await trading.close(desk)
        await stop_first_fetch(started.first_fetch)
        await service.close()
        await db.close()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


async def start_updates(app: Application, settings: Settings) -> None:
    assert app.updater is not None
    if settings.webhook_url:
        path = urlparse(settings.webhook_url).path.strip("/")
        await app.updater.start_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret or secrets.token_urlsafe(32),
            allowed_updates=ALLOWED_UPDATES,
            bootstrap_retries=3,
        )
        log.info("webhook mode on port %d", settings.webhook_port)
    else:
        await app.updater.start_polling(
            allowed_updates=ALLOWED_UPDATES, bootstrap_retries=3, timeout=10
        )
        log.info("long polling")


async def start_metrics(settings: Settings, app: Application) -> Metrics | None:
    """bot.metrics' server; prometheus_client is imported only when ARB_METRICS_PORT is set."""
    if settings.metrics_port is None:
        return None
    from bot import metrics

    return await metrics.start_metrics(settings, app)


def run(settings: Settings) -> int:
    """The bot in this process, Telegram's side imported first (`arb-bot run` uses
    bot.launch.run, which polls the venues before importing it)."""

    async def main() -> int:
        try:
            return await serve(settings)
        finally:
            # Whatever failure skipped a db.close(): aiosqlite's worker thread is not a
            # daemon, and left running it would keep the process from ever exiting.
            await close_all()

    return asyncio.run(main())

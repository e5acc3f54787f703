"""Messages that help: a host and a cause in words for every network failure, a hint when
no venue can be reached, progress on a slow terminal run, `-v` logging each request,
a scan nothing answered, and a refused or malformed Telegram token stopping the start."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import pty
import re
import socket
import ssl
import sys
import tempfile
from pathlib import Path

import pytest

from arb.commands import StatusReport
from arb.feeds.base import Feed, FeedState
from arb.http import RetryPolicy, VenueHttp, VenueUnreachable
from arb.market import VenueHealth
from arb.network import host_of, network_cause
from arb.settings import parse_settings
from arb.venues.registry import SPECS
from bot.app import serve
from bot.progress import Progress
from bot.render_market import status_html
from tests.bot_harness import running_bot
from tests.conftest import CORE_VENUES, clean_environ
from tests.fakes.venues import Fault
from tests.test_cli import arb_bot
from tests.venues.okx.fake_rest import OKX_FUNDING


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raised(outer: type[Exception], inner: BaseException) -> Exception:
    """`outer` raised from `inner`, as aiohttp, websockets and httpx chain them."""
    try:
        try:
            raise inner
        except BaseException as e:
            raise outer("wrapped") from e
    except Exception as e:
        return e


# --- the cause in words --------------------------------------------------------


@pytest.mark.parametrize(
    ("inner", "kind", "text"),
    [
        (socket.gaierror(-3, "Temporary failure in name resolution"), "dns",
         "DNS lookup failed for stream.bybit.com"),
        (ConnectionRefusedError(111, "Connect call failed"), "refused",
         "connection refused by stream.bybit.com"),
        (OSError(errno.ECONNREFUSED, "refused"), "refused",
         "connection refused by stream.bybit.com"),
        (ConnectionResetError(104, "reset"), "reset", "connection reset by stream.bybit.com"),
        (TimeoutError(), "timeout", "no answer from stream.bybit.com in time"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls",
         "TLS error with stream.bybit.com"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable",
         "network unreachable: no route to stream.bybit.com"),
    ],
)  # fmt: skip
def test_a_network_failure_names_the_host_and_the_cause(inner, kind, text):
    cause = network_cause(raised(RuntimeError, inner), "stream.bybit.com")
    assert cause is not None
    assert (cause.kind, cause.text[: len(text)]) == (kind, text)


def test_what_is_not_a_network_failure_has_no_network_cause():
    assert network_cause(ValueError("not JSON"), "api.bybit.com") is None
    assert network_cause(raised(RuntimeError, KeyError("x")), "api.bybit.com") is None


def test_a_host_is_named_without_path_or_query():
    assert host_of("wss://stream.bybit.com/v5/public/linear") == "stream.bybit.com"
    assert host_of("http://127.0.0.1:9/x?signature=abc") == "127.0.0.1:9"
    assert host_of("https://api.telegram.org/bot123:SECRET") == "api.telegram.org"


async def test_a_venue_refusing_connections_is_named_with_host_and_cause():
    port = closed_port()
    http = VenueHttp("okx", f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(VenueUnreachable) as e:
            await http.get("/api/v5/public/time", decode=bytes)
    finally:
        await http.close()
    assert str(e.value) == (
        f"okx /api/v5/public/time: connection failed: connection refused by 127.0.0.1:{port}"
    )


async def test_a_feed_that_cannot_connect_says_where_and_why():
    port = closed_port()
    dialect = SPECS["okx"].dialect_class()()

    async def no_symbols() -> list[str]:
        return []

    feed = Feed(dialect, f"ws://127.0.0.1:{port}/ws", no_symbols, lambda _: None)
    with pytest.raises(OSError) as e:
        await feed._session()
    feed._failed(e.value)  # what run() does with it before it backs off and retries
    assert feed.state.last_error == f"connection refused by 127.0.0.1:{port}"
    assert feed.state.unreachable == "refused"


# --- /status: one hint when no venue can be reached ----------------------------

NOW = 10_000.0


def down(venue: str, kind: str | None, error: str) -> FeedState:
    return FeedState(venue, disconnected_at=NOW - 5, last_error=error, unreachable=kind)


def status(feeds: dict[str, FeedState], rest_ok: tuple[str, ...] = ()) -> str:
    health = tuple(
        VenueHealth(v, NOW - 10, 5, feed=f)
        if v in rest_ok
        else VenueHealth(v, None, 0, f"{v} /x: connection failed: DNS", NOW - 3, feed=f)
        for v, f in feeds.items()
    )
    return status_html(StatusReport(health, NOW, 60, "1", None, 60))


def test_status_says_check_the_network_or_arb_feeds_0_when_no_venue_can_be_reached():
    feeds = {v: down(v, "dns", f"DNS lookup failed for ws.{v}.example") for v in SPECS}
    text = status(feeds)
    assert "bybit feed: DNS lookup failed for ws.bybit.example; polling by REST" in text
    hints = [line for line in text.splitlines() if "ARB_FEEDS=0" in line]
    assert hints == [
        "⚠ No venue can be reached (DNS lookup failed for each): check the network, DNS,"
        " firewall or proxy, or set ARB_FEEDS=0 to poll by REST only."
    ]
    # REST answers while every feed is refused: the WebSockets are what is blocked.
    refused = {v: down(v, "refused", f"connection refused by ws.{v}.example") for v in SPECS}
    assert "while REST answers" in status(refused, rest_ok=("okx",))


@pytest.mark.parametrize(
    "feeds",
    [
        # one feed is fine
        {"bybit": down("bybit", "dns", "DNS"), "okx": FeedState("okx", connected=True)},
        # not the same cause
        {"bybit": down("bybit", "dns", "DNS"), "okx": down("okx", "refused", "refused")},
        # not a network cause (a refused subscription)
        {"bybit": down("bybit", None, "FeedError: refused"), "okx": down("okx", None, "x")},
    ],
)
def test_status_gives_no_network_hint_unless_every_feed_fails_alike(feeds):
    assert "ARB_FEEDS=0" not in status(feeds)


# --- Telegram ------------------------------------------------------------------


class Seen(logging.Handler):
    """Sets `event` once a record containing `needle` is logged."""

    def __init__(self, needle: str) -> None:
        super().__init__()
        self.needle, self.event, self.lines = needle, asyncio.Event(), []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        self.lines.append(line)
        if self.needle in line:
            self.event.set()


@contextlib.contextmanager
def watching(needle: str):
    handler = Seen(needle)
    logger = logging.getLogger("bot.app")
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def bot_settings(tmp: str, token: str, base_url: str):
    return parse_settings(
        {
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE_URL": base_url,
            "ARB_DB": f"{tmp}/arb.sqlite3",
            "ARB_FEEDS": "0",
            "ARB_VENUES": "okx",
        }
    )


async def test_unreachable_telegram_is_named_with_host_and_cause_while_it_retries():
    port = closed_port()
    token = "123456:WELL-FORMED-but-unknown-token"
    with tempfile.TemporaryDirectory() as tmp, watching("Telegram unreachable") as seen:
        settings = bot_settings(tmp, token, f"http://127.0.0.1:{port}/bot")
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve(settings, stop=stop, handle_signals=False, startup_backoff=(0.01, 0.1))
        )
        await asyncio.wait_for(seen.event.wait(), timeout=15)
        stop.set()
        assert await asyncio.wait_for(task, timeout=15) == 0  # told to stop while retrying
    line = next(x for x in seen.lines if "Telegram unreachable" in x)
    assert line.startswith(
        f"Telegram unreachable at 127.0.0.1:{port}: connection refused by 127.0.0.1:{port};"
        " retrying in "
    )
    assert "WELL-FORMED" not in " ".join(seen.lines)


@pytest.mark.parametrize("token", ["not-a-token", "123456", "abc:def", "12 34:x"])
async def test_a_malformed_token_stops_the_start_at_once_without_printing_it(token):
    with tempfile.TemporaryDirectory() as tmp, watching("TELEGRAM_BOT_TOKEN") as seen:
        # Telegram "unreachable" too: the token alone must stop the start, never a retry.
        settings = bot_settings(tmp, token, f"http://127.0.0.1:{closed_port()}/bot")
        code = await asyncio.wait_for(serve(settings, handle_signals=False), timeout=15)
    assert code == 2
    assert seen.lines == [
        "TELEGRAM_BOT_TOKEN is not a bot token: @BotFather gives one as <bot id>:<secret>,"
        " e.g. 123456789:AAH... Copy it again from @BotFather."
    ]


# --- the terminal: no venue, progress, -v ---------------------------------------


async def test_scan_with_no_venue_answering_says_so_and_lists_each_cause(fake_venues, tmp_path):
    port = closed_port()
    env = {f"{v.upper()}_REST_URL": f"http://127.0.0.1:{port}" for v in SPECS}
    code, out, _err = await arb_bot(fake_venues, "scan", tmp_path=tmp_path, **env)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].endswith(": no venue answered (4 asked), so nothing to rank.")
    assert "0 of 0" not in out and "no venue;" not in out
    refused = f"connection failed: connection refused by 127.0.0.1:{port}"
    assert [line.split(":")[0].strip() for line in lines[1:]] == CORE_VENUES.split(",")
    assert all(line.endswith(refused) for line in lines[1:]), out


async def run_on_a_terminal(fake, *args: str, cwd: Path, **env: str) -> tuple[int, str, str]:
    """`arb-bot` with stderr on a pseudo-terminal (stdout piped): (status, stdout, stderr)."""
    script = Path(sys.executable).with_name("arb-bot")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]
    master, slave = pty.openpty()
    environ = clean_environ(**{**fake.env(), "ARB_VENUES": CORE_VENUES, **env})
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, *args, env=environ, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=slave
        )
        os.close(slave)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        err = b""
        with contextlib.suppress(OSError):  # EIO once the child's side is closed and read
            while chunk := os.read(master, 65536):
                err += chunk
    finally:
        os.close(master)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_a_slow_run_shows_progress_on_a_terminal_and_nothing_when_piped(
    fake_venues, tmp_path
):
    fake_venues.fail("okx", OKX_FUNDING, Fault("timeout", delay_s=6))  # never in time
    env = {"ARB_HTTP_RETRIES": "0", "ARB_HTTP_TIMEOUT_S": "2"}
    code, out, err = await run_on_a_terminal(fake_venues, "scan", cwd=tmp_path, **env)
    assert code == 0, err
    assert err.startswith("asking 4 venues: bybit, binance, okx, hyperliquid\r\n")
    assert "waiting for okx (1 s)…" in err  # rewritten in place while okx is awaited
    for venue in ("bybit", "binance", "hyperliquid"):
        assert f"\n  {venue}: " in err and " quotes in " in err
    assert "  okx: failed: /api/v5/public/funding-rate: no answer within 2 s" in err
    assert "asking" not in out and "waiting" not in out  # stdout is the report alone
    # The same run piped, as in scripts and CI: no progress at all.
    code, _, err_piped = await arb_bot(fake_venues, "scan", tmp_path=tmp_path, **env)
    assert code == 0
    assert "asking" not in err_piped and "waiting for" not in err_piped
    assert "quotes in" not in err_piped


def test_progress_writes_nothing_when_not_a_terminal():
    class Sink:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return False

    sink = Sink()
    progress = Progress(sink)  # type: ignore[arg-type]
    progress.asking(["okx"])
    progress.fetched(VenueHealth("okx", 1.0, 3))
    assert sink.text == ""


async def test_verbose_logs_each_request_and_retry(fake_venues, tmp_path):
    fake_venues.fail("okx", OKX_FUNDING, Fault.http(502, times=1))
    code, _out, err = await arb_bot(
        fake_venues, "-v", "scan", tmp_path=tmp_path, ARB_HTTP_RETRIES="1"
    )
    assert code == 0, err
    assert "DEBUG arb.http: bybit GET /v5/market/tickers: HTTP 200, " in err
    assert "DEBUG arb.http: hyperliquid POST /info: HTTP 200, " in err
    assert "DEBUG arb.http: okx GET /api/v5/public/funding-rate: HTTP 502, " in err
    assert "WARNING arb.http: retrying okx after attempt 1: okx /api/v5/public/funding-rate" in err
    _code, _out, quiet = await arb_bot(fake_venues, "scan", tmp_path=tmp_path)
    assert "GET /v5/market/tickers" not in quiet  # without -v: no request log


async def test_verbose_request_log_never_carries_the_query_or_headers(fake_venues, caplog):
    http = VenueHttp("okx", fake_venues.url("okx"), retry=RetryPolicy(attempts=1))
    secret = "SIGNATURE-abcdef123456"
    try:
        with caplog.at_level(logging.DEBUG, logger="arb.http"):
            await http.request(
                "GET", OKX_FUNDING, params={"instId": "ANY", "sign": secret},
                headers={"OK-ACCESS-KEY": secret}, decode=bytes,
            )  # fmt: skip
    finally:
        await http.close()
    assert f"okx GET {OKX_FUNDING}: HTTP 200" in caplog.text
    assert secret not in caplog.text


# --- /help says who may run each command ------------------------------------------

EXAMPLES = {
    "funding": "/funding BTC", "scan": "/scan", "size": "/size BTC", "signal": "/signal BTC",
    "chart": "/chart BTC", "history": "/history BTC", "subscribe": "/subscribe 0.05%",
    "unsubscribe": "/unsubscribe all", "subscriptions": "/subscriptions", "status": "/status",
    "refresh": "/refresh", "usage": "/usage", "balance": "/balance", "positions": "/positions",
    "pnl": "/pnl", "risk": "/risk", "open": "/open BTC", "close": "/close BTC",
    "halt": "/halt", "resume": "/resume", "trades": "/trades",
}  # fmt: skip
GROUP_ONLY = re.compile(r"In a group only its administrators \(and the desk's admins\) may (.+?)\.")


def audiences(help_text: str) -> dict[str, str]:
    """Who /help says may run each command: anyone, group (in a group, its administrators
    only) or admin (the desk's admins only)."""
    said: dict[str, str] = {}
    for line in help_text.splitlines():
        if m := re.match(r"/(\w+)", line):
            said.setdefault(m[1], "anyone")
        if line.startswith("Admins:"):
            said.update((name, "admin") for name in re.findall(r"/(\w+)", line))
        for names in GROUP_ONLY.findall(line):
            said.update((name, "group") for name in re.findall(r"/(\w+)", names))
    return said


async def test_help_says_who_may_run_each_command(venues):
    group = {"chat_id": -4001, "chat_type": "group"}
    async with running_bot(venues, ARB_ADMINS="7") as bot:
        said = audiences((await bot.ask("/help", chat_id=8)).plain)
        assert said["subscriptions"] == "anyone" and said["subscribe"] == "group"
        assert set(said) - {"help", "start"} == set(EXAMPLES)  # every command is in /help
        refused = {}
        # Each command from its own member (no admin anywhere): none of them sends more
        # than the throttle's 5 commands in 5 s.
        for member, (name, text) in enumerate(EXAMPLES.items(), start=100):
            private = await bot.ask(text, chat_id=member, user_id=member, timeout=15)
            # A group is sent at most 20 messages a minute: another group every 15 commands.
            chat = {**group, "chat_id": group["chat_id"] - (member - 100) // 15}
            in_group = await bot.ask(text, user_id=member, timeout=15, **chat)
            refused[name] = (private.plain.startswith("Only"), in_group.plain.startswith("Only"))
    expected = {"anyone": (False, False), "group": (False, True), "admin": (True, True)}
    assert refused == {name: expected[said[name]] for name in EXAMPLES}

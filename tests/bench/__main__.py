"""Scan and parse benchmarks against the fake venues, with ccxt as the yardstick.

`make bench` runs this. The fake venue server runs in a process of its own
(`python -m tests.fakes.venues --perps 500`) so that rendering replies does not
share this process's CPU or event loop. Measured here, in process:

1. our full scan (`Market.snapshot()` then `spread.scan()`), warm and cold;
2. parsing alone, per venue, on real replies fetched once from the fake;
3. ccxt's `fetch_funding_rates()` for bybit, binance and okx against the same
   fake, checked to have sent every request to the fake and to agree with our rates;
4. depth for the top 20 carries, warm (`tests.bench.depth`).

Exits non-zero when something fails to run or returns the wrong thing. A missed
speed target prints FAIL but is a figure, not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import platform
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import ccxt.async_support as ccxt
import msgspec

from arb.books import OrderBooks
from arb.http import VenueHttp
from arb.market import Market, MarketSnapshot, make_clients
from arb.models import Opportunity
from arb.settings import Settings, parse_settings
from arb.spread import ScanParams, scan
from arb.venues.binance import rest as binance
from arb.venues.bybit import rest as bybit
from arb.venues.hyperliquid import rest as hyperliquid
from arb.venues.okx import rest as okx
from tests.bench import (
    alerts,
    bot_latency,
    depth,
    feeds,
    history,
    oneshot,
    reply_size,
    start,
    targets,
    warm,
)

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
PERPS = 500
VENUES = ("bybit", "binance", "okx", "hyperliquid")
ALL_VENUES = (*VENUES, "bitget", "gate")
CCXT_VENUES = ("bybit", "binance", "okx")

WARMUP_RUNS = 3
SCAN_RUNS = 30
CCXT_RUNS = 10
PAIRED_RUNS = 20  # ccxt's full scan and ours, alternately
PARSE_BUDGET_S = 0.3  # per parser; at least PARSE_MIN_RUNS runs whatever the budget
PARSE_MIN_RUNS = 50
PARSE_MAX_RUNS = 3000

BYBIT_PARSE_TARGET_MS = 2.0
CCXT_RATIO_TARGET = 10.0

FAKE_START_TIMEOUT_S = 20.0
FAKE_STOP_TIMEOUT_S = 5.0
CCXT_TIMEOUT_MS = 3000

# Linear perpetuals only, as our clients load.
CCXT_MARKET_TYPES = {"bybit": ["linear"], "binance": ["linear"], "okx": ["swap"]}
# The field of a raw funding row that holds the venue's own symbol.
CCXT_ID_FIELD = {"bybit": "symbol", "binance": "symbol", "okx": "instId"}
# The fake keeps a few fixture rows a scanner must skip (a dated future, a
# delivery contract, an inverse swap); ccxt returns those as funding rates too.
CCXT_MAX_EXTRA_RATES = 5

# The one request each ccxt fetch_funding_rates() sends, and what one warm scan
# of ours asks for. Fetched raw (no parsing) they give the floor the fake sets.
CCXT_REQUESTS = (
    ("bybit", bybit.TICKERS, {"category": "linear"}),
    ("binance", binance.PREMIUM_INDEX, {}),
    ("okx", okx.FUNDING_RATE, {"instId": "ANY"}),
)
OUR_WARM_REQUESTS = (
    ("bybit", bybit.TICKERS, {"category": "linear"}),
    ("binance", binance.PREMIUM_INDEX, {}),
    ("okx", okx.FUNDING_RATE, {"instId": "ANY"}),
    ("okx", okx.MARK_PRICE, {"instType": "SWAP"}),
    ("okx", okx.TICKERS, {"instType": "SWAP"}),
)

# Parse benchmark labels, and which of them one warm scan of a venue runs.
BYBIT_TICKERS = "bybit parse_tickers"
BINANCE_QUOTES = "binance decode_premium_index + join_quotes"
BINANCE_INFO = "binance parse_exchange_info"
OKX_QUOTES = "okx decode_funding + join_quotes"
OKX_MARKS = "okx parse_marks"
OKX_TURNOVER = "okx parse_turnover"
OKX_INSTRUMENTS = "okx parse_instruments"
HL_QUOTES = "hyperliquid parse_meta_and_ctxs"
WARM_PARSES = {
    "bybit": (BYBIT_TICKERS,),
    "binance": (BINANCE_QUOTES,),
    "okx": (OKX_QUOTES, OKX_MARKS, OKX_TURNOVER),
}

# Replies fetched once for the parse benchmarks: key -> (venue, path, query).
REPLIES: dict[str, tuple[str, str, dict[str, str]]] = {
    "bybit_tickers": ("bybit", bybit.TICKERS, {"category": "linear"}),
    "binance_premium": ("binance", binance.PREMIUM_INDEX, {}),
    "binance_info": ("binance", binance.EXCHANGE_INFO, {}),
    "binance_funding_info": ("binance", binance.FUNDING_INFO, {}),
    "binance_ticker": ("binance", binance.TICKER_24H, {}),
    "okx_funding": ("okx", okx.FUNDING_RATE, {"instId": "ANY"}),
    "okx_instruments": ("okx", okx.INSTRUMENTS, {"instType": "SWAP"}),
    "okx_marks": ("okx", okx.MARK_PRICE, {"instType": "SWAP"}),
    "okx_tickers": ("okx", okx.TICKERS, {"instType": "SWAP"}),
}
HL_REQUEST = {"type": "metaAndAssetCtxs"}


class BenchError(Exception):
    """Something did not run, or ran and returned the wrong thing."""


# --- timing -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stats:
    median_ms: float
    p90_ms: float
    min_ms: float
    runs: int

    @classmethod
    def of(cls, samples_ns: list[int]) -> Stats:
        ordered = sorted(samples_ns)
        p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]  # nearest rank
        return cls(statistics.median(ordered) / 1e6, p90 / 1e6, ordered[0] / 1e6, len(ordered))


async def timed_run(run: Callable[[], Awaitable[T]], check: Callable[[T], None]) -> int:
    """Wall time of one `run()` in ns; its result is checked outside the timing."""
    started = time.perf_counter_ns()
    result = await run()
    elapsed = time.perf_counter_ns() - started
    check(result)
    return elapsed


async def time_async(
    run: Callable[[], Awaitable[T]],
    runs: int,
    check: Callable[[T], None],
    warmup: int = WARMUP_RUNS,
) -> Stats:
    for _ in range(warmup):
        await timed_run(run, check)
    return Stats.of([await timed_run(run, check) for _ in range(runs)])


Timed = tuple[Callable[[], Awaitable[Any]], Callable[[Any], None]]


async def time_in_turn(first: Timed, second: Timed, runs: int) -> tuple[Stats, Stats]:
    """Two (run, check) pairs timed alternately, so that drift on the machine hits both alike."""
    for _ in range(WARMUP_RUNS):
        await timed_run(*first)
        await timed_run(*second)
    samples: tuple[list[int], list[int]] = ([], [])
    for _ in range(runs):
        samples[0].append(await timed_run(*first))
        samples[1].append(await timed_run(*second))
    return Stats.of(samples[0]), Stats.of(samples[1])


def time_sync(fn: Callable[[], Any]) -> Stats:
    """A tight loop: one sample per call, until the budget is spent."""
    for _ in range(WARMUP_RUNS):
        fn()
    samples: list[int] = []
    deadline = time.perf_counter_ns() + int(PARSE_BUDGET_S * 1e9)
    while len(samples) < PARSE_MIN_RUNS or (
        len(samples) < PARSE_MAX_RUNS and time.perf_counter_ns() < deadline
    ):
        started = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - started)
    return Stats.of(samples)


# --- output -------------------------------------------------------------------

LABEL_WIDTH = 50


def section(title: str, extra: str = "") -> None:
    print(f"\n{title}")
    print(f"  {'':<{LABEL_WIDTH}}{extra}{'median ms':>11}{'p90 ms':>10}{'min ms':>10}{'runs':>6}")


def row(label: str, stats: Stats, extra: str = "", note: str = "") -> None:
    figures = f"{stats.median_ms:>11.3f}{stats.p90_ms:>10.3f}{stats.min_ms:>10.3f}{stats.runs:>6}"
    print(f"  {label:<{LABEL_WIDTH}}{extra}{figures}  {note}".rstrip())


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def print_header(base_url: str) -> None:
    print(f"Funding-scan benchmark: {PERPS} synthetic perps on each of {', '.join(VENUES)}")
    print(f"  fake venues: {base_url} (separate process)")
    print(
        f"  Python {platform.python_version()}, {os.cpu_count()} CPUs; aiohttp "
        f"{aiohttp.__version__}, msgspec {msgspec.__version__}, ccxt {ccxt.__version__}"
    )


# --- the fake venue server, in its own process ---------------------------------


@contextlib.contextmanager
def fake_venues_process(perps: int) -> Iterator[str]:
    """Start `python -m tests.fakes.venues`; yield its base URL; always stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.venues", "--perps", str(perps)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{read_port(proc)}"
    finally:
        stop_process(proc)


def read_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], FAKE_START_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("PORT "):
        raise BenchError(f"fake venues did not start (exit code {proc.poll()}, said {line!r})")
    return int(line.split()[1])


def stop_process(proc: subprocess.Popen[str]) -> None:
    """Close its stdin (the fake's cue to stop), wait, and kill it if it lingers."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=FAKE_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


async def fake_hits(base_url: str) -> dict[str, int]:
    """Requests the fake has answered so far, per venue (its own `/fake/hits` excluded)."""
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/fake/hits") as resp:
        hits: dict[str, dict[str, int]] = await resp.json()
    return {venue: sum(paths.values()) for venue, paths in hits.items() if venue != "fake"}


def hits_between(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {v: after.get(v, 0) - before.get(v, 0) for v in after}


# --- our full scan ---------------------------------------------------------------


def settings_for(base_url: str) -> Settings:
    """Default settings, with every venue's REST URL on the fake."""
    urls = {f"{v.upper()}_REST_URL": f"{base_url}/{v}" for v in ALL_VENUES}
    return parse_settings({**urls, "ARB_VENUES": ",".join(ALL_VENUES)})


def new_market(settings: Settings) -> Market:
    """Real clients, one VenueHttp each, exactly as the CLI and the bot build them."""
    return Market(make_clients(settings), settings.venue_deadline_s)


ScanResult = tuple[MarketSnapshot, list[Opportunity]]


async def full_scan(
    market: Market, params: ScanParams, venues: tuple[str, ...] | None = None
) -> ScanResult:
    snapshot = await market.snapshot(venues)
    return snapshot, scan(snapshot.quotes, params, snapshot.taken_at)


def scan_checker(venues: tuple[str, ...]) -> Callable[[ScanResult], None]:
    def check(result: ScanResult) -> None:
        snapshot, opportunities = result
        counts = {h.venue: h.quote_count for h in snapshot.health}
        errors = [h.last_error for h in snapshot.failures]
        if errors or tuple(counts) != venues or set(counts.values()) != {PERPS}:
            raise BenchError(f"scan of {venues} came back wrong: {counts}, errors {errors}")
        if not opportunities:
            raise BenchError(f"scan of {venues} found no opportunity")

    return check


async def time_cold_scans(settings: Settings, params: ScanParams) -> Stats:
    """Fresh clients every run: session creation and metadata loads are in the time."""
    check = scan_checker(VENUES)
    samples = []
    for _ in range(SCAN_RUNS):
        started = time.perf_counter_ns()
        market = new_market(settings)
        try:
            result = await full_scan(market, params, VENUES)
            samples.append(time.perf_counter_ns() - started)
        finally:
            await market.close()
        check(result)
    return Stats.of(samples)


@dataclass
class ScanFigures:
    warm_4: Stats
    rates: dict[str, dict[str, float]]  # venue -> symbol -> rate, from a warm scan


async def bench_scans(base_url: str) -> ScanFigures:
    settings = settings_for(base_url)
    params = settings.scan_params()
    section("Full scan: Market(clients).snapshot() + spread.scan()")
    market = new_market(settings)
    try:
        await full_scan(market, params)  # loads the metadata caches of all six
        before = await fake_hits(base_url)
        warm_4 = await time_async(
            lambda: full_scan(market, params, VENUES), SCAN_RUNS, scan_checker(VENUES)
        )
        warm_4_requests = sum(hits_between(before, await fake_hits(base_url)).values())
        warm_3 = await time_async(
            lambda: full_scan(market, params, CCXT_VENUES), SCAN_RUNS, scan_checker(CCXT_VENUES)
        )
        warm_6 = await time_async(
            lambda: full_scan(market, params), SCAN_RUNS, scan_checker(ALL_VENUES)
        )
        snapshot, opportunities = await full_scan(market, params, VENUES)
    finally:
        await market.close()
    row("warm, 4 venues (caches loaded, sessions reused)", warm_4)
    row("warm, 3 venues (bybit, binance, okx)", warm_3)
    row("warm, 6 venues (the four, bitget, gate)", warm_6)
    before = await fake_hits(base_url)
    cold_4 = await time_cold_scans(settings, params)
    cold_requests = sum(hits_between(before, await fake_hits(base_url)).values())
    row("cold, 4 venues (new clients, sessions, metadata)", cold_4)
    counts = ", ".join(f"{h.venue} {h.quote_count}" for h in snapshot.health)
    print(f"  quotes per venue: {counts}; opportunities: {len(opportunities)}")
    warm_per_scan = warm_4_requests / (WARMUP_RUNS + SCAN_RUNS)
    print(
        f"  requests per 4-venue scan: warm {warm_per_scan:g}, cold {cold_requests / SCAN_RUNS:g}"
    )
    rates: dict[str, dict[str, float]] = {}
    for q in snapshot.quotes:
        rates.setdefault(q.venue, {})[q.symbol] = q.rate
    return ScanFigures(warm_4, rates)


# --- depth ---------------------------------------------------------------------------


async def bench_depth(base_url: str) -> None:
    """The top carries of a warm six-venue scan, sized on their books (tests.bench.depth)."""
    settings = settings_for(base_url)
    sizes = settings.size_params()
    section(f"Depth: the top {depth.TOP} carries sized on their legs' books, all at once")
    market = new_market(settings)
    try:
        _, found = await full_scan(market, settings.scan_params())
        top = found[: depth.TOP]
        check = depth.checker(top, BenchError)
        fetched = OrderBooks(market.clients.values(), ttl_s=0.0)
        warm = await time_async(lambda: depth.size_all(fetched, top, sizes), SCAN_RUNS, check)
        cached = OrderBooks(market.clients.values(), ttl_s=3600.0)
        sizing = await time_async(lambda: depth.size_all(cached, top, sizes), SCAN_RUNS, check)
    finally:
        await market.close()
    row(f"depth for the top {depth.TOP} carries, warm ({2 * len(top)} books)", warm)
    row("  the same, books cached (sizing alone)", sizing)


# --- parsing alone -----------------------------------------------------------------


def raw(body: bytes) -> bytes:
    return body


async def fetch_replies(base_url: str) -> dict[str, bytes]:
    """One real reply per endpoint, as bytes, through the same HTTP layer the clients use."""
    clients = {v: VenueHttp(v, f"{base_url}/{v}") for v in VENUES}
    try:
        replies = {
            key: await clients[venue].get(path, query or None, decode=raw)
            for key, (venue, path, query) in REPLIES.items()
        }
        replies["hl_info"] = await clients["hyperliquid"].post_json(
            hyperliquid.INFO, HL_REQUEST, decode=raw
        )
    finally:
        for client in clients.values():
            await client.close()
    return replies


@dataclass(frozen=True)
class ParseCase:
    label: str
    reply_kib: float
    parse: Callable[[], Any]
    count: Callable[[Any], int] = len


def parse_cases(r: dict[str, bytes], now: float) -> list[ParseCase]:
    """Each venue's parsers, joins fed the metadata pre-parsed as the warm clients hold it."""
    perps = binance.parse_exchange_info(r["binance_info"])
    intervals = binance.parse_funding_info(r["binance_funding_info"])
    turnover = binance.parse_ticker_24h(r["binance_ticker"])
    swaps = okx.parse_instruments(r["okx_instruments"])
    marks = okx.parse_marks(r["okx_marks"])
    okx_turnover = okx.parse_turnover(r["okx_tickers"])

    def kib(*keys: str) -> float:
        return sum(len(r[k]) for k in keys) / 1024

    def binance_quotes() -> Any:
        rows = binance.decode_premium_index(r["binance_premium"])
        return binance.join_quotes(rows, perps, intervals, turnover, now)

    def okx_quotes() -> Any:
        rows = okx.decode_funding(r["okx_funding"])
        return okx.join_quotes(rows, swaps, marks, okx_turnover, now)

    return [
        ParseCase(
            BYBIT_TICKERS,
            kib("bybit_tickers"),
            lambda: bybit.parse_tickers(r["bybit_tickers"], now),
        ),
        ParseCase(BINANCE_QUOTES, kib("binance_premium"), binance_quotes),
        ParseCase(
            BINANCE_INFO,
            kib("binance_info"),
            lambda: binance.parse_exchange_info(r["binance_info"]),
        ),
        ParseCase(OKX_QUOTES, kib("okx_funding"), okx_quotes),
        ParseCase(OKX_MARKS, kib("okx_marks"), lambda: okx.parse_marks(r["okx_marks"])),
        ParseCase(OKX_TURNOVER, kib("okx_tickers"), lambda: okx.parse_turnover(r["okx_tickers"])),
        ParseCase(
            OKX_INSTRUMENTS,
            kib("okx_instruments"),
            lambda: okx.parse_instruments(r["okx_instruments"]),
        ),
        ParseCase(
            HL_QUOTES, kib("hl_info"), lambda: hyperliquid.parse_meta_and_ctxs(r["hl_info"], now)
        ),
    ]


def bench_parsing(replies: dict[str, bytes]) -> dict[str, Stats]:
    section("Parsing alone, on replies fetched once from the fake", f"{'reply KiB':>10}")
    figures: dict[str, Stats] = {}
    for case in parse_cases(replies, time.time()):
        got = case.count(case.parse())
        if got != PERPS:
            raise BenchError(f"{case.label} gave {got} rows, expected {PERPS}")
        figures[case.label] = stats = time_sync(case.parse)
        row(case.label, stats, f"{case.reply_kib:>10.1f}")
    bybit_ms = figures[BYBIT_TICKERS].median_ms
    print(
        f"  Bybit {PERPS} tickers: reply {len(replies['bybit_tickers']) / 1024:.1f} KiB, "
        f"parse median {bybit_ms:.3f} ms, target < {BYBIT_PARSE_TARGET_MS:g} ms: "
        f"{verdict(bybit_ms < BYBIT_PARSE_TARGET_MS)}"
    )
    return figures


# --- ccxt against the same fake -------------------------------------------------------


def rebase(url: str, root: str) -> str:
    """`https://fapi.binance.com/fapi/v1` -> `<root>/fapi/v1`."""
    return root + urlsplit(url).path


def fake_only(exchange: Any, prefix: str, sent: list[str]) -> None:
    """Make `exchange` refuse any URL outside the fake, and log those it sends."""
    send = exchange.fetch

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        if not url.startswith(prefix):
            raise BenchError(f"ccxt {exchange.id} tried to leave the fake: {method} {url}")
        sent.append(url)
        return await send(url, method, headers, body)

    exchange.fetch = fetch


def make_exchange(venue: str, base_url: str, sent: list[str]) -> Any:
    # No rate limiter: ours has none, and ccxt's would sleep 500 ms between
    # binance premiumIndex calls (cost 10 x rateLimit 50 ms).
    exchange = getattr(ccxt, venue)({"timeout": CCXT_TIMEOUT_MS, "enableRateLimit": False})
    root = f"{base_url}/{venue}"
    urls = exchange.urls["api"]
    if not all(isinstance(u, str) for u in urls.values()):
        raise BenchError(f"ccxt {venue}: unexpected urls['api'] shape {urls!r}")
    exchange.urls["api"] = {key: rebase(url, root) for key, url in urls.items()}
    exchange.options["fetchMarkets"]["types"] = CCXT_MARKET_TYPES[venue]
    exchange.options["defaultType"] = "swap"
    fake_only(exchange, root + "/", sent)
    return exchange


def check_rate_count(rates: Mapping[str, Any]) -> None:
    if not PERPS <= len(rates) <= PERPS + CCXT_MAX_EXTRA_RATES:
        raise BenchError(f"ccxt returned {len(rates)} funding rates, expected about {PERPS}")


def check_gathered(results: list[Mapping[str, Any]]) -> None:
    for rates in results:
        check_rate_count(rates)


def check_agrees(venue: str, rates: Mapping[str, Any], ours: Mapping[str, float]) -> None:
    """ccxt's rate for each of our perps is ours: both read the same replies."""
    theirs = {fr["info"][CCXT_ID_FIELD[venue]]: fr["fundingRate"] for fr in rates.values()}
    missing = [s for s in ours if s not in theirs]
    differ = [s for s in ours if s in theirs and not math.isclose(theirs[s], ours[s])]
    if len(ours) != PERPS or missing or differ:
        raise BenchError(
            f"ccxt {venue} disagrees with our scan: {len(ours)} ours, "
            f"missing {missing[:3]}, differ {differ[:3]}"
        )


async def timed_once(run: Callable[[], Awaitable[Any]]) -> Stats:
    started = time.perf_counter_ns()
    await run()
    return Stats.of([time.perf_counter_ns() - started])


@dataclass
class CcxtFigures:
    gathered: Stats  # the 3 fetch_funding_rates() calls at once, warm
    ours_3: Stats  # our warm 3-venue full scan, timed in turn with `gathered`
    from_memory: dict[str, Stats]  # per venue, the reply served from memory


async def bench_ccxt(base_url: str, ours: ScanFigures) -> CcxtFigures:
    sent: dict[str, list[str]] = {v: [] for v in CCXT_VENUES}
    exchanges = {v: make_exchange(v, base_url, sent[v]) for v in CCXT_VENUES}
    section(f"ccxt {ccxt.__version__} async (rate limiter off), against the same fake")
    try:
        before = await fake_hits(base_url)
        await time_load_markets(exchanges)
        await time_fetch_funding_rates(exchanges)
        for venue, ex in exchanges.items():
            check_agrees(venue, await ex.fetch_funding_rates(), ours.rates[venue])
        check_all_on_fake(sent, hits_between(before, await fake_hits(base_url)))
        gathered, ours_3 = await time_full_scans_in_turn(exchanges, base_url)
        from_memory = await time_from_memory(exchanges, sent)
    finally:
        await asyncio.gather(*(ex.close() for ex in exchanges.values()))
    return CcxtFigures(gathered, ours_3, from_memory)


async def time_load_markets(exchanges: dict[str, Any]) -> None:
    for venue, ex in exchanges.items():
        stats = await timed_once(ex.load_markets)
        row(f"{venue} load_markets (once, cold)", stats, note=f"{len(ex.markets)} markets")


async def time_fetch_funding_rates(exchanges: dict[str, Any]) -> None:
    for venue, ex in exchanges.items():
        stats = await time_async(ex.fetch_funding_rates, CCXT_RUNS, check_rate_count, warmup=1)
        row(f"{venue} fetch_funding_rates (warm)", stats)


async def time_full_scans_in_turn(exchanges: dict[str, Any], base_url: str) -> tuple[Stats, Stats]:
    """ccxt's 3 calls gathered, and our warm scan of the same venues, alternately."""
    settings = settings_for(base_url)
    params = settings.scan_params()
    market = new_market(settings)
    try:
        return await time_in_turn(
            (
                lambda: asyncio.gather(*(ex.fetch_funding_rates() for ex in exchanges.values())),
                check_gathered,
            ),
            (lambda: full_scan(market, params, CCXT_VENUES), scan_checker(CCXT_VENUES)),
            PAIRED_RUNS,
        )
    finally:
        await market.close()


async def time_from_memory(
    exchanges: dict[str, Any], sent: dict[str, list[str]]
) -> dict[str, Stats]:
    """fetch_funding_rates() with HTTP replaced by the last reply: ccxt's CPU alone."""
    figures = {}
    async with aiohttp.ClientSession() as session:
        for venue, ex in exchanges.items():
            url = sent[venue][-1]  # the last fetch_funding_rates() request
            async with session.get(url) as resp:
                serve_from_memory(ex, await resp.text())
            figures[venue] = stats = await time_async(
                ex.fetch_funding_rates, SCAN_RUNS, check_rate_count
            )
            row(f"{venue} fetch_funding_rates, reply from memory", stats)
    return figures


def serve_from_memory(exchange: Any, text: str) -> None:
    """Every request answers `text`, decoded as ccxt's own fetch() decodes it."""

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        return exchange.parse_json(text)

    exchange.fetch = fetch


def check_all_on_fake(sent: dict[str, list[str]], served: dict[str, int]) -> None:
    """Every request ccxt sent went to the fake, and the fake answered each one."""
    for venue, urls in sent.items():
        if served.get(venue, 0) != len(urls):
            raise BenchError(
                f"ccxt {venue} sent {len(urls)} requests, the fake served {served.get(venue, 0)}"
            )
    others = {v: n for v, n in served.items() if v not in sent and n}
    if others:
        raise BenchError(f"unexpected requests during the ccxt run: {others}")
    for venue, urls in sent.items():
        paths = sorted({urlsplit(u).path.split(f"/{venue}", 1)[1] for u in urls})
        print(f"  {venue}: {len(urls)} requests, all served by the fake: {', '.join(paths)}")


async def time_raw_gets(
    base_url: str, requests: tuple[tuple[str, str, dict[str, str]], ...]
) -> Stats:
    """The same replies fetched and read, not parsed: what the fake alone costs."""
    async with aiohttp.ClientSession() as session:

        async def get(venue: str, path: str, query: dict[str, str]) -> int:
            async with session.get(f"{base_url}/{venue}{path}", params=query) as resp:
                return len(await resp.read())

        def check(sizes: list[int]) -> None:
            if min(sizes) < PERPS * 50:
                raise BenchError(f"raw replies too small: {sizes}")

        return await time_async(
            lambda: asyncio.gather(*(get(*r) for r in requests)), SCAN_RUNS, check
        )


# --- ccxt vs ours ------------------------------------------------------------------------


async def compare(
    base_url: str, scans: ScanFigures, parses: dict[str, Stats], theirs: CcxtFigures
) -> None:
    section("ccxt vs ours, warm: bybit + binance + okx, timed in turn")
    row("ccxt full scan: 3 fetch_funding_rates() gathered", theirs.gathered)
    row("ours: full scan of the same 3 venues", theirs.ours_3)
    row("ours: full scan of all 4 venues (from above)", scans.warm_4)
    ratio = theirs.gathered.median_ms / theirs.ours_3.median_ms
    print(
        f"  ccxt/ours, 3-venue full scan (medians): {ratio:.2f}x; "
        f"target >= {CCXT_RATIO_TARGET:g}x: {verdict(ratio >= CCXT_RATIO_TARGET)}"
    )
    ccxt_floor = await time_raw_gets(base_url, CCXT_REQUESTS)
    our_floor = await time_raw_gets(base_url, OUR_WARM_REQUESTS)
    row(f"floor: ccxt's {len(CCXT_REQUESTS)} replies, raw GETs gathered", ccxt_floor)
    row(f"floor: our {len(OUR_WARM_REQUESTS)} replies, raw GETs gathered", our_floor)
    their_excess = theirs.gathered.median_ms - ccxt_floor.median_ms
    our_excess = theirs.ours_3.median_ms - our_floor.median_ms
    print(
        f"  above the floor (medians, approximate): ccxt {their_excess:.2f} ms, "
        f"ours {our_excess:.2f} ms"
    )
    print("  CPU only, per venue (ccxt with the reply from memory / our parsers of a warm scan):")
    for venue, stats in theirs.from_memory.items():
        ours_ms = sum(parses[label].median_ms for label in WARM_PARSES[venue])
        print(
            f"    {venue:<8} {stats.median_ms:8.3f} ms / {ours_ms:6.3f} ms = "
            f"{stats.median_ms / ours_ms:5.1f}x"
        )


# --- main -----------------------------------------------------------------------------


async def bench(base_url: str) -> None:
    print_header(base_url)
    scans = await bench_scans(base_url)
    parses = bench_parsing(await fetch_replies(base_url))
    theirs = await bench_ccxt(base_url, scans)
    await compare(base_url, scans, parses, theirs)
    await bench_depth(base_url)
    await warm.bench(base_url)


def main() -> int:
    started = time.monotonic()
    try:
        with fake_venues_process(PERPS) as base_url:
            asyncio.run(bench(base_url))
    except BenchError as e:
        print(f"\nbenchmark failed: {e}", file=sys.stderr)
        return 1
    start.main()
    oneshot.main()
    bot_latency.main()
    warm.scan_p99()
    alerts.main()
    history.main()
    feeds.main()
    reply_size.main()
    targets.print_table()
    print(f"\ndone in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

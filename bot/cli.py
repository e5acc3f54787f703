"""`arb-bot`: scan the market or one asset from a terminal, or run the bot.

The terminal's side of the app, as `bot.app` is Telegram's: both call the same plain
functions (`arb.commands`) and render their reports (text and JSON here, HTML there).

Exit status: 0 when at least one venue answered, 1 when none did (for
`chart`, also when no venue has history for the window: no empty chart; for `size`,
also when a leg's order book could not be had), 2 for bad usage or settings. `risk`
reads the desk's accounts: 0 when every keyed account was read, 1 when one was not,
2 when no venue keys are set. `health` says whether `arb-bot run` is serving (its
heartbeat, bot.heartbeat): 0 alive, 1 not, bad settings included (Docker reserves 2).
`doctor` checks the setup (bot.doctor): 0 when no check failed, 1 when one did, a bad
setting included.

One-shot commands start and end fast: each imports only what it uses (the bot only for
`run`, the history and charts only for `chart`, the signed clients only for `risk` and
`doctor`), reaches the venues over asyncio's streams and h11 rather than aiohttp
(arb.http.stream_wire), keeps the venues' metadata on disk between runs (ARB_CACHE_DIR,
arb.venues.cache.DiskCache), and the installed script (`script`) leaves without the
interpreter's teardown once its output is flushed. `main` returns the exit status, for
tests that call it in process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import NoReturn

from arb import commands
from arb.http import stream_wire, wired
from arb.logs import setup_logging
from arb.market import Market, make_clients
from arb.render import funding_text, scan_text, size_text
from arb.report import dumps, funding_json, scan_json, size_json
from arb.settings import VENUE_NAMES, Settings, SettingsError, load_settings
from arb.symbols import normalize_asset
from arb.venues.cache import kept_on_disk
from arb.venues.registry import account_venues, key_variables
from bot.progress import Progress

DEFAULT_TOP = 20
CHART_WINDOWS = ("24h", "7d", "30d")  # arb.history.WINDOWS_H's, without importing it
# Commands that answer once and end: the script leaves them without interpreter teardown.
ONE_SHOT = frozenset({"scan", "funding", "size", "chart", "risk", "doctor"})


def _percent(text: str) -> float:
    """'10' or '10%' -> 0.10: APRs are typed the way they are shown."""
    try:
        value = float(text.strip().removesuffix("%")) / 100
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10 or 10%, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _venues(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(v.strip().lower() for v in text.split(",") if v.strip()))
    unknown = [n for n in names if n not in VENUE_NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"expected venues from {', '.join(VENUE_NAMES)}, got {text!r}"
        )
    return names


def _asset(text: str) -> str:
    try:
        return normalize_asset(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an asset name: {text[:40]!r} (try BTC, BTCUSDT or BTC-USDT-SWAP)"
        ) from None


def _usd(text: str) -> float:
    try:
        return commands.parse_notional(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{e}, got {text[:40]!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arb-bot", description="Cross-venue perpetual funding carry."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests and retries")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    scan = sub.add_parser("scan", help="rank the whole market's carry opportunities")
    scan.add_argument(
        "--min-apr", type=_percent, metavar="PCT", help="minimum net APR in percent, e.g. 10"
    )
    scan.add_argument(
        "--top",
        type=_count,
        metavar="N",
        help=f"rows to show (default {DEFAULT_TOP} in the table, all with --json; 0 = all)",
    )
    scan.add_argument("--venues", type=_venues, metavar="A,B", help="venues to scan")
    scan.add_argument(
        "--all-pairs", action="store_true", help="every venue pair, not only each asset's best"
    )
    scan.add_argument("--json", action="store_true", help="machine-readable output")

    funding = sub.add_parser("funding", help="one asset's funding on every venue")
    funding.add_argument("asset", type=_asset, help="BTC, btc, BTCUSDT, BTC-USDT-SWAP, 1000PEPE")
    funding.add_argument("--venues", type=_venues, metavar="A,B", help="venues to ask")
    funding.add_argument("--json", action="store_true", help="machine-readable output")

    size = sub.add_parser("size", help="one asset's best carry at a size, on the order books")
    size.add_argument("asset", type=_asset, help="BTC, btc, BTCUSDT, BTC-USDT-SWAP, 1000PEPE")
    size.add_argument(
        "--usd", type=_usd, metavar="N", help="notional per leg, e.g. 50000 or 50k "
        "(default ARB_NOTIONAL_USD)"
    )  # fmt: skip
    size.add_argument("--venues", type=_venues, metavar="A,B", help="venues to ask")
    size.add_argument("--json", action="store_true", help="machine-readable output")

    chart = sub.add_parser("chart", help="a PNG of one asset's funding per venue over time")
    chart.add_argument("asset", type=_asset, help="BTC, btc, BTCUSDT, BTC-USDT-SWAP, 1000PEPE")
    chart.add_argument("-o", "--output", required=True, metavar="FILE", help="PNG to write")
    chart.add_argument("--window", choices=CHART_WINDOWS, default="7d", help="default 7d")
    chart.add_argument("--venues", type=_venues, metavar="A,B", help="venues to ask")

    risk = sub.add_parser(
        "risk", help="the desk's open books: liquidation distance, drift, carry (needs keys)"
    )
    risk.add_argument("--json", action="store_true", help="machine-readable output")

    sub.add_parser("run", help="start the Telegram bot")
    doctor = sub.add_parser(
        "doctor", help="check the setup: settings, token, venues, keys, database, LLM"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser(
        "health", help="whether the bot beside ARB_DB is serving (0 alive, 1 not): a HEALTHCHECK"
    )
    return parser


@contextlib.asynccontextmanager
async def open_market(settings: Settings, venues: Sequence[str] | None) -> AsyncIterator[Market]:
    """The venues asked, for one command: no shared snapshot, no database. On a terminal,
    stderr says what the command waits for (bot.progress)."""
    progress = Progress()
    clients = make_clients(settings, tuple(venues or ()))
    market = Market(clients, settings.venue_deadline_s, on_fetched=progress.fetched)
    progress.asking([c.name for c in clients])
    try:
        yield market
    finally:
        await progress.close()
        await market.close()


async def cmd_scan(args: argparse.Namespace, settings: Settings) -> int:
    params = replace(
        settings.scan_params(), min_apr=args.min_apr, best_per_asset=not args.all_pairs
    )
    top = args.top if args.top is not None else (None if args.json else DEFAULT_TOP)
    async with open_market(settings, args.venues) as market:
        report = await commands.scan(market, params, top or None)
    print(dumps(scan_json(report)) if args.json else scan_text(report))
    return 0 if any(h.ok for h in report.health) else 1


async def cmd_funding(args: argparse.Namespace, settings: Settings) -> int:
    async with open_market(settings, args.venues) as market:
        report = await commands.funding(market, args.asset, settings.scan_params())
    print(dumps(funding_json(report)) if args.json else funding_text(report))
    return 0 if any(h.ok for h in report.health) else 1


async def cmd_size(args: argparse.Namespace, settings: Settings) -> int:
    """`/size`'s command: the market once, then the best pair's two books."""
    from arb.books import OrderBooks

    async with open_market(settings, args.venues) as market:
        books = OrderBooks(
            market.clients.values(), clock=market.clock, deadline_s=settings.venue_deadline_s
        )
        report = await commands.size(
            market, books, args.asset, settings.scan_params(), settings.size_params(), args.usd
        )
    print(dumps(size_json(report)) if args.json else size_text(report))
    return 0 if any(h.ok for h in report.health) and not report.failed else 1


async def cmd_risk(args: argparse.Namespace, settings: Settings) -> int:
    """`/risk`'s command: the keyed accounts and their venues' market, read once."""
    from arb.accounts.service import AccountService, private_clients  # only `risk` signs
    from arb.render import risk_text
    from arb.report import risk_json

    accounts = AccountService(private_clients(settings), deadline_s=settings.venue_deadline_s)
    if not accounts.venues:
        print(f"arb-bot risk: {no_keys()}", file=sys.stderr)
        return 2
    try:  # a leg's funding is its own venue's: only the keyed venues' market is read
        async with open_market(settings, accounts.venues) as market:
            report = await commands.risk(accounts, market, settings.risk_params())
    finally:
        await accounts.close()
    print(dumps(risk_json(report)) if args.json else risk_text(report))
    return 1 if any(a.error is not None for a in report.accounts) else 0


def no_keys() -> str:
    """What to set when no venue has keys (as /balance says it)."""
    names = ", ".join("/".join(key_variables(v)) for v in account_venues())
    return f"no venue keys are set. Put read-only keys in .env: {names}."


async def cmd_chart(args: argparse.Namespace, settings: Settings) -> int:
    """`/chart`'s command over the venues' own settled history and the live quotes, kept in
    memory for this run: no database."""
    from arb.backfill import HistoryLoader, VenueHistory  # only `chart` reads the history
    from arb.render import chart_text

    async with open_market(settings, args.venues) as market:
        loader = HistoryLoader(VenueHistory(), market.clients, settings.venue_deadline_s)
        report = await commands.chart(
            market, loader, args.asset, args.window, settings.scan_params()
        )
    if report is None:
        print(f"arb-bot chart: no venue lists {args.asset} right now", file=sys.stderr)
        return 1
    for e in report.errors:
        print(f"warning: {e}", file=sys.stderr)
    if report.png is None:
        print(f"arb-bot chart: no funding history for {args.asset} over the last "
              f"{args.window}, so no chart", file=sys.stderr)  # fmt: skip
        return 1
    try:
        with open(args.output, "wb") as f:
            f.write(report.png)
    except OSError as e:
        print(f"arb-bot chart: cannot write {args.output}: {e.strerror}", file=sys.stderr)
        return 2
    print(chart_text(report, args.output))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`arb-bot` with these arguments: the exit status."""
    return dispatch(build_parser().parse_args(argv))


def script() -> NoReturn:
    """The installed `arb-bot` script: `main`, leaving a one-shot command without the
    interpreter's teardown (tens of ms of freeing what the process is about to drop)."""
    args = build_parser().parse_args()
    code = dispatch(args)
    if args.command in ONE_SHOT:
        leave(code)
    sys.exit(code)


def leave(code: int) -> NoReturn:
    """Flush the logs and the output, then end the process at once with `code`."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to keep
            stream.flush()
    os._exit(code)


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command: its exit status."""
    if args.command == "doctor":  # a bad setting is one of its findings, not a usage error
        from bot.doctor import run_cli

        with wired(stream_wire):  # the venues' probes go as the other commands' requests
            return run_cli(args.json, args.verbose)
    try:
        settings = load_settings()
    except SettingsError as e:
        print(f"arb-bot: {e}", file=sys.stderr)
        return 1 if args.command == "health" else 2  # Docker reserves 2 in a HEALTHCHECK
    if args.command == "health":
        from bot.heartbeat import health

        return health(settings.db_path)
    if args.command == "run":
        setup_logging(settings.log_level, settings.secrets())
        from bot.launch import run  # Telegram only for `run`, imported during the first poll

        return run(settings)
    setup_logging(logging.DEBUG if args.verbose else logging.WARNING, settings.secrets())
    command = {
        "scan": cmd_scan,
        "funding": cmd_funding,
        "size": cmd_size,
        "chart": cmd_chart,
        "risk": cmd_risk,
    }[args.command]
    try:
        # Metadata outlives this one-shot process; a few requests need no aiohttp.
        with kept_on_disk(settings.cache_dir), wired(stream_wire):
            return asyncio.run(command(args, settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    script()

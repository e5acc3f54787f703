"""`make demo`: the app's terminal views on a made-up market, with no keys, no token and
no internet.

Starts the fake venues (tests/fakes/venues.py, every venue of the registry) on 127.0.0.1,
serving a market that drifts with the clock (tests/fakes/demo_market.py), and runs
`arb-bot scan`, `funding BTC`, `size BTC --usd 50k` and `chart BTC` against them through the
ordinary settings (`<VENUE>_REST_URL`, `ARB_FEEDS=0`), each under a header saying what it
shows; then stops the fakes. Exits 0 when every view did, 1 otherwise.

Each view is a real `arb-bot` process run in an empty directory, with none of this shell's
`ARB_*`, `TELEGRAM_*`, `LLM_*` or `<VENUE>_*` variables: no `.env` and no live setting of a
developer's reaches it. The demo runs from a clone (`python -m tests.demo`) rather than as
`arb-bot demo` because the fakes are test code, which the package and the image leave out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from arb.venues.registry import env_prefixes
from tests.fakes.demo_market import demo_market
from tests.fakes.venues import SEED, FakeVenues

VIEW_TIMEOUT_S = 60.0  # one view against local fakes takes about a second
APP_PREFIXES = ("ARB_", "TELEGRAM_", "LLM_")  # and each venue's <VENUE>_


@dataclass(frozen=True)
class View:
    args: tuple[str, ...]  # after `arb-bot`
    says: str  # what the user is looking at
    shown: tuple[str, ...] = ()  # the command as the header writes it, if not `args`

    @property
    def command(self) -> str:
        return " ".join(("arb-bot", *(self.shown or self.args)))


def views(chart: Path, chart_shown: str) -> tuple[View, ...]:
    return (
        View(
            ("scan",),
            "Every asset's best carry across venues, ranked by net APR after fees: "
            "long where funding is lowest, short where it is highest.",
        ),
        View(
            ("funding", "BTC"),
            "One asset on every venue: rate, interval, APR, countdown to the next funding, "
            "price, turnover; then the best pair of them.",
        ),
        View(
            ("size", "BTC", "--usd", "50k"),
            "That pair at $50,000 per leg, walked through both order books: "
            "coins, slippage, cost, net APR at this size and capacity.",
        ),
        View(
            ("chart", "BTC", "-o", str(chart)),
            "BTC's settled funding per venue over the last 7 days, and the pair's spread, "
            "as a PNG.",
            shown=("chart", "BTC", "-o", chart_shown),
        ),
    )


def isolated_env(venue_urls: dict[str, str]) -> dict[str, str]:
    """This process's environment without any of the app's settings, plus the fakes' URLs
    and no live feeds."""
    prefixes = (*APP_PREFIXES, *env_prefixes())
    kept = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**kept, **venue_urls, "ARB_FEEDS": "0"}


def arb_bot_command() -> list[str]:
    """The installed `arb-bot` beside this Python, else the module it runs."""
    script = Path(sys.executable).with_name("arb-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


async def run_view(view: View, env: dict[str, str], cwd: str) -> int:
    """Run one view; print what it printed (stdout, then stderr); its exit status, or -1
    if it did not end within VIEW_TIMEOUT_S."""
    proc = await asyncio.create_subprocess_exec(
        *arb_bot_command(),
        *view.args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # Ctrl-C reaches the demo alone, which ends the view
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), VIEW_TIMEOUT_S)
    except TimeoutError:
        print(f"{view.command} did not finish within {VIEW_TIMEOUT_S:.0f} s", file=sys.stderr)
        return -1
    finally:
        if proc.returncode is None:  # timed out or interrupted: leave no process behind
            proc.kill()
            await proc.wait()
    print(out.decode().rstrip("\n"), flush=True)
    if err:
        print(err.decode().rstrip("\n"), file=sys.stderr, flush=True)
    return proc.returncode if proc.returncode is not None else -1


async def demo(seed: int, chart: Path, chart_shown: str) -> int:
    async with FakeVenues(demo_market(seed)) as fake:
        print(
            f"arb-bot demo: {len(fake.symbols)} fake venues on 127.0.0.1:{fake.port} serve a "
            f"made-up market that drifts with the clock (seed {seed}).\n"
            "No keys, no token, no internet: each view below is the real arb-bot, pointed at "
            "them by <VENUE>_REST_URL.",
            flush=True,
        )
        env = isolated_env(fake.env())
        failed = []
        with tempfile.TemporaryDirectory(prefix="arb-demo-") as empty:
            env["ARB_CACHE_DIR"] = os.path.join(empty, "cache")  # the views share it, then gone
            shown = views(chart, chart_shown)
            for i, view in enumerate(shown, 1):
                print(f"\n[{i}/{len(shown)}] $ {view.command}\n      {view.says}\n", flush=True)
                code = await run_view(view, env, empty)
                if code != 0:
                    failed.append(f"{view.command} (exit {code})")
    print()
    if failed:
        print(f"The demo's fake venues are stopped. Failed: {', '.join(failed)}.", file=sys.stderr)
        return 1
    print(
        f"Done; the fake venues are stopped. The chart is at {chart}.\n"
        "Next: `.venv/bin/arb-bot scan` reads the live venues (no keys needed), `make run` "
        "starts the Telegram bot (TELEGRAM_BOT_TOKEN in .env),\n"
        "and `.venv/bin/python -m tests.fakes.venues` keeps these fakes up for commands "
        "of your own."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.demo",
        description="arb-bot's terminal views on local fake venues: no keys, token or internet.",
    )
    parser.add_argument("--seed", type=int, default=SEED, help="the market's seed")
    parser.add_argument(
        "-o", "--output", default="demo-btc.png", metavar="FILE", help="the chart's PNG"
    )
    args = parser.parse_args(argv)
    try:
        return asyncio.run(demo(args.seed, Path(args.output).resolve(), args.output))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The one-shot CLI as a whole process, against ccxt and a bare fetcher on the same fake.

One fake venues process (500 perps a venue, tests/fakes/venues.py) serves four kinds of
process, each spawned as a user would and timed from spawn to exit, interleaved round by
round (the order rotating) so that a busy moment of the machine falls on all of them:

- `arb-bot scan --json` over bybit, binance and okx, its metadata cache (ARB_CACHE_DIR)
  warm, as on a second run within the metadata's expiry; and cold (the cache emptied
  before each run), as on a first run;
- `arb-bot funding <asset> --json`, warm;
- ccxt: one process doing `load_markets()` and `fetch_funding_rates()` for the same three
  venues, concurrently (rate limiter off), its URLs rebased onto the fake;
- a bare fetcher: one process of the standard library (urllib in three threads) fetching
  and parsing the three bulk replies ccxt's fetch_funding_rates() reads: the floor a
  process that answers from the venues cannot go below.

Each process's output is checked (ours parse as JSON with the expected rows, ccxt's
counts are about 500 a venue), so a fast failure never passes for a fast answer.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.bench import targets
from tests.conftest import clean_environ

REPO = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("ONESHOT_RUNS", "15"))
PERPS = 500  # a venue, as tests/bench/__main__.py's
VENUES = ("bybit", "binance", "okx")
ASSET = "C0007"  # a perp every venue of the synthetic market lists
RUN_TIMEOUT_S = 60.0
CCXT_TARGET = 0.2  # ours / ccxt, whole process
CCXT_STRETCH = 0.15
FLOOR_TARGET = 2.5  # ours / the bare fetcher


class BenchError(Exception):
    """A process failed, or answered the wrong thing."""


# ccxt as tests/bench/__main__.py's make_exchange sets it up, in a process of its own.
CCXT_SCRIPT = """
import asyncio, sys, urllib.parse
import ccxt.async_support as ccxt

base, types, timeout = sys.argv[1], eval(sys.argv[2]), int(sys.argv[3])

async def one(venue):
    ex = getattr(ccxt, venue)({"timeout": timeout, "enableRateLimit": False})
    root = f"{base}/{venue}"
    ex.urls["api"] = {k: root + urllib.parse.urlsplit(u).path for k, u in ex.urls["api"].items()}
    ex.options["fetchMarkets"]["types"] = types[venue]
    ex.options["defaultType"] = "swap"
    try:
        await ex.load_markets()
        return len(await ex.fetch_funding_rates())
    finally:
        await ex.close()

async def main():
    return await asyncio.gather(*(one(v) for v in types))

print(*asyncio.run(main()))
"""

# The floor: the three bulk replies, fetched at once and parsed, nothing else.
FETCHER_SCRIPT = """
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor

def get(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())

with ThreadPoolExecutor(len(sys.argv) - 1) as pool:
    replies = list(pool.map(get, sys.argv[1:]))
print(*(len(json.dumps(r)) for r in replies))
"""


@dataclass
class Kind:
    """One kind of process: its command, environment, and a check of its output."""

    label: str
    argv: list[str]
    env: dict[str, str]
    check: Callable[[str], None]
    before: Callable[[], None] = lambda: None  # untimed, before each run
    samples: list[float] | None = None

    def run(self) -> float:
        self.before()
        started = time.perf_counter()
        proc = subprocess.run(
            self.argv, env=self.env, cwd=REPO, capture_output=True, text=True,
            timeout=RUN_TIMEOUT_S,
        )  # fmt: skip
        elapsed_ms = (time.perf_counter() - started) * 1000
        if proc.returncode != 0:
            raise BenchError(f"{self.label} exited {proc.returncode}: {proc.stderr[-500:]}")
        self.check(proc.stdout)
        return elapsed_ms

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples or [])


def arb_bot() -> list[str]:
    script = Path(sys.executable).with_name("arb-bot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def our_env(base_url: str, cache_dir: str) -> dict[str, str]:
    urls = {f"{v.upper()}_REST_URL": f"{base_url}/{v}" for v in VENUES}
    return clean_environ(**urls, ARB_VENUES=",".join(VENUES), ARB_CACHE_DIR=cache_dir)


def check_scan(out: str) -> None:
    doc = json.loads(out)
    if not all(v["ok"] for v in doc["venues"]) or doc["count"] < PERPS // 2:
        raise BenchError(f"arb-bot scan answered {doc['count']} rows, venues {doc['venues']}")


def check_funding(out: str) -> None:
    doc = json.loads(out)
    if len(doc["quotes"]) != len(VENUES):
        raise BenchError(f"arb-bot funding answered {len(doc['quotes'])} quotes")


def check_ccxt(out: str) -> None:
    counts = [int(n) for n in out.split()]
    if len(counts) != len(VENUES) or not all(PERPS <= n <= PERPS + 5 for n in counts):
        raise BenchError(f"ccxt returned {counts} funding rates, expected about {PERPS} each")


def check_fetcher(out: str) -> None:
    if len(out.split()) != len(VENUES) or min(int(n) for n in out.split()) < 10_000:
        raise BenchError(f"the bare fetcher read too little: {out!r}")


def kinds(base_url: str, warm: str, cold: str) -> list[Kind]:
    from tests.bench.__main__ import CCXT_MARKET_TYPES, CCXT_REQUESTS, CCXT_TIMEOUT_MS

    python = [sys.executable, "-c"]
    plain = clean_environ()
    urls = [
        f"{base_url}/{venue}{path}?" + "&".join(f"{k}={v}" for k, v in query.items())
        for venue, path, query in CCXT_REQUESTS
    ]
    ccxt_args = [base_url, repr(CCXT_MARKET_TYPES), str(CCXT_TIMEOUT_MS)]
    return [
        Kind("arb-bot scan --json (warm cache)", [*arb_bot(), "scan", "--json"],
             our_env(base_url, warm), check_scan),
        Kind("arb-bot scan --json (cold cache)", [*arb_bot(), "scan", "--json"],
             our_env(base_url, cold), check_scan,
             before=lambda: shutil.rmtree(cold, ignore_errors=True)),
        Kind(f"arb-bot funding {ASSET} --json (warm)", [*arb_bot(), "funding", ASSET, "--json"],
             our_env(base_url, warm), check_funding),
        Kind("ccxt load_markets + fetch_funding_rates", [*python, CCXT_SCRIPT, *ccxt_args],
             plain, check_ccxt),
        Kind("bare fetcher (urllib, 3 threads)", [*python, FETCHER_SCRIPT, *urls],
             plain, check_fetcher),
    ]  # fmt: skip


def measure(all_kinds: list[Kind]) -> None:
    for kind in all_kinds:
        kind.samples = []
        kind.run()  # untimed: warms the disk cache, the page cache and the fake's replies
    for i in range(RUNS):
        turn = all_kinds[i % len(all_kinds) :] + all_kinds[: i % len(all_kinds)]
        for kind in turn:
            assert kind.samples is not None
            kind.samples.append(kind.run())


def report(scan: Kind, cold: Kind, funding: Kind, ccxt: Kind, floor: Kind) -> None:
    print(f"\n== one-shot CLI, whole processes: bybit + binance + okx x {PERPS} perps, "
          f"interleaved, median of {RUNS} ==")  # fmt: skip
    for kind in (scan, cold, funding, ccxt, floor):
        samples = sorted(kind.samples or [])
        print(f"  {kind.label:<48}{kind.median_ms:>9.0f} ms  (min {samples[0]:.0f}, "
              f"max {samples[-1]:.0f})")  # fmt: skip
    for ours in (scan, funding):
        short = ours.label.split(" (")[0]
        to_ccxt = ours.median_ms / ccxt.median_ms
        to_floor = ours.median_ms / floor.median_ms
        print(f"  {short}: {to_ccxt:.2f}x ccxt, {to_floor:.2f}x the bare fetcher")
        targets.record(f"{short} / ccxt (whole process)", f"{to_ccxt:.2f}x",
                       f"<= {CCXT_TARGET}x", to_ccxt <= CCXT_TARGET)  # fmt: skip
        targets.record(f"{short} / ccxt (stretch)", f"{to_ccxt:.2f}x",
                       f"<= {CCXT_STRETCH}x", to_ccxt <= CCXT_STRETCH)  # fmt: skip
        targets.record(f"{short} / bare fetcher (whole process)", f"{to_floor:.2f}x",
                       f"<= {FLOOR_TARGET}x", to_floor <= FLOOR_TARGET)  # fmt: skip
    print(f"  cold cache (a first run): scan {cold.median_ms / ccxt.median_ms:.2f}x ccxt, "
          f"{cold.median_ms / floor.median_ms:.2f}x the bare fetcher")  # fmt: skip


def main() -> bool:
    """Run the section; False if a process failed."""
    from tests.bench.__main__ import BenchError as FakeError
    from tests.bench.__main__ import fake_venues_process  # here: it imports this module

    cache = tempfile.mkdtemp(prefix="arb-bench-cache-")
    try:
        with fake_venues_process(PERPS) as base_url:
            all_kinds = kinds(base_url, os.path.join(cache, "warm"), os.path.join(cache, "cold"))
            measure(all_kinds)
        report(*all_kinds)
    except (BenchError, FakeError, subprocess.TimeoutExpired) as e:
        print(f"\none-shot benchmark failed: {e}", file=sys.stderr)
        return False
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return True


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

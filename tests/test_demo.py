"""`make demo` end to end, and the moving market it and the standalone fakes serve.

The demo runs as a newcomer runs it, a process of its own, here in a directory whose `.env`
and environment point at venues that refuse every connection: a view that read them would
say so. Its market (tests/fakes/demo_market.py) is checked as pure functions of the clock.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arb.chart import png_size
from arb.venues.registry import NAMES
from tests.conftest import clean_environ
from tests.fakes.demo_market import ASSETS, TICK_MS, demo_market
from tests.fakes.venues import SEED

REPO = Path(__file__).resolve().parent.parent
NOW_MS = 1789015942967  # any instant will do: the market is a function of it
MINUTE_MS = 60_000
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, a connection is refused
DEMO_TIMEOUT_S = 90  # about 5 s on an idle machine; the suite's workers slow it down


def demo_env(**extra: str) -> dict[str, str]:
    """This environment, as a developer's with live settings would be, plus `extra`."""
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BYBIT_REST_URL": CLOSED,
        "ARB_HORIZON_H": "1",
        "TELEGRAM_BOT_TOKEN": "123:not-a-token",
        **extra,
    }


def processes_naming(text: str) -> list[str]:
    """The command lines of the running processes that contain `text`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # it ended meanwhile
        line = " ".join(a.decode(errors="replace") for a in args)
        if text in line:
            found.append(line)
    return found


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.timeout(DEMO_TIMEOUT_S + 30)
def test_the_demo_shows_every_view_on_the_fakes_and_leaves_nothing_running(tmp_path):
    (tmp_path / ".env").write_text(f"ARB_VENUES=okx\nOKX_REST_URL={CLOSED}\n")
    chart = tmp_path / "out" / "btc.png"
    chart.parent.mkdir()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "tests.demo", "-o", str(chart)],
        cwd=tmp_path,
        env=demo_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, (out, err)
    assert time.monotonic() - started < DEMO_TIMEOUT_S
    assert "Traceback" not in err and "warning" not in err
    # Each view under its header, in order, each printing what it prints.
    headers = [
        "[1/4] $ arb-bot scan\n",
        "[2/4] $ arb-bot funding BTC\n",
        "[3/4] $ arb-bot size BTC --usd 50k\n",
        f"[4/4] $ arb-bot chart BTC -o {chart}\n",
    ]
    at = [out.index(h) for h in headers]
    assert at == sorted(at)
    scan, funding, size, drawn = (out[a:b] for a, b in zip(at, [*at[1:], len(out)], strict=True))
    venues = ", ".join(NAMES)
    assert f"{len(ASSETS)} of {len(ASSETS)} opportunities across {venues}; " in scan
    assert "over 168 h" in scan  # the defaults: not the environment's ARB_HORIZON_H
    assert "Failed venues" not in out
    assert "BTC funding at " in funding and "Best carry: long " in funding
    assert all(re.search(rf"^{v}\s+BTC", funding, re.M) for v in NAMES)
    assert "BTC at $50,000 per leg, " in size and "net APR at this size" in size
    assert f"{chart}: 1280x800 PNG, BTC over 7d" in drawn
    assert f"The chart is at {chart}." in drawn
    # Every next funding lies ahead: no countdown reads "due".
    assert not re.search(r"\bdue\b", out)
    assert png_size(chart.read_bytes()) == (1280, 800)
    # The fakes and every view are gone, and the port is closed.
    port = int(re.search(r"on 127\.0\.0\.1:(\d+) ", out).group(1))
    assert refused(port)
    assert processes_naming(str(chart)) == []


def test_the_demo_needs_only_the_runtime_dependencies():
    """`make demo` installs the package alone: no test tool may be imported on its way."""
    probe = (
        "import sys, tests.demo\n"
        "from tests.fakes.venues import FakeVenues\n"
        "FakeVenues()\n"
        "print(sorted(m for m in ('pytest', '_pytest', 'hypothesis') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def state(market, t_ms: int) -> dict[tuple[str, str], tuple[float, float]]:
    market.now_ms = t_ms
    return {(v, p.asset): (p.rate, p.price) for v in NAMES for p in market.perps(v)}


def test_the_market_moves_and_a_seed_makes_it_again():
    market = demo_market(now_ms=NOW_MS)
    now, later = state(market, NOW_MS), state(market, NOW_MS + 10 * MINUTE_MS)
    assert len(now) == len(ASSETS) * len(NAMES)
    assert all(now[k][0] != later[k][0] and now[k][1] != later[k][1] for k in now)
    # Within a tick it holds still, so one command's requests agree.
    tick = NOW_MS // TICK_MS * TICK_MS
    assert state(market, tick) == state(market, tick + TICK_MS - 1) == now
    assert state(demo_market(now_ms=NOW_MS), NOW_MS) == now
    assert state(demo_market(SEED + 1, now_ms=NOW_MS), NOW_MS) != now


def test_settled_history_follows_the_drift():
    market = demo_market(now_ms=NOW_MS)
    btc = next(p for p in market.perps("bybit") if p.asset == "BTC")
    settled = market.settled(btc)
    rates = [r for _, r in settled]
    assert len(set(rates)) > len(rates) // 2  # it wanders, not a flat line
    assert settled[-1][0] < NOW_MS < market.next_settlement(btc.interval_h)
    # A settlement's rate is the rate the market published at that instant.
    t, rate = settled[-10]
    market.now_ms = t
    assert next(p for p in market.perps("bybit") if p.asset == "BTC").rate == rate


@given(
    t_ms=st.integers(min_value=0, max_value=4_102_444_800_000),  # up to 2100
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_the_drift_stays_near_each_listing_so_the_carries_keep_their_sign(t_ms, seed):
    """Rates swing by at most 35 % of the listing's own and a 0.003 % wiggle per 8 h; prices
    by at most 3 % and a 4 bp basis: a carry the demo lists is a carry at any hour."""
    market = demo_market(seed, now_ms=t_ms)
    for venue in NAMES:
        for base, now in zip(market.venues[venue], market.perps(venue), strict=True):
            wiggle = 0.00003 * base.interval_h / 8
            assert abs(now.rate - base.rate) <= 0.35 * abs(base.rate) + wiggle + 1e-8
            assert abs(now.price / base.price - 1) <= 1.03 * 1.0004 - 1 + 1e-7
            assert market.next_settlement(now.interval_h) > t_ms


@pytest.mark.timeout(60)
async def test_the_standalone_fakes_serve_the_moving_market_by_default(tmp_path):
    """`python -m tests.fakes.venues` with no flag: the demo's market, every countdown
    ahead; it stops when its stdin closes."""
    fakes = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakes.venues",
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(fakes.stdout.readline(), 20)).decode()
        assert line.startswith("PORT "), line
        base = f"http://127.0.0.1:{int(line.split()[1])}"
        urls = {f"{v.upper()}_REST_URL": f"{base}/{v}" for v in NAMES}
        view = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("arb-bot")),
            "funding",
            "BTC",
            cwd=tmp_path,
            env=clean_environ(**urls),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(view.communicate(), 30)
        assert view.returncode == 0, err
        rows = [ln for ln in out.decode().splitlines() if re.match(rf"({'|'.join(NAMES)})\s", ln)]
        assert len(rows) == len(NAMES)
        assert not any(re.search(r"\bdue\b", row) for row in rows)
        fakes.stdin.close()
        assert await asyncio.wait_for(fakes.wait(), 20) == 0
    finally:
        if fakes.returncode is None:
            fakes.kill()
            await fakes.wait()

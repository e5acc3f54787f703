"""Bitget and Gate in the bot: /funding, /scan, alerts and the account commands, against
the fakes, all six venues on.

APE gains two legs: bitget 0.08%/1h (the highest payer) and gate -0.04%/4h = -0.01%/h
(the lowest). The best carry becomes long gate / short bitget: 0.0009/h = 0.7200%/8h,
APR 788.4%; fees 2 x (0.0005 + 0.0006) = 0.22%, so net (0.0009 x 168 - 0.0022) / 168
x 8760 = 776.9%.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from tests.bot_harness import running_bot
from tests.conftest import desk_market
from tests.fakes.venues import FakePerp, FakeVenues
from tests.venues.bitget.fake_account import FakeBitgetPrivate
from tests.venues.bitget.fake_stream import FakeBitgetWs
from tests.venues.gate import fake_rest as rest_gate
from tests.venues.gate.fake_account import FakeGatePrivate
from tests.venues.gate.fake_stream import FakeGateWs

ADMIN = 5
DAY_MS = 86_400_000
ALL = "bybit,binance,okx,hyperliquid,bitget,gate"


def market():
    m = desk_market()
    m.venues["bitget"] = [FakePerp("APE", 0.0008, 1, price=0.1380)]
    m.venues["gate"] = [FakePerp("APE", -0.0004, 4, price=0.1379, lot=1.0)]  # 1 APE contracts
    return m


@contextlib.asynccontextmanager
async def six_venues(tmp_path: Path, **env: str):
    async with FakeVenues(market()) as venues:
        bitget = FakeBitgetPrivate().install(venues)
        gate = FakeGatePrivate().install(venues)
        rest_gate.install(venues)  # the market's contract list, not the account fake's
        gate.add_contract("APE_USDT", "1")
        bitget.set_balance(30_000, 25_000, upnl=4.0)
        gate.set_balance(20_000, 15_000, upnl=-2.0)
        bitget.positions = [bitget.position_row("APEUSDT", "short", 10_000, 0.1381, 0.1380, 1.0, 5)]
        gate.positions = [gate.position_row("APE_USDT", "long", 10_000, 0.1378, 0.1379, 1.0, 5)]
        t = int(time.time() * 1000)
        bitget.bills = [bitget.funding_row("APEUSDT", 2.5, t - DAY_MS)]
        gate.book = [gate.funding_row("APE_USDT", -0.5, t - DAY_MS)]
        settings = {
            **bitget.env(),
            **gate.env(),
            "ARB_VENUES": ALL,
            "ARB_ADMINS": str(ADMIN),
            "ARB_SCAN_INTERVAL_S": "3600",
            "ARB_DB": str(tmp_path / "six.db"),
            **env,
        }
        async with running_bot(venues, **settings) as b:
            yield b, bitget, gate


async def test_bitget_and_gate_in_funding_scan_and_alerts(tmp_path):
    async with six_venues(tmp_path) as (b, _bitget, _gate):
        funding = await b.ask("/funding APE")
        scan = await b.ask("/scan 3")
        await b.ask("/subscribe 0.5% APE")
        report = await b.cycle()
        alert = b.to_chat(1001)[-1]
    rows = {line.split()[0]: line.split()[1:3] for line in funding.plain.split("\n")[2:8]}
    assert rows["bitget"] == ["0.0800%", "1h"] and rows["gate"] == ["-0.0400%", "4h"]
    assert "Best: long gate, short bitget" in funding.plain
    assert "0.7200%/8h · APR 788.4% · net 776.9% (168h)" in funding.plain
    assert "1. APE  long gate / short bitget" in scan.plain
    assert report.sent == 1
    assert "<b>APE</b>: long gate / short bitget" in alert.text


async def test_bitget_and_gate_accounts(tmp_path):
    async with six_venues(tmp_path) as (b, bitget, gate):
        bal = await b.ask("/balance", user_id=ADMIN)
        pos = await b.ask("/positions", user_id=ADMIN)
        pnl = await b.ask("/pnl", user_id=ADMIN)
    assert (bitget.refused, gate.refused) == (0, 0)
    assert bal.plain.split("\n")[1:] == [
        "venue          equity available  uPnL",
        "bitget USDT 30,000.00 25,000.00 +4.00",
        "gate USDT   20,000.00 15,000.00 -2.00",
        "total       50,000.00",
    ]
    assert "APE ✅ hedged · net +0 APE" in pos.plain
    assert "gate long 10,000 @ 0.137800" in pos.plain
    assert "bitget short 10,000 @ 0.138100" in pos.plain
    assert pnl.plain.split("\n")[2:7] == [
        "bitget APE    +2.50",
        "       total  +2.50",
        "gate   APE    -0.50",
        "       total  -0.50",
        "all           +2.00",
    ]


async def test_a_wrong_gate_secret_is_named(tmp_path):
    async with six_venues(tmp_path, GATE_API_SECRET="not-the-gate-secret") as (b, _bg, gate):
        bal = await b.ask("/balance", user_id=ADMIN)
    assert gate.refused >= 1
    assert any(
        line.startswith("⚠ gate ") and "key refused" in line for line in bal.plain.split("\n")
    )
    assert "bitget USDT" in bal.plain and "not-the-gate-secret" not in bal.plain


async def test_bitget_and_gate_live_feeds_alert_on_a_crossing(tmp_path):
    """On live feeds only: a Bitget push moving APE to 0.0013/h = 1.0400%/8h crosses 1%."""
    async with (
        FakeVenues(market()) as venues,
        FakeBitgetWs() as bitget_ws,
        FakeGateWs() as gate_ws,
    ):
        next_ms = (int(time.time() * 1000) // 3_600_000 + 1) * 3_600_000
        bitget_ws.set_quote("APEUSDT", rate=0.0008, next_funding_ms=next_ms, mark=0.1380)
        env = {"ARB_VENUES": "bitget,gate", "ARB_FEEDS": "1", "BITGET_WS_URL": bitget_ws.url,
               "GATE_WS_URL": gate_ws.url, "ARB_SCAN_INTERVAL_S": "3600",
               "ARB_DB": str(tmp_path / "live.db")}  # fmt: skip
        async with running_bot(venues, **env) as b:
            await bitget_ws.wait_subscribed(1, ["APEUSDT"])
            await gate_ws.wait_subscribed(1, ["APE_USDT"])
            await b.ask("/subscribe 1% APE")
            mark = len(b.tg.sent)
            assert await bitget_ws.push_quote("APEUSDT", rate=0.0012) == 1
            alert = await b.tg.wait_for(lambda m: "carry alert" in (m.text or ""), after=mark)
    assert "<b>APE</b>: long gate / short bitget" in alert.text
    assert "1.0400%/8h (≥ 1.0000%)" in alert.text
